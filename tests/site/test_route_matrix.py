"""The role × route matrix over every method of every rule, a second organisation of the same role on every
object route, and CSRF on every state-changing rule (issue 14).

The expected access of every endpoint is written down here (``EXPECTED``), independently of the decorators: a test
checks that the declared rule matches it, and the matrix checks that the running app behaves as declared. A route
added without an entry here fails, so does a decorator loosened or removed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, inspect, select, text
from werkzeug.routing import Rule as UrlRule

from marketplace import models as m
from marketplace.access import PUBLIC, SIGNED_IN, rule_for
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.passports.models import Passport
from tests import factories
from tests.helpers import first_lines, row_counts, sign_in, statements_run
from tests.site.test_access import DEMO_PASSWORDS, DEMO_USERS

STAFF = frozenset({Role.union_staff, Role.admin})
BUYER = frozenset({Role.brand_buyer})
MSME = frozenset({Role.msme_editor})
COOP = frozenset({Role.cooperative_manager})
CERTIFIER = frozenset({Role.certifier})

# Who may call each endpoint: "public", "signed_in" or the set of roles. The specification the decorators implement.
EXPECTED: dict[str, str | frozenset[Role]] = {
    **dict.fromkeys((
        "static", "pages.home", "pages.about", "pages.certification", "pages.healthz", "pages.metrics",
        "pages.passport_guide",
        "passports.did_document", "passports.digital_link", "passports.gs1_resolver_description",
        "passports.context", "passports.context_v2", "passports.traceability_event",
        "passports.page", "passports.credential_json", "passports.credential_jwt", "passports.labels",
        "passports.qr_png", "passports.qr_svg", "passports.version_json", "passports.log", "passports.status",
        "passports.verify", "api.lots_api", "api.openapi", "api.products_api",
        "passports.log_checkpoint", "passports.log_entries", "passports.log_consistency",
        "passports.tlog_checkpoint", "passports.tlog_tile", "passports.log_history_page",
        "passports.version_inclusion", "passports.bundle",
        "passports.org_did_document", "passports.org_identity",
        "passports.org_identity_version", "passports.traceability_event_version", "passports.status_version",
        "certification.conformity_credential_version",
        "payments.cart", "payments.add_to_cart", "payments.checkout", "payments.purchase", "payments.payment_return",
        "payments.stripe_webhook", "payments.update_cart", "payments.consumer_order",
        "payments.cancel_consumer_order", "payments.request_service",
        "certification.conformity_credential", "certification.certificate", "passports.traceability_event_id",
        "lots.lot_numbers", "products.product_numbers", "pricing.history", "lots.index",
        "lots.detail", "lots.compare", "lots.export", "lots.export_xlsx", "products.media", "products.catalogue",
        "products.detail",
        "organisations.profile", "organisations.register", "accounts.signin", "accounts.signup",
        "accounts.verify_email",
        "accounts.resend_confirmation", "accounts.password_reset", "accounts.password_reset_confirm",
        "notifications.unsubscribe"), "public"),
    "dashboard.index": "signed_in",
    "payments.inbox": MSME,
    "payments.inbox_csv": MSME,
    "payments.move_shipment": MSME,
    "payments.service_inbox": MSME,
    "payments.shipping_zones": MSME,
    "payments.service_terms": MSME,
    "payments.move_service": MSME,
    "payments.union_shop_orders": STAFF,
    "payments.union_move_parcel": STAFF,
    "payments.refund_lines": MSME,
    "payments.retry_refund": MSME,
    "payments.union_refund_lines": STAFF,
    "payments.union_retry_refund": STAFF,
    "accounts.signout": "signed_in",
    "accounts.signout_everywhere": "signed_in",
    "accounts.account": "signed_in",
    "accounts.password_change": "signed_in",
    "accounts.verification_queue": STAFF,
    "accounts.verify_organisation": STAFF,
    "organisations.registration": STAFF | COOP | MSME | BUYER,
    "notifications.index": "signed_in",
    "notifications.mark_read": "signed_in",
    "notifications.preferences": "signed_in",
    "certification.manage": CERTIFIER | {Role.admin},
    "control.certifier": CERTIFIER,
    "control.external": CERTIFIER,
    "control.evidence_file": COOP | CERTIFIER | STAFF,
    "control.cooperative": COOP,
    "control.assess": COOP,
    "control.schemes": STAFF,
    "control.participate": STAFF,
    "funds.cooperative": COOP,
    "funds.cooperative_export": COOP,
    "funds.cooperative_export_xlsx": COOP,
    "funds.ledger": STAFF,
    "funds.correct": STAFF,
    "funds.export": STAFF,
    "funds.export_xlsx": STAFF,
    **dict.fromkeys((f"union_export.{name}_{fmt}" for name in ("orders", "sales", "passports")
                     for fmt in ("csv", "xlsx")), STAFF),
    "lots.new": COOP,
    **dict.fromkeys(("lot_import.upload", "lot_import.confirm", "lot_import.template_xlsx",
                     "lot_import.template_csv"), COOP | STAFF),
    **dict.fromkeys(("product_import.upload", "product_import.confirm", "product_import.template_xlsx",
                     "product_import.template_csv"), MSME),
    "orders.request_lot_quote": BUYER,
    "orders.request_sample": BUYER,
    "orders.request_lots_quote": BUYER,
    "orders.request_spec_quote": BUYER,
    "orders.my_quotes": BUYER,
    "orders.accept": BUYER,
    "orders.detail": BUYER | STAFF,
    "orders.start_deposit": BUYER,
    "orders.pay_deposit": BUYER,
    "orders.quote": BUYER,
    "orders.quote_pdf": BUYER,
    "orders.decline": BUYER,
    "orders.counter": BUYER,
    "orders.answer_change": BUYER,
    "orders.invoice_pdf": BUYER | STAFF,
    "orders.packing_list": BUYER | STAFF,
    "orders.start_balance": BUYER,
    "orders.pay_balance": BUYER,
    # A passport's restricted tiers (ESPR): verified buyers, recyclers and repairers; the authority tier: staff.
    "passports.tier_value_chain": BUYER | MSME | STAFF,
    "passports.tier_value_chain_version": BUYER | MSME | STAFF,
    "passports.tier_authority": STAFF,
    "passports.tier_authority_version": STAFF,
    "practice.msme_dossier_json": MSME | STAFF,
    "practice.msme_dossier_pdf": MSME | STAFF,
    "practice.msme": MSME,
    "practice.commitments": MSME,
    "practice.report": MSME,
    "practice.dossier": MSME,
    "practice.dossier_pdf": MSME,
    "practice.review_list": STAFF,
    "practice.review": STAFF,
    "pricing.publish": STAFF,
    "union.order": STAFF,
    "union.orders": STAFF,
    "union.sales": STAFF,
    "union.charts": STAFF,
    "union.shipping": STAFF,
    "union.invoice": STAFF,
    "union.bank_transfer": STAFF,
    "union.advance": STAFF,
    "union.adjust": STAFF,
    "union.confirm": STAFF,
    "union.refund": STAFF,
    "union.record_premium": STAFF,
    "union.quotes": STAFF,
    "union.quote": STAFF,
    "union.answer": STAFF,
    "union.decline": STAFF,
    "union.sample_sent": STAFF,
    "jobs.dead_letters": STAFF,
    "jobs.retry": STAFF,
    "jobs.retry_mail": STAFF,
    "union.season": STAFF,
    "product_review.queue": STAFF,
    "product_review.product": STAFF,
    "product_review.approve": STAFF,
    "product_review.reject": STAFF,
    **{f"workspace.{e}": MSME for e in (
        "new_line", "index", "product", "add_component", "remove_component", "add_image", "remove_image",
        "add_source", "remove_source", "add_step", "remove_step", "submit", "new_product", "stock")},
}

# Rules that accept a state-changing request without a CSRF token, and why.
CSRF_EXEMPT = {
    "payments.stripe_webhook": "Stripe signs its webhook; the signature is verified instead "
                               "(tests/payments/test_payments.py)",
    "notifications.unsubscribe": "RFC 8058 one-click unsubscribe from mail clients; the signed token is the proof "
                                 "(tests/notifications/test_mail.py)",
}

# Values for URL arguments: the demo's objects, so that object routes find something to refuse.
SAMPLE_ARGS = {"code": "USCC-2025-BKH-001", "slug": "jinst-golden-fleece", "filename": "css/site.css",
               "number": "SC-2025-BKH-001", "purpose": "suspension", "rest": "09520123456788", "step_id": 1,
               "product_id": 1, "image_id": 1, "variant": "320.webp", "reference": "ORD-DEMO-2025-001",
               "quote_id": 1, "household_id": 1, "level": "self_evaluation", "file_id": 1,
               "msme_slug": "khangai-knitwear", "entry_id": 1, "payment_id": 1, "sample_id": 1, "report_id": 1,
               "component_id": 1, "lot_id": 1, "action": "enrol", "token": "not-a-signed-token",
               "organisation_id": 1, "shipment_id": 1, "refund_id": 1, "request_id": 1, "kind": "repair", "job_id": 1,
               "version": 1, "fmt": "json"}
ENDPOINT_ARGS = {"passports.version_json": {"number": 1}, "passports.version_inclusion": {"number": 1},
                 "passports.tier_value_chain_version": {"number": 1}, "passports.tier_authority_version": {"number": 1}}
# SQLite has no SELECT … FOR UPDATE: the app takes a row's write lock with a no-op "UPDATE t SET id=t.id".
LOCK = re.compile(r"^\s*UPDATE (\w+) SET id=\1\.id WHERE", re.IGNORECASE)
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
SIGN_OUTS = ("accounts.signout", "accounts.signout_everywhere")
USERS: list[Role | None] = [None, *Role]


def _allowed(endpoint: str, role: Role | None) -> bool:
    expected = EXPECTED[endpoint]
    if expected == "public":
        return True
    if role is None:
        return False
    return expected == "signed_in" or role in expected


def _path(app: Flask, rule: UrlRule) -> str:
    with app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).order_by(Passport.id))
    values = {**SAMPLE_ARGS, "public_id": public_id, **ENDPOINT_ARGS.get(rule.endpoint, {})}
    with app.test_request_context():
        built = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def _cases(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every method of every rule."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, _path(app, rule)))
    found.sort(key=lambda case: case[0] in SIGN_OUTS)  # signing out last
    return found


def _token(client: FlaskClient, signed_in: bool) -> str:
    """The session's CSRF token, read from a rendered page as a browser would."""
    html = client.get("/" if signed_in else "/signin").get_data(as_text=True)
    marker = '"X-CSRFToken": "' if signed_in else 'name="csrf_token" type="hidden" value="'
    assert marker in html
    return html.split(marker, 1)[1].split('"', 1)[0]


def _engine(app: Flask) -> Engine:
    with app.app_context():
        return db.engine


def _writes(ran: list[tuple[str, Any]]) -> list[str]:
    """The INSERT, UPDATE and DELETE statements among ``ran`` (``helpers.statements_run``), row locks aside, each by
    its first line."""
    return first_lines([(statement, parameters) for statement, parameters in ran
                        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")
                        and not LOCK.search(statement)])


def _client(app: Flask, role: Role | None) -> FlaskClient:
    client = app.test_client()
    if role is not None:
        assert sign_in(client, DEMO_USERS[role], DEMO_PASSWORDS[role]).status_code == 302
    return client


def _send(client: FlaskClient, method: str, path: str, data: dict | None = None,
          headers: dict | None = None):  # type: ignore[no-untyped-def]
    response = client.open(path, method=method, data=data or {}, headers=headers or {})
    response.close()
    return response


def test_every_endpoint_has_an_expected_rule_and_declares_exactly_it(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(EXPECTED) == set(), "add the new endpoints to EXPECTED"
    assert set(EXPECTED) - endpoints == set(), "EXPECTED lists endpoints that no longer exist"
    for endpoint in endpoints:
        declared = rule_for(endpoint, app)
        expected = EXPECTED[endpoint]
        if expected == "public":
            assert declared is PUBLIC, endpoint
        elif expected == "signed_in":
            assert declared == SIGNED_IN, endpoint
        else:
            assert declared is not None, endpoint
            assert not declared.public, endpoint
            assert declared.roles == expected, endpoint


@pytest.mark.parametrize("role", USERS, ids=lambda r: r.value if r else "anonymous")
def test_role_matrix_over_every_method(demo_app: Flask, role: Role | None) -> None:
    """Refused users get 401, 403 or the sign-in redirect, and nothing is written (state-changing methods: the
    next test); allowed users are never refused by the role check."""
    client = _client(demo_app, role)
    token = _token(client, role is not None)
    engine = _engine(demo_app)
    refused = allowed = 0
    for endpoint, method, path in _cases(demo_app):
        data = {"csrf_token": token} if method in STATE_CHANGING else None
        if not _allowed(endpoint, role) and method in STATE_CHANGING:
            continue  # test_every_state_changing_rule_refuses_every_role_it_does_not_name
        if not _allowed(endpoint, role):
            with statements_run(engine) as ran:
                response = _send(client, method, path, data)
            writes = _writes(ran)
            if role is None and method == "GET":
                assert response.status_code == 302, (path, method, response.status_code)
                assert "/signin" in response.headers["Location"], (path, method)
            elif role is None:
                assert response.status_code == 401, (path, method, response.status_code)
            else:
                assert response.status_code == 403, (role, path, method, response.status_code)
            assert writes == [], (role, method, path, writes)
            refused += 1
        elif method in STATE_CHANGING:
            if endpoint == "payments.stripe_webhook":
                continue  # no signature: refused by its own check, tested in test_payments.py
            response = _send(client, method, path, data, headers={"X-CSRFToken": token})
            assert response.status_code not in (401, 403), (role, path, method, response.status_code)
            assert response.status_code != 500, (role, path, method, response.status_code)
            allowed += 1
            if endpoint in SIGN_OUTS:  # signed out for real: sign in again for the next one
                client = _client(demo_app, role)
                token = _token(client, role is not None)
    assert refused + allowed > 0


def test_matrix_size(app: Flask, record_property) -> None:  # type: ignore[no-untyped-def]
    """Reported in the issue's closing note: rules × methods × users."""
    cases = _cases(app)
    rules = len(list(app.url_map.iter_rules()))
    assert rules > 90
    assert len(cases) >= rules
    record_property("matrix", f"{rules} rules, {len(cases)} rule-methods × {len(USERS)} users")


# Role checks on every state-changing rule ------------------------------------------------------------------------

# Every endpoint that answers POST, PUT, PATCH or DELETE (all of them POST today), written down: a state-changing
# route added without an entry here fails, and so does one that stops changing state. Who may call each is EXPECTED.
STATE_CHANGING_ENDPOINTS = frozenset({
    "accounts.password_change", "accounts.password_reset", "accounts.password_reset_confirm",
    "accounts.resend_confirmation", "accounts.signin", "accounts.signout", "accounts.signout_everywhere",
    "accounts.signup", "accounts.verify_organisation", "certification.manage", "control.assess",
    "control.cooperative", "control.external", "control.participate", "funds.cooperative", "funds.correct",
    "lot_import.confirm", "lot_import.upload", "lots.new", "notifications.mark_read", "notifications.preferences",
    "notifications.unsubscribe", "orders.accept", "orders.answer_change", "orders.counter", "orders.decline",
    "orders.pay_balance", "orders.pay_deposit", "orders.request_lot_quote", "orders.request_lots_quote",
    "orders.request_sample", "orders.request_spec_quote", "orders.start_balance", "orders.start_deposit",
    "passports.verify", "payments.add_to_cart", "payments.checkout", "payments.purchase", "payments.stripe_webhook",
    "practice.commitments", "practice.report", "practice.review", "pricing.publish", "product_import.confirm",
    "product_import.upload", "product_review.approve",
    "product_review.reject", "union.adjust", "union.advance", "union.answer", "union.bank_transfer", "union.confirm",
    "union.decline", "union.invoice", "union.record_premium", "union.refund", "union.sample_sent", "union.shipping",
    "workspace.add_component", "workspace.add_image", "workspace.add_source", "workspace.add_step",
    "workspace.new_line", "workspace.new_product", "workspace.product", "workspace.remove_component",
    "workspace.remove_image", "workspace.remove_source", "workspace.remove_step", "workspace.submit",
    "jobs.retry", "jobs.retry_mail", "organisations.registration", "payments.cancel_consumer_order",
    "payments.move_service", "payments.move_shipment", "payments.request_service", "payments.service_terms",
    "payments.update_cart", "workspace.stock", "payments.shipping_zones", "payments.union_move_parcel",
    "payments.refund_lines", "payments.retry_refund", "payments.union_refund_lines", "payments.union_retry_refund",
})


def _snapshot(app: Flask) -> dict[str, tuple[int, int]]:
    """Every table's row count and a digest of its rows: a refused request must leave all of it as it was."""
    import hashlib

    with app.app_context():
        found = {}
        for name in inspect(db.engine).get_table_names():
            rows = sorted(repr(tuple(row)) for row in db.session.execute(text(f'SELECT * FROM "{name}"')))
            found[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return found


def _state_changing_cases(app: Flask) -> list[tuple[str, str, str]]:
    return [case for case in _cases(app) if case[1] in STATE_CHANGING]


def test_the_state_changing_table_lists_every_such_endpoint(app: Flask) -> None:
    found = {endpoint for endpoint, _method, _path in _state_changing_cases(app)}
    assert found - STATE_CHANGING_ENDPOINTS == set(), "add the new state-changing endpoints to STATE_CHANGING_ENDPOINTS"
    assert STATE_CHANGING_ENDPOINTS - found == set(), "STATE_CHANGING_ENDPOINTS lists endpoints that change nothing"


def test_every_state_changing_rule_refuses_every_role_it_does_not_name(demo_app: Flask,
                                                                       record_property) -> None:  # type: ignore[no-untyped-def]
    """Every state-changing rule-method, called with a valid CSRF token (so that CSRF cannot answer first) by every
    role that must be refused — and by a signed-out visitor: 403 (401 signed out), never a 400 from a form that
    answered before the role check, never a 500; no statement writes, and every table is as it was."""
    cases = _state_changing_cases(demo_app)
    clients = {role: _client(demo_app, role) for role in USERS}  # signed in first: a sign-in writes its session row
    tokens = {role: _token(client, role is not None) for role, client in clients.items()}
    before = _snapshot(demo_app)
    engine = _engine(demo_app)
    checked: dict[str, int] = {}
    for endpoint, method, path in cases:
        for role in USERS:
            if _allowed(endpoint, role):
                continue
            with statements_run(engine) as ran:
                response = _send(clients[role], method, path, {"csrf_token": tokens[role]})
            writes = _writes(ran)
            expected = 401 if role is None else 403
            assert response.status_code == expected, (endpoint, method, role, response.status_code)
            assert CSRF_REFUSAL not in response.get_data(as_text=True), (endpoint, method, role, "CSRF answered")
            assert writes == [], (endpoint, method, role, writes)
            checked[endpoint] = checked.get(endpoint, 0) + 1
    assert _snapshot(demo_app) == before
    # Every endpoint that some role may not call was called by each such role.
    restricted = {endpoint for endpoint, _m, _p in cases if EXPECTED[endpoint] != "public"}
    assert set(checked) == restricted
    assert sum(checked.values()) >= 290  # 294 on 2026-11-28: 57 restricted endpoints
    record_property("state_changing", f"{len(cases)} state-changing rule-methods, {len(restricted)} restricted, "
                                      f"{sum(checked.values())} rule-method × role refusals checked")


# A second organisation of the same role -------------------------------------------------------------------------

def _second_organisations(app: Flask) -> dict[Role, FlaskClient]:
    """A second MSME, cooperative, brand buyer and certifier, each with a signed-in user."""
    with app.app_context():
        scheme_id = db.session.scalar(select(m.CertificationScheme.id).filter_by(code="SC"))
        jinst_id = db.session.scalar(select(m.Organisation.id).filter_by(slug="jinst-golden-fleece"))
    session = factories.current_session()
    factories.HouseholdFactory(cooperative=session.get(m.Organisation, jinst_id), reference="HH-JINST-1")
    clients = {}
    for role, factory in ((Role.msme_editor, factories.MsmeFactory), (Role.cooperative_manager,
                          factories.CooperativeFactory), (Role.brand_buyer, factories.OrganisationFactory),
                          (Role.certifier, factories.CertifierFactory)):
        org = factory(slug=f"second-{role.value.replace('_', '-')}")
        if role is Role.certifier:  # accredited for the same scheme, so only ownership stands in the way
            factories.SchemeParticipantFactory(organisation=org, scheme=session.get(m.CertificationScheme, scheme_id))
        email = f"second-{role.value}@example.org"
        factories.user_with_role(role, organisation=org, email=email)
        client = app.test_client()
        assert sign_in(client, email).status_code == 302
        clients[role] = client
    return clients


# Object routes of the demo's organisations, tried by a second organisation of the same role: (role, method, path).
OBJECT_ROUTES: list[tuple[Role, str, str, dict]] = [
    *[(Role.msme_editor, "POST", f"/workspace/products/1{suffix}", {}) for suffix in (
        "", "/stock", "/components", "/components/18/remove", "/images", "/images/1/remove", "/sources",
        "/sources/1/remove", "/steps", "/steps/1/remove", "/submit")],
    (Role.msme_editor, "GET", "/workspace/products/1", {}),
    (Role.msme_editor, "GET", "/msme/khangai-knitwear/dossier.json", {}),
    (Role.msme_editor, "GET", "/msme/khangai-knitwear/dossier.pdf", {}),
    (Role.cooperative_manager, "GET", "/cooperative/control/households/{household}/self_evaluation", {}),
    (Role.cooperative_manager, "POST", "/cooperative/control/households/{household}/self_evaluation",
     {"outcome": "passed"}),
    (Role.brand_buyer, "GET", "/orders/ORD-DEMO-2025-001", {}),
    (Role.brand_buyer, "POST", "/orders/ORD-DEMO-2025-001/deposit", {}),
    (Role.brand_buyer, "GET", "/orders/ORD-DEMO-2025-001/pay", {}),
    (Role.brand_buyer, "POST", "/orders/ORD-DEMO-2025-001/pay", {}),
    (Role.brand_buyer, "POST", "/quotes/1/accept", {"confirm": "y"}),
    (Role.brand_buyer, "GET", "/quotes/1", {}),
    (Role.brand_buyer, "GET", "/quotes/1.pdf", {}),
    (Role.brand_buyer, "POST", "/quotes/1/decline", {}),
    (Role.brand_buyer, "POST", "/quotes/1/counter", {"kg": "100", "form_id": "x"}),
    (Role.brand_buyer, "GET", "/orders/ORD-DEMO-2025-001/invoices/INV-2026-0001.pdf", {}),
    (Role.brand_buyer, "GET", "/orders/ORD-DEMO-2025-001/packing-list.pdf", {}),
    (Role.brand_buyer, "POST", "/orders/ORD-DEMO-2025-001/balance", {}),
    (Role.brand_buyer, "POST", "/orders/ORD-DEMO-2025-001/change", {"answer": "accept"}),
    (Role.brand_buyer, "GET", "/orders/ORD-DEMO-2025-001/balance/pay", {}),
    (Role.brand_buyer, "POST", "/orders/ORD-DEMO-2025-001/balance/pay", {}),
    (Role.certifier, "GET", "/certificates/SC-2025-BKH-001/manage", {}),
    (Role.certifier, "POST", "/certificates/SC-2025-BKH-001/manage",
     {"status": "revoked", "reason": "Taking over another certifier's certificate"}),
    (Role.certifier, "POST", "/certifier/control/jinst-golden-fleece", {"decision": "suspend"}),


    (Role.cooperative_manager, "GET", "/control/evidence/{evidence}", {}),
    (Role.cooperative_manager, "GET", "/organisations/jinst-golden-fleece/registration", {}),
    (Role.cooperative_manager, "POST", "/organisations/jinst-golden-fleece/registration",
     {"registration_number": "7654321"}),
    (Role.msme_editor, "GET", "/organisations/khangai-knitwear/registration", {}),
    (Role.msme_editor, "POST", "/organisations/khangai-knitwear/registration", {"registration_number": "7654321"}),
    (Role.brand_buyer, "GET", "/organisations/maison-lune/registration", {}),
    (Role.brand_buyer, "POST", "/organisations/maison-lune/registration",
     {"registration_number": "FR40303265045"}),
    # Another MSME's parcel (its ownership with a real parcel: tests/payments/test_shop.py).
    (Role.msme_editor, "POST", "/workspace/orders/1", {"action": "ship", "carrier": "DHL", "tracking": "JD0001"}),
    (Role.msme_editor, "POST", "/workspace/services/1", {"action": "accept"}),
    # Another MSME's parcel's lines and refunds (with real parcels: tests/payments/test_shop_line_refunds.py).
    (Role.msme_editor, "POST", "/workspace/orders/1/refund-lines", {"form_id": "x", "qty-1": "1"}),
    (Role.msme_editor, "POST", "/workspace/orders/refunds/1/retry", {}),
]

# Routes with an object in their URL that no organisation owns, or that only the Union (one organisation) reaches.
NOT_OWNED = {
    "payments.service_terms": "the terms edited are always the signed-in MSME's own; the URL names a kind of service",
    "orders.request_lot_quote": "a listed lot is public: any buyer may ask for a quote",
    "orders.request_sample": "a listed lot is public: any buyer may ask for a sample",
    "passports.tier_value_chain": "a passport's value-chain tier is for every verified buyer, recycler and repairer, "
                                  "not one organisation (tests/passports/test_passport_tiers.py)",
    "passports.tier_value_chain_version": "the same tier's issued versions (tests/passports/test_passport_tiers.py)",
}


def _endpoint(app: Flask, method: str, path: str) -> str:
    endpoint, _args = app.url_map.bind("localhost").match(path.split("?", maxsplit=1)[0], method=method)
    return endpoint


def test_every_object_route_is_tried_by_a_second_organisation(app: Flask) -> None:
    """An endpoint with an object in its URL, open to a role whose users belong to different organisations, is in
    OBJECT_ROUTES (or documented in NOT_OWNED)."""
    tried = {_endpoint(app, method, path.format(household=1, evidence=1)) for _r, method, path, _d in OBJECT_ROUTES}
    needed = set()
    for rule in app.url_map.iter_rules():
        expected = EXPECTED[rule.endpoint]
        if not rule.arguments or isinstance(expected, str) or expected <= STAFF:
            continue
        needed.add(rule.endpoint)
    assert needed - tried - set(NOT_OWNED) == set()


def _evidence(app: Flask, household_id: int) -> int:
    """A real evidence file (stored) on an assessment of Jinst's household."""
    import io

    from pypdf import PdfWriter

    from marketplace.control import evidence

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    with app.test_request_context():
        media, key, stored = evidence.check(out.getvalue())
        evidence.save(db.session(), stored)
        household = db.session.get(m.Household, household_id)
        scheme = db.session.scalar(select(m.CertificationScheme).filter_by(code="SC"))
        assessment = m.Assessment(level="self_evaluation", scheme_id=scheme.id, cooperative_id=household.cooperative_id,
                                  household_id=household.id, actor_organisation_id=household.cooperative_id,
                                  performed_on=household.created_at.date(), outcome="passed")
        db.session.add(assessment)
        db.session.flush()
        found = m.EvidenceFile(assessment_id=assessment.id, key=key, media_type=media, size_bytes=out.tell(),
                               sha256=stored.sha256, original_name="agreement.pdf")
        db.session.add(found)
        db.session.commit()
        return found.id


def test_a_second_organisation_of_the_same_role_never_touches_the_first_ones_objects(demo_app: Flask) -> None:
    clients = _second_organisations(demo_app)
    with demo_app.app_context():
        household = db.session.scalar(select(m.Household.id).filter_by(reference="HH-JINST-1"))
    evidence_id = _evidence(demo_app, household)
    owner = _client(demo_app, Role.cooperative_manager)  # the objects exist: their owners reach them
    assert _send(owner, "GET", f"/control/evidence/{evidence_id}").status_code == 200
    assert _send(owner, "GET", f"/cooperative/control/households/{household}/self_evaluation").status_code == 200
    with demo_app.app_context():
        scheme = db.session.scalar(select(m.CertificationScheme).filter_by(code="SC"))
        results = {f"result_{c.id}": "compliant" for c in scheme.criteria}
    import datetime as dt

    control = {"scheme_id": str(scheme.id), "performed_on": dt.date.today().isoformat(),  # noqa: DTZ011
               "notes": "Overgrazing found in two PUGs", **results}
    before = row_counts(demo_app)
    engine = _engine(demo_app)
    for role, method, template, extra in OBJECT_ROUTES:
        client = clients[role]
        path = template.format(household=household, evidence=evidence_id)
        data = {"csrf_token": _token(client, True), **extra, **(control if "control" in path else {})} \
            if method == "POST" else None
        with statements_run(engine) as ran:
            response = _send(client, method, path, data)
        writes = _writes(ran)
        assert response.status_code in (403, 404), (role, method, path, response.status_code)
        assert writes == [], (role, method, path, writes)
    assert row_counts(demo_app) == before


# CSRF on every state-changing rule ------------------------------------------------------------------------------

CSRF_REFUSAL = "Your form expired or was sent from another site"


def _an_allowed_user(endpoint: str) -> Role | None:
    """Someone the role check lets through, so that only CSRF can refuse."""
    if EXPECTED[endpoint] == "public":
        return None
    if EXPECTED[endpoint] == "signed_in":
        return Role.brand_buyer
    return sorted(EXPECTED[endpoint])[0]  # type: ignore[arg-type]


def test_every_state_changing_rule_refuses_a_request_without_a_csrf_token(demo_app: Flask) -> None:
    cases = [(endpoint, method, path) for endpoint, method, path in _cases(demo_app)
             if method in STATE_CHANGING and endpoint not in CSRF_EXEMPT]
    # Signed in first (a sign-in writes its session row), so that the requests below are measured alone.
    clients = {role: _client(demo_app, role) for role in {_an_allowed_user(endpoint) for endpoint, _m, _p in cases}}
    before = row_counts(demo_app)
    engine = _engine(demo_app)
    checked = 0
    for endpoint, method, path in cases:
        role = _an_allowed_user(endpoint)
        with statements_run(engine) as ran:
            response = _send(clients[role], method, path, {"email": "x@example.org", "password": "x"})
        writes = _writes(ran)
        assert response.status_code == 400, (endpoint, method, role, response.status_code)
        assert CSRF_REFUSAL in response.get_data(as_text=True), (endpoint, method, "refused, but not by CSRF")
        assert writes == [], (endpoint, method, writes)
        checked += 1
    assert checked > 40
    assert row_counts(demo_app) == before
    # The same users with a token are not refused by CSRF: the check above measured CSRF, not the role check.
    staff = clients[Role.admin]
    response = _send(staff, "POST", "/union/premiums", {"csrf_token": _token(staff, True)})
    assert response.status_code != 400 or CSRF_REFUSAL not in response.get_data(as_text=True)


def test_only_the_documented_rules_are_exempt_from_csrf(demo_app: Flask) -> None:
    from marketplace.extensions import csrf

    exempt = {endpoint for endpoint in EXPECTED
              if f"{demo_app.view_functions[endpoint].__module__}.{demo_app.view_functions[endpoint].__name__}"
              in csrf._exempt_views}
    assert exempt == set(CSRF_EXEMPT)
    assert not csrf._exempt_blueprints
    assert demo_app.config["WTF_CSRF_ENABLED"]
    assert demo_app.config.get("WTF_CSRF_CHECK_DEFAULT", True)
