"""The cart: product lines (in one size when the product has sizes) of what is for sale, within the stock."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.orders.services import OrderError
from marketplace.products.models import Product, ProductVariant, ProductVersion
from marketplace.products.services import current_versions

MAX_CART_QUANTITY = 20
MAX_CART_LINES = 30




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
