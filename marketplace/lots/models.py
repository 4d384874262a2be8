"""Lots of raw and dehaired cashmere, as listed by the Union."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.certification.models import Certificate
from marketplace.db import Base, Kg, TimestampMixin, enum_column
from marketplace.organisations.models import Aimag, Organisation, Soum

if TYPE_CHECKING:
    from marketplace.pricing.models import PricePolicy


class Colour(enum.StrEnum):
    white = "white"
    light_grey = "light_grey"
    grey = "grey"
    brown = "brown"


class FibreState(enum.StrEnum):
    greasy = "greasy"  # combed, as it comes off the goat
    scoured = "scoured"
    dehaired = "dehaired"


class GoatSorting(enum.StrEnum):
    unsorted = "unsorted"
    kid = "kid"
    adult_female = "adult_female"
    adult_male = "adult_male"


class TestMethod(enum.StrEnum):
    iwto_8 = "IWTO-8"  # projection microscope, the reference method
    iwto_12 = "IWTO-12"  # laser scan (Sirolan-Laserscan)
    iwto_47 = "IWTO-47"  # OFDA


class PriceBasis(enum.StrEnum):
    greasy = "greasy"
    clean = "clean"  # clean / dehaired


class Incoterm(enum.StrEnum):
    FCA = "FCA"
    CPT = "CPT"
    DAP = "DAP"


class LotStatus(enum.StrEnum):
    draft = "draft"
    listed = "listed"
    withdrawn = "withdrawn"


class Lot(TimestampMixin, Base):
    __tablename__ = "lot"
    __table_args__ = (
        CheckConstraint("net_kg > 0", name="net_positive"),
        CheckConstraint("available_kg >= 0 AND reserved_kg >= 0", name="stock_positive"),
        CheckConstraint("available_kg + reserved_kg <= net_kg", name="stock_within_net"),
        CheckConstraint("mean_diameter_um > 0 AND mean_diameter_um <= 19", name="cashmere_micron"),
        CheckConstraint("price_minor > 0 AND premium_minor >= 0", name="price_positive"),
        CheckConstraint("deposit_pct >= 0 AND deposit_pct <= 100", name="deposit_pct_range"),
        CheckConstraint(
            "dehairing_yield_pct IS NULL OR (dehairing_yield_pct > 0 AND dehairing_yield_pct <= 100)",
            name="yield_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Identity
    code: Mapped[str] = mapped_column(String(40), unique=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    aimag_id: Mapped[int] = mapped_column(ForeignKey("aimag.id"), index=True)
    soum_id: Mapped[int] = mapped_column(ForeignKey("soum.id"))
    season: Mapped[int] = mapped_column(Integer, index=True)  # combing season (year)
    herder_households: Mapped[int] = mapped_column(Integer)
    colour: Mapped[Colour] = mapped_column(enum_column(Colour, 20), index=True)
    sorting: Mapped[GoatSorting] = mapped_column(enum_column(GoatSorting, 20), default=GoatSorting.unsorted)
    state: Mapped[FibreState] = mapped_column(enum_column(FibreState, 20), index=True)
    status: Mapped[LotStatus] = mapped_column(enum_column(LotStatus, 20), default=LotStatus.draft)
    listed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    # Lab results
    mean_diameter_um: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    diameter_cv_pct: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    fibres_over_30um_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    mean_length_mm: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    hair_content_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    dehairing_yield_pct: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))  # greasy lots only
    vegetable_matter_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    moisture_regain_pct: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    test_method: Mapped[TestMethod] = mapped_column(enum_column(TestMethod, 10))
    lab_name: Mapped[str] = mapped_column(String(200))
    lab_report_number: Mapped[str] = mapped_column(String(60))
    tested_on: Mapped[dt.date] = mapped_column(Date)

    # Quantity
    net_kg: Mapped[Kg]
    bags: Mapped[int] = mapped_column(Integer)
    available_kg: Mapped[Kg]
    reserved_kg: Mapped[Kg]
    min_order_kg: Mapped[Kg]
    sample_size_g: Mapped[int] = mapped_column(Integer)

    # Price, per kg, in minor units of ``currency``
    price_minor: Mapped[int] = mapped_column(Integer)
    premium_minor: Mapped[int] = mapped_column(Integer)  # sustainability premium per kg
    currency: Mapped[str] = mapped_column(String(3))
    price_basis: Mapped[PriceBasis] = mapped_column(enum_column(PriceBasis, 10))
    incoterm: Mapped[Incoterm] = mapped_column(enum_column(Incoterm, 3))
    incoterm_place: Mapped[str] = mapped_column(String(120))
    deposit_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    price_valid_until: Mapped[dt.date] = mapped_column(Date)
    # What the herders were paid for the greasy fibre, per kg, and the share of the
    # sustainability premium passed to them (the rest goes to the cooperative's funds).
    herder_price_minor: Mapped[int | None] = mapped_column(Integer)
    herder_price_currency: Mapped[str] = mapped_column(String(3), default="MNT")
    premium_to_herders_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))

    # Certification
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"), index=True)
    # The fair-price policy the lot was priced against when it was listed.
    price_policy_id: Mapped[int | None] = mapped_column(ForeignKey("price_policy.id"))

    cooperative: Mapped[Organisation] = relationship()
    aimag: Mapped[Aimag] = relationship()
    soum: Mapped[Soum] = relationship()
    certificate: Mapped[Certificate | None] = relationship()
    price_policy: Mapped[PricePolicy | None] = relationship()
    contributions: Mapped[list[LotContribution]] = relationship(
        back_populates="lot", cascade="all, delete-orphan", order_by="LotContribution.cooperative_id"
    )

    @property
    def sold_kg(self) -> Decimal:
        return self.net_kg - self.available_kg - self.reserved_kg

    @property
    def clean_price_minor(self) -> int:
        """Price per kg of clean (dehaired) fibre: greasy price ÷ dehairing yield."""
        if self.price_basis is PriceBasis.clean or not self.dehairing_yield_pct:
            return self.price_minor
        clean = Decimal(self.price_minor) * 100 / self.dehairing_yield_pct
        return int(clean.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def is_export_grade(self) -> bool:
        """Mongolia exports dehaired fibre with at most 0.3% hair."""
        return self.state is FibreState.dehaired and self.hair_content_pct <= Decimal("0.3")

    def __repr__(self) -> str:
        return f"<Lot {self.code}>"


class LotContribution(Base):
    """The share of a lot that one cooperative contributed (pooled lots have several)."""

    __tablename__ = "lot_contribution"
    __table_args__ = (
        CheckConstraint("kg > 0", name="kg_positive"),
        CheckConstraint("herder_households > 0", name="households_positive"),
    )

    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    kg: Mapped[Kg]
    herder_households: Mapped[int] = mapped_column(Integer)

    lot: Mapped[Lot] = relationship(back_populates="contributions")
    cooperative: Mapped[Organisation] = relationship()
