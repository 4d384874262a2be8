"""Demo shop data: each demo product's sizes with stock, and shipping zones for each MSME that sells.

Rows are only created, never updated, so a second load adds nothing and stock sold on the demo site is kept.
"""

from __future__ import annotations

from sqlalchemy import select

from marketplace.demo.rows import LoadReport
from marketplace.extensions import db
from marketplace.payments.models import ShippingZone
from marketplace.payments.shop import EU
from marketplace.products.models import Product, ProductVariant

DEMO_STOCK = {"XS": 3, "S": 8, "M": 12, "L": 8, "XL": 4}
ZONES = (
    ("Mongolia", ["MN"], False, 500, 2, 5),
    ("Europe", sorted(EU | {"GB", "CH", "NO", "IS"}), False, 1800, 5, 10),
    ("Rest of the world", [], True, 3000, 7, 21),
)


def load_shop(report: LoadReport) -> None:
    products = list(db.session.scalars(select(Product).order_by(Product.id)))
    for product in products:
        sizes = [s for s in (product.sizes or []) if s] or ["one size"]
        existing = {v.size for v in product.variants}
        for position, size in enumerate(sizes):
            report.count(ProductVariant, size not in existing)
            if size not in existing:
                product.variants.append(ProductVariant(size=size[:20], position=position,
                                                       stock=DEMO_STOCK.get(size, 10)))
    for organisation_id in sorted({p.organisation_id for p in products}):
        has = db.session.scalar(select(ShippingZone.id).where(ShippingZone.organisation_id == organisation_id))
        for name, countries, rest, rate, low, high in ZONES:
            report.count(ShippingZone, has is None)
            if has is None:
                db.session.add(ShippingZone(organisation_id=organisation_id, name=name, countries=countries,
                                            rest_of_world=rest, rate_minor=rate, currency="EUR",
                                            days_min=low, days_max=high))
    db.session.flush()
