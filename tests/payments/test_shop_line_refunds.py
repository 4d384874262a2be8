"""Refunds of some of a parcel's lines, and failed refunds tried again (issue 17), through localstripe.

A consumer returns one of two sweaters: the MSME (inbox) or the Union (its list) refunds that unit, once, for what
was paid for it, and never more than the payment has left (``shop.refunds.plan_refund``, the one rule). A refund
Stripe reports failed is offered again ("Retry refund"), once, even when the button is pressed twice at once.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select
from sqlalchemy import text as sql

from marketplace import models as m
from marketplace.extensions import db
from marketplace.payments.models import ConsumerOrder, ConsumerOrderStatus, PaymentKind, PaymentStatus
from marketplace.payments.services import consumer_sales
from tests import factories
from tests.helpers import csrf_token, sign_in, text
from tests.payments.test_payments import _event, _post
from tests.payments.test_shop import _add, _stock
from tests.payments.test_shop_refunds import _paid_order, _refund_rows, _stripe_refunds


class Shop:
    """A paid order of one maker's parcel: 2 × size M and 1 × size L at €120, shipping €9 (€369)."""

    failed = 0  # a refund Stripe reported failed, when a test makes one

    def __init__(self, app: Flask) -> None:
        self.app = app
        product = factories.product_for_sale(price_minor=12000)
        self.m_size, self.l_size = factories.variants_for(product, {"M": 5, "L": 5})
        with app.app_context():
            db.session.scalar(select(m.ShippingZone).filter_by(organisation_id=product.organisation_id)) \
                .rate_minor = 900
            db.session.commit()
        other = factories.product_for_sale(price_minor=5000)
        factories.user_with_role(m.Role.msme_editor, product.organisation, email="maker@example.com")
        factories.user_with_role(m.Role.msme_editor, other.organisation, email="other@example.com")
        union = factories.OrganisationFactory(kind="union", slug="union-test")
        factories.user_with_role(m.Role.union_staff, union, email="staff@example.com")
        self.consumer = app.test_client()
        token = csrf_token(self.consumer)
        _add(self.consumer, token, product.id, self.m_size.id, 2)
        _add(self.consumer, token, product.id, self.l_size.id, 1)
        self.intent, self.signed = _paid_order(app, self.consumer, token)
        with app.app_context():
            order = db.session.scalar(select(ConsumerOrder))
            self.shipment = order.shipments[0].id
            self.m_line, self.l_line = (line.id for line in order.shipments[0].lines)

    def client(self, email: str, page: str) -> tuple[FlaskClient, str]:
        client = self.app.test_client()
        sign_in(client, email)
        return client, csrf_token(client, page)

    def ship(self, maker: FlaskClient, token: str) -> None:
        for step in ({"action": "ship", "carrier": "DHL", "tracking": "JD1"}, {"action": "deliver"}):
            assert maker.post(f"/workspace/orders/{self.shipment}", data={"csrf_token": token, **step}
                              ).status_code == 303

    def fail(self, refund_ref: str, amount: int, event: str = "evt_refund_failed") -> None:
        failed = {"id": refund_ref, "object": "refund", "status": "failed", "amount": amount, "currency": "eur"}
        assert _post(self.consumer, _event(event, "refund.updated", failed)).json["outcome"] == "applied:refund_failed"


def _lines(client: FlaskClient, url: str, token: str, quantities: dict[str, object], form_id: str | None = None,
           **extra: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": token, "form_id": uuid.uuid4().hex if form_id is None else form_id, **extra,
            **{f"qty-{key}": value for key, value in quantities.items()}}
    return client.post(url, data=data)


def test_one_of_two_sweaters_returned_is_refunded_once_and_bad_requests_change_nothing(app: Flask, mailbox) -> None:  # type: ignore[no-untyped-def]
    shop = Shop(app)
    maker, token = shop.client("maker@example.com", "/workspace/orders")
    url = f"/workspace/orders/{shop.shipment}/refund-lines"
    # Not before the parcel has left the workshop.
    early = _lines(maker, url, token, {shop.m_line: 1})
    assert "once the parcel has shipped" in text(maker.get(early.location))
    shop.ship(maker, token)
    page = text(maker.get("/workspace/orders"))
    assert "Items returned: refund them one by one" in page
    assert "€120.00 each, 2 of 2 not refunded" in page

    def unchanged() -> None:
        assert _refund_rows(app) == []
        assert _stripe_refunds(app, shop.intent) == []
        assert _stock(app, shop.m_size.id) == 3

    bad = [({shop.m_line: 0, shop.l_line: ""}, "at least one"),
           ({shop.m_line: 3}, "Refund between 1 and 2"),
           ({shop.m_line: "-1"}, "whole number"), ({shop.m_line: "1.5"}, "whole number"),
           ({shop.m_line: "1e3"}, "whole number"), ({shop.m_line: "\u0663"}, "whole number"),
           ({shop.m_line: "1; DROP TABLE payment"}, "whole number"), ({shop.m_line: "99999999999"}, "whole number"),
           ({"1 OR 1=1": 1}, "not in this parcel"), ({"9" * 40: 1}, "not in this parcel"),
           ({999999: 1}, "not in this parcel")]
    for quantities, message in bad:
        response = _lines(maker, url, token, quantities)
        assert response.status_code == 303, quantities
        assert message in text(maker.get(response.location)), quantities
        unchanged()
    assert "expired" in text(maker.get(_lines(maker, url, token, {shop.m_line: 1}, form_id="").location))
    # Another maker's parcel is not found, whatever the lines say.
    other, other_token = shop.client("other@example.com", "/workspace/orders")
    assert _lines(other, url, other_token, {shop.m_line: 1}).status_code == 404
    unchanged()

    # One of the two sweaters in size M comes back, fit to sell again: €120, and one M back in stock.
    form_id = uuid.uuid4().hex
    done = _lines(maker, url, token, {shop.m_line: 1, shop.l_line: 0}, form_id=form_id, restock="y")
    assert "€120.00 refunded to the consumer&#39;s card for the items returned" in text(maker.get(done.location))
    # The same form again (a double click) is the same refund.
    assert _lines(maker, url, token, {shop.m_line: 1}, form_id=form_id, restock="y").status_code == 303
    assert _stripe_refunds(app, shop.intent) == [12000]
    assert _refund_rows(app) == [(12000, shop.shipment)]
    assert _stock(app, shop.m_size.id) == 4
    # Two more of size M: only one is left to refund.
    again = _lines(maker, url, token, {shop.m_line: 2})
    assert "1 of 2 already refunded, so at most 1 more" in text(maker.get(again.location))
    assert _stripe_refunds(app, shop.intent) == [12000]
    inbox = text(maker.get("/workspace/orders"))
    assert "1 refunded" in inbox
    assert "Refunded: €120.00" in inbox
    assert "Accept the return and refund €249.00" in inbox  # €240 of goods left and the €9 shipping

    with app.app_context():  # the Union's sales by maker and month leave the returned sweater out
        (sales,) = consumer_sales()
        assert (sales.items, sales.goods_minor, sales.shipping_minor) == (2, 24000, 900)

    # The consumer sees which line was refunded and for how much, and is e-mailed the same.
    order_page = text(shop.consumer.get(f"/shop/orders/{shop.signed}"))
    assert "1 of 2 returned and refunded" in order_page
    assert "Refunded: €120.00" in order_page
    assert "€369.00" in order_page
    with app.app_context():
        mail = db.session.scalar(select(m.OutgoingMail).filter_by(kind="consumer_refunded"))
        assert "€120.00" in mail.text_body
        assert "1 × " in mail.text_body
        assert "size M (€120.00)" in mail.text_body

    # The Union refunds the rest from its list, line by line: with the last units goes the shipping.
    staff, staff_token = shop.client("staff@example.com", "/union/shop-orders")
    rest = _lines(staff, f"/union/shop-orders/parcels/{shop.shipment}/refund-lines", staff_token,
                  {shop.m_line: 1, shop.l_line: 1})
    assert "€249.00 refunded" in text(staff.get(rest.location))
    assert _stripe_refunds(app, shop.intent) == [12000, 24900]
    assert _stock(app, shop.m_size.id) == 4
    assert _stock(app, shop.l_size.id) == 4
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert order.status is ConsumerOrderStatus.refunded
        assert order.shipments[0].status.value == "returned"
        refund = db.session.scalar(select(m.ConsumerRefund).order_by(m.ConsumerRefund.id.desc()))
        assert refund.shipping_minor == 900
        assert sorted((i.quantity, i.amount_minor) for i in refund.lines) == [(1, 12000), (1, 12000)]
    late = _lines(staff, f"/union/shop-orders/parcels/{shop.shipment}/refund-lines", staff_token, {shop.m_line: 1})
    assert "nothing more can be refunded" in text(staff.get(late.location))


def _goodwill(app: Flask, shop: Shop, amount: int) -> None:
    """``amount`` refunded from Stripe's dashboard (a goodwill gesture), as the webhook records it."""
    with app.app_context():
        import stripe

        from tests.conftest import STRIPE_TEST_KEY
        order = db.session.scalar(select(ConsumerOrder))
        client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": app.config["STRIPE_API_BASE"]})
        goodwill = client.v1.refunds.create({"payment_intent": shop.intent, "amount": amount})
        db.session.add(m.Payment(consumer_order=order, kind=PaymentKind.refund, status=PaymentStatus.succeeded,
                                 amount_minor=amount, currency="EUR", provider_ref=goodwill.id,
                                 refund_of=order.payments[0]))
        db.session.commit()


def test_a_line_refund_never_exceeds_what_the_payment_has_left(app: Flask) -> None:
    """€300 already refunded from Stripe's dashboard leaves €69 of €369: two sweaters back refund €69, not €240."""
    shop = Shop(app)
    _goodwill(app, shop, 30000)
    maker, token = shop.client("maker@example.com", "/workspace/orders")
    shop.ship(maker, token)
    done = _lines(maker, f"/workspace/orders/{shop.shipment}/refund-lines", token, {shop.m_line: 2})
    assert "€69.00 refunded" in text(maker.get(done.location))
    assert _stripe_refunds(app, shop.intent) == [6900, 30000]
    with app.app_context():
        assert db.session.scalar(select(ConsumerOrder)).status is ConsumerOrderStatus.refunded


def _failed_line_refund(app: Flask, shop: Shop, units: int = 1, restock: bool = False
                        ) -> tuple[FlaskClient, str, int]:
    """``units`` sweaters in size M refunded (€120 each; ``restock``: ticked back in stock), then reported
    failed by Stripe."""
    maker, token = shop.client("maker@example.com", "/workspace/orders")
    shop.ship(maker, token)
    _lines(maker, f"/workspace/orders/{shop.shipment}/refund-lines", token, {shop.m_line: units},
           **({"restock": "y"} if restock else {}))
    with app.app_context():
        refund = db.session.scalar(select(m.ConsumerRefund))
        refund_id, ref = refund.id, refund.payment.provider_ref
    shop.fail(ref, 12000 * units)
    return maker, token, refund_id


def test_a_failed_refund_is_retried_once_for_the_same_amount(app: Flask) -> None:
    shop = Shop(app)
    maker, token, refund_id = _failed_line_refund(app, shop)
    inbox = text(maker.get("/workspace/orders"))
    assert "Refund failed: €120.00 was not paid back to the card." in inbox
    assert "Retry refund of €120.00" in inbox
    staff, staff_token = shop.client("staff@example.com", "/union/shop-orders")
    assert "Retry refund of €120.00" in text(staff.get("/union/shop-orders"))
    consumer_page = text(shop.consumer.get(f"/shop/orders/{shop.signed}"))
    assert "Refund failed: €120.00" in consumer_page
    assert "Retry refund" not in consumer_page
    # Another maker cannot retry it; a refund that has not failed cannot be retried.
    other, other_token = shop.client("other@example.com", "/workspace/orders")
    assert other.post(f"/workspace/orders/refunds/{refund_id}/retry", data={"csrf_token": other_token}
                      ).status_code == 404
    assert other.post("/workspace/orders/refunds/99999/retry", data={"csrf_token": other_token}).status_code == 404
    assert maker.post(f"/workspace/orders/refunds/{refund_id}/retry", data={}).status_code == 400  # no CSRF token
    assert _stripe_refunds(app, shop.intent) == [12000]

    retried = maker.post(f"/workspace/orders/refunds/{refund_id}/retry", data={"csrf_token": token})
    assert "the refund of €120.00 was sent to Stripe again" in text(maker.get(retried.location))
    # A second press (or the Union's) finds the retry: no new refund.
    assert maker.post(f"/workspace/orders/refunds/{refund_id}/retry", data={"csrf_token": token}).status_code == 303
    assert staff.post(f"/union/shop-orders/refunds/{refund_id}/retry", data={"csrf_token": staff_token}
                      ).status_code == 303
    assert _stripe_refunds(app, shop.intent) == [12000, 12000]
    with app.app_context():
        refunds = db.session.scalars(select(m.ConsumerRefund).order_by(m.ConsumerRefund.id)).all()
        assert [(r.payment.status.value, r.retry_of_id) for r in refunds] == [
            ("failed", None), ("succeeded", refund_id)]
        new_id = refunds[1].id
    inbox = text(maker.get("/workspace/orders"))
    assert "Retry refund" not in inbox
    assert "sent again after a failed refund" in inbox
    not_failed = staff.post(f"/union/shop-orders/refunds/{new_id}/retry", data={"csrf_token": staff_token})
    assert "Only a refund that failed can be tried again" in text(staff.get(not_failed.location))
    assert _stripe_refunds(app, shop.intent) == [12000, 12000]


def test_a_unit_refunded_again_after_a_failed_refund_goes_back_in_stock_once(app: Flask) -> None:
    """Planted: with the restock capped by the line's quantity only, stock rose twice for one sweater back."""
    shop = Shop(app)
    maker, token, _ = _failed_line_refund(app, shop, restock=True)
    url = f"/workspace/orders/{shop.shipment}/refund-lines"
    assert _stock(app, shop.m_size.id) == 4  # back in stock, though the refund failed
    _lines(maker, url, token, {shop.m_line: 1}, restock="y")  # the same sweater, refunded again by the line form
    assert _stripe_refunds(app, shop.intent) == [12000, 12000]
    assert _stock(app, shop.m_size.id) == 4


def test_after_a_failed_refund_the_lines_other_unit_still_goes_back_in_stock(app: Flask) -> None:
    """Both sweaters in size M come back, fit to sell. The first one's refund fails and is refunded again by the
    line form (it was back in stock already), then the second one is refunded: it goes back in stock too.
    Planted: with "put back" counted as the units of every restocking refund, the second sweater was never
    put back (stock 4, not 5)."""
    shop = Shop(app)
    assert _stock(app, shop.m_size.id) == 3
    maker, token, _ = _failed_line_refund(app, shop, restock=True)
    url = f"/workspace/orders/{shop.shipment}/refund-lines"
    _lines(maker, url, token, {shop.m_line: 1}, restock="y")  # the same sweater again: it is back already
    assert _stock(app, shop.m_size.id) == 4
    _lines(maker, url, token, {shop.m_line: 1}, restock="y")  # the other sweater
    assert _stock(app, shop.m_size.id) == 5
    with app.app_context():
        restocked = db.session.execute(select(m.ConsumerRefundLine.restocked).order_by(m.ConsumerRefundLine.id))
        assert [row[0] for row in restocked] == [1, 0, 1]
        db.session.remove()
        downgrade(revision="0016_j17")
        db.session.remove()
        upgrade()  # 0017_k17: a line of a restocking refund counts as having put back all its units
        restocked = db.session.execute(select(m.ConsumerRefundLine.restocked).order_by(m.ConsumerRefundLine.id))
        assert [row[0] for row in restocked] == [1, 1, 1]


def test_refunding_one_of_two_units_back_after_a_failed_refund_of_both_puts_none_back(app: Flask) -> None:
    """Both sweaters came back and went back in stock, then that refund failed; one of them is refunded again
    by the line form: it is in stock already, so nothing is added. Planted: without the floor at 0 the refund
    line recorded -1 units put back and the request ended in a 500 on the check constraint."""
    shop = Shop(app)
    maker, token, _ = _failed_line_refund(app, shop, units=2, restock=True)
    url = f"/workspace/orders/{shop.shipment}/refund-lines"
    assert _stock(app, shop.m_size.id) == 5
    assert _lines(maker, url, token, {shop.m_line: 1}, restock="y").status_code == 303
    assert _stock(app, shop.m_size.id) == 5
    assert sorted(_stripe_refunds(app, shop.intent)) == [12000, 24000]


def test_a_retry_of_the_last_units_refunds_the_shipping_and_closes_the_parcel(app: Flask) -> None:
    """Planted: without the retry's last-units branch the €9 shipping was never refunded and the parcel stayed open."""
    shop = Shop(app)
    maker, token = shop.client("maker@example.com", "/workspace/orders")
    shop.ship(maker, token)
    url = f"/workspace/orders/{shop.shipment}/refund-lines"
    _lines(maker, url, token, {shop.l_line: 1})
    with app.app_context():
        refund = db.session.scalar(select(m.ConsumerRefund))
        refund_id, ref = refund.id, refund.payment.provider_ref
    shop.fail(ref, 12000)
    _lines(maker, url, token, {shop.m_line: 2})  # not the last units: the failed L does not count
    retried = maker.post(f"/workspace/orders/refunds/{refund_id}/retry", data={"csrf_token": token})
    assert retried.status_code == 303
    assert sorted(_stripe_refunds(app, shop.intent)) == [12000, 12900, 24000]
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert order.status is ConsumerOrderStatus.refunded
        assert order.shipments[0].status.value == "returned"


def test_a_refund_form_id_belongs_to_its_parcel(app: Flask) -> None:
    """Planted: with the key not naming the parcel, the same form id sent for another order's parcel silently
    answered with the first parcel's refund and refunded nothing."""
    shop = Shop(app)
    maker, token = shop.client("maker@example.com", "/workspace/orders")
    shop.ship(maker, token)
    second = app.test_client()
    second_token = csrf_token(second)
    with app.app_context():
        product_id = db.session.get(m.ProductVariant, shop.m_size.id).product_id
    _add(second, second_token, product_id, shop.m_size.id, 1)
    second_intent, _ = _paid_order(app, second, second_token)
    with app.app_context():
        parcel = db.session.scalar(select(ConsumerOrder).order_by(ConsumerOrder.id.desc())).shipments[0]
        parcel_id, line_id = parcel.id, parcel.lines[0].id
    for step in ({"action": "ship", "carrier": "DHL", "tracking": "JD2"}, {"action": "deliver"}):
        assert maker.post(f"/workspace/orders/{parcel_id}", data={"csrf_token": token, **step}).status_code == 303
    form_id = uuid.uuid4().hex
    _lines(maker, f"/workspace/orders/{shop.shipment}/refund-lines", token, {shop.m_line: 1}, form_id=form_id)
    _lines(maker, f"/workspace/orders/{parcel_id}/refund-lines", token, {line_id: 1}, form_id=form_id)
    assert _stripe_refunds(app, shop.intent) == [12000]
    assert _stripe_refunds(app, second_intent) == [12000 + 900]  # its only unit: shipping goes back with it


def test_a_retry_is_refused_when_the_order_has_less_left_than_the_failed_refund(app: Flask) -> None:
    """The rule, not the failed refund's amount, decides: once the line was refunded again, a retry refunds nothing."""
    shop = Shop(app)
    maker, token, refund_id = _failed_line_refund(app, shop)
    _lines(maker, f"/workspace/orders/{shop.shipment}/refund-lines", token, {shop.m_line: 2})  # both M, €240
    refused = maker.post(f"/workspace/orders/refunds/{refund_id}/retry", data={"csrf_token": token})
    assert "already refunded" in text(maker.get(refused.location))
    assert _stripe_refunds(app, shop.intent) == [12000, 24000]


def test_a_retry_is_refused_when_the_payment_has_less_left_than_the_failed_refund(app: Flask) -> None:
    """A €120 refund failed, then €300 went back from Stripe's dashboard: €69 of €369 is left. Retrying the failed
    refund must not silently pay €69 for the sweater it promised €120 for. Planted: without the retry's
    amount check, Stripe got a €69 refund and the page said it was the same refund sent again."""
    shop = Shop(app)
    maker, token, refund_id = _failed_line_refund(app, shop)
    _goodwill(app, shop, 30000)
    refused = maker.post(f"/workspace/orders/refunds/{refund_id}/retry", data={"csrf_token": token})
    assert "less left to refund than this refund&#39;s €120.00" in text(maker.get(refused.location))
    assert sorted(_stripe_refunds(app, shop.intent)) == [12000, 30000]
    with app.app_context():
        assert db.session.scalar(select(func.count(m.ConsumerRefund.id))) == 1


def test_a_retry_pressed_twice_at_once_makes_one_refund(app: Flask) -> None:
    """Two presses of "Retry refund" at the same moment (two tabs, or the MSME and the Union): the purchase's lock
    makes the second wait and find the first's retry (SQLite and PostgreSQL)."""
    shop = Shop(app)
    _maker, _token, refund_id = _failed_line_refund(app, shop)
    clients = [shop.client("maker@example.com", "/workspace/orders"),
               shop.client("staff@example.com", "/union/shop-orders")]
    urls = [f"/workspace/orders/refunds/{refund_id}/retry", f"/union/shop-orders/refunds/{refund_id}/retry"]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def press(n: int) -> None:
        client, token = clients[n]
        barrier.wait()
        codes.append(client.post(urls[n], data={"csrf_token": token}).status_code)

    threads = [threading.Thread(target=press, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(codes) == [303, 303]
    assert _stripe_refunds(app, shop.intent) == [12000, 12000]
    with app.app_context():
        assert len(db.session.scalars(select(m.ConsumerRefund).where(m.ConsumerRefund.retry_of_id == refund_id)
                                      ).all()) == 1


def test_stripe_unreachable_refunds_nothing_and_says_so(app: Flask) -> None:
    """Stripe cannot be reached (the real adapter, pointed at a closed port): the line refund and the retry each
    say so, and nothing is written — no refund, no stock back, the parcel as it was."""
    from marketplace.payments.gateway import EXTENSION, build

    shop = Shop(app)
    maker, token, refund_id = _failed_line_refund(app, shop)
    real = app.extensions[EXTENSION]
    app.extensions[EXTENSION] = build({**app.config, "STRIPE_API_BASE": "http://127.0.0.1:9"})
    try:
        down = _lines(maker, f"/workspace/orders/{shop.shipment}/refund-lines", token, {shop.l_line: 1}, restock="y")
        assert "Stripe could not make the refund" in text(maker.get(down.location))
        retry = maker.post(f"/workspace/orders/refunds/{refund_id}/retry", data={"csrf_token": token})
        assert "Stripe could not make the refund" in text(maker.get(retry.location))
    finally:
        app.extensions[EXTENSION] = real
    assert _refund_rows(app) == [(12000, shop.shipment)]  # only the failed one
    assert _stock(app, shop.l_size.id) == 4
    with app.app_context():
        assert db.session.scalar(select(ConsumerOrder)).shipments[0].status.value == "delivered"
    assert "Retry refund of €120.00" in text(maker.get("/workspace/orders"))



def test_the_refund_lines_migration_goes_down_and_up_with_whole_parcel_refunds(app: Flask) -> None:
    shop = Shop(app)
    maker, token = shop.client("maker@example.com", "/workspace/orders")
    shop.ship(maker, token)
    whole = {shop.m_line: 2, shop.l_line: 1}
    assert _lines(maker, f"/workspace/orders/{shop.shipment}/refund-lines", token, whole).status_code == 303
    with app.app_context():
        db.session.remove()
        downgrade(revision="0016_h26")  # one whole-parcel refund: the earlier schema holds it
        assert db.session.execute(sql("SELECT amount_minor FROM payment WHERE kind = 'refund'")).all() == [(36900,)]
        db.session.remove()
        upgrade()
        refund = db.session.scalar(select(m.ConsumerRefund))
        assert (refund.shipment_id, refund.payment.amount_minor) == (shop.shipment, 36900)
        assert sorted((line.line_id, line.quantity) for line in refund.lines) == sorted(whole.items())


def test_the_refund_lines_migration_refuses_a_downgrade_it_cannot_express(app: Flask, caplog) -> None:  # type: ignore[no-untyped-def]
    """A refund of part of a parcel, then a second refund of that parcel: each time the downgrade stops before
    changing anything and says why (the earlier schema held one whole-parcel refund per parcel)."""
    shop = Shop(app)
    maker, token = shop.client("maker@example.com", "/workspace/orders")
    shop.ship(maker, token)
    url = f"/workspace/orders/{shop.shipment}/refund-lines"
    for step, said in (({shop.m_line: 1}, "0 parcel(s) have more than one refund payment and 1 refund(s)"),
                       ({shop.m_line: 1, shop.l_line: 1}, "1 parcel(s) have more than one refund payment and 2")):
        assert _lines(maker, url, token, step).status_code == 303
        with app.app_context():
            refunds = db.session.scalar(select(func.count()).select_from(m.ConsumerRefund))
            head = db.session.execute(sql("SELECT version_num FROM alembic_version")).scalar()
            db.session.remove()
            caplog.clear()
            with pytest.raises(SystemExit):
                downgrade(revision="0016_h26")
            db.session.remove()
            # PostgreSQL runs the whole downgrade in one transaction: the refusal undoes the later revisions' steps
            # too. SQLite's schema changes are not transactional here: the later ones went down, 0016_j17 refused.
            stopped_at = head if db.engine.dialect.name == "postgresql" else "0016_j17"
            assert db.session.execute(sql("SELECT version_num FROM alembic_version")).scalar() == stopped_at
            assert db.session.scalar(select(func.count()).select_from(m.ConsumerRefund)) == refunds
            assert said in caplog.text  # flask-migrate logs it (the CLI's handler prints it on stderr)
            db.session.remove()
            upgrade()  # back to the head (on SQLite the later revisions went down before 0016_j17 refused)
