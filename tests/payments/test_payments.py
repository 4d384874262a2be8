"""Payments through localstripe: deposit, consumer cart, refunds, and the signed, idempotent webhook."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order, OrderStage, ReservationStatus
from marketplace.payments.gateway import StripeGateway, gateway
from marketplace.payments.models import (
    ConsumerOrder,
    ConsumerOrderStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    WebhookEvent,
)
from marketplace.products.models import ProductStatus
from tests import factories
from tests.conftest import STRIPE_WEBHOOK_SECRET, make_app
from tests.helpers import ADDRESS, csrf_token, sign_in, text

WEBHOOK = "/payments/stripe/webhook"


def _signed(event: dict, secret: str = STRIPE_WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, dict]:
    """An event signed the way Stripe signs it (HMAC-SHA256 of "timestamp.payload")."""
    payload = json.dumps(event).encode()
    stamp = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


def _event(event_id: str, kind: str, obj: dict, created: int = 1_800_000_000) -> dict:
    return {"id": event_id, "object": "event", "type": kind, "created": created, "data": {"object": obj}}


def _post(client: FlaskClient, event: dict, **kwargs: object):  # type: ignore[no-untyped-def]
    payload, headers = _signed(event, **kwargs)  # type: ignore[arg-type]
    return client.post(WEBHOOK, data=payload, headers=headers)


@pytest.fixture
def accepted(app: Flask) -> dict:
    brand = factories.OrganisationFactory(name="Maison Test")
    buyer = factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
    union = factories.OrganisationFactory(kind="union", slug="union-test")
    factories.user_with_role(Role.union_staff, union, email="staff@example.com")
    coop = factories.CooperativeProfileFactory().organisation
    lot = factories.LotFactory(cooperative=coop)
    quote = factories.QuoteFactory(request__buyer=brand, request__lot=lot, request__kg=Decimal(100))
    with app.app_context():
        order = orders.accept_quote(quote.request_id, buyer_ids={brand.id}, user=db.session.merge(buyer))
        db.session.commit()
        return {"reference": order.reference, "order_id": order.id}


def _buyer(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, "buyer@example.com").status_code == 302
    return client


def _start_deposit(app: Flask, client: FlaskClient, reference: str) -> Payment:
    token = csrf_token(client, f"/orders/{reference}")
    response = client.post(f"/orders/{reference}/deposit", data={"csrf_token": token})
    assert response.status_code == 302, text(response)
    with app.app_context():
        return db.session.scalar(select(Payment))


def test_deposit_through_localstripe_and_the_webhook(app: Flask, accepted: dict) -> None:
    client = _buyer(app)
    reference = accepted["reference"]
    payment = _start_deposit(app, client, reference)
    # 100 kg × (€125.00 + €8.00) = €13,300.00; a 30 % deposit is €3,990.00.
    assert (payment.amount_minor, payment.currency, payment.status) == (399000, "EUR", PaymentStatus.pending)
    assert payment.provider_ref.startswith("pi_")
    # A second click reuses the same PaymentIntent.
    assert _start_deposit(app, client, reference).id == payment.id
    page = client.get(f"/orders/{reference}/pay")
    assert "test card" in text(page)
    pay_token = csrf_token(client, f"/orders/{reference}/pay")
    response = client.post(f"/orders/{reference}/pay", data={"csrf_token": pay_token})
    assert response.status_code == 302
    with app.app_context():
        intent = gateway().retrieve_intent(payment.provider_ref)
        assert intent.status == "succeeded"
        # Stripe says it succeeded, but only a verified webhook changes the order.
        assert db.session.get(Order, accepted["order_id"]).stage is OrderStage.accepted

    event = _event("evt_deposit_1", "payment_intent.succeeded", {"id": payment.provider_ref, "amount": 399000})
    first = _post(client, event)
    assert first.status_code == 200
    assert first.json["outcome"] == "applied:succeeded"
    duplicate = _post(client, event)
    assert duplicate.json["outcome"] == "duplicate"
    late_failure = _post(client, _event("evt_deposit_0", "payment_intent.payment_failed",
                                        {"id": payment.provider_ref}, created=1_700_000_000))
    assert late_failure.json["outcome"] == "stale"
    with app.app_context():
        order = db.session.get(Order, accepted["order_id"])
        assert order.stage is OrderStage.deposit_paid
        assert [e.stage for e in order.events].count(OrderStage.deposit_paid) == 1
        assert all(r.status is ReservationStatus.firm and r.expires_at is None for r in order.reservations)
        assert db.session.get(Payment, payment.id).status is PaymentStatus.succeeded
        assert db.session.scalar(select(func.count(WebhookEvent.id))) == 2
    tracking = text(client.get(f"/orders/{reference}"))
    assert "confirmed by Stripe" in tracking  # every stage says who acted

    # Union staff refund it, once.
    staff = app.test_client()
    sign_in(staff, "staff@example.com")
    token = csrf_token(staff, f"/union/orders/{reference}")
    # A refund needs a reason and a confirmation; without them nothing is refunded.
    unconfirmed = staff.post(f"/union/payments/{payment.id}/refund", data={"csrf_token": token,
                                                                          "reason": "Order cancelled"})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm the refund" in text(unconfirmed)
    assert staff.post(f"/union/payments/{payment.id}/refund", data={"csrf_token": token,
                                                                   "confirm": "y"}).status_code == 422
    with app.app_context():
        assert db.session.get(Payment, payment.id).status is PaymentStatus.succeeded
    refund = {"csrf_token": token, "reason": "Order cancelled by the buyer", "confirm": "y"}
    assert staff.post(f"/union/payments/{payment.id}/refund", data=refund).status_code == 302
    again = staff.post(f"/union/payments/{payment.id}/refund", data=refund)
    assert again.status_code == 303
    assert "already been refunded" in text(staff.get(f"/union/orders/{reference}"))
    with app.app_context():
        refunds = db.session.scalars(select(Payment).where(Payment.kind == PaymentKind.refund)).all()
        assert len(refunds) == 1
        assert refunds[0].amount_minor == 399000
        assert refunds[0].provider_ref.startswith("re_")
        assert db.session.get(Payment, payment.id).status is PaymentStatus.refunded
        # The deposit had its invoice; the refund has its credit note, with the reason.
        from marketplace.payments.models import Invoice, InvoiceKind

        issued = {i.kind: i for i in db.session.scalars(select(Invoice))}
        assert issued[InvoiceKind.deposit].amount_minor == 399000
        assert issued[InvoiceKind.credit_note].amount_minor == 399000
        assert issued[InvoiceKind.credit_note].note == "Order cancelled by the buyer"
        assert issued[InvoiceKind.deposit].number.startswith("INV-")
    # A refund webhook after the refund changes nothing more.
    assert _post(client, _event("evt_refund_1", "charge.refunded",
                                {"id": "ch_x", "payment_intent": payment.provider_ref})).json["outcome"] == "stale"


@pytest.mark.parametrize("case", ["no_signature", "wrong_secret", "tampered", "replayed", "not_json"])
def test_forged_or_replayed_webhooks_change_nothing(app: Flask, accepted: dict, case: str) -> None:
    client = _buyer(app)
    payment = _start_deposit(app, client, accepted["reference"])
    event = _event("evt_forged", "payment_intent.succeeded", {"id": payment.provider_ref, "amount": 399000})
    payload, headers = _signed(event)
    if case == "no_signature":
        headers.pop("Stripe-Signature")
    elif case == "wrong_secret":
        payload, headers = _signed(event, secret="whsec_attacker")
    elif case == "tampered":
        payload = payload.replace(b"399000", b"1")
    elif case == "replayed":
        payload, headers = _signed(event, at=int(time.time()) - 3600)
    elif case == "not_json":
        payload, headers = _signed(event)
        payload = b"not json"
        stamp = headers["Stripe-Signature"].split(",")[0][2:]
        sig = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
        headers["Stripe-Signature"] = f"t={stamp},v1={sig}"
    response = client.post(WEBHOOK, data=payload, headers=headers)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(Order, accepted["order_id"]).stage is OrderStage.accepted
        assert db.session.scalar(select(func.count(WebhookEvent.id))) == 0


def test_a_payment_webhook_in_another_currency_marks_nothing_paid(app: Flask, accepted: dict) -> None:
    """A signed ``payment_intent.succeeded`` for the deposit's amount in another currency (399000 JPY against
    €3,990.00) is recorded and refused: the deposit stays unpaid, no invoice. (Found by a mutation review: with
    this currency check removed no test noticed.)"""
    client = _buyer(app)
    payment = _start_deposit(app, client, accepted["reference"])
    response = _post(client, _event("evt_yen", "payment_intent.succeeded",
                                    {"id": payment.provider_ref, "amount": 399000, "currency": "jpy"}))
    assert response.status_code == 200
    assert response.json["outcome"] == "currency_mismatch"
    with app.app_context():
        assert db.session.get(Order, accepted["order_id"]).stage is OrderStage.accepted
        assert db.session.get(Payment, payment.id).status is not PaymentStatus.succeeded
        from marketplace.payments.models import Invoice

        assert db.session.scalar(select(func.count(Invoice.id))) == 0


def test_a_webhook_for_an_unknown_payment_is_stored_and_ignored(app: Flask) -> None:
    client = app.test_client()
    response = _post(client, _event("evt_unknown", "payment_intent.succeeded", {"id": "pi_nobody"}))
    assert response.status_code == 200
    assert response.json["outcome"] == "unknown_payment"


def test_consumer_buys_published_products(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    draft = factories.ProductFactory(status=ProductStatus.draft)
    client = app.test_client()
    token = csrf_token(client)
    assert client.post("/cart/add", data={"csrf_token": token, "product_id": draft.id, "quantity": 1}).status_code \
        == 404
    bad = client.post("/cart/add", data={"csrf_token": token, "product_id": product.id, "quantity": 0})
    assert bad.status_code == 303
    assert client.post("/cart/add", data={"csrf_token": token, "product_id": product.id, "quantity": 2}).status_code \
        == 302
    cart = text(client.get("/cart"))
    assert "Crew-neck sweater" in cart
    assert "€580.00" in cart
    form_id = cart.split('name="form_id" type="hidden" value="')[1].split('"')[0]
    assert client.post("/cart/checkout", data={"csrf_token": token, "form_id": form_id, "email": "nope"}).status_code \
        == 422
    response = client.post("/cart/checkout", data={"csrf_token": token, "form_id": form_id,
                                                    "email": "shopper@example.com", **ADDRESS})
    assert response.status_code == 302
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        payment = order.payments[0]
        assert (order.total_minor, payment.kind, payment.amount_minor) == (58000, PaymentKind.purchase, 58000)
        assert gateway().retrieve_intent(payment.provider_ref).amount_minor == 58000
        pi = payment.provider_ref
    assert client.post("/cart/payment", data={"csrf_token": token}).status_code == 302
    assert _post(client, _event("evt_buy", "payment_intent.succeeded", {"id": pi, "amount": 58000})).json[
        "outcome"] == "applied:succeeded"
    assert "Paid" in text(client.get("/cart/payment"))
    with app.app_context():
        assert db.session.scalar(select(ConsumerOrder)).status is ConsumerOrderStatus.paid


def test_without_stripe_the_site_says_payments_are_unavailable(databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = databases.clone(False, tmp_path)
    app = make_app(url, tmp_path, STRIPE_SECRET_KEY=None, STRIPE_API_BASE=None, STRIPE_WEBHOOK_SECRET=None)
    with app.app_context():
        assert not gateway().available
        engine = db.engine
    from sqlalchemy.orm import Session

    session = Session(engine, expire_on_commit=False)
    factories.use_session(session)
    try:
        brand = factories.OrganisationFactory()
        buyer = factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
        lot = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation)
        quote = factories.QuoteFactory(request__buyer=brand, request__lot=lot, request__kg=Decimal(100))
        with app.app_context():
            order = orders.accept_quote(quote.request_id, buyer_ids={brand.id}, user=db.session.merge(buyer))
            db.session.commit()
            reference = order.reference
        client = _buyer(app)
        page = text(client.get(f"/orders/{reference}"))
        assert "Online payments are unavailable" in page
        response = client.post(f"/orders/{reference}/deposit", data={"csrf_token": csrf_token(client, "/quotes")})
        assert response.status_code == 303
        assert "Payments are unavailable" in text(client.get(f"/orders/{reference}"))
        assert client.post(WEBHOOK, data=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}).status_code == 400
        product = factories.product_for_sale()
        token = csrf_token(client)
        client.post("/cart/add", data={"csrf_token": token, "product_id": product.id, "quantity": 1})
        assert "Online payments are unavailable" in text(client.get("/cart"))
        with app.app_context():
            assert db.session.scalar(select(func.count(Payment.id))) == 0
    finally:
        factories.use_session(None)
        session.close()
        engine.dispose()
        databases.drop(url)


def test_the_gateway_uses_an_explicit_client(app: Flask) -> None:
    import stripe

    with app.app_context():
        adapter = gateway()
    assert isinstance(adapter, StripeGateway)
    assert "client" not in vars(adapter)  # made at the first call to Stripe, not with the app
    assert isinstance(adapter.client, stripe.StripeClient)
    assert adapter.client is adapter.client  # then kept
    assert stripe.api_key is None  # no global state


def test_deposit_amount_rounds_half_up(app: Flask) -> None:
    order = factories.OrderFactory(deposit_pct=30)
    factories.OrderLineFactory(order=order, kg=Decimal("1.5"), price_minor=333, premium_minor=0)
    from marketplace.payments.services import deposit_minor

    with app.app_context():
        assert deposit_minor(db.session.get(Order, order.id)) == 150  # 499.5 → 500 × 30 % = 150
    assert dt.date  # keep the import honest for type checkers
