"""Product rules: editing, provenance with a checked mass balance, images, approval and versions.

Services flush and never commit; the request (or CLI command) commits once.

Mass balance rule
-----------------
A lot's ``net_kg`` is split by the lot ledger into stock still on offer (``available_kg``),
stock held for a buyer (``reserved_kg``) and stock that has left the Union (``sold_kg``).
Products can only be made from fibre that has left the Union's stock, so the kg that all
products together (every MSME, every batch) may claim from a lot is capped by its
``sold_kg``. Claims never touch ``available_kg`` or ``reserved_kg``: linking a product can
never oversell a lot to a buyer, and stock offered to buyers can never also appear in a
product. ``sold_kg`` only grows as sales complete, so a valid claim stays valid.
The check runs under a row lock on the lot (``SELECT … FOR UPDATE``; on SQLite, which
ignores FOR UPDATE, a no-op UPDATE of the row takes the database's write lock first),
so two editors linking the same lot at the same moment are serialised.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import selectinload

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.lots.models import Lot, LotStatus
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.products import images as image_files
from marketplace.products.models import (
    DataBasis,
    ProcessingStep,
    Product,
    ProductComponent,
    ProductImage,
    ProductLine,
    ProductSource,
    ProductStatus,
    ProductVersion,
    RecycledOrigin,
    StepKind,
)
from marketplace.products.rules import gtin14, gtin_is_valid, yield_problem

# Indicative rate for showing EUR prices in tugrik too (display only; prices are set in EUR).
MNT_PER_EUR = Decimal(3950)
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


# --- Reading -----------------------------------------------------------------------------------


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
    """Organisations that can run a processing step: MSMEs, cooperatives and the Union."""
    return list(db.session.scalars(
        select(Organisation).where(Organisation.kind.in_((OrgKind.msme, OrgKind.cooperative, OrgKind.union)))
        .order_by(Organisation.name)
    ))


def claimed_kg(lot_id: int, exclude_product_id: int | None = None) -> Decimal:
    stmt = select(func.coalesce(func.sum(ProductSource.kg), 0)).where(ProductSource.lot_id == lot_id)
    if exclude_product_id is not None:
        stmt = stmt.where(ProductSource.product_id != exclude_product_id)
    return Decimal(db.session.scalar(stmt) or 0)


def sourcing_capacity(lot: Lot) -> Decimal:
    """The kg all products together may claim from ``lot`` (see the module docstring)."""
    return max(lot.sold_kg, Decimal(0))


@dataclass(frozen=True)
class LotOption:
    lot: Lot
    remaining_kg: Decimal


def sourceable_lots() -> list[LotOption]:
    """Lots with kg left for products, for the editor's choice."""
    lots = db.session.scalars(
        select(Lot).where(Lot.status != LotStatus.draft).order_by(Lot.code)
        .options(selectinload(Lot.cooperative), selectinload(Lot.certificate))
    ).all()
    claims = dict(db.session.execute(
        select(ProductSource.lot_id, func.sum(ProductSource.kg)).group_by(ProductSource.lot_id)
    ).all())
    options = []
    for lot in lots:
        remaining = sourcing_capacity(lot) - Decimal(claims.get(lot.id) or 0)
        if remaining > 0:
            options.append(LotOption(lot, remaining))
    return options


# --- Editing -----------------------------------------------------------------------------------


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


def lock_lot(lot_id: int) -> Lot | None:
    """The lot, locked against concurrent claims until the transaction ends."""
    if db.session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks and ignores FOR UPDATE: a no-op write takes its database write lock,
        # so a second writer waits here until the first commits, and then reads the committed claims.
        db.session.execute(
            update(Lot).where(Lot.id == lot_id).values(id=Lot.id).execution_options(synchronize_session=False)
        )
    return db.session.scalar(
        select(Lot).where(Lot.id == lot_id).with_for_update().execution_options(populate_existing=True)
    )


def published_claim(product: Product, lot_id: int) -> Decimal | None:
    """The kg of a lot that the version consumers see now declares (None if it declares none).

    Fibre declared by a published version stays claimed: the working copy may claim more, never
    less, so that no kg shown to consumers can be claimed again by another product.
    """
    if product.published_number is None:
        return None
    version = published_version(product.id)
    for source in (version.snapshot.get("sources", []) if version else []):
        if source["lot_id"] == lot_id:
            return Decimal(source["kg"])
    return None


def _check_kg(kg: Decimal, field: str) -> None:
    if not kg.is_finite() or kg <= 0:
        raise ProductError(_l("The quantity must be more than 0 kg."), field)
    if kg.as_tuple().exponent < -3 or kg > MAX_KG:  # type: ignore[operator]
        raise ProductError(_l("Give kg to the gram (3 decimals), at most %(max)s kg.", max=MAX_KG), field)


def link_source(product: Product, lot_id: int, kg: Decimal) -> ProductSource:
    """Claim ``kg`` of a lot for ``product`` (replacing its previous claim on that lot)."""
    _check_kg(kg, "kg")
    floor = published_claim(product, lot_id)
    if floor is not None and kg < floor:
        raise ProductError(_l(
            "The published version declares %(kg)s kg of this lot; that fibre stays claimed, so the quantity "
            "cannot go below it.", kg=floor), "kg")
    begin_edit(product)
    lot = lock_lot(lot_id)
    if lot is None or lot.status is LotStatus.draft:
        raise ProductError(_l("Choose a listed lot."), "lot_id")
    others = claimed_kg(lot.id, exclude_product_id=product.id)
    remaining = sourcing_capacity(lot) - others
    if kg > remaining:
        raise MassBalanceError(_l(
            "Lot %(code)s has only %(remaining)s kg left for products (%(sold)s kg have left the Union's stock, "
            "%(claimed)s kg are already claimed by products). %(kg)s kg would break the mass balance.",
            code=lot.code, remaining=max(remaining, Decimal(0)), sold=sourcing_capacity(lot), claimed=others, kg=kg,
        ), "kg")
    return _set_kg(product, "sources", ProductSource(product_id=product.id, lot_id=lot.id, kg=kg))


def _set_kg(product: Product, relation: str, row: T) -> T:
    """Insert ``row`` (a product's link with kg), or set the kg of the link already there."""
    existing = db.session.get(type(row), tuple(db.inspect(type(row)).primary_key_from_instance(row)))
    if existing is None:
        db.session.add(row)
        existing = row
    else:
        existing.kg = row.kg  # type: ignore[attr-defined]
    db.session.flush()
    db.session.expire(product, [relation])
    return existing


def batch_output_kg(component: Product) -> Decimal:
    """What a published batch (e.g. a yarn batch) yielded: kg out of the last step of its published version."""
    version = published_version(component.id)
    steps = version.snapshot.get("steps", []) if version else []
    return Decimal(steps[-1]["kg_out"]) if steps else Decimal(0)


def component_claimed_kg(component_id: int, exclude_product_id: int | None = None) -> Decimal:
    stmt = select(func.coalesce(func.sum(ProductComponent.kg), 0)).where(ProductComponent.component_id == component_id)
    if exclude_product_id is not None:
        stmt = stmt.where(ProductComponent.product_id != exclude_product_id)
    return Decimal(db.session.scalar(stmt) or 0)


@dataclass(frozen=True)
class BatchOption:
    product: Product
    remaining_kg: Decimal


def sourceable_batches(exclude_product_id: int | None = None) -> list[BatchOption]:
    """Published batches (yarn and the like) with kg left to be used in other products."""
    options = []
    for product in db.session.scalars(
        select(Product).where(Product.published_number.is_not(None)).order_by(Product.sku)
        .options(selectinload(Product.organisation))
    ):
        if product.id == exclude_product_id:
            continue
        remaining = batch_output_kg(product) - component_claimed_kg(product.id)
        if remaining > 0:
            options.append(BatchOption(product, remaining))
    return options


def _lock_product(product_id: int) -> Product | None:
    if db.session.get_bind().dialect.name == "sqlite":  # see lock_lot
        db.session.execute(
            update(Product).where(Product.id == product_id).values(id=Product.id)
            .execution_options(synchronize_session=False)
        )
    return db.session.scalar(
        select(Product).where(Product.id == product_id).with_for_update().execution_options(populate_existing=True)
    )


def link_component(product: Product, component_id: int, kg: Decimal) -> ProductComponent:
    """Use ``kg`` of another product's published batch (a yarn batch) in ``product``.

    Same mass balance as for lots: all products together never use more than the batch yielded,
    checked under a row lock on the batch's product row.
    """
    _check_kg(kg, "kg")
    if component_id == product.id:
        raise ProductError(_l("A product cannot be made from itself."), "component_id")
    begin_edit(product)
    component = _lock_product(component_id)
    if component is None or component.published_number is None:
        raise ProductError(_l("Choose a published batch."), "component_id")
    others = component_claimed_kg(component.id, exclude_product_id=product.id)
    remaining = batch_output_kg(component) - others
    if kg > remaining:
        raise MassBalanceError(_l(
            "Batch %(sku)s has only %(remaining)s kg left (it yielded %(out)s kg; %(claimed)s kg are used by other "
            "products). %(kg)s kg would break the mass balance.", sku=component.sku,
            remaining=max(remaining, Decimal(0)), out=batch_output_kg(component), claimed=others, kg=kg,
        ), "kg")
    return _set_kg(product, "components", ProductComponent(product_id=product.id, component_id=component.id, kg=kg))


def unlink_component(product: Product, component_id: int) -> None:
    begin_edit(product)
    link = db.session.get(ProductComponent, (product.id, component_id))
    if link is not None:
        db.session.delete(link)
        db.session.flush()
    db.session.expire(product, ["components"])


def unlink_source(product: Product, lot_id: int) -> None:
    if published_claim(product, lot_id) is not None:
        raise ProductError(_l("The published version declares this lot; its fibre stays claimed and the lot "
                              "cannot be unlinked."))
    begin_edit(product)
    source = db.session.get(ProductSource, (product.id, lot_id))
    if source is not None:
        db.session.delete(source)
        db.session.flush()
    db.session.expire(product, ["sources"])


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
    source_note: str = ""


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


def add_image(product: Product, data: bytes, alt: dict[str, str]) -> ProductImage:
    """Check, strip and resize an upload, store its files and record it. Raises ImageRejected."""
    processed = image_files.process(data)  # everything is checked and encoded before anything is written
    begin_edit(product)
    position = 1 + max((image.position for image in product.images), default=0)
    image = ProductImage(
        product_id=product.id, sha256=processed.sha256, original_ext=processed.ext,
        width=processed.width, height=processed.height, alt=alt, position=position,
    )
    db.session.add(image)
    db.session.flush()
    image_files.save_files(db.session(), processed)  # removed again if the transaction rolls back
    db.session.expire(product, ["images"])
    return image


def remove_image(product: Product, image_id: int) -> None:
    """Take an image off the working copy; its files stay, as published versions may show it."""
    image = db.session.get(ProductImage, image_id)
    if image is None or image.product_id != product.id or image.removed:
        raise ProductError(_l("There is no such image on this product."))
    begin_edit(product)
    image.removed = True
    db.session.flush()
    db.session.expire(product, ["images"])


# --- Workflow ----------------------------------------------------------------------------------


def submission_problems(product: Product) -> list[str]:
    problems = []
    if product.production_date is None:
        problems.append(str(_l("Give the production date.")))
    if not product.sources and not product.components:
        problems.append(str(_l("Link at least one certified lot or yarn batch the product was made from.")))
    if not product.steps:
        problems.append(str(_l("Record at least one processing step.")))
    if not product.images:
        problems.append(str(_l("Add at least one picture.")))
    return problems


def submit(product: Product, now: dt.datetime) -> None:
    if product.status not in (ProductStatus.draft, ProductStatus.rejected):
        raise ProductError(_l("Only a draft can be submitted for approval."))
    problems = submission_problems(product)
    if problems:
        raise ProductError(" ".join(problems))
    product.status = ProductStatus.submitted
    product.submitted_at = now
    product.rejection_reason = ""
    db.session.flush()


def awaiting_approval() -> list[Product]:
    return list(db.session.scalars(
        select(Product).where(Product.status == ProductStatus.submitted)
        .order_by(Product.submitted_at, Product.id).options(selectinload(Product.organisation))
    ))


@dataclass(frozen=True)
class CertificateCheck:
    source: ProductSource
    valid: bool
    reason: str


def certificate_checks(product: Product) -> list[CertificateCheck]:
    """For each source lot: is its certificate valid on the production date, and if not, why."""
    checks = []
    dated = [(source, product.production_date) for source in product.sources]
    for link in product.components:  # a batch's own lots, checked on the batch's production date
        dated += [(source, link.component.production_date) for source in link.component.sources]
    for source, day in dated:
        certificate = source.lot.certificate
        if day is None:
            checks.append(CertificateCheck(source, False, str(_l("The product has no production date."))))
        elif certificate is None:
            reason = str(_l("Lot %(code)s has no certificate.", code=source.lot.code))
            checks.append(CertificateCheck(source, False, reason))
        elif certificate.valid_on(day):
            checks.append(CertificateCheck(source, True, str(_l(
                "Certificate %(number)s is valid on %(day)s (%(start)s to %(end)s).",
                number=certificate.number, day=day.isoformat(), start=certificate.valid_from.isoformat(),
                end=certificate.valid_to.isoformat(),
            ))))
        elif day < certificate.valid_from:
            checks.append(CertificateCheck(source, False, str(_l(
                "Certificate %(number)s was not yet valid on %(day)s: it is valid from %(start)s.",
                number=certificate.number, day=day.isoformat(), start=certificate.valid_from.isoformat(),
            ))))
        else:
            status = certificate.status_on(day)
            reason = f" {certificate.status_reason}" if certificate.status_reason else ""
            checks.append(CertificateCheck(source, False, str(_l(
                "Certificate %(number)s is %(status)s on %(day)s (valid %(start)s to %(end)s).",
                number=certificate.number, status=label(status).lower(), day=day.isoformat(),
                start=certificate.valid_from.isoformat(), end=certificate.valid_to.isoformat(),
            )) + reason))
    return checks


def approval_problems(product: Product) -> list[str]:
    if product.status is not ProductStatus.submitted:
        return [str(_l("Only a submitted product can be approved."))]
    problems = submission_problems(product)
    problems += [check.reason for check in certificate_checks(product) if not check.valid]
    return problems


def approve(product: Product, approver_id: int | None, now: dt.datetime) -> ProductVersion:
    """Approve and publish: freeze the working copy into a new, immutable version."""
    problems = approval_problems(product)
    if problems:
        raise ProductError(" ".join(problems))
    product.status = ProductStatus.approved
    version = publish(product, approver_id, now)
    return version


def publish(product: Product, approver_id: int | None, now: dt.datetime) -> ProductVersion:
    snap = snapshot(product)
    version = ProductVersion(
        product_id=product.id, number=product.version, organisation_id=product.organisation_id,
        line_id=product.line_id, published_at=now, approved_by_id=approver_id,
        recycled=product.recycled_pct > 0, dyed=product.dyed, repairable="repair" in (product.circular_services or {}),
        snapshot=snap,
    )
    db.session.add(version)
    product.published_number = product.version
    product.status = ProductStatus.published
    product.rejection_reason = ""
    db.session.flush()
    db.session.expire(product, ["versions"])
    from marketplace.passports import services as passports  # passports read products: import late

    passports.publish(passports.passport_for(product=product))
    return version


def reject(product: Product, reason: str) -> None:
    reason = reason.strip()
    if product.status is not ProductStatus.submitted:
        raise ProductError(_l("Only a submitted product can be rejected."))
    if not reason:
        raise ProductError(_l("Give the reason for the rejection, so that the MSME can correct the product."), "reason")
    product.status = ProductStatus.rejected
    product.rejection_reason = reason
    db.session.flush()


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def snapshot(product: Product) -> dict[str, Any]:
    """Everything a consumer is shown about this version, frozen as JSON."""
    line, org = product.line, product.organisation
    return {
        "product_id": product.id, "number": product.version, "sku": product.sku, "gtin": product.gtin,
        "name": dict(product.name), "description": dict(product.description or {}),
        "line": {
            "id": line.id, "slug": line.slug, "name": dict(line.name), "description": dict(line.description or {}),
        },
        "organisation": {"id": org.id, "slug": org.slug, "name": org.name, "city": org.city},
        "fibre_composition": dict(product.fibre_composition), "recycled_pct": _dec(product.recycled_pct),
        "recycled_origin": product.recycled_origin.value, "dyed": product.dyed,
        "care_codes": list(product.care_codes or []), "sizes": list(product.sizes or []),
        "weight_g": _dec(product.weight_g), "price_minor": product.price_minor, "currency": product.currency,
        "circular_services": dict(product.circular_services or {}),
        "production_date": product.production_date.isoformat() if product.production_date else None,
        "batch_code": product.batch_code,
        "images": [
            {"id": i.id, "sha256": i.sha256, "width": i.width, "height": i.height, "alt": dict(i.alt or {})}
            for i in product.images
        ],
        "sources": [
            {
                "lot_id": s.lot.id, "lot_code": s.lot.code, "kg": _dec(s.kg), "state": s.lot.state.value,
                "colour": s.lot.colour.value, "season": s.lot.season, "cooperative": s.lot.cooperative.name,
                "aimag": s.lot.aimag.name_en, "soum": s.lot.soum.name_en,
                "certificate": None if s.lot.certificate is None else {
                    "number": s.lot.certificate.number, "valid_from": s.lot.certificate.valid_from.isoformat(),
                    "valid_to": s.lot.certificate.valid_to.isoformat(),
                    "assurance_level": s.lot.certificate.assurance_level.value,
                    "custody_model": s.lot.certificate.custody_model.value,
                },
            }
            for s in product.sources
        ],
        "components": [
            {
                "product_id": c.component.id, "sku": c.component.sku, "name": dict(c.component.name),
                "organisation": c.component.organisation.name, "batch_code": c.component.batch_code,
                "version": c.component.published_number, "kg": _dec(c.kg),
                "lots": [s.lot.code for s in c.component.sources],
            }
            for c in product.components
        ],
        "steps": [
            {
                "kind": s.kind.value,
                "facility": {"id": s.facility.id, "name": s.facility.name, "city": s.facility.city},
                "performed_on": s.performed_on.isoformat(), "kg_in": _dec(s.kg_in), "kg_out": _dec(s.kg_out),
                "yield_pct": _dec(s.yield_pct),
                "energy_kwh": _dec(s.energy_kwh), "energy_basis": s.energy_basis.value if s.energy_basis else None,
                "water_l": _dec(s.water_l), "water_basis": s.water_basis.value if s.water_basis else None,
                "co2e_kg": _dec(s.co2e_kg), "co2e_basis": s.co2e_basis.value if s.co2e_basis else None,
                "source_note": s.source_note,
            }
            for s in product.steps
        ],
    }


# --- Catalogue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueFilters:
    recycled: bool = False
    undyed: bool = False
    repairable: bool = False
    line: str | None = None  # product line slug


def _current_versions():  # type: ignore[no-untyped-def]
    return select(ProductVersion).join(
        Product, and_(Product.id == ProductVersion.product_id, Product.published_number == ProductVersion.number)
    )


def catalogue(filters: CatalogueFilters) -> list[ProductVersion]:
    """The version consumers see now of every published product, filtered by circular features."""
    stmt = _current_versions()
    if filters.recycled:
        stmt = stmt.where(ProductVersion.recycled.is_(True))
    if filters.undyed:
        stmt = stmt.where(ProductVersion.dyed.is_(False))
    if filters.repairable:
        stmt = stmt.where(ProductVersion.repairable.is_(True))
    if filters.line:
        stmt = stmt.join(ProductLine, ProductLine.id == ProductVersion.line_id).where(ProductLine.slug == filters.line)
    return list(db.session.scalars(stmt.order_by(ProductVersion.line_id, Product.sku)))


def current_versions(product_ids: list[int]) -> list[ProductVersion]:
    """The version consumers see now of each of these products (products never published have none)."""
    if not product_ids:
        return []
    return list(db.session.scalars(_current_versions().where(ProductVersion.product_id.in_(product_ids))))


def published_version(product_id: int, number: int | None = None) -> ProductVersion | None:
    """The current published version of a product, or an earlier one by ``number``."""
    if number is None:
        return db.session.scalar(_current_versions().where(ProductVersion.product_id == product_id))
    return db.session.scalar(
        select(ProductVersion).where(ProductVersion.product_id == product_id, ProductVersion.number == number)
    )


def version_history(product_id: int) -> list[tuple[int, dt.datetime]]:
    return [tuple(row) for row in db.session.execute(  # type: ignore[misc]
        select(ProductVersion.number, ProductVersion.published_at)
        .where(ProductVersion.product_id == product_id).order_by(ProductVersion.number)
    )]


_STEP_LINK = re.compile(r"/events/steps/(\d+)\.json$")


def published_step_ids(product_id: int) -> set[int]:
    """The processing steps that a published passport version of the product links to."""
    from marketplace.passports.models import Passport, PassportVersion  # passports read products: import late

    found: set[int] = set()
    credentials = db.session.scalars(select(PassportVersion.credential).join(
        Passport, Passport.id == PassportVersion.passport_id).where(Passport.product_id == product_id))
    for credential in credentials:
        for info in (credential.get("credentialSubject") or {}).get("traceabilityInformation") or []:
            for link in info.get("traceabilityEvent") or []:
                match = _STEP_LINK.search(str(link.get("linkURL", "")))
                if match:
                    found.add(int(match[1]))
    return found


def published_image_ids(product_id: int) -> set[int]:
    """The pictures that a published version of the product shows."""
    snapshots = db.session.scalars(select(ProductVersion.snapshot).where(ProductVersion.product_id == product_id))
    return {int(image["id"]) for snap in snapshots for image in (snap.get("images") or []) if "id" in image}


def viewer_scope(user: Any) -> tuple[list[int], bool]:
    """(MSME organisation ids, is Union staff) of a viewer, for the working-copy rules below."""
    if user is None or not getattr(user, "is_authenticated", False):
        return [], False
    return sorted(user.organisation_ids(Role.msme_editor)), user.has_role(Role.union_staff, Role.admin)


def _working_copy_viewer(product: Product, organisation_ids: list[int], staff: bool) -> bool:
    """Who may see a product's working copy before the Union approves it: its MSME and Union staff."""
    return staff or product.organisation_id in organisation_ids


def image_public(image: ProductImage) -> bool:
    """A picture is public once a published version shows it, and stays so (versions are immutable)."""
    return image.id in published_image_ids(image.product_id)


def image_visible(image: ProductImage, organisation_ids: list[int], staff: bool) -> bool:
    """Pictures a published version shows are public; others (working copy, removed) only to their MSME and
    Union staff."""
    product = db.session.get(Product, image.product_id)
    if product is None:
        return False
    return image_public(image) or _working_copy_viewer(product, organisation_ids, staff)


def step_public(step: ProcessingStep) -> bool:
    """A product's processing step is public once a published passport version links to it; a lot's steps are
    public with the lot's passport."""
    if step.product_id is None:
        return True
    return step.id in published_step_ids(step.product_id)


def step_visible(step: ProcessingStep, organisation_ids: list[int], staff: bool) -> bool:
    """Published steps are public; working-copy steps only to their MSME and Union staff."""
    if step_public(step):
        return True
    product = db.session.get(Product, step.product_id)
    return product is not None and not step.removed and _working_copy_viewer(product, organisation_ids, staff)


def lot_certificate_now(lot_ids: list[int]) -> dict[int, Lot]:
    """The source lots as they are now (a certificate suspended since publication shows at once)."""
    lots = db.session.scalars(select(Lot).where(Lot.id.in_(lot_ids)).options(selectinload(Lot.certificate)))
    return {lot.id: lot for lot in lots}


def mnt(price_minor: int) -> int:
    """An indicative tugrik amount (MNT has no minor unit in use) for a EUR price in cents."""
    return int((Decimal(price_minor) / 100 * MNT_PER_EUR).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 100)


def search_document(version: ProductVersion) -> dict[str, Any]:
    """What a search index needs of a published product version (for the search port, wired at merge)."""
    snap = version.snapshot
    return {
        "id": f"product-{version.product_id}", "product_id": version.product_id, "version": version.number,
        "sku": snap["sku"], "name": snap["name"], "description": snap["description"],
        "line": snap["line"]["name"], "organisation": snap["organisation"]["name"],
        "fibres": sorted(snap["fibre_composition"]), "recycled": version.recycled, "dyed": version.dyed,
        "repairable": version.repairable, "price_minor": snap["price_minor"], "currency": snap["currency"],
        "lots": [s["lot_code"] for s in snap["sources"]],
    }
