"""Three guards that worked without a test to notice their loss.

- the quote lock: ten parallel accepts of one quote make exactly one order;
- declared capacity: live allocation weighs members *and* declared capacity (ratios that differ);
- the webhook's amount check: a signed ``payment_intent.succeeded`` for another amount changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.orders import services as orders
from marketplace.orders.models import Order, OrderStage, QuoteRequest, QuoteStatus, Reservation
from marketplace.organisations.models import Organisation
from marketplace.payments.models import Payment, PaymentStatus
from tests import factories
from tests.helpers import accept_in_parallel
from tests.payments.test_payments import _buyer, _event, _post, _start_deposit, accepted  # noqa: F401 (fixture)

PARALLEL = 10


def test_ten_parallel_accepts_of_one_quote_make_one_order(app: Flask) -> None:
    brand = factories.OrganisationFactory()
    factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
    lot = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation,
                               net_kg=Decimal(1000), available_kg=Decimal(1000), min_order_kg=Decimal(10))
    quote = factories.QuoteFactory(request__buyer=brand, request__lot=lot, request__kg=Decimal(100))

    statuses, bodies, errors = accept_in_parallel(app, "buyer@example.com", [quote.request_id] * PARALLEL)

    assert errors == []
    assert sorted(statuses) == [302] + [409] * (PARALLEL - 1)
    assert sum("already been accepted" in body for body in bodies) == PARALLEL - 1
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 1
        order = db.session.scalar(select(Order))
        assert db.session.get(QuoteRequest, quote.request_id).order_id == order.id
        assert db.session.get(QuoteRequest, quote.request_id).status is QuoteStatus.accepted
        assert {r.order_id for r in db.session.scalars(select(Reservation))} == {order.id}
        stored = db.session.get(Lot, lot.id)
        assert (stored.available_kg, stored.reserved_kg) == (Decimal(900), Decimal(100))


def test_live_allocation_weighs_members_and_declared_capacity(app: Flask) -> None:
    """Members 100 : 300 but declared capacity 9,000 : 1,000 kg, α = 0.5.

    Weights: A = ½·100/400 + ½·9000/10000 = 0.575, B = ½·300/400 + ½·1000/10000 = 0.425, so
    1,000 kg go 575 / 425. Members alone would give 250 / 750; capacity alone 900 / 100.
    """
    coop_a, coop_b = _cooperatives_with_a_lot((100, 9000), (300, 1000), net_kg=2000, min_order_kg=50)
    with app.app_context():
        order = _accept_specification_quote(Decimal(1000))
        shares = {s.cooperative_id: s.kg for s in order.allocation.shares}
        assert shares == {coop_a.id: Decimal(575), coop_b.id: Decimal(425)}
        held = {r.lot.cooperative_id: r.kg for r in order.reservations}
        assert held == shares


def test_a_webhook_for_another_amount_changes_nothing(app: Flask, accepted: dict) -> None:  # noqa: F811
    client = _buyer(app)
    payment = _start_deposit(app, client, accepted["reference"])
    assert payment.amount_minor == 399000
    response = _post(client, _event("evt_short", "payment_intent.succeeded", {"id": payment.provider_ref,
                                                                              "amount": 100}))
    assert response.status_code == 200
    assert response.json["outcome"] == "amount_mismatch"
    with app.app_context():
        assert db.session.get(Order, accepted["order_id"]).stage is OrderStage.accepted
        assert db.session.get(Payment, payment.id).status is PaymentStatus.pending
    exact = _post(client, _event("evt_exact", "payment_intent.succeeded", {"id": payment.provider_ref,
                                                                           "amount": 399000}))
    assert exact.json["outcome"] == "applied:succeeded"
    with app.app_context():
        assert db.session.get(Order, accepted["order_id"]).stage is OrderStage.deposit_paid


def test_a_webhook_in_another_currency_changes_nothing(app: Flask, accepted: dict) -> None:  # noqa: F811
    """The right amount in the wrong currency (399,000 JPY cents are not €3,990.00) is not the deposit."""
    client = _buyer(app)
    payment = _start_deposit(app, client, accepted["reference"])
    assert payment.currency == "EUR"
    response = _post(client, _event("evt_yen", "payment_intent.succeeded", {
        "id": payment.provider_ref, "amount": payment.amount_minor, "currency": "jpy"}))
    assert response.status_code == 200
    assert response.json["outcome"] == "currency_mismatch"
    with app.app_context():
        assert db.session.get(Order, accepted["order_id"]).stage is OrderStage.accepted
        assert db.session.get(Payment, payment.id).status is PaymentStatus.pending
    exact = _post(client, _event("evt_eur", "payment_intent.succeeded", {
        "id": payment.provider_ref, "amount": payment.amount_minor, "currency": "eur"}))
    assert exact.json["outcome"] == "applied:succeeded"
    with app.app_context():
        assert db.session.get(Order, accepted["order_id"]).stage is OrderStage.deposit_paid


def test_a_refused_acceptance_does_not_name_a_cooperative(app: Flask) -> None:
    """One cooperative, two lots of 100 kg with a 100 kg minimum order each, 150 kg quoted: the lots cannot
    make it up. The buyer is told so without learning which cooperative could not supply."""
    coop = factories.CooperativeProfileFactory(members=100, declared_capacity_kg=Decimal(1000)).organisation
    for _ in range(2):
        factories.LotFactory(cooperative=coop, net_kg=Decimal(100), available_kg=Decimal(100),
                             min_order_kg=Decimal(100))
    with app.app_context():
        name = db.session.get(Organisation, coop.id).name
        try:
            _accept_specification_quote(Decimal(150))
        except orders.OrderError as error:
            message = str(error.message)
        else:
            raise AssertionError("the acceptance should have been refused")
        db.session.rollback()
        assert "Nothing was reserved" in message
        assert name not in message
        assert db.session.scalar(select(func.count(Reservation.id))) == 0


def test_a_specification_quote_split_below_the_lots_minimum_orders_is_still_accepted(app: Flask) -> None:
    """Three cooperatives, one lot each with a 100 kg minimum order, and 240 kg quoted: an equal split
    would give 80 kg each, which no lot may give. The allocation leaves one cooperative out instead."""
    _cooperatives_with_a_lot((100, 1000), (100, 1000), (100, 1000), net_kg=1000, min_order_kg=100)
    with app.app_context():
        order = _accept_specification_quote(Decimal(240))
        shares = sorted(s.kg for s in order.allocation.shares if s.kg)
        assert shares == [Decimal(120), Decimal(120)]
        assert sum(r.kg for r in order.reservations) == Decimal(240)
        assert all(r.kg >= r.lot.min_order_kg for r in order.reservations)


def _cooperatives_with_a_lot(*members_and_capacity: tuple[int, int], net_kg: int, min_order_kg: int,
                             ) -> list[Organisation]:
    """One cooperative per (members, declared capacity kg), each with one listed lot of ``net_kg``."""
    coops = []
    for members, capacity in members_and_capacity:
        coop = factories.CooperativeProfileFactory(members=members, declared_capacity_kg=Decimal(capacity)).organisation
        factories.LotFactory(cooperative=coop, net_kg=Decimal(net_kg), available_kg=Decimal(net_kg),
                             min_order_kg=Decimal(min_order_kg))
        coops.append(coop)
    return coops


def _accept_specification_quote(kg: Decimal) -> Order:
    """A brand buyer accepts a quote for ``kg`` on a specification (no lot chosen); committed."""
    brand = factories.OrganisationFactory()
    buyer = factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
    quote = factories.QuoteFactory(request__buyer=brand, request__lot=None, request__kg=kg)
    order = orders.accept_quote(quote.request_id, buyer_ids={brand.id}, user=db.session.merge(buyer))
    db.session.commit()
    return order
