"""MSME product lines, products, their source lots and processing steps."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.db import Base, Kg, TimestampMixin, enum_column, utcnow
from marketplace.lots.models import Lot
from marketplace.organisations.models import Organisation


class ProductStatus(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    published = "published"
    rejected = "rejected"


class RecycledOrigin(enum.StrEnum):
    none = "none"
    pre_consumer = "pre_consumer"
    post_consumer = "post_consumer"


class StepKind(enum.StrEnum):
    scouring = "scouring"
    dehairing = "dehairing"
    spinning = "spinning"
    dyeing = "dyeing"
    knitting = "knitting"
    weaving = "weaving"
    finishing = "finishing"


class DataBasis(enum.StrEnum):
    """The nature of a figure."""

    measured = "measured"
    declared = "declared"
    estimated = "estimated"


def localised(values: dict[str, str] | None, locale: str, fallback: str = "en") -> tuple[str, str]:
    """The text for ``locale`` and the locale it is really in (falls back to English)."""
    values = values or {}
    if values.get(locale):
        return values[locale], locale
    return values.get(fallback, ""), fallback


class ProductLine(TimestampMixin, Base):
    __tablename__ = "product_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[dict[str, str]] = mapped_column(JSON)  # locale → text
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    organisation: Mapped[Organisation] = relationship()
    products: Mapped[list[Product]] = relationship(back_populates="line", order_by="Product.sku")


class Product(TimestampMixin, Base):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("recycled_pct >= 0 AND recycled_pct <= 100", name="recycled_range"),
        CheckConstraint("weight_g > 0", name="weight_positive"),
        CheckConstraint("price_minor > 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("product_line.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    name: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Fibre → percent, e.g. {"cashmere": "100"}; decimals are kept as strings in JSON.
    fibre_composition: Mapped[dict[str, str]] = mapped_column(JSON)
    recycled_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0))
    recycled_origin: Mapped[RecycledOrigin] = mapped_column(
        enum_column(RecycledOrigin, 20), default=RecycledOrigin.none
    )
    dyed: Mapped[bool] = mapped_column(Boolean, default=False)
    care_codes: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO 3758 symbols
    sizes: Mapped[list[str]] = mapped_column(JSON, default=list)
    weight_g: Mapped[Decimal] = mapped_column(Numeric(8, 1))
    price_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Circular services: {"take_back": "terms", "repair": "terms", "resale": "terms"}
    circular_services: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    production_date: Mapped[dt.date | None] = mapped_column(Date)
    batch_code: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[ProductStatus] = mapped_column(enum_column(ProductStatus, 20), default=ProductStatus.draft)
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    # ``version`` is the number the working copy will carry when it is next published;
    # ``published_number`` is the version consumers see now (None until first published).
    version: Mapped[int] = mapped_column(Integer, default=1)
    published_number: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    line: Mapped[ProductLine] = relationship(back_populates="products")
    organisation: Mapped[Organisation] = relationship()
    sources: Mapped[list[ProductSource]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="ProductSource.lot_id"
    )
    steps: Mapped[list[ProcessingStep]] = relationship(
        back_populates="product", order_by="(ProcessingStep.performed_on, ProcessingStep.id)",
        primaryjoin="and_(ProcessingStep.product_id == Product.id, ProcessingStep.removed.is_(False))",
        viewonly=True,
    )
    components: Mapped[list[ProductComponent]] = relationship(
        back_populates="product", cascade="all, delete-orphan", foreign_keys="ProductComponent.product_id",
        order_by="ProductComponent.component_id",
    )
    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product", order_by="(ProductImage.position, ProductImage.id)",
        primaryjoin="and_(ProductImage.product_id == Product.id, ProductImage.removed.is_(False))",
        viewonly=True,
    )
    versions: Mapped[list[ProductVersion]] = relationship(
        back_populates="product", order_by="ProductVersion.number", viewonly=True
    )
    variants: Mapped[list[ProductVariant]] = relationship(
        back_populates="product", order_by="ProductVariant.position", cascade="all, delete-orphan"
    )

    def display_name(self, locale: str) -> str:
        return localised(self.name, locale)[0]


class ProductVariant(Base):
    """A size (and colour, where a line has several) of a product, with its own stock and, if set, GTIN.

    ``stock`` is what can still be sold: checkout takes from it in one conditional ``UPDATE``
    (``stock >= quantity``), so two buyers of the last item can never both have it.
    """

    __tablename__ = "product_variant"
    __table_args__ = (
        UniqueConstraint("product_id", "size", "colour", name="uq_product_variant_size_colour"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    size: Mapped[str] = mapped_column(String(20))
    colour: Mapped[str] = mapped_column(String(40), default="")
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship(back_populates="variants")

    @property
    def label(self) -> str:
        return f"{self.size} · {self.colour}" if self.colour else self.size


class ProductSource(Base):
    """Kg of a certified lot that went into a product (or its production batch)."""

    __tablename__ = "product_source"
    __table_args__ = (CheckConstraint("kg > 0", name="kg_positive"),)

    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), primary_key=True)
    kg: Mapped[Kg]

    product: Mapped[Product] = relationship(back_populates="sources")
    lot: Mapped[Lot] = relationship()


class ProductComponent(Base):
    """Kg of another product's production batch (a yarn batch) that went into a product."""

    __tablename__ = "product_component"
    __table_args__ = (
        CheckConstraint("kg > 0", name="kg_positive"),
        CheckConstraint("product_id <> component_id", name="not_itself"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("product.id"), primary_key=True, index=True)
    kg: Mapped[Kg]

    product: Mapped[Product] = relationship(back_populates="components", foreign_keys=[product_id])
    component: Mapped[Product] = relationship(foreign_keys=[component_id])


class ProcessingStep(TimestampMixin, Base):
    """A transformation event: kg in → kg out at a facility, with its energy and water."""

    __tablename__ = "processing_step"
    __table_args__ = (
        CheckConstraint("kg_in > 0 AND kg_out > 0", name="kg_positive"),
        CheckConstraint("kg_out <= kg_in", name="no_mass_gain"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"), index=True)
    kind: Mapped[StepKind] = mapped_column(enum_column(StepKind, 20))
    facility_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    performed_on: Mapped[dt.date] = mapped_column(Date)
    kg_in: Mapped[Kg]
    kg_out: Mapped[Kg]
    energy_kwh: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    energy_basis: Mapped[DataBasis | None] = mapped_column(enum_column(DataBasis, 10))
    water_l: Mapped[Decimal | None] = mapped_column(Numeric(12, 1))
    water_basis: Mapped[DataBasis | None] = mapped_column(enum_column(DataBasis, 10))
    co2e_kg: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    co2e_basis: Mapped[DataBasis | None] = mapped_column(enum_column(DataBasis, 10))
    source_note: Mapped[str] = mapped_column(String(300), default="")  # the method note, in English
    # The method note in the other locales the MSME translated it into (locale → text).
    source_note_translations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    # Taken off the working copy, but kept (unchanged) because a published version links to it.
    removed: Mapped[bool] = mapped_column(Boolean, default=False)

    product: Mapped[Product | None] = relationship(back_populates="steps")
    lot: Mapped[Lot | None] = relationship()
    facility: Mapped[Organisation] = relationship()

    @property
    def yield_pct(self) -> Decimal:
        return (self.kg_out * 100 / self.kg_in).quantize(Decimal("0.1"))


class ProductImage(Base):
    """An uploaded picture. Its files are named by the SHA-256 of the upload and never change.

    Removing an image from a product only marks the row: published versions may still show it.
    """

    __tablename__ = "product_image"
    __table_args__ = (CheckConstraint("width > 0 AND height > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_ext: Mapped[str] = mapped_column(String(5))  # "jpg", "png" or "webp"
    width: Mapped[int] = mapped_column(Integer)  # after auto-orientation
    height: Mapped[int] = mapped_column(Integer)
    alt: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # locale → text
    position: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    # False from the upload until the ``products.image_variants`` job has stored the resized files: pages
    # show a placeholder with the alt text meanwhile (the original is private).
    variants_ready: Mapped[bool] = mapped_column(Boolean, default=False, server_default=true(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    product: Mapped[Product] = relationship(back_populates="images")


class ProductVersion(Base):
    """What consumers saw: a frozen snapshot of one approved version of a product.

    Rows are written once, on approval, and never updated or deleted (an edit of a
    published product makes a new version). The flags are copies of snapshot values,
    kept as columns so that the catalogue can filter on them.
    """

    __tablename__ = "product_version"
    __table_args__ = (UniqueConstraint("product_id", "number", name="uq_product_version_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("product_line.id"), index=True)
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recycled: Mapped[bool] = mapped_column(Boolean, default=False)
    dyed: Mapped[bool] = mapped_column(Boolean, default=False)
    repairable: Mapped[bool] = mapped_column(Boolean, default=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)

    product: Mapped[Product] = relationship(back_populates="versions")
    approved_by: Mapped[User | None] = relationship()


class ImmutableProductVersionError(RuntimeError):
    pass


@event.listens_for(ProductVersion, "before_update")
def _refuse_update(mapper: Any, connection: Any, target: ProductVersion) -> None:
    raise ImmutableProductVersionError("A published product version cannot change; publish a new version.")


@event.listens_for(ProductVersion, "before_delete")
def _refuse_delete(mapper: Any, connection: Any, target: ProductVersion) -> None:
    raise ImmutableProductVersionError("A published product version cannot be deleted.")
