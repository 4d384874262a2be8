"""Reading published products: the catalogue, versions, and what a viewer may see of a product's
steps and pictures (published ones are public, the working copy only to its MSME and Union staff)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import selectinload

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.passports.models import Passport, PassportVersion
from marketplace.products.models import (
    ProcessingStep,
    Product,
    ProductImage,
    ProductLine,
    ProductVersion,
)


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


# The 0.6.1 form links a step's event at its immutable version URL (``/events/steps/<id>/versions/<n>.json?untp=
# 0.6.1``); versions published before named the moving ``/events/steps/<id>.json``.
_STEP_LINK = re.compile(r"/events/steps/(\d+)(?:/versions/\d+)?\.json(?:\?[^#]*)?$")


def published_step_ids(product_id: int) -> set[int]:
    """The processing steps that a published passport version of the product links to."""
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
