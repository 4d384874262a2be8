from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.db import Base, TimestampMixin, enum_column, immutable
from marketplace.organisations.models import Organisation


class CommitmentArea(enum.StrEnum):
    labour = "labour"
    health_safety = "health_safety"
    environment = "environment"
    ethics = "ethics"  # anti-corruption and business ethics


class ReportStatus(enum.StrEnum):
    submitted = "submitted"
    accepted = "accepted"
    returned = "returned"


class PracticeError(Exception):
    """Commitments are written once: a new declaration replaces the previous one."""


class Commitment(TimestampMixin, Base):
    """An MSME's declared commitment in one area of the Code; the latest per area is in force."""

    __tablename__ = "cop_commitment"

    id: Mapped[int] = mapped_column(primary_key=True)
    msme_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    area: Mapped[CommitmentArea] = mapped_column(enum_column(CommitmentArea, 20))
    text: Mapped[str] = mapped_column(Text)
    declared_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    msme: Mapped[Organisation] = relationship()
    declared_by: Mapped[User | None] = relationship()


class PerformanceReport(TimestampMixin, Base):
    """A yearly performance report, reviewed by Union staff before it is shown."""

    __tablename__ = "cop_report"
    __table_args__ = (
        CheckConstraint("energy_kwh >= 0 AND water_m3 >= 0", name="resources_not_negative"),
        CheckConstraint("workers_women >= 0 AND workers_men >= 0 AND incidents >= 0", name="counts_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    msme_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    energy_kwh: Mapped[Decimal] = mapped_column(Numeric(14, 1))
    water_m3: Mapped[Decimal] = mapped_column(Numeric(14, 1))
    wastewater_treated: Mapped[bool] = mapped_column(Boolean)
    wastewater_note: Mapped[str] = mapped_column(String(500), default="")
    chemicals_management: Mapped[str] = mapped_column(Text, default="")
    workers_women: Mapped[int] = mapped_column(Integer)
    workers_men: Mapped[int] = mapped_column(Integer)
    incidents: Mapped[int] = mapped_column(Integer)
    incidents_note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[ReportStatus] = mapped_column(enum_column(ReportStatus, 10), default=ReportStatus.submitted)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str] = mapped_column(String(500), default="")
    reviewed_on: Mapped[dt.date | None] = mapped_column(Date)

    msme: Mapped[Organisation] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    @property
    def workers(self) -> int:
        return self.workers_women + self.workers_men


immutable(Commitment, PracticeError, "A commitment")
