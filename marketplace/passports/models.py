"""Digital product passports and their immutable, published versions."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, TimestampMixin, enum_column, immutable, utcnow
from marketplace.lots.models import Lot
from marketplace.products.models import Product


class Granularity(enum.StrEnum):
    item = "item"
    batch = "batch"
    model = "model"


class Passport(TimestampMixin, Base):
    """A stable identity for the passport of one lot or one product."""

    __tablename__ = "passport"
    __table_args__ = (
        CheckConstraint(
            "(lot_id IS NULL) <> (product_id IS NULL)", name="exactly_one_subject"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"), unique=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"), unique=True)
    granularity: Mapped[Granularity] = mapped_column(enum_column(Granularity, 10))
    # Position of this passport in the Bitstring Status Lists (revocation and suspension).
    status_index: Mapped[int] = mapped_column(Integer, unique=True)
    revoked_reason: Mapped[str] = mapped_column(Text, default="")  # non-empty: revoked by the Union

    lot: Mapped[Lot | None] = relationship()
    product: Mapped[Product | None] = relationship()
    versions: Mapped[list[PassportVersion]] = relationship(
        back_populates="passport", order_by="PassportVersion.number"
    )

    @property
    def current(self) -> PassportVersion | None:
        return self.versions[-1] if self.versions else None


class PassportVersion(Base):
    """One published version. It never changes once written: a change makes a new version."""

    __tablename__ = "passport_version"
    __table_args__ = (UniqueConstraint("passport_id", "number", name="uq_passport_version_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    passport_id: Mapped[int] = mapped_column(ForeignKey("passport.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    credential: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))  # sha-256 of the canonical credential
    signature: Mapped[str] = mapped_column(Text, default="")
    # The published UNTP 0.7.0 form, derived from ``credential`` (the 0.6.1 form, which the log chains),
    # with its own hash and signature. None on versions published before 0.7.0 was.
    credential_070: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    content_hash_070: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signature_070: Mapped[str | None] = mapped_column(Text, nullable=True)

    passport: Mapped[Passport] = relationship(back_populates="versions")


class ImmutableVersionError(RuntimeError):
    pass


immutable(PassportVersion, ImmutableVersionError, "A published passport version")


class OrganisationKey(Base):
    """One Ed25519 signing key of an issuing organisation (a certifier, a cooperative, an MSME).

    The private key is stored encrypted (``passports.keys``); a rotation retires the current key and adds
    the next one. Retired keys stay in the organisation's DID document, so what they signed still verifies.
    """

    __tablename__ = "organisation_key"
    __table_args__ = (UniqueConstraint("organisation_id", "number", name="uq_organisation_key_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # the key's fragment in the DID document: #key-<number>
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IssuedDocument(Base):
    """One immutable version of a credential an organisation issued (a conformity credential, a traceability
    event, an identity anchor), kept as the exact bytes served at its versioned URL. A change issues a new
    version; a status change is a status-list change, never an edit."""

    __tablename__ = "issued_document"
    __table_args__ = (UniqueConstraint("kind", "subject", "number", name="uq_issued_document_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # dcc, dte, dia
    subject: Mapped[str] = mapped_column(String(80))  # certificate number, step id, organisation slug
    number: Mapped[int] = mapped_column(Integer)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(300))  # the verification method that signed it
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    change_hash: Mapped[str] = mapped_column(String(64))  # sha-256 of the content without its id
    body: Mapped[str] = mapped_column(Text)  # the UNTP 0.7.0 form, exactly as served
    digest: Mapped[str] = mapped_column(String(60))  # digestMultibase of ``body``'s UTF-8 bytes
    jwt: Mapped[str] = mapped_column(Text)
    body_061: Mapped[str] = mapped_column(Text)  # the UNTP 0.6.1 form of the same version
    jwt_061: Mapped[str] = mapped_column(Text)


immutable(IssuedDocument, ImmutableVersionError, "An issued credential")


class StatusListVersion(Base):
    """One signed issue of a status list (revocation or suspension). A new one is issued when the list
    changes or the latest has passed its short ``valid_until``; every issue stays published."""

    __tablename__ = "status_list_version"
    __table_args__ = (UniqueConstraint("purpose", "number", name="uq_status_list_version_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    encoded_list: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[str] = mapped_column(Text)  # the credential, exactly as served
    jwt: Mapped[str] = mapped_column(Text)


immutable(StatusListVersion, ImmutableVersionError, "An issued status list")
