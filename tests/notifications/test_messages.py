"""Every message the site sends, caused through the real entry point, delivered to the test SMTP server
(aiosmtpd on loopback) and read there, in at least two languages (issue 15)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.accounts.models import Role, User
from marketplace.extensions import db
from marketplace.notifications import notify, services
from marketplace.notifications.messages import KINDS
from marketplace.orders import services as orders
from marketplace.orders.models import SampleRequest
from marketplace.organisations.models import OrgKind
from tests import factories
from tests.helpers import ADDRESS, csrf_token, sign_in, text
from tests.orders.test_orders import _answer, _quote_form
from tests.products_helpers import jpeg_bytes, token, workshop


def _deliver(app: Flask) -> None:
    with app.app_context():
        services.deliver(limit=1000)


def _received(app: Flask, mailbox) -> dict[str, list[Any]]:  # type: ignore[no-untyped-def]
    """Deliver the outbox; each recipient's messages, in order."""
    _deliver(app)
    found: dict[str, list[Any]] = defaultdict(list)
    for message, (_sender, recipients) in zip(mailbox.messages, mailbox.envelopes, strict=True):
        for recipient in recipients:
            found[recipient].append(message)
    return found


def _kinds(messages: list[Any]) -> list[str]:
    return [str(message["X-Notification-Kind"]) for message in messages]


def check_language(app: Flask, message: Any, kind: str, locale: str) -> None:
    """The message is of ``kind`` and written in ``locale``: header, HTML lang, translated subject and greeting."""
    assert message["X-Notification-Kind"] == kind
    assert message["Content-Language"] == locale
    html = message.get_body(preferencelist=("html",)).get_content()
    plain = message.get_body(preferencelist=("plain",)).get_content()
    assert f'<html lang="{locale}">' in html
    assert "http://127.0.0.1:5000" in plain  # the link back
    with app.test_request_context(), force_locale(locale):
        subject_template = str(KINDS[kind].subject)
    english = str(KINDS[kind].subject._args[0])  # the msgid
    if locale != "en":
        assert subject_template != english, f"{kind} has no {locale} subject"
        assert "Hello" not in plain
    prefix = subject_template.split("%(", maxsplit=1)[0].strip()
    assert str(message["Subject"]).strip().startswith(prefix), (message["Subject"], prefix)


def unverified_brand(app: Flask) -> m.Organisation:
    """A brand that signed up and is waiting for the Union (the column defaults to verified for factories)."""
    brand = factories.OrganisationFactory(name="New Brand")
    with app.app_context():
        db.session.get(m.Organisation, brand.id).verified_at = None
        db.session.commit()
    return brand


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive UTC datetimes back, PostgreSQL aware ones."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302, email
    return client


@pytest.fixture
def world(app: Flask) -> dict:
    union = factories.OrganisationFactory(kind="union", slug="union-test", country="MN")
    factories.ensure_policy(2026, "EUR")
    staff_fr = factories.user_with_role(Role.union_staff, union, email="staff@example.com", locale="fr")
    staff_mn = factories.user_with_role(Role.union_staff, union, email="staff2@example.com", locale="mn")
    brand = factories.OrganisationFactory(name="Maison Test")
    buyer_de = factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com", locale="de")
    buyer_it = factories.user_with_role(Role.brand_buyer, brand, email="buyer2@example.com", locale="it")
    coops = [factories.CooperativeProfileFactory(members=n, declared_capacity_kg=Decimal(c)).organisation
             for n, c in ((100, 4000), (200, 8000))]
    lots = [factories.LotFactory(cooperative=coop, available_kg=Decimal(1000), net_kg=Decimal(1000),
                                 min_order_kg=Decimal(50)) for coop in coops]
    return {"staff": [staff_fr, staff_mn], "buyers": [buyer_de, buyer_it], "brand": brand, "lots": lots}


def test_quote_messages_and_order_stages_in_the_recipients_languages(app: Flask, world: dict, mailbox) -> None:
    buyer = _client(app, "buyer@example.com")
    staff = _client(app, "staff@example.com")
    path, payload = _quote_form(buyer, f"/lots/{world['lots'][0].code}/quote")
    assert buyer.post(path, data=payload).status_code == 302
    got = _received(app, mailbox)
    check_language(app, got["staff@example.com"][-1], "quote_requested", "fr")
    check_language(app, got["staff2@example.com"][-1], "quote_requested", "mn")
    with app.app_context():
        request_id = db.session.scalar(select(func.max(m.QuoteRequest.id)))
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()  # noqa: DTZ011
    assert _answer(app, staff, request_id, valid_until=tomorrow).status_code == 302
    got = _received(app, mailbox)
    answered = got["buyer@example.com"][-1]
    check_language(app, answered, "quote_answered", "de")
    check_language(app, got["buyer2@example.com"][-1], "quote_answered", "it")
    assert "125,00" in answered.get_body(preferencelist=("plain",)).get_content()  # the price, as Germans write it
    # The offer expires tomorrow: the reminder goes once.
    with app.app_context():
        assert notify.reminders() == 1
        assert notify.reminders() == 0
        db.session.commit()
    got = _received(app, mailbox)
    check_language(app, got["buyer@example.com"][-1], "quote_expiring", "de")
    check_language(app, got["buyer2@example.com"][-1], "quote_expiring", "it")
    # A second request, declined with a reason.
    path, payload = _quote_form(buyer, f"/lots/{world['lots'][1].code}/quote")
    assert buyer.post(path, data=payload).status_code == 302
    with app.app_context():
        second = db.session.scalar(select(func.max(m.QuoteRequest.id)))
    decline = staff.post(f"/union/quotes/{second}/decline",
                         data={"csrf_token": csrf_token(staff, f"/union/quotes/{second}"), "reason": "Sold out"})
    assert decline.status_code == 302
    got = _received(app, mailbox)
    declined = got["buyer2@example.com"][-1]
    check_language(app, declined, "quote_declined", "it")
    assert "Sold out" in declined.get_body(preferencelist=("plain",)).get_content()
    check_language(app, got["buyer@example.com"][-1], "quote_declined", "de")
    # The first quote accepted: the reservation's expiry is reminded, then the deposit's arrival is a receipt.
    accept = buyer.post(f"/quotes/{request_id}/accept",
                        data={"csrf_token": csrf_token(buyer, "/quotes"), "confirm": "y"})
    assert accept.status_code == 302
    with app.app_context():
        order = db.session.scalar(select(m.Order))
        expires = _utc(min(r.expires_at for r in order.reservations))
        assert notify.reminders(now=expires - dt.timedelta(hours=2)) == 1
        orders.mark_deposit_paid(order)
        orders.confirm_allocation(order, staff=db.session.get(User, world["staff"][0].id))
        orders.advance(order, staff=db.session.get(User, world["staff"][0].id))
        db.session.commit()
    got = _received(app, mailbox)
    assert _kinds(got["buyer@example.com"])[-4:] == ["reservation_expiring", "deposit_received", "order_stage",
                                                   "order_stage"]
    for messages, locale in ((got["buyer@example.com"], "de"), (got["buyer2@example.com"], "it")):
        check_language(app, messages[-4], "reservation_expiring", locale)
        check_language(app, messages[-3], "deposit_received", locale)
        check_language(app, messages[-1], "order_stage", locale)


def test_samples_go_only_to_verified_buyers_and_their_dispatch_is_told(app: Flask, world: dict, mailbox) -> None:
    lot = world["lots"][0]
    unverified = unverified_brand(app)
    factories.user_with_role(Role.brand_buyer, unverified, email="new@example.com")
    newcomer = _client(app, "new@example.com")
    page = text(newcomer.get(f"/lots/{lot.code}"))
    form_id = page.split('name="form_id" value="')[1].split('"')[0]
    refused = newcomer.post(f"/lots/{lot.code}/sample", data={
        "csrf_token": csrf_token(newcomer, "/quotes"), "address": "1 Rue de la Paix, Paris", "form_id": form_id})
    assert refused.status_code == 403
    assert "not verified your organisation yet" in text(refused)
    with app.app_context():
        assert db.session.scalar(select(func.count(SampleRequest.id))) == 0
    buyer = _client(app, "buyer@example.com")
    page = text(buyer.get(f"/lots/{lot.code}"))
    form_id = page.split('name="form_id" value="')[1].split('"')[0]
    asked = buyer.post(f"/lots/{lot.code}/sample", data={
        "csrf_token": csrf_token(buyer, "/quotes"), "address": "1 Rue de la Paix, Paris", "form_id": form_id})
    assert asked.status_code == 302
    staff = _client(app, "staff@example.com")
    with app.app_context():
        sample_id = db.session.scalar(select(SampleRequest.id))
    sent = staff.post(f"/union/samples/{sample_id}/sent", data={"csrf_token": csrf_token(staff, "/union/quotes")})
    assert sent.status_code == 302
    got = _received(app, mailbox)
    check_language(app, got["buyer@example.com"][-1], "sample_sent", "de")
    check_language(app, got["buyer2@example.com"][-1], "sample_sent", "it")
    assert "new@example.com" not in got


def test_an_unverified_buyer_cannot_accept_a_quote(app: Flask, world: dict) -> None:
    unverified = unverified_brand(app)
    factories.user_with_role(Role.brand_buyer, unverified, email="new@example.com")
    quote = factories.QuoteFactory(request__buyer=unverified, request__lot=world["lots"][0], request__kg=Decimal(100))
    client = _client(app, "new@example.com")
    response = client.post(f"/quotes/{quote.request_id}/accept",
                           data={"csrf_token": csrf_token(client, "/quotes"), "confirm": "y"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(m.Order.id))) == 0


def test_product_review_messages(app: Flask, mailbox) -> None:
    w = workshop()
    with app.app_context():
        db.session.get(User, w.editor.id).locale = "mn"
        db.session.commit()
    factories.user_with_role(Role.msme_editor, w.msme, email="editor2@example.com", locale="zh")
    union = factories.OrganisationFactory(kind=OrgKind.union, country="MN")
    factories.user_with_role(Role.union_staff, union, email="reviewer@example.com", locale="fr")
    factories.user_with_role(Role.union_staff, union, email="reviewer2@example.com", locale="de")
    from marketplace.products import services as products
    from marketplace.products.models import StepKind
    from tests.products.test_products import _product

    ids = []
    for _ in range(2):
        product = _product(w)
        with app.test_request_context():
            p = db.session.get(m.Product, product.id)
            products.link_source(p, w.lot.id, Decimal("20"))
            products.add_step(p, products.StepData(StepKind.spinning, w.msme.id, dt.date(2026, 7, 1),
                                                   Decimal("20"), Decimal("18.5")))
            products.add_image(p, jpeg_bytes(), {"en": "A sweater"})
            db.session.commit()
        ids.append(product.id)
    editor = _client(app, w.editor.email)
    for product_id in ids:
        assert editor.post(f"/workspace/products/{product_id}/submit",
                           data={"csrf_token": token(editor)}).status_code == 302
    got = _received(app, mailbox)
    check_language(app, got["reviewer@example.com"][-1], "product_submitted", "fr")
    check_language(app, got["reviewer2@example.com"][-1], "product_submitted", "de")
    reviewer = _client(app, "reviewer@example.com")
    csrf = token(reviewer, "/union/products")
    assert reviewer.post(f"/union/products/{ids[0]}/approve", data={"csrf_token": csrf}).status_code == 302
    assert reviewer.post(f"/union/products/{ids[1]}/reject",
                         data={"csrf_token": csrf, "reason": "The knitting step has no date."}).status_code == 302
    got = _received(app, mailbox)
    for address, locale in ((w.editor.email, "mn"), ("editor2@example.com", "zh")):
        check_language(app, got[address][-2], "product_approved", locale)
        check_language(app, got[address][-1], "product_rejected", locale)
    assert "The knitting step has no date." in got[w.editor.email][-1].get_body(
        preferencelist=("plain",)).get_content()


def test_code_of_practice_review_message(app: Flask, mailbox) -> None:
    msme = factories.MsmeFactory()
    factories.user_with_role(Role.msme_editor, msme, email="a@knit.example", locale="fr")
    factories.user_with_role(Role.msme_editor, msme, email="b@knit.example", locale="zh")
    union = factories.OrganisationFactory(kind=OrgKind.union, country="MN")
    factories.user_with_role(Role.union_staff, union, email="staff@example.com")
    report = factories.PerformanceReportFactory(msme=msme)
    staff = _client(app, "staff@example.com")
    response = staff.post(f"/union/code-of-practice/{report.id}", data={
        "csrf_token": csrf_token(staff, "/union/code-of-practice"), "decision": "return",
        "note": "Give the water figure in m3."})
    assert response.status_code in (302, 303)
    got = _received(app, mailbox)
    check_language(app, got["a@knit.example"][-1], "report_reviewed", "fr")
    check_language(app, got["b@knit.example"][-1], "report_reviewed", "zh")
    assert "Give the water figure in m3." in got["b@knit.example"][-1].get_body(
        preferencelist=("plain",)).get_content()


def test_a_suspended_certificate_is_told_to_its_holder_msmes_relying_on_it_and_buyers(demo_app: Flask,
                                                                                        mailbox) -> None:
    number = "SC-2025-BKH-001"
    with demo_app.app_context():
        cert = db.session.scalar(select(m.Certificate).filter_by(number=number))
        with demo_app.test_request_context():
            people = notify.certificate_affected(cert)
        kinds = {person.email: person.organisation.kind for person in people}
        locales = {OrgKind.cooperative: "mn", OrgKind.msme: "zh", OrgKind.brand: "fr"}
        for person in people:
            person.locale = locales.get(person.organisation.kind, "de")
        db.session.commit()
    assert OrgKind.cooperative in kinds.values()
    assert OrgKind.msme in kinds.values()  # demo products source its lots
    admin = demo_app.test_client()
    sign_in(admin, "admin@demo.example", "demo-admin-2026")
    path = f"/certificates/{number}/manage"
    done = admin.post(path, data={"csrf_token": csrf_token(admin, path), "status": "suspended",
                                  "reason": "Court order received by the Union"})
    assert done.status_code == 302
    got = _received(demo_app, mailbox)
    for email, kind in kinds.items():
        message = got[email][-1]
        check_language(demo_app, message, "certificate_status", locales.get(kind, "de"))
        assert "Court order received by the Union" in message.get_body(preferencelist=("plain",)).get_content()
    assert len({locales.get(kind, "de") for kind in kinds.values()}) >= 2


def test_a_certificate_about_to_expire_is_reminded_once(app: Flask, mailbox) -> None:
    coop = factories.CooperativeProfileFactory().organisation
    factories.user_with_role(Role.cooperative_manager, coop, email="coop@example.com", locale="mn")
    factories.user_with_role(Role.cooperative_manager, coop, email="coop2@example.com", locale="en")
    factories.CertificateFactory(holder=coop, valid_to=dt.date.today() + dt.timedelta(days=20))  # noqa: DTZ011
    with app.app_context():
        assert notify.reminders() == 1
        db.session.commit()
        assert notify.reminders() == 0
    got = _received(app, mailbox)
    check_language(app, got["coop@example.com"][-1], "certificate_expiring", "mn")
    check_language(app, got["coop2@example.com"][-1], "certificate_expiring", "en")


def test_consumer_receipt_in_the_language_of_the_purchase(app: Flask, mailbox) -> None:
    from tests.payments.test_payments import _event, _post

    product = factories.product_for_sale(price_minor=29000)
    for n, locale in enumerate(("it", "zh")):
        client = app.test_client()
        client.get(f"/?lang={locale}")
        token_ = csrf_token(client)
        assert client.post("/cart/add", data={"csrf_token": token_, "product_id": product.id,
                                              "quantity": 1}).status_code == 302
        cart = text(client.get("/cart"))
        form_id = cart.split('name="form_id" type="hidden" value="')[1].split('"')[0]
        assert client.post("/cart/checkout", data={"csrf_token": token_, "form_id": form_id,
                                                   "email": f"shopper{n}@example.com", **ADDRESS}).status_code == 302
        with app.app_context():
            order = db.session.scalar(select(m.ConsumerOrder).filter_by(email=f"shopper{n}@example.com"))
            assert order.locale == locale
            intent = order.payments[0].provider_ref
        outcome = _post(client, _event(f"evt_{n}", "payment_intent.succeeded", {"id": intent, "amount": 29000}))
        assert outcome.json["outcome"] == "applied:succeeded"
    got = _received(app, mailbox)
    check_language(app, got["shopper0@example.com"][-1], "consumer_receipt", "it")
    check_language(app, got["shopper1@example.com"][-1], "consumer_receipt", "zh")


@pytest.mark.parametrize("locale", ["fr", "mn"])
def test_messages_whose_events_other_issues_add(app: Flask, mailbox, locale: str) -> None:
    """Balance payments, invoices, consumer shipping and repair requests have no screen yet (orders and
    consumer after-sales are other issues); their messages are ready and delivered from the same calls."""
    brand = factories.OrganisationFactory(name="Maison Test")
    factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com", locale=locale)
    msme = factories.MsmeFactory()
    factories.user_with_role(Role.msme_editor, msme, email="editor@example.com", locale=locale)
    order = factories.OrderFactory(buyer=brand)
    product = factories.ProductFactory(organisation=msme)
    consumer = factories.ConsumerOrderFactory(email="shopper@example.com")
    with app.test_request_context():
        consumer_order = db.session.get(m.ConsumerOrder, consumer.id)
        consumer_order.locale = locale
        notify.balance_received(db.session.get(m.Order, order.id), 120000)
        notify.invoice_issued(db.session.get(m.Order, order.id), 400000)
        notify.consumer_shipped(consumer_order)
        notify.repair_request(db.session.get(m.Product, product.id), "A hole in the left sleeve")
        db.session.commit()
    got = _received(app, mailbox)
    assert _kinds(got["buyer@example.com"]) == ["balance_received", "invoice_issued"]
    for message in got["buyer@example.com"]:
        check_language(app, message, str(message["X-Notification-Kind"]), locale)
    check_language(app, got["shopper@example.com"][-1], "consumer_shipped", locale)
    check_language(app, got["editor@example.com"][-1], "repair_request", locale)


def test_staff_verify_a_new_organisation_and_its_members_are_told(app: Flask, mailbox) -> None:
    union = factories.OrganisationFactory(kind=OrgKind.union, country="MN")
    factories.user_with_role(Role.union_staff, union, email="staff@example.com", locale="de")
    for locale, email, number in (("fr", "a@filati.example", "IT00743110157"), ("zh", "b@knit.example", "6543210")):
        client = app.test_client()
        client.get(f"/?lang={locale}")
        role, country = ("brand_buyer", "IT") if email.startswith("a") else ("msme_editor", "MN")
        response = client.post("/signup", data={
            "name": "New Person", "email": email, "password": "loom saffron teapot glacier",
            "confirm": "loom saffron teapot glacier", "account_type": role, "organisation": f"Org {locale}",
            "country": country, "registration_number": number, "csrf_token": csrf_token(client, "/signup")})
        assert response.status_code == 200
    got = _received(app, mailbox)
    check_language(app, got["a@filati.example"][-1], "verify_email", "fr")
    check_language(app, got["b@knit.example"][-1], "verify_email", "zh")
    assert _kinds(got["staff@example.com"]) == ["organisation_to_verify"] * 2
    check_language(app, got["staff@example.com"][-1], "organisation_to_verify", "de")
    staff = _client(app, "staff@example.com")
    queue = text(staff.get("/staff/verifications"))
    assert "Org fr" in queue
    assert "IT00743110157" in queue
    with app.app_context():
        ids = db.session.scalars(select(m.Organisation.id).where(m.Organisation.verified_at.is_(None))
                                 .order_by(m.Organisation.id)).all()
    assert len(ids) == 2
    for org_id in ids:
        response = staff.post(f"/staff/verifications/{org_id}",
                              data={"csrf_token": csrf_token(staff, "/staff/verifications")})
        assert response.status_code == 302
    got = _received(app, mailbox)
    check_language(app, got["a@filati.example"][-1], "organisation_verified", "fr")
    check_language(app, got["b@knit.example"][-1], "organisation_verified", "zh")
    assert "Org fr" not in text(staff.get("/staff/verifications"))
    assert staff.post("/staff/verifications/999999",
                      data={"csrf_token": csrf_token(staff, "/staff/verifications")}).status_code == 404


@pytest.mark.parametrize("locale", ["it", "mn"])
def test_account_security_messages(app: Flask, mailbox, locale: str) -> None:
    user = factories.user_with_role(Role.brand_buyer, email="giulia@filati.example", locale=locale)
    client = app.test_client()
    client.post("/password/reset", data={"email": user.email, "csrf_token": csrf_token(client, "/password/reset")})
    client.post("/signup", data={
        "name": "Giulia", "email": user.email, "password": "loom saffron teapot glacier",
        "confirm": "loom saffron teapot glacier", "account_type": "brand_buyer", "organisation": "Filati",
        "country": "IT", "registration_number": "IT00743110157", "csrf_token": csrf_token(client, "/signup")})
    with app.test_request_context():
        notify.password_changed(db.session.get(User, user.id))
        db.session.commit()
    got = _received(app, mailbox)
    assert _kinds(got[user.email]) == ["password_reset", "signup_existing", "password_changed"]
    for message in got[user.email]:
        check_language(app, message, str(message["X-Notification-Kind"]), locale)


def test_the_notification_list_counts_unread_and_preferences_switch_off_only_optional_mail(app: Flask,
                                                                                            mailbox) -> None:
    user = factories.user_with_role(Role.brand_buyer, email="camille@maison.example")
    with app.test_request_context():
        person = db.session.get(User, user.id)
        services.notify(person, "sample_sent", params={"lot": "USCC-1"}, url=services.link("orders.my_quotes"))
        notify.password_changed(person)
        db.session.commit()
    client = _client(app, user.email)
    page = text(client.get("/notifications"))
    assert "2 unread notifications" in page
    assert "Your sample of lot USCC-1 is on its way" in page
    assert '<span class="badge">2' in page
    token_ = csrf_token(client, "/notifications/preferences")
    response = client.post("/notifications/preferences", data={"csrf_token": token_, "group": ["orders"]})
    assert response.status_code == 302
    bad = client.post("/notifications/preferences", data={"csrf_token": token_, "group": ["password"]})
    assert bad.status_code == 422
    with app.app_context():
        assert services.preferences(user.id)["samples"] is False
        assert services.preferences(user.id)["orders"] is True
    with app.test_request_context():
        person = db.session.get(User, user.id)
        services.notify(person, "sample_sent", params={"lot": "USCC-2"}, url=services.link("orders.my_quotes"))
        notify.password_changed(person)  # essential: sent whatever the preferences
        db.session.commit()
    got = _received(app, mailbox)
    assert _kinds(got[user.email]) == ["sample_sent", "password_changed", "password_changed"]
    client.post("/notifications/read", data={"csrf_token": csrf_token(client, "/notifications")})
    assert "Nothing unread." in text(client.get("/notifications"))


def test_reminders_run_from_the_cli(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["mail", "reminders"])
    assert result.exit_code == 0
    assert "0 reminders." in result.output


