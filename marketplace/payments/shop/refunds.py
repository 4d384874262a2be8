"""Refunds of a paid consumer order: a whole parcel (cancelled before it ships, or returned), some of a parcel's
lines (a return of one of two sweaters), or a refund Stripe reported failed, tried again.

``plan_refund`` is the one rule every entry point goes through (the MSME's inbox, the Union's list, the consumer's
cancel page, a retry): a line's units are refunded at most once and never more than its quantity, a refund pays back
what was paid for those units (and the parcel's shipping once, with the last units back or a cancellation), and
never more than the order's payment has left after every other refund (one made in Stripe's dashboard included).
Refunds that Stripe reports failed stop counting, so their units can be refunded again (``retry_refund``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from marketplace import events
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.i18n import label as value_label
from marketplace.i18n import money
from marketplace.orders.services import OrderError
from marketplace.payments.gateway import PaymentGateway, RefundResult
from marketplace.payments.models import (
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerOrderStatus,
    ConsumerRefund,
    ConsumerRefundLine,
    ConsumerShipment,
    Payment,
    PaymentKind,
    PaymentStatus,
    ShipmentStatus,
)
from marketplace.payments.shop.orders import purchase_payment
from marketplace.products.models import ProductVariant

# The moves that pay a whole parcel back (``refund_parcel``): cancelled before it ships, or its return accepted.
PARCEL_REFUNDS = {
    "cancel": (ShipmentStatus.to_pack, ShipmentStatus.cancelled),
    "return": (ShipmentStatus.delivered, ShipmentStatus.returned),
}
# Some of a parcel's lines come back once it has left the workshop (``refund_lines``).
LINE_REFUNDS_FROM = (ShipmentStatus.shipped, ShipmentStatus.delivered)
# A refund on its way or gone through counts as refunded; a failed one does not.
COUNTING = (PaymentStatus.pending, PaymentStatus.succeeded)
MAX_UNITS = 9999


def parcel_minor(shipment: ConsumerShipment) -> int:
    """What the consumer paid for one parcel: its goods and its shipping."""
    return sum(line.quantity * line.unit_price_minor for line in shipment.lines) + shipment.shipping_minor


def refunds_of(order: ConsumerOrder) -> list[Payment]:
    """The order's refunds that went (or are going) back to the card."""
    return [p for p in order.payments if p.kind is PaymentKind.refund and p.status in COUNTING]


def refunded_minor(order: ConsumerOrder) -> int:
    return sum(p.amount_minor for p in refunds_of(order))


def _refunded_of_order(order_id: int) -> int:
    """``refunded_minor`` read from the database (under the purchase's lock, nothing cached)."""
    return db.session.scalar(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
        Payment.consumer_order_id == order_id, Payment.kind == PaymentKind.refund, Payment.status.in_(COUNTING))) or 0


def refunded_units(shipment: ConsumerShipment) -> dict[int, int]:
    """How many units of each of the parcel's lines counting refunds paid back (line id → units)."""
    rows = db.session.execute(
        select(ConsumerRefundLine.line_id, func.sum(ConsumerRefundLine.quantity))
        .join(ConsumerRefund, ConsumerRefund.id == ConsumerRefundLine.refund_id)
        .join(Payment, Payment.id == ConsumerRefund.payment_id)
        .where(ConsumerRefund.shipment_id == shipment.id, Payment.status.in_(COUNTING))
        .group_by(ConsumerRefundLine.line_id))
    return {line_id: int(units) for line_id, units in rows}


def _shipping_refunded(shipment: ConsumerShipment) -> bool:
    counted = (select(func.count(ConsumerRefund.id)).join(Payment, Payment.id == ConsumerRefund.payment_id)
               .where(ConsumerRefund.shipment_id == shipment.id, ConsumerRefund.shipping_minor > 0,
                      Payment.status.in_(COUNTING)))
    return db.session.scalar(counted) != 0


@dataclass(frozen=True)
class RefundItem:
    line: ConsumerOrderLine
    quantity: int
    amount_minor: int


@dataclass(frozen=True)
class RefundPlan:
    """What one refund pays back: units of the parcel's lines, and its shipping."""

    shipment: ConsumerShipment
    items: tuple[RefundItem, ...]
    shipping_minor: int

    @property
    def amount_minor(self) -> int:
        return sum(item.amount_minor for item in self.items) + self.shipping_minor

    @property
    def last(self) -> bool:
        """Whether every unit of the parcel is refunded once this refund is made."""
        done = refunded_units(self.shipment)
        for item in self.items:
            done[item.line.id] = done.get(item.line.id, 0) + item.quantity
        return all(done.get(line.id, 0) >= line.quantity for line in self.shipment.lines)


def item_name(line: ConsumerOrderLine) -> str:
    """A line as the person reads it: the product's name in the page's language, and its size."""
    name = line.product.display_name(str(get_locale()))
    return str(_l("%(name)s, size %(size)s", name=name, size=line.size)) if line.size else name


def _wanted(lines: dict[int, ConsumerOrderLine], done: dict[int, int],
            quantities: Mapping[int, int] | None) -> dict[int, int]:
    """The units asked for, each checked against its line (None: every unit not yet refunded)."""
    if quantities is None:
        return {line_id: line.quantity - done.get(line_id, 0) for line_id, line in lines.items()
                if line.quantity > done.get(line_id, 0)}
    wanted = {}
    for line_id, units in quantities.items():
        line = lines.get(line_id)
        if line is None:
            raise OrderError(_l("That item is not in this parcel."), 422)
        if units == 0:
            continue
        if not 0 < units <= line.quantity:
            raise OrderError(_l("Refund between 1 and %(count)d of %(item)s.", count=line.quantity,
                                item=item_name(line)), 422)
        left = line.quantity - done.get(line_id, 0)
        if units > left:
            raise OrderError(_l("%(item)s: %(done)d of %(count)d already refunded, so at most %(left)d more.",
                                item=item_name(line), done=done.get(line_id, 0), count=line.quantity,
                                left=left), 409)
        wanted[line_id] = units
    return wanted


def plan_refund(shipment: ConsumerShipment, quantities: Mapping[int, int] | None = None, *,
                shipping: bool | None = None) -> RefundPlan:
    """The one rule for what a refund of ``shipment`` pays back (every entry point that refunds calls it).

    ``quantities`` (line id → units) names the units that came back; None: every unit not yet refunded. A unit is
    refunded at most once (failed refunds do not count) and a line never beyond its quantity; the shipping goes
    back once, with the last units (``shipping`` None) or when asked (a retry of a refund that included it). The
    amount is what was paid for those units, never more than the payment has left: goods first, then shipping.
    Raises ``OrderError`` (nothing written) for anything else.
    """
    order = shipment.order
    payment = purchase_payment(order)
    if payment is None or payment.status not in (PaymentStatus.succeeded, PaymentStatus.refunded):
        raise OrderError(_l("This order's payment has not gone through, so there is nothing to refund."), 409)
    done = refunded_units(shipment)
    lines = {line.id: line for line in shipment.lines}
    wanted = _wanted(lines, done, quantities)
    if quantities is not None and not wanted and not shipping:
        raise OrderError(_l("Say how many of each item came back: at least one."), 422)
    shipping_left = 0 if _shipping_refunded(shipment) else shipment.shipping_minor
    if shipping and not shipping_left and shipment.shipping_minor:
        raise OrderError(_l("This parcel's shipping is already refunded."), 409)
    left_to_pay = payment.amount_minor - _refunded_of_order(order.id)
    items = []
    for line_id in sorted(wanted):
        line = lines[line_id]
        amount = min(wanted[line_id] * line.unit_price_minor, max(0, left_to_pay))
        left_to_pay -= amount
        items.append(RefundItem(line, wanted[line_id], amount))
    plan = RefundPlan(shipment, tuple(items), 0)
    if shipping or (shipping is None and plan.last):
        plan = RefundPlan(shipment, plan.items, min(shipping_left, max(0, left_to_pay)))
    if plan.amount_minor <= 0:
        raise OrderError(_l("Nothing is left to refund on this parcel."), 409)
    return plan


def refundable_minor(shipment: ConsumerShipment) -> int:
    """What the rest of a parcel would get back (``plan_refund`` of every unit not yet refunded), 0 if nothing."""
    try:
        return plan_refund(shipment).amount_minor
    except OrderError:
        return 0


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


def _existing(key: str) -> Payment | None:
    found = db.session.scalar(select(ConsumerRefund).where(ConsumerRefund.request_key == key))
    return found.payment if found is not None else None


def _restock(refund: ConsumerRefund) -> None:
    """Put ``refund``'s units back in stock, each unit of a line at most once whatever refunds name it: never more
    than the line's units refunded (refunds that count, this one included) less the units any refund put back, a
    failed one included (its unit came back even though its money did not go out). Each refund line records the
    units it put back (``restocked``): a refund whose unit was back already puts back none, so a later refund of
    the line's other unit still puts that one back."""
    for item in refund.lines:
        back = db.session.scalar(select(func.coalesce(func.sum(ConsumerRefundLine.restocked), 0)).where(
            ConsumerRefundLine.line_id == item.line_id, ConsumerRefundLine.refund_id != refund.id)) or 0
        counted = db.session.scalar(select(func.coalesce(func.sum(ConsumerRefundLine.quantity), 0)).join(
            ConsumerRefund, ConsumerRefund.id == ConsumerRefundLine.refund_id).join(
            Payment, Payment.id == ConsumerRefund.payment_id).where(
            ConsumerRefundLine.line_id == item.line_id, Payment.status != PaymentStatus.failed)) or 0
        units = max(0, min(item.quantity, counted - back))
        item.restocked = units
        if item.line.variant_id is not None and units > 0:
            db.session.execute(update(ProductVariant).where(ProductVariant.id == item.line.variant_id)
                               .values(stock=ProductVariant.stock + units).execution_options(synchronize_session=False))


def _refund(plan: RefundPlan, payment: Payment, *, gateway: PaymentGateway, key: str, restock: bool,
            retry_of: ConsumerRefund | None = None) -> Payment:
    """Send ``plan`` to Stripe and record it (the caller holds the purchase's lock). Stripe refusing writes nothing."""
    shipment, order = plan.shipment, plan.shipment.order
    if not payment.provider_ref:
        raise OrderError(_l("Nothing is left to refund on this parcel."), 409)
    result: RefundResult = gateway.refund(intent_id=payment.provider_ref, amount_minor=plan.amount_minor,
                                          idempotency_key=f"refund-{key}")
    record = Payment(consumer_order=order, consumer_shipment=shipment, kind=PaymentKind.refund, refund_of=payment,
                     status=PaymentStatus.succeeded if result.status == "succeeded" else PaymentStatus.pending,
                     amount_minor=plan.amount_minor, currency=payment.currency, provider_ref=result.id)
    refund = ConsumerRefund(payment=record, shipment=shipment, request_key=key, shipping_minor=plan.shipping_minor,
                            restock=restock, retry_of=retry_of,
                            lines=[ConsumerRefundLine(line=i.line, quantity=i.quantity, amount_minor=i.amount_minor)
                                   for i in plan.items])
    db.session.add_all([record, refund])
    db.session.flush()
    if restock:
        _restock(refund)
    if _refunded_of_order(order.id) >= payment.amount_minor:
        payment.status = PaymentStatus.refunded
        order.status = ConsumerOrderStatus.refunded
    db.session.flush()
    events.consumer_refunded.send(order, args=(record,))
    return record


def _check_paid(order: ConsumerOrder, payment: Payment | None) -> Payment:
    if order.status is not ConsumerOrderStatus.paid or payment is None:
        raise OrderError(_l("This order is %(status)s: nothing more can be refunded.",
                            status=value_label(order.status)), 409)
    return payment


def refund_parcel(shipment: ConsumerShipment, action: str, *, gateway: PaymentGateway,
                  restock: bool = False) -> Payment:
    """Cancel a parcel before it ships (its sizes go back to stock) or accept its return (back to stock when
    ``restock``: the MSME found them fit to sell again), refunding every unit not yet refunded and its shipping
    by ``plan_refund``; once, whoever asks and however often (a repeated request finds the parcel moved on)."""
    if action not in PARCEL_REFUNDS:
        raise OrderError(_l("Unknown action."), 400)
    before, after = PARCEL_REFUNDS[action]
    payment = _check_paid(shipment.order, _lock_purchase(shipment))
    if shipment.status is not before:
        raise OrderError(_l("This parcel is already %(status)s.", status=value_label(shipment.status)), 409)
    plan = plan_refund(shipment)
    order, now = shipment.order, utcnow()
    if after is ShipmentStatus.cancelled:
        shipment.cancelled_at = now
        restock = order.stock_held  # nothing left the workshop: the sizes can be sold again
    else:
        shipment.returned_at = now
    shipment.status = after
    if all(s.status is ShipmentStatus.cancelled for s in order.shipments):
        order.cancelled_at, order.stock_held = now, False
    return _refund(plan, payment, gateway=gateway, key=f"parcel-{shipment.id}-{action}", restock=restock)


def parse_quantities(raw: Mapping[str, str]) -> dict[int, int]:
    """Line quantities from a form's ``qty-<line id>`` fields (empty: none). Anything but small whole numbers
    is refused with a clear message."""
    found: dict[int, int] = {}
    for name, value in raw.items():
        if not name.startswith("qty-"):
            continue
        line_id, text = name[4:], str(value).strip()
        if not line_id.isdecimal() or len(line_id) > 12 or not line_id.isascii():
            raise OrderError(_l("That item is not in this parcel."), 422)
        if text == "":
            continue
        if not text.isdecimal() or not text.isascii() or int(text) > MAX_UNITS:
            raise OrderError(_l("Give each number of items as a whole number, 0 or more."), 422)
        found[int(line_id)] = int(text)
    return found


def refund_lines(shipment: ConsumerShipment, quantities: Mapping[int, int], *, gateway: PaymentGateway,
                 request_key: str, restock: bool = False) -> Payment:
    """Refund the units of a shipped parcel that came back (one of two sweaters, say) by ``plan_refund``.
    ``request_key`` is the refund form's id: the same form sent twice (a double click) is one refund. The parcel
    is returned once its last units are refunded (and its shipping with them)."""
    if not request_key or len(request_key) > 40:
        raise OrderError(_l("The form has expired: open the orders page again."), 400)
    key = f"lines-{shipment.id}-{request_key}"  # a form belongs to its parcel: another parcel's id finds nothing
    payment = _lock_purchase(shipment)
    already = _existing(key)
    if already is not None:
        return already
    payment = _check_paid(shipment.order, payment)
    if shipment.status not in LINE_REFUNDS_FROM:
        raise OrderError(_l("Items are refunded one by one once the parcel has shipped; this parcel is %(status)s.",
                            status=value_label(shipment.status)), 409)
    plan = plan_refund(shipment, quantities, shipping=False)
    if plan.last:
        plan = plan_refund(shipment, quantities)  # the last units back: the shipping goes back too
        shipment.status, shipment.returned_at = ShipmentStatus.returned, utcnow()
    return _refund(plan, payment, gateway=gateway, key=key, restock=restock)


def refund_of(refund_id: int, organisation_ids: list[int] | None) -> ConsumerRefund:
    """A refund of a parcel of one of ``organisation_ids`` (None: any, for Union staff), else 404."""
    refund = db.session.get(ConsumerRefund, refund_id)
    if refund is None or (organisation_ids is not None and refund.shipment.organisation_id not in organisation_ids):
        raise OrderError(_l("There is no such refund in your orders."), 404)
    return refund


def retried(refund: ConsumerRefund) -> bool:
    return db.session.scalar(select(func.count(ConsumerRefund.id)).where(ConsumerRefund.retry_of_id == refund.id)) != 0


def retry_refund(refund: ConsumerRefund, *, gateway: PaymentGateway) -> Payment:
    """Try a refund Stripe reported failed again: a new Stripe refund of the same units and shipping, for the
    same amount, by ``plan_refund`` (the failed one no longer counts). Once: a double click finds the retry."""
    key = f"retry-{refund.id}"
    payment = _lock_purchase(refund.shipment)
    db.session.refresh(refund)
    db.session.refresh(refund.payment)
    already = _existing(key)
    if already is not None:
        return already
    if refund.payment.status is not PaymentStatus.failed:
        raise OrderError(_l("Only a refund that failed can be tried again; this one is %(status)s.",
                            status=value_label(refund.payment.status)), 409)
    payment = _check_paid(refund.shipment.order, payment)
    plan = plan_refund(refund.shipment, {item.line_id: item.quantity for item in refund.lines},
                       shipping=refund.shipping_minor > 0)
    if plan.amount_minor != refund.payment.amount_minor:
        raise OrderError(_l("The order has less left to refund than this refund's %(amount)s: refund its items "
                            "again instead.", amount=money(refund.payment.amount_minor, refund.payment.currency)), 409)
    if plan.last and not plan.shipping_minor:
        # Other units were refunded meanwhile, so these are now the parcel's last: the shipping goes back with
        # them and the parcel is returned, as for a line refund of the last units.
        plan = plan_refund(refund.shipment, {item.line_id: item.quantity for item in refund.lines})
        if refund.shipment.status in LINE_REFUNDS_FROM:
            refund.shipment.status, refund.shipment.returned_at = ShipmentStatus.returned, utcnow()
    return _refund(plan, payment, gateway=gateway, key=key, restock=False, retry_of=refund)
