"""factory_boy factories of marketplace/products/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from marketplace import models as m
from marketplace.organisations.models import OrgKind
from marketplace.products.models import ProductStatus, StepKind
from tests.factory_base import Base, current_session
from tests.lots.factories import LotFactory
from tests.organisations.factories import OrganisationFactory


class MsmeFactory(OrganisationFactory):
    kind = OrgKind.msme
    country = "MN"


class ProductLineFactory(Base):
    class Meta:
        model = m.ProductLine

    organisation = factory.SubFactory(MsmeFactory)
    slug = factory.Sequence(lambda n: f"line-{n}")
    name = factory.LazyFunction(lambda: {"en": "Undyed essentials"})


class ProductFactory(Base):
    class Meta:
        model = m.Product

    line = factory.SubFactory(ProductLineFactory)
    organisation = factory.SelfAttribute("line.organisation")
    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.LazyFunction(lambda: {"en": "Crew-neck sweater"})
    fibre_composition = factory.LazyFunction(lambda: {"cashmere": "100"})
    weight_g = Decimal("280")
    price_minor = 29000
    status = ProductStatus.draft


class ProductSourceFactory(Base):
    class Meta:
        model = m.ProductSource

    product = factory.SubFactory(ProductFactory)
    lot = factory.SubFactory(LotFactory)
    kg = Decimal("10")


class ProcessingStepFactory(Base):
    class Meta:
        model = m.ProcessingStep

    product = factory.SubFactory(ProductFactory)
    kind = StepKind.spinning
    facility = factory.SubFactory(MsmeFactory)
    performed_on = dt.date(2026, 8, 1)
    kg_in = Decimal("10")
    kg_out = Decimal("9.2")


class ProductComponentFactory(Base):
    class Meta:
        model = m.ProductComponent

    product = factory.SubFactory(ProductFactory)
    component = factory.SubFactory(ProductFactory, status=ProductStatus.published, published_number=1)
    kg = Decimal("5")


class ProductImageFactory(Base):
    class Meta:
        model = m.ProductImage

    product = factory.SubFactory(ProductFactory)
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    original_ext = "png"
    width = 1280
    height = 960
    alt = factory.LazyFunction(lambda: {"en": "A crew-neck sweater, flat"})


class ProductVersionFactory(Base):
    class Meta:
        model = m.ProductVersion

    product = factory.SubFactory(ProductFactory, status=ProductStatus.published, published_number=1)
    number = 1
    organisation_id = factory.SelfAttribute("product.organisation_id")
    line_id = factory.SelfAttribute("product.line_id")
    snapshot = factory.LazyFunction(lambda: {"name": {"en": "Crew-neck sweater"}})


def product_for_sale(**kwargs: object) -> m.Product:
    """A published product with its current version (what consumers can buy): snapshot of name, maker, price."""
    product = ProductFactory(status=ProductStatus.published, published_number=1, **kwargs)
    session = current_session()
    if not session.query(m.ShippingZone).filter_by(organisation_id=product.organisation_id).count():
        session.add(m.ShippingZone(organisation_id=product.organisation_id, name="Everywhere", rest_of_world=True,
                                   rate_minor=0, currency=product.currency))
        session.commit()
    ProductVersionFactory(product=product, snapshot={
        "name": dict(product.name), "organisation": {"name": product.organisation.name},
        "price_minor": product.price_minor, "currency": product.currency})
    return product


def variants_for(product: m.Product, stock: dict[str, int]) -> list[m.ProductVariant]:
    """Sizes of ``product`` with their stock (``{"S": 2, "M": 0}``)."""
    session = current_session()
    rows = [m.ProductVariant(product_id=product.id, size=size, stock=count, position=n)
            for n, (size, count) in enumerate(stock.items())]
    session.add_all(rows)
    session.commit()
    return rows


class ProductVariantFactory(Base):
    class Meta:
        model = m.ProductVariant

    product = factory.SubFactory(ProductFactory)
    size = factory.Sequence(lambda n: f"S{n}")
    stock = 5
