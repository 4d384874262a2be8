"""Organisations, places and the producers behind the fibre."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, Kg, TimestampMixin, business_date, enum_column, utcnow


class OrgKind(enum.StrEnum):
    union = "union"
    cooperative = "cooperative"
    msme = "msme"
    brand = "brand"
    certifier = "certifier"


PUBLIC_PROFILE_KINDS = frozenset({OrgKind.union, OrgKind.cooperative, OrgKind.msme, OrgKind.certifier})


class Aimag(Base):
    """A province of Mongolia (or the capital), from shared/data/aimags.csv."""

    __tablename__ = "aimag"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(3), unique=True)
    name_en: Mapped[str] = mapped_column(String(80))
    name_mn: Mapped[str] = mapped_column(String(80))
    centre_en: Mapped[str] = mapped_column(String(80))
    centre_mn: Mapped[str] = mapped_column(String(80))
    centre_lat: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    centre_lon: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    latin_variants: Mapped[str] = mapped_column(Text, default="")

    soums: Mapped[list[Soum]] = relationship(back_populates="aimag", order_by="Soum.name_en")

    @property
    def variants(self) -> list[str]:
        return [v for v in self.latin_variants.split("|") if v]


class Soum(Base):
    """A district of an aimag."""

    __tablename__ = "soum"
    # One soum name per aimag; the same name exists in several aimags.
    __table_args__ = (UniqueConstraint("aimag_id", "name_en", name="uq_soum_aimag_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    aimag_id: Mapped[int] = mapped_column(ForeignKey("aimag.id"), index=True)
    name_en: Mapped[str] = mapped_column(String(80))
    name_mn: Mapped[str] = mapped_column(String(80))
    lat: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    lon: Mapped[Decimal] = mapped_column(Numeric(5, 2))

    aimag: Mapped[Aimag] = relationship(back_populates="soums")


class Organisation(TimestampMixin, Base):
    """Any organisation on the site: the Union, a cooperative, an MSME, a brand or a certifier."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgKind] = mapped_column(enum_column(OrgKind, 20), index=True)
    country: Mapped[str] = mapped_column(String(2), default="MN")  # ISO 3166-1 alpha-2
    city: Mapped[str] = mapped_column(String(120), default="")
    aimag_id: Mapped[int | None] = mapped_column(ForeignKey("aimag.id"))
    soum_id: Mapped[int | None] = mapped_column(ForeignKey("soum.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str] = mapped_column(String(200), default="")
    women_led: Mapped[bool] = mapped_column(Boolean, default=False)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # The operator's number in its country's register of legal entities: VAT number (EU brand buyers) or
    # the 7-digit state registration number (Mongolian MSMEs and cooperatives), given at sign-up; shown in
    # the passports as the party's registeredId.
    registration_number: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # Set by Union staff (organisations.services.verify). Organisations made by the Union or the demo
    # are verified when made; a self-service sign-up starts unverified.
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)

    aimag: Mapped[Aimag | None] = relationship()
    soum: Mapped[Soum | None] = relationship()
    cooperative: Mapped[CooperativeProfile | None] = relationship(back_populates="organisation")

    def __repr__(self) -> str:
        return f"<Organisation {self.slug} ({self.kind})>"

    @property
    def registered_on(self) -> dt.date:
        """The day the Union entered the organisation in its register (its record's creation), in the Union's
        time zone: the date the register page shows and the identity anchor states."""
        return business_date(self.created_at)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def has_public_profile(self) -> bool:
        """Whether anyone may see the organisation's profile page: the Union, cooperatives, MSMEs and certifiers
        appear on passports and lots; brand buyers are customers and stay private."""
        return self.kind in PUBLIC_PROFILE_KINDS


class CooperativeProfile(Base):
    """What a herders' cooperative declares about itself, per its soum."""

    __tablename__ = "cooperative_profile"
    __table_args__ = (
        CheckConstraint("women_members <= members", name="women_within_members"),
        CheckConstraint("members >= 0 AND herder_households >= 0", name="counts_positive"),
        CheckConstraint("declared_capacity_kg >= 0", name="capacity_positive"),
    )

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    members: Mapped[int] = mapped_column(Integer)
    women_members: Mapped[int] = mapped_column(Integer)
    herder_households: Mapped[int] = mapped_column(Integer)
    certified_households: Mapped[int] = mapped_column(Integer, default=0)
    # Greasy (combed) cashmere the cooperative can supply in one combing season.
    declared_capacity_kg: Mapped[Kg]
    # Rangeland: carrying capacity and actual stocking, both in sheep units (SFU).
    carrying_capacity_su: Mapped[int] = mapped_column(Integer)
    actual_stocking_su: Mapped[int] = mapped_column(Integer)
    founded_year: Mapped[int | None] = mapped_column(Integer)

    organisation: Mapped[Organisation] = relationship(back_populates="cooperative")
    pasture_user_groups: Mapped[list[PastureUserGroup]] = relationship(
        back_populates="cooperative", order_by="PastureUserGroup.name"
    )

    @property
    def stocking_ratio(self) -> Decimal:
        """Actual stocking as a share of carrying capacity (1 = at capacity)."""
        if not self.carrying_capacity_su:
            return Decimal(0)
        return (Decimal(self.actual_stocking_su) / Decimal(self.carrying_capacity_su)).quantize(Decimal("0.01"))

    @property
    def women_share(self) -> Decimal:
        if not self.members:
            return Decimal(0)
        return (Decimal(self.women_members) * 100 / Decimal(self.members)).quantize(Decimal("0.1"))


class PastureUserGroup(Base):
    """A territory-based group of herder households with a Rangeland User Agreement."""

    __tablename__ = "pasture_user_group"
    __table_args__ = (CheckConstraint("households > 0", name="households_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(
        ForeignKey("cooperative_profile.organisation_id"), index=True
    )
    soum_id: Mapped[int] = mapped_column(ForeignKey("soum.id"))
    name: Mapped[str] = mapped_column(String(120))
    households: Mapped[int] = mapped_column(Integer)
    area_ha: Mapped[int] = mapped_column(Integer)
    rangeland_agreement_ref: Mapped[str] = mapped_column(String(60), default="")
    carrying_capacity_su: Mapped[int] = mapped_column(Integer)
    actual_stocking_su: Mapped[int] = mapped_column(Integer)

    cooperative: Mapped[CooperativeProfile] = relationship(back_populates="pasture_user_groups")
    soum: Mapped[Soum] = relationship()
