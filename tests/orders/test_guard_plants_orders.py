"""Selling-rule edges that the rule-per-entry-point tests did not pin (issue 21; see tests/MUTATIONS.md).

The world is the one of ``test_selling_rules.py``: lot B's floor is €98.00 per kg, each lot holds
1,000 kg with a 50 kg minimum order.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.orders.models import Allocation
from tests.orders.test_selling_rules import (
    _accept,
    _adjust,
    _answer,
    _client,
    _counts,
    _last_request,
    _order_on_both,
    _refused,
    _request_lots,
    quote_request,
    staff_answer,
    world,  # noqa: F401 (fixture)
)


def not_yet_valid(lot: Lot) -> None:
    assert lot.certificate is not None
    lot.certificate.valid_from = dt.date.today() + dt.timedelta(days=5)  # noqa: DTZ011


def uncertified(lot: Lot) -> None:
    lot.certificate_id = None


@pytest.mark.parametrize(("breaker", "words"), [
    (not_yet_valid, "certificate of lot"), (uncertified, "has no certificate"),
], ids=["not-yet-valid", "uncertified"])
@pytest.mark.parametrize("entry", [quote_request, staff_answer], ids=lambda f: f.__name__)
def test_a_certificate_not_yet_valid_or_missing_stops_the_sale(app: Flask, world: dict,  # noqa: F811
                                                               entry, breaker, words: str) -> None:  # type: ignore[no-untyped-def]
    entry(app, world, breaker, (words,))


def test_one_cent_under_the_floor_is_refused(app: Flask, world: dict) -> None:  # noqa: F811
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_lots(buyer, {world["b"].code: "300"}).status_code == 302
    request_id = _last_request(app)
    before = _counts(app)
    _refused(app, before, _answer(staff, request_id, price="97.99"), "below the fair-price floor of €98.00 per kg")


def test_half_a_kilogram_more_than_available_is_refused(app: Flask, world: dict) -> None:  # noqa: F811
    buyer = _client(app, "buyer@example.com")
    before = _counts(app)
    _refused(app, before, _request_lots(buyer, {world["b"].code: "1000.5"}), "only 1000 kg available")


def test_an_adjustment_may_reuse_the_kg_the_order_already_holds(app: Flask, world: dict) -> None:  # noqa: F811
    """300 kg of lot A are held by this order and only 100 kg more are free: 350 kg is still possible."""
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    with app.app_context():
        lot = db.session.get(Lot, world["a"].id)
        lot.reserved_kg += lot.available_kg - Decimal(100)
        lot.available_kg = Decimal(100)
        db.session.commit()
    response = _adjust(staff, world, reference, "350", "250")
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    with app.app_context():
        audit = [a.action for a in db.session.scalar(select(Allocation)).audit]
        assert audit == ["proposed", "change_proposed"]  # the rules passed; the change waits for the buyer


def test_confirmation_counts_the_kg_the_order_already_holds(app: Flask, world: dict) -> None:  # noqa: F811
    """Lot A's free stock is gone to others; this order's own 300 kg are still there to confirm."""
    from marketplace.orders import services
    from marketplace.orders.models import AllocationStatus, Order
    from tests.helpers import csrf_token

    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    with app.app_context():
        assert services.mark_deposit_paid(db.session.scalar(select(Order)))
        lot = db.session.get(Lot, world["a"].id)
        lot.reserved_kg += lot.available_kg
        lot.available_kg = Decimal(0)
        db.session.commit()
    response = staff.post(f"/union/orders/{reference}/confirm",
                          data={"csrf_token": csrf_token(staff, f"/union/orders/{reference}")})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    with app.app_context():
        assert db.session.scalar(select(Allocation)).status is AllocationStatus.confirmed


# The two guards of a staff confirmation, each caught on its own (issue 21: redundant guards). ----------------------
# ``confirm_allocation`` refuses an allocation that is already confirmed, and refuses while the deposit is unpaid.
# Through the screens the stage check answers a second confirmation first (a confirmed order is "allocated"), so
# each test below builds the state in which only the guard it names can answer.

def _confirm(staff, reference: str):  # type: ignore[no-untyped-def]
    from tests.helpers import csrf_token

    return staff.post(f"/union/orders/{reference}/confirm",
                      data={"csrf_token": csrf_token(staff, f"/union/orders/{reference}")})


def _confirmation_writes(app: Flask) -> tuple[object, ...]:
    from sqlalchemy import func

    from marketplace.funds.models import FundEntry
    from marketplace.orders.models import AllocationAudit, OrderEvent

    with app.app_context():
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        allocation = db.session.scalar(select(Allocation))
        return (count(AllocationAudit), count(OrderEvent), count(FundEntry), allocation.status,
                allocation.confirmed_at)


def test_an_allocation_already_confirmed_is_not_confirmed_again_even_where_the_stage_allows_it(
        app: Flask, world: dict) -> None:  # noqa: F811
    """Only the "already confirmed" guard can answer here: the order's stage says the deposit is paid (the stage
    check passes), yet its allocation is confirmed. A second confirmation must change nothing: no second audit row,
    no second "allocated" event, no second premium due, the first confirmation's time kept."""
    from marketplace.orders import services
    from marketplace.orders.models import Order, OrderStage

    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    with app.app_context():
        assert services.mark_deposit_paid(db.session.scalar(select(Order)))
        db.session.commit()
    assert _confirm(staff, reference).status_code == 302
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert order.stage is OrderStage.allocated
        order.stage = OrderStage.deposit_paid  # the stage check alone would let a second confirmation through
        db.session.commit()
    before = _confirmation_writes(app)
    response = _confirm(staff, reference)
    assert response.status_code == 409, response.status_code
    assert "This allocation is already confirmed." in response.get_data(as_text=True)
    assert _confirmation_writes(app) == before


def test_an_allocation_is_not_confirmed_before_the_deposit_is_paid(app: Flask, world: dict) -> None:  # noqa: F811
    """Only the stage guard can answer here: the allocation is proposed (not confirmed), the deposit unpaid."""
    from marketplace.orders.models import AllocationStatus, Order, OrderStage

    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert (order.stage, order.deposit_pct > 0) == (OrderStage.accepted, True)
    before = _confirmation_writes(app)
    response = _confirm(staff, reference)
    assert response.status_code == 409, response.status_code
    assert "The allocation can be confirmed once the deposit is paid." in response.get_data(as_text=True)
    assert _confirmation_writes(app) == before
    with app.app_context():
        assert db.session.scalar(select(Allocation)).status is AllocationStatus.proposed


def test_two_staff_confirming_one_allocation_at_once_confirm_it_once(app: Flask, world: dict) -> None:  # noqa: F811
    """Staff A's confirmation has read the allocation (proposed, deposit paid) and is about to write when staff
    B's confirmation runs: B confirms, and A must then be refused, leaving one "confirmed" audit row and one
    "allocated" event (``orders.locking.lock_order`` at the start of ``confirm_allocation``)."""
    import threading

    from sqlalchemy import event, func

    from marketplace.orders import services
    from marketplace.orders.models import AllocationAudit, Order, OrderEvent, OrderStage

    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    with app.app_context():
        assert services.mark_deposit_paid(db.session.scalar(select(Order)))
        db.session.commit()
        engine = db.engine
    other_staff = _client(app, "staff@example.com")
    paused, b_done = threading.Event(), threading.Event()
    a_thread: list[int] = []
    result: dict[str, int] = {}

    def pause_a(conn, cursor, statement, *_rest):  # type: ignore[no-untyped-def]
        words = statement.lstrip().upper()
        if threading.get_ident() in a_thread and words.startswith(("UPDATE", "INSERT")) and not paused.is_set():
            paused.set()
            b_done.wait(30)

    def staff_a() -> None:
        a_thread.append(threading.get_ident())
        result["a"] = _confirm(staff, reference).status_code

    event.listen(engine, "before_cursor_execute", pause_a)
    try:
        thread = threading.Thread(target=staff_a)
        thread.start()
        assert paused.wait(30)
        result["b"] = _confirm(other_staff, reference).status_code
        b_done.set()
        thread.join(60)
    finally:
        b_done.set()
        event.remove(engine, "before_cursor_execute", pause_a)
    with app.app_context():
        confirmed = db.session.scalar(select(func.count()).select_from(AllocationAudit)
                                      .where(AllocationAudit.action == "confirmed"))
        allocated = db.session.scalar(select(func.count()).select_from(OrderEvent)
                                      .where(OrderEvent.stage == OrderStage.allocated))
    assert (confirmed, allocated) == (1, 1), result


def test_a_request_the_union_has_not_answered_cannot_be_accepted(app: Flask, world: dict) -> None:  # noqa: F811
    """``accept_quote``'s status check, on its own: the buyer posts the acceptance of a request still waiting
    for the Union's answer (no quote yet). A clear refusal, nothing written, never a 500."""
    buyer = _client(app, "buyer@example.com")
    assert _request_lots(buyer, {world["b"].code: "300"}).status_code == 302
    request_id = _last_request(app)
    before = _counts(app)
    _refused(app, before, _accept(buyer, request_id), "Only a quote the Union has answered can be accepted.")
