"""A paid consumer order seen by the consumer (a signed link, no account), its MSME (the order inbox) and the
Union (sales by MSME and month)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.i18n import label as value_label
from marketplace.money import from_minor
from marketplace.orders.services import OrderError
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


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="consumer-order")


def order_token(order: ConsumerOrder) -> str:
    return _serializer().dumps(order.reference)


def order_by_token(token: str) -> ConsumerOrder | None:
    if not token or len(token) > 200:
        return None
    try:
        reference = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(reference, str):
        return None
    return db.session.scalar(select(ConsumerOrder).where(ConsumerOrder.reference == reference))


def shipped_any(order: ConsumerOrder) -> bool:
    return any(s.status is not ShipmentStatus.to_pack for s in order.shipments)


def purchase_payment(order: ConsumerOrder) -> Payment | None:
    return next((p for p in order.payments if p.kind is PaymentKind.purchase), None)


def cancellable(order: ConsumerOrder) -> bool:
    payment = purchase_payment(order)
    return (order.status is ConsumerOrderStatus.paid and not shipped_any(order) and payment is not None
            and payment.status is PaymentStatus.succeeded)


SHIPMENT_FLOW = {
    "ship": (ShipmentStatus.to_pack, ShipmentStatus.shipped),
    "deliver": (ShipmentStatus.shipped, ShipmentStatus.delivered),
}


def inbox(organisation_ids: list[int] | None) -> list[ConsumerShipment]:
    """The MSMEs' parcels (None: every MSME's, for the Union) of paid (and refunded) orders, those to pack
    first, newest first within each."""
    query = (
        select(ConsumerShipment).join(ConsumerOrder)
        .where(ConsumerOrder.status.in_((ConsumerOrderStatus.paid, ConsumerOrderStatus.refunded)))
        .order_by(ConsumerOrder.paid_at.desc(), ConsumerShipment.id.desc())
        .options(joinedload(ConsumerShipment.order),  # the inbox and its CSV read each parcel's order and lines
                 selectinload(ConsumerShipment.refunds), joinedload(ConsumerShipment.organisation),
                 selectinload(ConsumerShipment.lines).joinedload(ConsumerOrderLine.product)))
    if organisation_ids is not None:
        query = query.where(ConsumerShipment.organisation_id.in_(organisation_ids))
    rows = db.session.scalars(query)
    order = list(ShipmentStatus)
    return sorted(rows, key=lambda s: order.index(s.status))


def shipment_of(shipment_id: int, organisation_ids: list[int] | None) -> ConsumerShipment:
    """A parcel of one of ``organisation_ids`` (None: any MSME's, for Union staff), else 404."""
    shipment = db.session.get(ConsumerShipment, shipment_id)
    if shipment is None or (organisation_ids is not None and shipment.organisation_id not in organisation_ids):
        raise OrderError(_l("There is no such parcel in your orders."), 404)
    return shipment


def move_shipment(shipment: ConsumerShipment, action: str, *, carrier: str = "", tracking: str = "") -> None:
    """Ship (with carrier and tracking number) or mark delivered; in that order only (a cancellation or a
    return is a refund: ``refund_parcel``)."""
    if action not in SHIPMENT_FLOW:
        raise OrderError(_l("Unknown action."), 400)
    before, after = SHIPMENT_FLOW[action]
    if shipment.order.status is not ConsumerOrderStatus.paid:
        raise OrderError(_l("This order was cancelled and refunded: do not send it."), 409)
    if shipment.status is not before:
        raise OrderError(_l("This parcel is already %(status)s.", status=value_label(shipment.status)), 409)
    if action == "ship":
        if not carrier.strip() or not tracking.strip():
            raise OrderError(_l("Give the carrier and the tracking number."), 422)
        shipment.carrier, shipment.tracking = carrier.strip()[:60], tracking.strip()[:60]
        shipment.shipped_at = utcnow()
    else:
        shipment.delivered_at = utcnow()
    shipment.status = after


def inbox_csv_rows(shipments: list[ConsumerShipment]) -> list[list[object]]:
    rows: list[list[object]] = []
    for s in shipments:
        for line in s.lines:
            rows.append([s.order.reference, s.order.paid_at.isoformat() if s.order.paid_at else "", s.status.value,
                         line.product.sku, line.size, line.quantity,
                         from_minor(line.unit_price_minor, s.order.currency), s.order.currency,
                         s.order.ship_name, s.order.ship_country, s.carrier, s.tracking])
    return rows


INBOX_CSV_HEADER = ["order", "paid_at_utc", "status", "sku", "size", "quantity", "unit_price", "currency",
                    "ship_to", "country", "carrier", "tracking"]


@dataclass(frozen=True)
class ConsumerSales:
    month: str  # YYYY-MM, in UTC
    maker: str
    currency: str
    orders: int
    items: int
    goods_minor: int
    shipping_minor: int


def consumer_sales() -> list[ConsumerSales]:
    """Paid consumer sales (refunded parcels, and the items of a parcel refunded after a return, left out) by MSME
    and month, newest month first."""
    back = {shipment_id: (int(units), int(amount)) for shipment_id, units, amount in db.session.execute(
        select(ConsumerRefund.shipment_id, func.sum(ConsumerRefundLine.quantity),
               func.sum(ConsumerRefundLine.amount_minor))
        .join(ConsumerRefundLine, ConsumerRefundLine.refund_id == ConsumerRefund.id)
        .join(Payment, Payment.id == ConsumerRefund.payment_id)
        .where(Payment.status.in_((PaymentStatus.pending, PaymentStatus.succeeded)))
        .group_by(ConsumerRefund.shipment_id))}
    shipments = db.session.scalars(
        select(ConsumerShipment).join(ConsumerOrder).where(
            ConsumerOrder.status == ConsumerOrderStatus.paid,
            ConsumerShipment.status.not_in((ShipmentStatus.cancelled, ShipmentStatus.returned))))
    totals: dict[tuple[str, str, str], list[int]] = {}
    for s in shipments:
        month = s.order.paid_at.strftime("%Y-%m") if s.order.paid_at else "—"
        row = totals.setdefault((month, s.organisation.name, s.order.currency), [0, 0, 0, 0])
        row[0] += 1
        units, amount = back.get(s.id, (0, 0))
        row[1] += sum(line.quantity for line in s.lines) - units
        row[2] += sum(line.quantity * line.unit_price_minor for line in s.lines) - amount
        row[3] += s.shipping_minor
    ordered = sorted(totals.items(), key=lambda item: (item[0][0], item[0][1]))
    ordered.sort(key=lambda item: item[0][0], reverse=True)
    return [ConsumerSales(month, maker, currency, *values) for (month, maker, currency), values in ordered]
