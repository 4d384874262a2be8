"""Certification schemes, their criteria, and certificates."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, TimestampMixin, enum_column
from marketplace.organisations.models import Organisation


class AssuranceLevel(enum.StrEnum):
    self_declared = "self_declared"
    internal_control = "internal_control"  # by the cooperative
    s3c_external = "s3c_external"  # by the S3C
    accredited_third_party = "accredited_third_party"


class CustodyModel(enum.StrEnum):
    identity_preserved = "identity_preserved"
    segregated = "segregated"
    mass_balance = "mass_balance"


class CertificateStatus(enum.StrEnum):
    active = "active"
    suspended = "suspended"
    revoked = "revoked"
    expired = "expired"


class CertificateStanding(enum.StrEnum):
    """Where a certificate stands on a given day, as buyers and the API see it."""

    valid = "valid"
    suspended = "suspended"
    revoked = "revoked"
    expired = "expired"
    not_yet_valid = "not_yet_valid"  # its validity starts later
    uncertified = "uncertified"  # no certificate at all (a lot listed without one)


def standing(
    status: CertificateStatus | str | None, valid_from: dt.date | None, valid_to: dt.date | None, day: dt.date
) -> CertificateStanding:
    """The one rule for a certificate's standing on ``day``, from its stored status and validity dates.

    Suspension and revocation win; then a certificate past its ``valid_to`` is expired on ``day``
    even while its stored status still says active (expiry is a date, not an event).
    """
    if status is None or valid_from is None or valid_to is None:
        return CertificateStanding.uncertified
    stored = CertificateStatus(status)
    if stored is CertificateStatus.revoked:
        return CertificateStanding.revoked
    if stored is CertificateStatus.suspended:
        return CertificateStanding.suspended
    if stored is CertificateStatus.expired or day > valid_to:
        return CertificateStanding.expired
    if day < valid_from:
        return CertificateStanding.not_yet_valid
    return CertificateStanding.valid


_STATUS_OF_STANDING = {
    CertificateStanding.valid: CertificateStatus.active,
    CertificateStanding.not_yet_valid: CertificateStatus.active,
    CertificateStanding.suspended: CertificateStatus.suspended,
    CertificateStanding.revoked: CertificateStatus.revoked,
    CertificateStanding.expired: CertificateStatus.expired,
}


class CertificationScheme(Base):
    __tablename__ = "certification_scheme"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(200), default="")
    # Tiers in ascending order, separated by "|" (e.g. "entry|advanced").
    tiers: Mapped[str] = mapped_column(String(200), default="")

    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="scheme", order_by="Criterion.position", cascade="all, delete-orphan"
    )

    @property
    def tier_list(self) -> list[str]:
        return [t for t in self.tiers.split("|") if t]


class Criterion(Base):
    __tablename__ = "criterion"
    __table_args__ = (UniqueConstraint("scheme_id", "code", name="uq_criterion_scheme_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("certification_scheme.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    principle: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300))
    guidance: Mapped[str] = mapped_column(Text, default="")

    scheme: Mapped[CertificationScheme] = relationship(back_populates="criteria")


class Certificate(TimestampMixin, Base):
    __tablename__ = "certificate"
    __table_args__ = (CheckConstraint("valid_from <= valid_to", name="validity_ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("certification_scheme.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    tier: Mapped[str] = mapped_column(String(40))
    assurance_level: Mapped[AssuranceLevel] = mapped_column(enum_column(AssuranceLevel))
    custody_model: Mapped[CustodyModel] = mapped_column(enum_column(CustodyModel))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[CertificateStatus] = mapped_column(
        enum_column(CertificateStatus), default=CertificateStatus.active
    )
    status_reason: Mapped[str] = mapped_column(Text, default="")  # in English, as the credentials carry it
    # The reason in the other locales the certifier translated it into (locale → text).
    status_reason_translations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")

    scheme: Mapped[CertificationScheme] = relationship()
    holder: Mapped[Organisation] = relationship(foreign_keys=[holder_id])
    issuer: Mapped[Organisation] = relationship(foreign_keys=[issuer_id])

    @property
    def status_reason_i18n(self) -> dict[str, str]:
        """The reason by locale, English included (for ``loc_shown``)."""
        return {**(self.status_reason_translations or {}), "en": self.status_reason}

    def status_on(self, day: dt.date) -> CertificateStatus:
        """The status in force on ``day`` (from :func:`standing`; a certificate not yet in force reads active)."""
        return _STATUS_OF_STANDING[self.standing_on(day)]

    def standing_on(self, day: dt.date) -> CertificateStanding:
        return standing(self.status, self.valid_from, self.valid_to, day)

    def valid_on(self, day: dt.date) -> bool:
        return self.standing_on(day) is CertificateStanding.valid
