"""After acceptance: the stages an order goes through (deposit paid, collected, tested, shipped,
delivered), its shipping details, and what the buyer tracks."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace import events
from marketplace.accounts.models import User
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.orders.common import (
    OrderError,
    active_reservations,
)
from marketplace.orders.locking import lock_lots
from marketplace.orders.models import (
    STAGE_ORDER,
    Order,
    OrderEvent,
    OrderStage,
    Reservation,
    ReservationStatus,
)
from marketplace.payments.models import Invoice, InvoiceKind  # shipping needs the final invoice


def record_event(order: Order, stage: OrderStage, actor: User | None, note: str = "",
                 at: dt.datetime | None = None) -> None:
    order.stage = stage
    order.events.append(OrderEvent(stage=stage, at=at or utcnow(), actor=actor, note=note))
    db.session.flush()
    events.order_stage.send(order, args=(stage,))


def mark_deposit_paid(order: Order, at: dt.datetime | None = None) -> bool:
    """The deposit arrived (from a verified webhook): the reservation becomes firm. False if nothing changed.

    The one check is for held reservations, which only an accepted order has (``reserve_shares`` holds stock
    only for an accepted order; this function makes it firm; ``release_expired`` cancels an accepted order with
    none left), so a separate "accepted" check could never refuse on its own. It refuses a second deposit
    (an earlier intent paid after all) and an order whose hold ran out.

    The reservations are read under the lots' locks, the expiry job's own (``release_expired``): when both
    run at once, the second waits and sees the first one's change, and the stock is never both given back
    and kept.
    """
    lock_lots(r.lot_id for r in order.reservations)
    held = list(db.session.scalars(
        select(Reservation).where(Reservation.order_id == order.id, Reservation.status == ReservationStatus.held)
        .execution_options(populate_existing=True)))
    if not held:  # already paid, or expired in the meantime: the Union refunds or re-reserves by hand
        return False
    for reservation in held:
        reservation.status = ReservationStatus.firm
        reservation.expires_at = None
    record_event(order, OrderStage.deposit_paid, None, at=at)
    return True


LATER_STAGES = [OrderStage.collected, OrderStage.dehaired_tested, OrderStage.shipped, OrderStage.delivered]


def advance(order: Order, *, staff: User, note: str = "") -> OrderStage:
    """Move an allocated order to its next stage (collected → dehaired and tested → shipped → delivered)."""
    position = STAGE_ORDER.index(order.stage) if order.stage in STAGE_ORDER else -1
    if order.stage not in (OrderStage.allocated, *LATER_STAGES[:-1]):
        raise OrderError(_l("This order cannot move on from its current stage."))
    stage = STAGE_ORDER[position + 1]
    if stage is OrderStage.shipped:
        if not (order.carrier and order.tracking_number and order.shipped_on):
            raise OrderError(_l("Enter the carrier, the tracking or AWB number and the shipping date first."))
        if db.session.scalar(select(Invoice.id).where(Invoice.order_id == order.id,
                                                      Invoice.kind == InvoiceKind.final)) is None:
            raise OrderError(_l("Issue the final invoice before the order is shipped."))
    if stage is OrderStage.collected:  # the fibre leaves the cooperatives: reserved becomes sold
        lock_lots(r.lot_id for r in active_reservations(order))
        for reservation in active_reservations(order):
            reservation.lot.reserved_kg -= reservation.kg
            reservation.status = ReservationStatus.released
            reservation.released_at = utcnow()
    record_event(order, stage, staff, note.strip())
    return stage


SHIPPING_STAGES = (OrderStage.allocated, *LATER_STAGES[:-1])


def set_shipping(order: Order, *, carrier: str, tracking_number: str, shipped_on: dt.date | None,
                 expected_on: dt.date | None) -> None:
    """Staff enter how the order travels: carrier, tracking or AWB number, shipping and expected dates."""
    if order.stage not in SHIPPING_STAGES:
        raise OrderError(_l("Shipping details can be entered from allocation until the order is shipped."))
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier or not tracking_number:
        raise OrderError(_l("Give the carrier and the tracking or AWB number."), 422)
    if shipped_on is not None and expected_on is not None and expected_on < shipped_on:
        raise OrderError(_l("The expected delivery cannot be before the shipping date."), 422)
    order.carrier, order.tracking_number = carrier[:80], tracking_number[:80]
    order.shipped_on, order.expected_on = shipped_on, expected_on
    db.session.flush()


def buyer_order(reference: str, buyer_ids: set[int]) -> Order | None:
    order = db.session.scalar(select(Order).where(Order.reference == reference))
    if order is None or order.buyer_id not in buyer_ids:
        return None
    return order


def tracking(order: Order) -> list[tuple[OrderStage, OrderEvent | None]]:
    """Each stage with the event that reached it (date and actor), or None if not yet reached."""
    events: dict[OrderStage, OrderEvent] = {}
    for event in order.events:
        events.setdefault(event.stage, event)  # the first time the stage was reached
    return [(stage, events.get(stage)) for stage in STAGE_ORDER]
