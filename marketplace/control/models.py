"""Households, control assessments with their criterion results and evidence, certificate audit.

Assessments, results, evidence and certificate events are written once: the history is the audit.
Household-level data is never public.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.certification.models import Certificate, CertificationScheme, Criterion
from marketplace.db import Base, TimestampMixin, enum_column, immutable, utcnow
from marketplace.organisations.models import Organisation


class ControlLevel(enum.StrEnum):
    self_evaluation = "self_evaluation"  # herder household, recorded by the cooperative manager
    internal_control = "internal_control"  # by the cooperative: pre-certifies the household
    external_control = "external_control"  # by a certifier of the scheme: decides on the certificate


class Outcome(enum.StrEnum):
    passed = "passed"
    failed = "failed"


class Decision(enum.StrEnum):
    issue = "issue"
    renew = "renew"
    suspend = "suspend"
    revoke = "revoke"


class Result(enum.StrEnum):
    compliant = "compliant"
    minor_nonconformity = "minor_nonconformity"
    major_nonconformity = "major_nonconformity"
    not_applicable = "not_applicable"


class ControlError(Exception):
    """Control records cannot change once written."""


class SchemeParticipant(TimestampMixin, Base):
    """A cooperative enrolled in a scheme, or a certifier accredited to control it."""

    __tablename__ = "scheme_participant"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("certification_scheme.id"), primary_key=True)

    organisation: Mapped[Organisation] = relationship()
    scheme: Mapped[CertificationScheme] = relationship()


class Household(TimestampMixin, Base):
    """A herder household of a cooperative, known by the cooperative's own reference (private)."""

    __tablename__ = "herder_household"
    __table_args__ = (UniqueConstraint("cooperative_id", "reference", name="cooperative_reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    reference: Mapped[str] = mapped_column(String(40))

    cooperative: Mapped[Organisation] = relationship()


class Assessment(TimestampMixin, Base):
    __tablename__ = "control_assessment"
    __table_args__ = (
        CheckConstraint("level = 'external_control' OR household_id IS NOT NULL", name="household_for_internal"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[ControlLevel] = mapped_column(enum_column(ControlLevel, 20), index=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("certification_scheme.id"))
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("herder_household.id"), index=True)
    performed_on: Mapped[dt.date] = mapped_column(Date)
    performed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, 10))
    decision: Mapped[Decision | None] = mapped_column(enum_column(Decision, 10))
    tier: Mapped[str | None] = mapped_column(String(40))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"))
    notes: Mapped[str] = mapped_column(Text, default="")

    scheme: Mapped[CertificationScheme] = relationship()
    cooperative: Mapped[Organisation] = relationship(foreign_keys=[cooperative_id])
    actor_organisation: Mapped[Organisation] = relationship(foreign_keys=[actor_organisation_id])
    household: Mapped[Household | None] = relationship()
    performed_by: Mapped[User | None] = relationship()
    certificate: Mapped[Certificate | None] = relationship()
    results: Mapped[list[CriterionResult]] = relationship(back_populates="assessment")
    evidence: Mapped[list[EvidenceFile]] = relationship(back_populates="assessment")


class CriterionResult(Base):
    __tablename__ = "criterion_result"

    assessment_id: Mapped[int] = mapped_column(ForeignKey("control_assessment.id"), primary_key=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criterion.id"), primary_key=True)
    result: Mapped[Result] = mapped_column(enum_column(Result, 20))
    comment: Mapped[str] = mapped_column(String(500), default="")

    assessment: Mapped[Assessment] = relationship(back_populates="results")
    criterion: Mapped[Criterion] = relationship()


class EvidenceFile(TimestampMixin, Base):
    """A checked picture or PDF kept in the private store (never served publicly)."""

    __tablename__ = "evidence_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("control_assessment.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(String(200), default="")

    assessment: Mapped[Assessment] = relationship(back_populates="evidence")


class CertificateEvent(Base):
    """Every change to a certificate: who, when, from which status to which, and why."""

    __tablename__ = "certificate_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    old_status: Mapped[str] = mapped_column(String(20), default="")
    new_status: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(40), default="")
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("control_assessment.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    certificate: Mapped[Certificate] = relationship()
    actor: Mapped[User | None] = relationship()


class ParticipationAction(enum.StrEnum):
    enrolled = "enrolled"  # a cooperative joins a scheme
    accredited = "accredited"  # a certifier may control a scheme


class ParticipationEvent(Base):
    """Who enrolled a cooperative in a scheme, or accredited a certifier for it, and when (the audit)."""

    __tablename__ = "scheme_participation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("certification_scheme.id"))
    action: Mapped[ParticipationAction] = mapped_column(enum_column(ParticipationAction, 12))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    scheme: Mapped[CertificationScheme] = relationship()
    actor: Mapped[User | None] = relationship()


for _model, _what in ((ParticipationEvent, "A participation event"),
                      (Assessment, "A control assessment"), (CriterionResult, "A criterion result"),
                      (EvidenceFile, "An evidence file"), (CertificateEvent, "A certificate event")):
    immutable(_model, ControlError, _what)
