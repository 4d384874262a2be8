"""Shop refunds parcel by parcel (issue 17): a parcel cancelled before it ships, or whose return is accepted,
gets back its goods and shipping through a partial Stripe refund (localstripe), once, from the MSME's inbox or
the Union's list alike, and the refunds of an order never add up to more than was paid."""

from __future__ import annotations

import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.payments.models import ConsumerOrder, ConsumerOrderStatus, PaymentKind, PaymentStatus
from marketplace.payments.services import order_token, refundable_minor
from tests import factories
from tests.conftest import STRIPE_TEST_KEY
from tests.helpers import ADDRESS, csrf_token, sign_in, text
from tests.payments.test_payments import _event, _post
from tests.payments.test_shop import _add, _form_id, _stock


def _paid_order(app: Flask, client: FlaskClient, token: str) -> tuple[str, str]:
    """Check out the cart, pay with the test card at localstripe and apply the verified webhook."""
    assert client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                               "email": "shopper@example.com", **ADDRESS}).status_code == 302
    assert client.post("/cart/payment", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder).order_by(ConsumerOrder.id.desc()))
        intent, amount = order.payments[0].provider_ref, order.total_minor
        with app.test_request_context():
            signed = order_token(order)
    assert _post(client, _event(f"evt_paid_{intent}", "payment_intent.succeeded",
                                {"id": intent, "amount": amount})).json["outcome"] == "applied:succeeded"
    return intent, signed


def _stripe_refunds(app: Flask, intent: str) -> list[int]:
    """What localstripe itself refunded on ``intent`` (not what we recorded)."""
    client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": app.config["STRIPE_API_BASE"]})
    return sorted(int(r.amount) for r in client.v1.refunds.list({"payment_intent": intent}).data)


def _refund_rows(app: Flask) -> list[tuple[int, int | None]]:
    with app.app_context():
        return sorted((p.amount_minor, p.consumer_shipment_id) for p in db.session.scalars(
            select(m.Payment).where(m.Payment.kind == PaymentKind.refund)))


def test_a_return_and_a_cancelled_parcel_are_each_refunded_once_from_the_msme_and_union_screens(
        app: Flask, mailbox) -> None:  # type: ignore[no-untyped-def]
    first = factories.product_for_sale(price_minor=29000)
    second = factories.product_for_sale(price_minor=10000)
    (size,) = factories.variants_for(second, {"M": 3})
    with app.app_context():
        for product, rate in ((first, 1800), (second, 900)):
            db.session.scalar(select(m.ShippingZone).filter_by(organisation_id=product.organisation_id)) \
                .rate_minor = rate
        db.session.commit()
    factories.user_with_role(m.Role.msme_editor, first.organisation, email="maker@example.com")
    factories.user_with_role(m.Role.msme_editor, second.organisation, email="other@example.com")
    union = factories.OrganisationFactory(kind="union", slug="union-test")
    factories.user_with_role(m.Role.union_staff, union, email="staff@example.com")
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, first.id)
    _add(client, token, second.id, size.id, 2)
    intent, signed = _paid_order(app, client, token)  # €290 + €18 and €200 + €9: €517
    assert _stock(app, size.id) == 1
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        mine, theirs = (s.id for s in order.shipments)
    maker = app.test_client()
    sign_in(maker, "maker@example.com")
    maker_token = csrf_token(maker, "/workspace/orders")
    other = app.test_client()
    sign_in(other, "other@example.com")
    other_token = csrf_token(other, "/workspace/orders")

    # An MSME cannot refund another MSME's parcel.
    assert other.post(f"/workspace/orders/{mine}", data={"csrf_token": other_token, "action": "cancel"}
                      ).status_code == 404
    # A return is accepted only once the parcel is delivered.
    early = maker.post(f"/workspace/orders/{mine}", data={"csrf_token": maker_token, "action": "return"})
    assert "This parcel is already To pack." in text(maker.get(early.location))
    assert _refund_rows(app) == []
    for step in ({"action": "ship", "carrier": "DHL", "tracking": "JD1"}, {"action": "deliver"}):
        assert maker.post(f"/workspace/orders/{mine}", data={"csrf_token": maker_token, **step}).status_code == 303
    inbox = text(maker.get("/workspace/orders"))
    assert "Accept the return and refund €308.00" in inbox
    accepted = maker.post(f"/workspace/orders/{mine}", data={"csrf_token": maker_token, "action": "return"})
    assert "€308.00 refunded to the consumer" in text(maker.get(accepted.location))
    # The same POST again (a double click, a reload) refunds nothing more.
    again = maker.post(f"/workspace/orders/{mine}", data={"csrf_token": maker_token, "action": "return"})
    assert "This parcel is already Returned." in text(maker.get(again.location))
    assert _refund_rows(app) == [(30800, mine)]
    assert "Refunded: €308.00" in text(maker.get("/workspace/orders"))

    # Union staff cancel the other maker's parcel before it ships: its size goes back to stock.
    staff = app.test_client()
    sign_in(staff, "staff@example.com")
    staff_token = csrf_token(staff, "/union/shop-orders")
    listing = text(staff.get("/union/shop-orders"))
    assert "Cancel this parcel and refund €209.00" in listing
    assert "Refunded: €308.00" in listing
    cancelled = staff.post(f"/union/shop-orders/parcels/{theirs}", data={"csrf_token": staff_token,
                                                                         "action": "cancel"})
    assert "€209.00 refunded" in text(staff.get(cancelled.location))
    assert staff.post(f"/union/shop-orders/parcels/{theirs}", data={"csrf_token": staff_token, "action": "cancel"}
                      ).status_code == 303
    assert _stock(app, size.id) == 3
    assert _refund_rows(app) == [(20900, theirs), (30800, mine)]
    assert _stripe_refunds(app, intent) == [20900, 30800]  # Stripe refunded each parcel once

    # Stripe's refund webhook, and the same event replayed, change nothing more.
    refunded = {"id": "ch_x", "payment_intent": intent, "amount": 51700, "amount_refunded": 51700}
    assert _post(client, _event("evt_refunded", "charge.refunded", refunded)).json["outcome"] == "stale"
    assert _post(client, _event("evt_refunded", "charge.refunded", refunded)).json["outcome"] == "duplicate"
    assert _stripe_refunds(app, intent) == [20900, 30800]
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert order.status is ConsumerOrderStatus.refunded
        assert order.payments[0].status is PaymentStatus.refunded
        assert [s.status.value for s in order.shipments] == ["returned", "cancelled"]
        mails = [mail.text_body for mail in db.session.scalars(select(m.OutgoingMail).filter_by(
            to_address="shopper@example.com", kind="consumer_refunded"))]
    assert len(mails) == 2
    assert any("€308.00" in body for body in mails)
    assert any("€209.00" in body for body in mails)
    page = text(client.get(f"/shop/orders/{signed}"))
    assert "Refunded: €308.00" in page
    assert "Refunded: €209.00" in page
    assert "€517.00" in page
    assert "Cancel this order" not in page


def test_a_partial_refund_webhook_leaves_the_rest_of_the_order_paid(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id)
    intent, _signed = _paid_order(app, client, token)
    partial = {"id": "ch_y", "payment_intent": intent, "amount": 29000, "amount_refunded": 5000}
    assert _post(client, _event("evt_partial", "charge.refunded", partial)).json["outcome"] == "partial_refund"
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert order.status is ConsumerOrderStatus.paid
        assert order.payments[0].status is PaymentStatus.succeeded


def test_the_refunds_of_an_order_never_exceed_what_was_paid(app: Flask) -> None:
    """A refund already made (here €50 of goodwill, say from Stripe's dashboard) leaves €240 of €290 to refund:
    cancelling the parcel refunds €240, not its €290 (the guard in ``shop.refundable_minor``)."""
    product = factories.product_for_sale(price_minor=29000)
    maker_email = "maker@example.com"
    factories.user_with_role(m.Role.msme_editor, product.organisation, email=maker_email)
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id)
    intent, signed = _paid_order(app, client, token)
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        purchase = order.payments[0]
        stripe_client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": app.config["STRIPE_API_BASE"]})
        goodwill = stripe_client.v1.refunds.create({"payment_intent": intent, "amount": 5000})
        db.session.add(m.Payment(consumer_order=order, kind=PaymentKind.refund, status=PaymentStatus.succeeded,
                                 amount_minor=5000, currency="EUR", provider_ref=goodwill.id, refund_of=purchase))
        db.session.commit()
        shipment_id = order.shipments[0].id
    maker = app.test_client()
    sign_in(maker, maker_email)
    maker_token = csrf_token(maker, "/workspace/orders")
    assert "Cancel this parcel and refund €240.00" in text(maker.get("/workspace/orders"))
    assert maker.post(f"/workspace/orders/{shipment_id}", data={"csrf_token": maker_token, "action": "cancel"}
                      ).status_code == 303
    assert _stripe_refunds(app, intent) == [5000, 24000]
    with app.app_context():
        refunded = db.session.scalar(select(func.sum(m.Payment.amount_minor)).where(
            m.Payment.kind == PaymentKind.refund))
        assert refunded == 29000  # exactly what was paid, not €340
        order = db.session.scalar(select(ConsumerOrder))
        assert order.status is ConsumerOrderStatus.refunded
        assert refundable_minor(order.shipments[0]) == 0
    assert "Paid, less refunds" in text(client.get(f"/shop/orders/{signed}"))


def test_a_shop_payment_is_not_refunded_whole_past_the_parcel_rule(app: Flask) -> None:
    """The Union's payment refund (for B2B orders) sends a shop payment to the parcel-by-parcel rule."""
    product = factories.product_for_sale(price_minor=29000)
    union = factories.OrganisationFactory(kind="union", slug="union-test")
    factories.user_with_role(m.Role.union_staff, union, email="staff@example.com")
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id)
    intent, _signed = _paid_order(app, client, token)
    with app.app_context():
        payment_id = db.session.scalar(select(m.Payment.id))
    staff = app.test_client()
    sign_in(staff, "staff@example.com")
    staff_token = csrf_token(staff, "/union/shop-orders")
    refused = staff.post(f"/union/payments/{payment_id}/refund", data={
        "csrf_token": staff_token, "reason": "Goodwill", "confirm": "y"})
    assert "refunded parcel by parcel" in text(staff.get(refused.location))
    assert _stripe_refunds(app, intent) == []
    assert _refund_rows(app) == []


def test_the_refund_e_mail_is_written_in_the_language_of_the_purchase(app: Flask, mailbox) -> None:  # type: ignore[no-untyped-def]
    from tests.notifications.test_messages import _received, check_language

    product = factories.product_for_sale(price_minor=29000)
    factories.user_with_role(m.Role.msme_editor, product.organisation, email="maker@example.com")
    client = app.test_client()
    client.get("/?lang=fr")
    token = csrf_token(client)
    _add(client, token, product.id)
    _paid_order(app, client, token)
    with app.app_context():
        shipment_id = db.session.scalar(select(m.ConsumerShipment.id))
    maker = app.test_client()
    sign_in(maker, "maker@example.com")
    maker.post(f"/workspace/orders/{shipment_id}", data={"csrf_token": csrf_token(maker, "/workspace/orders"),
                                                         "action": "cancel"})
    refund = _received(app, mailbox)["shopper@example.com"][-1]
    check_language(app, refund, "consumer_refunded", "fr")
    assert "290,00" in refund.get_body(preferencelist=("plain",)).get_content()


def test_a_refund_stripe_reports_failed_no_longer_counts_as_refunded_and_shows_as_failed(app: Flask) -> None:
    """``refund.updated`` / ``charge.refund.updated`` with status ``failed``: the refund row is failed, the amount
    is no longer refunded (the order is paid again for it) and every screen says the refund failed."""
    product = factories.product_for_sale(price_minor=29000)
    factories.user_with_role(m.Role.msme_editor, product.organisation, email="maker@example.com")
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id)
    _intent, signed = _paid_order(app, client, token)
    maker = app.test_client()
    sign_in(maker, "maker@example.com")
    with app.app_context():
        shipment_id = db.session.scalar(select(m.ConsumerShipment.id))
    assert maker.post(f"/workspace/orders/{shipment_id}", data={
        "csrf_token": csrf_token(maker, "/workspace/orders"), "action": "cancel"}).status_code == 303
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        refund = next(p for p in order.payments if p.kind is PaymentKind.refund)
        refund_id, purchase_intent = refund.provider_ref, order.payments[0].provider_ref
        assert order.status is ConsumerOrderStatus.refunded
    bad = [({"id": "re_unknown", "status": "failed"}, "unknown_payment"),
           ({"id": purchase_intent, "status": "failed"}, "unknown_payment"),  # not a refund
           ({"id": refund_id, "status": "exploded"}, "no_object"),
           ({"id": refund_id, "status": "failed", "amount": 1}, "amount_mismatch"),
           ({"id": refund_id, "status": "failed", "currency": "usd"}, "currency_mismatch")]
    for number, (obj, outcome) in enumerate(bad):
        assert _post(client, _event(f"evt_bad_{number}", "refund.updated", obj)).json["outcome"] == outcome, obj
    with app.app_context():
        assert db.session.scalar(select(ConsumerOrder)).status is ConsumerOrderStatus.refunded  # nothing moved
    failed = {"id": refund_id, "object": "refund", "status": "failed", "amount": 29000, "currency": "eur"}
    assert _post(client, _event("evt_refund_failed", "charge.refund.updated", failed)
                 ).json["outcome"] == "applied:refund_failed"
    # A late "succeeded" for the same refund does not bring it back; a duplicate is a duplicate.
    assert _post(client, _event("evt_refund_late", "refund.updated", {**failed, "status": "succeeded"})
                 ).json["outcome"] == "stale"
    assert _post(client, _event("evt_refund_failed", "charge.refund.updated", failed)).json["outcome"] == "duplicate"
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert db.session.get(m.Payment, refund.id).status is PaymentStatus.failed
        assert order.status is ConsumerOrderStatus.paid  # the €290 is no longer given back
        assert order.payments[0].status is PaymentStatus.succeeded
        from marketplace.payments.services import refunded_minor
        assert refunded_minor(order) == 0
    page = text(client.get(f"/shop/orders/{signed}"))
    assert "Refund failed: €290.00 was not paid back to the card." in page
    assert "Refund failed: €290.00" in text(maker.get("/workspace/orders"))
