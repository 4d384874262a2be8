"""Provenance: the lots and yarn batches a product is made from, with a checked mass balance.

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

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.products.catalogue import current_versions, published_version
from marketplace.products.editing import MassBalanceError, ProductError, T, _check_kg, begin_edit
from marketplace.products.models import (
    Product,
    ProductComponent,
    ProductSource,
    ProductVersion,
)


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
    return _output_kg(published_version(component.id))


def _output_kg(version: ProductVersion | None) -> Decimal:
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
    """Published batches (yarn and the like) with kg left to be used in other products.

    Four queries whatever the number of products (the products, their organisations, their published versions,
    the kg claimed from each), as ``sourceable_lots``: the editor's product page lists them on every visit."""
    products = [product for product in db.session.scalars(
        select(Product).where(Product.published_number.is_not(None)).order_by(Product.sku)
        .options(selectinload(Product.organisation))
    ) if product.id != exclude_product_id]
    versions = {version.product_id: version for version in current_versions([product.id for product in products])}
    claims = dict(db.session.execute(
        select(ProductComponent.component_id, func.sum(ProductComponent.kg)).group_by(ProductComponent.component_id)
    ).all())
    options = []
    for product in products:
        remaining = _output_kg(versions.get(product.id)) - Decimal(claims.get(product.id) or 0)
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
