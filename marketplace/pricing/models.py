"""Price policies, written once: a revision is a new policy for the same season and currency."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.db import Base, TimestampMixin, enum_column, immutable
from marketplace.lots.models import Colour


class MicronBand(enum.StrEnum):
    """Grade bands of mean fibre diameter (upper bound included)."""

    ultrafine = "ultrafine"  # up to 15.5 µm
    fine = "fine"  # 15.6 to 16.5 µm
    standard = "standard"  # 16.6 to 19.0 µm

    @property
    def upper_um(self) -> Decimal:
        return BAND_UPPER[self]

    @classmethod
    def for_diameter(cls, um: Decimal) -> MicronBand:
        for band in cls:
            if um <= band.upper_um:
                return band
        return cls.standard


BAND_UPPER = {MicronBand.ultrafine: Decimal("15.5"), MicronBand.fine: Decimal("16.5"),
              MicronBand.standard: Decimal("19.0")}


class PolicyError(Exception):
    """A price policy or its premiums cannot be changed once published."""


class PricePolicy(TimestampMixin, Base):
    """Floor prices per kg for one combing season, in one currency, as published by the Union."""

    __tablename__ = "price_policy"
    __table_args__ = (
        UniqueConstraint("season", "currency", "revision", name="season_currency_revision"),
        CheckConstraint("greasy_floor_minor > 0 AND dehaired_floor_minor > 0", name="floors_positive"),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    season: Mapped[int] = mapped_column(Integer, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Minimum price per kg (minor units of ``currency``) for greasy and for dehaired (clean) fibre.
    greasy_floor_minor: Mapped[int] = mapped_column(Integer)
    dehaired_floor_minor: Mapped[int] = mapped_column(Integer)
    published_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    published_by: Mapped[User | None] = relationship()
    premiums: Mapped[list[GradePremium]] = relationship(
        back_populates="policy", order_by="(GradePremium.band, GradePremium.colour)",
    )

    def premium_for(self, band: MicronBand, colour: Colour) -> int:
        for premium in self.premiums:
            if premium.band is band and premium.colour is colour:
                return premium.premium_minor
        return 0

    def __repr__(self) -> str:
        return f"<PricePolicy {self.season} {self.currency} r{self.revision}>"


class GradePremium(Base):
    """Premium per kg of dehaired fibre over the floor, for one grade (micron band × colour)."""

    __tablename__ = "grade_premium"
    __table_args__ = (CheckConstraint("premium_minor >= 0", name="premium_not_negative"),)

    policy_id: Mapped[int] = mapped_column(ForeignKey("price_policy.id"), primary_key=True)
    band: Mapped[MicronBand] = mapped_column(enum_column(MicronBand, 12), primary_key=True)
    colour: Mapped[Colour] = mapped_column(enum_column(Colour, 20), primary_key=True)
    premium_minor: Mapped[int] = mapped_column(Integer)

    policy: Mapped[PricePolicy] = relationship(back_populates="premiums")


immutable(PricePolicy, PolicyError, "A published price policy")
immutable(GradePremium, PolicyError, "A published grade premium")
