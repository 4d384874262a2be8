"""Refunds of a paid consumer order, parcel by parcel."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from marketplace import events
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.i18n import label as value_label
from marketplace.orders.services import OrderError
from marketplace.payments.gateway import PaymentGateway, RefundResult
from marketplace.payments.models import (
    ConsumerOrder,
    ConsumerOrderStatus,
    ConsumerShipment,
    Payment,
    PaymentKind,
    PaymentStatus,
    ShipmentStatus,
)
from marketplace.payments.shop.checkout import _restock
from marketplace.payments.shop.orders import purchase_payment

PARCEL_REFUNDS = {
    "cancel": (ShipmentStatus.to_pack, ShipmentStatus.cancelled),
    "return": (ShipmentStatus.delivered, ShipmentStatus.returned),
}


def parcel_minor(shipment: ConsumerShipment) -> int:
    """What the consumer paid for one parcel: its goods and its shipping."""
    return sum(line.quantity * line.unit_price_minor for line in shipment.lines) + shipment.shipping_minor


def refunds_of(order: ConsumerOrder) -> list[Payment]:
    """The order's refunds that went (or are going) back to the card."""
    return [p for p in order.payments if p.kind is PaymentKind.refund
            and p.status in (PaymentStatus.pending, PaymentStatus.succeeded)]


def refunded_minor(order: ConsumerOrder) -> int:
    return sum(p.amount_minor for p in refunds_of(order))


def refundable_minor(shipment: ConsumerShipment) -> int:
    """The one rule for how much may be refunded for a parcel (every screen that refunds asks it).

    A parcel is paid back its goods and its shipping (a parcel returned under EU withdrawal rules gets its
    delivery cost back too), once: nothing when it already has a refund, and never more than the order's
    payment has left after every other refund (one made in Stripe's dashboard included), so the refunds of
    an order can never add up to more than was paid.
    """
    payment = purchase_payment(shipment.order)
    if payment is None or payment.status is not PaymentStatus.succeeded or shipment.refund is not None:
        return 0
    left = payment.amount_minor - refunded_minor(shipment.order)
    return max(0, min(parcel_minor(shipment), left))


def _lock_purchase(shipment: ConsumerShipment) -> Payment | None:
    """The order's purchase payment, locked (every refund of one order waits for the one before), with the
    parcel and its order read again after the lock."""
    payment = purchase_payment(shipment.order)
    if payment is None:
        return None
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(Payment).where(Payment.id == payment.id).values(id=Payment.id)
                           .execution_options(synchronize_session=False))
    locked = db.session.scalar(select(Payment).where(Payment.id == payment.id).with_for_update()
                               .execution_options(populate_existing=True))
    db.session.refresh(shipment)
    db.session.refresh(shipment.order)
    return locked


def refund_parcel(shipment: ConsumerShipment, action: str, *, gateway: PaymentGateway) -> Payment:
    """Cancel a parcel before it ships (its sizes go back to stock) or accept its return, and refund it
    through Stripe by ``refundable_minor``: once, whoever asks and however often (a repeated request finds
    the parcel moved on; Stripe's idempotency key is the parcel's). Stripe refusing changes nothing here."""
    if action not in PARCEL_REFUNDS:
        raise OrderError(_l("Unknown action."), 400)
    before, after = PARCEL_REFUNDS[action]
    payment = _lock_purchase(shipment)
    order = shipment.order
    if order.status is not ConsumerOrderStatus.paid or payment is None:
        raise OrderError(_l("This order is %(status)s: nothing more can be refunded.",
                            status=value_label(order.status)), 409)
    if shipment.status is not before:
        raise OrderError(_l("This parcel is already %(status)s.", status=value_label(shipment.status)), 409)
    amount = refundable_minor(shipment)
    if amount <= 0 or not payment.provider_ref:
        raise OrderError(_l("Nothing is left to refund on this parcel."), 409)
    result: RefundResult = gateway.refund(intent_id=payment.provider_ref, amount_minor=amount,
                                          idempotency_key=f"refund-parcel-{shipment.id}")
    record = Payment(consumer_order=order, consumer_shipment=shipment, kind=PaymentKind.refund, refund_of=payment,
                     status=PaymentStatus.succeeded if result.status == "succeeded" else PaymentStatus.pending,
                     amount_minor=amount, currency=payment.currency, provider_ref=result.id)
    db.session.add(record)
    now = utcnow()
    if after is ShipmentStatus.cancelled:
        shipment.cancelled_at = now
        if order.stock_held:
            _restock(shipment.lines)  # nothing left the workshop: the sizes can be sold again
    else:
        shipment.returned_at = now
    shipment.status = after
    if refunded_minor(order) >= payment.amount_minor:
        payment.status = PaymentStatus.refunded
        order.status = ConsumerOrderStatus.refunded
    if all(s.status is ShipmentStatus.cancelled for s in order.shipments):
        order.cancelled_at, order.stock_held = now, False
    db.session.flush()
    events.consumer_refunded.send(order, args=(record,))
    return record
