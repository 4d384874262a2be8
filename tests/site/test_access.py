"""The central permission check, walked across the role × route matrix."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.access import PUBLIC, SIGNED_IN, rule_for, undeclared_endpoints
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.passports.models import Passport
from tests.helpers import sign_in, text

DEMO_USERS = {
    Role.admin: "admin@demo.example",
    Role.union_staff: "staff@demo.example",
    Role.cooperative_manager: "coop@demo.example",
    Role.msme_editor: "msme@demo.example",
    Role.brand_buyer: "buyer@demo.example",
    Role.certifier: "certifier@demo.example",
}
DEMO_PASSWORDS = {
    Role.admin: "demo-admin-2026",
    Role.union_staff: "demo-staff-2026",
    Role.cooperative_manager: "demo-coop-2026",
    Role.msme_editor: "demo-msme-2026",
    Role.brand_buyer: "demo-buyer-2026",
    Role.certifier: "demo-certifier-2026",
}

# Sample values for URL parameters, so every GET route can be requested; per endpoint where names clash.
SAMPLE_ARGS = {"code": "USCC-2025-BKH-001", "slug": "jinst-golden-fleece", "filename": "css/site.css",
               "number": "SC-2025-BKH-001", "purpose": "suspension", "rest": "09520123456788", "step_id": "1",
               # Demo product 1 is Khangai Knitwear's (the demo MSME editor's), published, with image 1.
               "product_id": "1", "image_id": "1", "variant": "320.webp",
               "reference": "ORD-DEMO-2025-001", "quote_id": "1",
               # Certification control: the demo has no herder households or evidence files yet.
               "household_id": "1", "level": "self_evaluation", "file_id": "1",
               "msme_slug": "khangai-knitwear", "token": "not-a-signed-token", "organisation_id": "1",
               "version": "1", "fmt": "json",
               "kind": "repair", "shipment_id": "1", "refund_id": "1", "request_id": "1", "job_id": "1"}
ENDPOINT_ARGS = {"passports.version_json": {"number": "1"}, "passports.version_inclusion": {"number": "1"},
                 "passports.tier_value_chain_version": {"number": "1"},
                 "passports.tier_authority_version": {"number": "1"}}
# Addresses the credentials use as identifiers, which send a reader on to what they name.
REDIRECTS = {"lots.lot_numbers": (308,), "products.product_numbers": (308,),
             "passports.traceability_event_id": (303, 404)}
# Endpoints whose sample object may not exist in the demo data: allowed means "not refused".
MAY_BE_MISSING = {"passports.traceability_event", "passports.digital_link", "control.assess",
                  # an issuer's DID document and identity anchor exist once it has signed; a step's event and a
                  # status list are issued when a passport links to it, or when it is first read
                  "passports.org_did_document", "passports.org_identity", "passports.org_identity_version",
                  "passports.traceability_event_version", "passports.status_version",
                  # a lot passport has no authority tier (its maker's full assessment report)
                  "passports.tier_authority", "passports.tier_authority_version",
                  "control.evidence_file",
                  # a hash tile or entry bundle exists once the log holds its entries (the sample is a GTIN)
                  "passports.tlog_tile",
                  "orders.invoice_pdf",  # the demo order has no invoice of the sample number
                  "orders.quote_pdf",  # the demo quote request is not answered yet: no pro-forma
                  "orders.pay_balance",  # no card payment of the demo order's balance was started
                  "payments.payment_return",  # needs ?payment_intent= of a payment the user may see
                  # Open to the organisation's own members and staff only
                  # (tests/organisations/test_organisation_registration.py).
                  "organisations.registration"}
# Endpoints of signed e-mail links: the sample token is not signed, so allowed means a clear 400 or 404.
SIGNED_LINKS = {"accounts.verify_email", "accounts.password_reset_confirm", "notifications.unsubscribe",
                "payments.consumer_order",
                # Not a signed link, but it needs ?first=&second= (tests/passports/test_passport_log.py): a clear
                # 400 here.
                "passports.log_consistency"}


def test_every_endpoint_declares_an_access_rule(app: Flask) -> None:
    assert list(undeclared_endpoints(app)) == []


def _get_routes(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).order_by(Passport.id))
    routes = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()):
            continue
        values = {**SAMPLE_ARGS, "public_id": public_id, **ENDPOINT_ARGS.get(rule.endpoint, {})}
        path = rule.rule
        for arg in rule.arguments:
            for pattern in (f"<{arg}>", f"<path:{arg}>", f"<int:{arg}>", f"<any(json, jwt):{arg}>"):
                path = path.replace(pattern, values[arg])
        routes.append((rule.endpoint, path))
    return routes


def may_open(app: Flask, endpoint: str, role: Role | None) -> bool:
    """What the matrix expects of ``endpoint``'s declared rule: public, any signed-in role, or the roles it names.
    Written here apart from ``access.Rule.allows`` (the code under test); the sweeps use it to skip what a role
    may not open."""
    rule = rule_for(endpoint, app)
    return rule is PUBLIC or (role is not None and (rule is SIGNED_IN or role in rule.roles))  # type: ignore[union-attr]


@pytest.mark.parametrize("role", [None, *Role])
def test_role_route_matrix(demo_app: Flask, role: Role | None) -> None:
    client = demo_app.test_client()
    if role is not None:
        response = sign_in(client, DEMO_USERS[role], DEMO_PASSWORDS[role])
        assert response.status_code == 302, text(response)
    for endpoint, path in _get_routes(demo_app):
        rule = rule_for(endpoint, demo_app)
        assert rule is not None
        response = client.get(path)
        response.close()
        allowed = may_open(demo_app, endpoint, role)
        if allowed and endpoint in REDIRECTS:
            assert response.status_code in REDIRECTS[endpoint], (role, path, response.status_code)
        elif allowed and endpoint in SIGNED_LINKS:
            assert response.status_code in (400, 404), (role, path, response.status_code)
        elif allowed and endpoint in MAY_BE_MISSING:
            assert response.status_code in (200, 307, 404), (role, path, response.status_code)
        elif allowed:
            assert response.status_code == 200, (role, path, response.status_code)
        elif role is None:
            assert response.status_code in (302, 401), (path, response.status_code)
        else:
            assert response.status_code == 403, (role, path, response.status_code)


def test_state_changing_request_without_csrf_token_is_refused(demo_app: Flask) -> None:
    client = demo_app.test_client()
    response = client.post("/signin", data={"email": "buyer@demo.example", "password": "demo-buyer-2026"})
    assert response.status_code == 400
    assert "reload the page" in text(response)
    assert client.get("/dashboard").status_code == 302  # still signed out


def test_csrf_token_is_accepted_from_the_htmx_header(demo_app: Flask) -> None:
    client = demo_app.test_client()
    sign_in(client, DEMO_USERS[Role.brand_buyer], DEMO_PASSWORDS[Role.brand_buyer])
    html = text(client.get("/dashboard"))
    token = html.split('"X-CSRFToken": "')[1].split('"')[0]
    response = client.post("/signout", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_signout_needs_post(demo_app: Flask) -> None:
    assert demo_app.test_client().get("/signout").status_code == 405
