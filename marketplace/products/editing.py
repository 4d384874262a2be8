"""Editing a product's working copy: its details, lines, processing steps and pictures.

Services flush and never commit; the request (or CLI command) commits once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.jobs import services as jobs
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.products import images as image_files
from marketplace.products.catalogue import published_step_ids
from marketplace.products.models import (
    DataBasis,
    ProcessingStep,
    Product,
    ProductComponent,
    ProductImage,
    ProductLine,
    ProductSource,
    ProductStatus,
    RecycledOrigin,
    StepKind,
)
from marketplace.products.rules import circular_terms, gtin14, gtin_is_valid, yield_problem

MAX_KG = Decimal(1_000_000)
EDITABLE = (ProductStatus.draft, ProductStatus.rejected, ProductStatus.published)

T = TypeVar("T", ProductSource, ProductComponent)


class ProductError(ValueError):
    """A rule was broken; ``field`` names the form field the message belongs to."""

    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.field = field


class MassBalanceError(ProductError):
    pass


def _check_kg(kg: Decimal, field: str) -> None:
    if not kg.is_finite() or kg <= 0:
        raise ProductError(_l("The quantity must be more than 0 kg."), field)
    if kg.as_tuple().exponent < -3 or kg > MAX_KG:  # type: ignore[operator]
        raise ProductError(_l("Give kg to the gram (3 decimals), at most %(max)s kg.", max=MAX_KG), field)


# --- Reading -------------------------------------------------------------------------------------


def products_of(organisation_ids: list[int]) -> list[Product]:
    return list(db.session.scalars(
        select(Product).where(Product.organisation_id.in_(organisation_ids))
        .order_by(Product.sku).options(selectinload(Product.line))
    ))


def lines_of(organisation_ids: list[int]) -> list[ProductLine]:
    return list(db.session.scalars(
        select(ProductLine).where(ProductLine.organisation_id.in_(organisation_ids)).order_by(ProductLine.slug)
    ))


def product_of(product_id: int, organisation_ids: list[int]) -> Product | None:
    """The product if it belongs to one of ``organisation_ids`` (None otherwise: callers answer 404)."""
    product = db.session.get(Product, product_id)
    if product is None or product.organisation_id not in organisation_ids:
        return None
    return product


def facilities() -> list[Organisation]:
    """Organisations that can run a processing step: MSMEs, cooperatives and the Union, with their aimag (a choice's
    label names it when the organisation gives no city)."""
    return list(db.session.scalars(
        select(Organisation).where(Organisation.kind.in_((OrgKind.msme, OrgKind.cooperative, OrgKind.union)))
        .order_by(Organisation.name).options(selectinload(Organisation.aimag))
    ))


# --- Editing -------------------------------------------------------------------------------------


def begin_edit(product: Product) -> None:
    """Make ``product`` editable: a published product starts its next version; a submitted one is locked."""
    if product.status is ProductStatus.submitted:
        raise ProductError(_l("This product is waiting for the Union's approval and cannot be changed now."))
    if product.status is ProductStatus.approved:
        raise ProductError(_l("This product is being published and cannot be changed now."))
    if product.status is ProductStatus.published:
        product.version = (product.published_number or 0) + 1
    product.status = ProductStatus.draft


def create_line(organisation_id: int, slug: str, name: dict[str, str], description: dict[str, str]) -> ProductLine:
    if db.session.scalar(select(ProductLine.id).where(ProductLine.slug == slug)) is not None:
        raise ProductError(_l("A product line with this short name already exists."), "slug")
    line = ProductLine(organisation_id=organisation_id, slug=slug, name=name, description=description)
    db.session.add(line)
    db.session.flush()
    return line


@dataclass
class ProductData:
    line_id: int
    sku: str
    gtin: str | None
    name: dict[str, str]
    description: dict[str, str]
    fibre_composition: dict[str, str]
    recycled_pct: Decimal
    recycled_origin: RecycledOrigin
    dyed: bool
    care_codes: list[str]
    sizes: list[str]
    weight_g: Decimal
    price_minor: int
    circular_services: dict[str, Any]
    production_date: dt.date | None
    batch_code: str = ""
    currency: str = "EUR"
    extra: dict[str, Any] = field(default_factory=dict)


def _normalise_gtin(data: ProductData) -> None:
    """A GTIN is checked and stored as GTIN-14, whatever its length as typed (8, 12, 13 or 14 digits),
    so that a GS1 Digital Link, which always carries 14 digits, finds it."""
    if not data.gtin:
        data.gtin = None
        return
    gtin = data.gtin.strip()
    if not gtin_is_valid(gtin):
        raise ProductError(_l("This GTIN's check digit is wrong, or it is not 8, 12, 13 or 14 digits."), "gtin")
    data.gtin = gtin14(gtin)


def _check_unique(product: Product | None, data: ProductData) -> None:
    own = product.id if product is not None else -1
    if db.session.scalar(select(Product.id).where(Product.sku == data.sku, Product.id != own)) is not None:
        raise ProductError(_l("Another product already uses this SKU."), "sku")
    if data.gtin and db.session.scalar(
        select(Product.id).where(Product.gtin == data.gtin, Product.id != own)
    ) is not None:
        raise ProductError(_l("Another product already uses this GTIN."), "gtin")


def save_product(product: Product | None, organisation_id: int, data: ProductData) -> Product:
    """Create a product of ``organisation_id`` or update its working copy."""
    line = db.session.get(ProductLine, data.line_id)
    if line is None or line.organisation_id != organisation_id:
        raise ProductError(_l("Choose one of your organisation's product lines."), "line_id")
    if data.recycled_pct > 0 and data.recycled_origin is RecycledOrigin.none:
        raise ProductError(_l("Say whether the recycled content is pre-consumer or post-consumer."),
                           "recycled_origin")
    if data.recycled_pct == 0:
        data.recycled_origin = RecycledOrigin.none
    _normalise_gtin(data)
    _check_unique(product, data)
    data.circular_services = circular_terms(data.circular_services)  # one structured form, however entered
    if product is None:
        product = Product(organisation_id=organisation_id, status=ProductStatus.draft, version=1)
        db.session.add(product)
    else:
        begin_edit(product)
    for name in ("line_id", "sku", "gtin", "name", "description", "fibre_composition", "recycled_pct",
                 "recycled_origin", "dyed", "care_codes", "sizes", "weight_g", "price_minor", "currency",
                 "circular_services", "production_date", "batch_code"):
        value = getattr(data, name)
        if getattr(product, name, None) != value:
            setattr(product, name, value)
    db.session.flush()
    return product


@dataclass
class StepData:
    kind: StepKind
    facility_id: int
    performed_on: dt.date
    kg_in: Decimal
    kg_out: Decimal
    energy_kwh: Decimal | None = None
    energy_basis: DataBasis | None = None
    water_l: Decimal | None = None
    water_basis: DataBasis | None = None
    co2e_kg: Decimal | None = None
    co2e_basis: DataBasis | None = None
    source_note: str = ""  # in English
    source_note_translations: dict[str, str] = field(default_factory=dict)  # locale → text


def add_step(product: Product, data: StepData) -> ProcessingStep:
    _check_kg(data.kg_in, "kg_in")
    _check_kg(data.kg_out, "kg_out")
    problem = yield_problem(data.kind, label(data.kind), data.kg_in, data.kg_out)
    if problem:
        raise ProductError(problem, "kg_out")
    facility = db.session.get(Organisation, data.facility_id)
    if facility is None or facility.kind not in (OrgKind.msme, OrgKind.cooperative, OrgKind.union):
        raise ProductError(_l("Choose the facility where the step took place."), "facility_id")
    figures = ((data.energy_kwh, data.energy_basis, "energy_kwh", "energy_basis"),
               (data.water_l, data.water_basis, "water_l", "water_basis"),
               (data.co2e_kg, data.co2e_basis, "co2e_kg", "co2e_basis"))
    for value, basis, value_field, basis_field in figures:
        if value is not None and basis is None:
            raise ProductError(_l("Say whether this figure is measured, declared or estimated."), basis_field)
        if value is not None and value < 0:
            raise ProductError(_l("The figure cannot be negative."), value_field)
    begin_edit(product)
    step = ProcessingStep(product_id=product.id, **{k: getattr(data, k) for k in StepData.__dataclass_fields__})
    for value, name in ((data.energy_kwh, "energy_basis"), (data.water_l, "water_basis"), (data.co2e_kg, "co2e_basis")):
        if value is None:
            setattr(step, name, None)
    db.session.add(step)
    db.session.flush()
    db.session.expire(product, ["steps"])
    return step


def remove_step(product: Product, step_id: int) -> None:
    """Take a step off the working copy. A step a published version links to is kept, unchanged, and only
    marked as removed; a step no published version shows is deleted."""
    step = db.session.get(ProcessingStep, step_id)
    if step is None or step.product_id != product.id or step.removed:
        raise ProductError(_l("There is no such step on this product."))
    begin_edit(product)
    if step.id in published_step_ids(product.id):
        step.removed = True
    else:
        db.session.delete(step)
    db.session.flush()
    db.session.expire(product, ["steps"])


VARIANTS_JOB = "products.image_variants"


def add_image(product: Product, data: bytes, alt: dict[str, str]) -> ProductImage:
    """Check and strip an upload, store its private original and record it; its variants are made by the
    ``products.image_variants`` job, enqueued in this transaction (a rollback takes both back).
    Raises ImageRejected."""
    processed = image_files.process(data)  # everything is checked and encoded before anything is written
    begin_edit(product)
    position = 1 + max((image.position for image in product.images), default=0)
    ready = db.session.scalar(select(ProductImage.id).where(  # the same picture's variants are stored already
        ProductImage.sha256 == processed.sha256, ProductImage.variants_ready.is_(True)).limit(1)) is not None
    image = ProductImage(
        product_id=product.id, sha256=processed.sha256, original_ext=processed.ext,
        width=processed.width, height=processed.height, alt=alt, position=position, variants_ready=ready,
    )
    db.session.add(image)
    db.session.flush()
    image_files.save_files(db.session(), processed)  # removed again if the transaction rolls back
    if not ready:
        jobs.enqueue(VARIANTS_JOB, {"image_id": image.id}, key=f"{VARIANTS_JOB}:{processed.sha256}")
    db.session.expire(product, ["images"])
    return image


def build_image_variants(image_id: int) -> None:
    """(The ``products.image_variants`` job.) Make the resized files of a picture from its stored original and
    mark every picture with the same content ready. Idempotent: stored files are kept, a ready picture is
    left alone, a picture that no longer exists is nothing to do. A store that is down raises: the job retries."""
    image = db.session.get(ProductImage, image_id)
    if image is None or image.variants_ready:
        return
    store = image_files.get_store()
    keys = image_files.variant_keys(image.sha256)
    if not all(store.exists(key) for key in keys):
        original = store.read(image_files.original_key(image.sha256, image.original_ext))
        image_files.write_files(db.session(), image_files.make_variants(image.sha256, original),
                                discard_on_rollback=False)
    db.session.execute(update(ProductImage).where(ProductImage.sha256 == image.sha256)
                       .values(variants_ready=True))
    db.session.flush()


def pending_image_ids() -> set[int]:
    """The pictures whose variants the job has not made yet (few: only uploads the worker has not reached)."""
    return set(db.session.scalars(select(ProductImage.id).where(ProductImage.variants_ready.is_(False))))


def remove_image(product: Product, image_id: int) -> None:
    """Take an image off the working copy; its files stay, as published versions may show it."""
    image = db.session.get(ProductImage, image_id)
    if image is None or image.product_id != product.id or image.removed:
        raise ProductError(_l("There is no such image on this product."))
    begin_edit(product)
    image.removed = True
    db.session.flush()
    db.session.expire(product, ["images"])
