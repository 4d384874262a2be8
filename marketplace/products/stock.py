"""A product's sizes (and colours) with their stock and GTINs, kept by its MSME. Stock is operational: a change
needs no approval and publishes no new version. Checkout takes stock in ``payments.shop``."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.products.editing import ProductError
from marketplace.products.models import Product, ProductVariant
from marketplace.products.rules import gtin14, gtin_is_valid

MAX_STOCK = 100_000


def save_variant(product: Product, variant_id: int | None, *, size: str, colour: str, stock: int,
                 gtin: str | None) -> ProductVariant:
    """Add a size to ``product`` or change one of its sizes; refused (nothing written) when a rule is broken."""
    size, colour = size.strip(), colour.strip()
    if not size or len(size) > 20:
        raise ProductError(_l("Give the size, in at most 20 characters."), "size")
    if len(colour) > 40:
        raise ProductError(_l("Give the colour in at most 40 characters."), "colour")
    if not 0 <= stock <= MAX_STOCK:
        raise ProductError(_l("Stock must be between 0 and %(max)d.", max=MAX_STOCK), "stock")
    variant = None
    if variant_id is not None:
        variant = next((v for v in product.variants if v.id == variant_id), None)
        if variant is None:
            raise ProductError(_l("That size is not offered for this product."), "size")
    code = None
    if gtin and gtin.strip():
        if not gtin_is_valid(gtin.strip()):
            raise ProductError(_l("This GTIN's check digit is wrong, or it is not 8, 12, 13 or 14 digits."), "gtin")
        code = gtin14(gtin.strip())
        taken = db.session.scalar(select(ProductVariant.id).where(ProductVariant.gtin == code))
        if (taken is not None and (variant is None or taken != variant.id)) or db.session.scalar(
                select(Product.id).where(Product.gtin == code)) is not None:
            raise ProductError(_l("Another product or size already has this GTIN."), "gtin")
    clash = next((v for v in product.variants if v.size == size and v.colour == colour and v is not variant), None)
    if clash is not None:
        raise ProductError(_l("This product already has that size in that colour."), "size")
    if variant is None:
        variant = ProductVariant(size=size, colour=colour, position=len(product.variants))
        product.variants.append(variant)
    variant.size, variant.colour, variant.stock, variant.gtin = size, colour, stock, code
    db.session.flush()
    return variant
