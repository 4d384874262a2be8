"""Checkout (cart → consumer order, its shipments and one PaymentIntent), the stock it takes and gives back,
and carts abandoned at the payment step."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.orders.locking import serialise_form
from marketplace.orders.services import OrderError
from marketplace.payments.gateway import PaymentGateway
from marketplace.payments.models import (
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerOrderStatus,
    ConsumerShipment,
    Payment,
    PaymentKind,
    PaymentStatus,
    ShipmentStatus,
)
from marketplace.payments.shop.addresses import Address, check_address
from marketplace.payments.shop.cart import cart_lines
from marketplace.payments.shop.orders import purchase_payment
from marketplace.payments.shop.shipping import _check_shipping, shipments_for
from marketplace.products.models import ProductVariant


@dataclass
class Checkout:
    email: str
    address: Address
    form_id: str
    locale: str | None = None
    countries: set[str] = field(default_factory=set)


def checkout(cart: dict[str, int], data: Checkout, *, gateway: PaymentGateway) -> ConsumerOrder:
    """Turn the cart into a consumer order, its shipments and its one PaymentIntent, taking the stock.

    The same form sent twice is one order. Nothing is written (the caller's transaction rolls back on the
    error) when the cart is empty, the address fails its country's rules, an MSME does not ship there or a
    size no longer has the stock.
    """
    serialise_form(ConsumerOrder, data.form_id)
    existing = db.session.scalar(select(ConsumerOrder).where(ConsumerOrder.form_id == data.form_id))
    if existing is not None:
        return existing
    lines = cart_lines(cart)
    if not lines:
        raise OrderError(_l("Your cart is empty."), 422)
    currencies = {line.currency for line in lines}
    if len(currencies) > 1:
        raise OrderError(_l("Products priced in different currencies must be bought separately."), 422)
    currency = currencies.pop()
    address = check_address(data.address, data.countries)
    quotes = shipments_for(lines, address.country)
    _check_shipping(quotes, address.country, currency)
    goods = sum(q.goods_minor for q in quotes)
    shipping = sum(q.shipping_minor for q in quotes)
    order = ConsumerOrder(
        reference=new_reference(), email=data.email.strip(), currency=currency, locale=data.locale,
        total_minor=goods + shipping, goods_minor=goods, shipping_minor=shipping, form_id=data.form_id,
        ship_name=address.name, ship_street=address.street, ship_city=address.city, ship_postcode=address.postcode,
        ship_area=address.area, ship_country=address.country,
    )
    for quote in quotes:
        shipment = ConsumerShipment(organisation_id=quote.organisation.id, shipping_minor=quote.shipping_minor)
        order.shipments.append(shipment)
        for line in quote.lines:
            row = ConsumerOrderLine(product=line.product, variant=line.variant, size=line.size,
                                    quantity=line.quantity, unit_price_minor=line.price_minor)
            order.lines.append(row)
            shipment.lines.append(row)
    db.session.add(order)
    db.session.flush()
    take_stock(order)
    intent = gateway.create_intent(
        amount_minor=order.total_minor, currency=currency, metadata={"kind": "purchase", "order": order.reference},
        idempotency_key=f"purchase-{order.reference}",
    )
    db.session.add(Payment(consumer_order=order, kind=PaymentKind.purchase, amount_minor=order.total_minor,
                           currency=currency, provider_ref=intent.id))
    db.session.flush()
    return order


def new_reference() -> str:
    """An order number a person can read out: CO-2026-7KX4Q9 (year and six characters, no 0/O or 1/I)."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"CO-{utcnow().year}-" + "".join(secrets.choice(alphabet) for _ in range(6))


def _needed(lines: list[ConsumerOrderLine]) -> list[tuple[int, int, str]]:
    need: dict[int, int] = {}
    labels: dict[int, str] = {}
    for line in lines:
        if line.variant_id is not None:
            need[line.variant_id] = need.get(line.variant_id, 0) + line.quantity
            labels[line.variant_id] = line.size
    return [(vid, need[vid], labels[vid]) for vid in sorted(need)]  # id order: no two checkouts wait on each other


def take_stock(order: ConsumerOrder) -> None:
    """Take each size's stock for ``order`` in one conditional UPDATE (never below zero), or refuse it all."""
    if order.stock_held:
        return
    for variant_id, quantity, label in _needed(order.lines):
        taken = db.session.execute(
            update(ProductVariant).where(ProductVariant.id == variant_id, ProductVariant.stock >= quantity)
            .values(stock=ProductVariant.stock - quantity).execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            left = db.session.scalar(select(ProductVariant.stock).where(ProductVariant.id == variant_id)) or 0
            if left <= 0:
                raise OrderError(_l("Size %(size)s has sold out since you added it: remove it from your cart.",
                                    size=label), 409)
            raise OrderError(_l("Only %(count)d left in size %(size)s: change the quantity in your cart.",
                                count=left, size=label), 409)
    order.stock_held = True


def _restock(lines: list[ConsumerOrderLine]) -> None:
    for variant_id, quantity, _label in _needed(lines):
        db.session.execute(update(ProductVariant).where(ProductVariant.id == variant_id)
                           .values(stock=ProductVariant.stock + quantity).execution_options(synchronize_session=False))


def give_back_stock(order: ConsumerOrder) -> None:
    """Return ``order``'s sizes to stock, once (a parcel cancelled on its own has already given its own back)."""
    if not order.stock_held:
        return
    _restock([line for line in order.lines
              if line.shipment is None or line.shipment.status is not ShipmentStatus.cancelled])
    order.stock_held = False


def mark_paid(order: ConsumerOrder) -> None:
    order.status = ConsumerOrderStatus.paid
    order.paid_at = utcnow()


def payment_cancelled(order: ConsumerOrder) -> None:
    """Stripe cancelled the order's PaymentIntent: the order is off and its stock goes back."""
    if order.status is ConsumerOrderStatus.pending:
        order.status = ConsumerOrderStatus.cancelled
        order.cancelled_at = utcnow()
        give_back_stock(order)


STALE_AFTER = dt.timedelta(minutes=60)


def release_stale(gateway: PaymentGateway, *, older_than: dt.timedelta = STALE_AFTER) -> int:
    """Cancel the PaymentIntents of orders left unpaid for ``older_than`` and give their stock back.

    Stripe is asked first: an intent that it reports paid (its webhook still on the way) is left alone, and
    one it has cancelled can never be paid, so the stock can be sold again without being sold twice.
    Returns how many orders were released. Run by ``flask shop release-stale`` (hourly, say).
    """
    cutoff = utcnow() - older_than
    orders = list(db.session.scalars(select(ConsumerOrder).where(
        ConsumerOrder.status == ConsumerOrderStatus.pending, ConsumerOrder.stock_held.is_(True),
        ConsumerOrder.created_at < cutoff).order_by(ConsumerOrder.id)))
    released = 0
    for order in orders:
        payment = purchase_payment(order)
        if payment is None or not payment.provider_ref:
            continue
        if gateway.cancel_intent(payment.provider_ref).status != "canceled":
            continue
        payment.status = PaymentStatus.failed
        payment_cancelled(order)
        released += 1
    db.session.flush()
    return released
