"""Ledger entries, written once. A correction is a new entry that references the one it corrects."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.db import Base, Kg, TimestampMixin, enum_column, immutable
from marketplace.organisations.models import Organisation


class EntryKind(enum.StrEnum):
    premium_due = "premium_due"  # a lot sale allocated to the cooperative: kg × premium per kg
    payment = "payment"  # the Union paid premium to the cooperative
    fund_split = "fund_split"  # how the cooperative split its premium across its funds


class Fund(enum.StrEnum):
    sustainable_investment = "sustainable_investment"
    fodder = "fodder"
    risk_management = "risk_management"
    pug_cofunding = "pug_cofunding"
    social_fund = "social_fund"


SPLIT_COLUMNS = {fund: f"pct_{fund.value}" for fund in Fund}


class LedgerError(Exception):
    """Ledger entries cannot be changed or deleted once written."""


class FundEntry(TimestampMixin, Base):
    __tablename__ = "fund_entry"
    __table_args__ = (
        CheckConstraint("amount_minor IS NULL OR amount_minor >= 0", name="amount_not_negative"),
        CheckConstraint("kg IS NULL OR kg >= 0", name="kg_not_negative"),
        CheckConstraint(
            "kind != 'fund_split' OR ROUND(pct_sustainable_investment + pct_fodder + pct_risk_management"
            " + pct_pug_cofunding + pct_social_fund, 2) = 100", name="split_totals_100",
        ),
        CheckConstraint("kind = 'fund_split' OR (amount_minor IS NOT NULL AND currency IS NOT NULL)",
                        name="amount_for_money"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind, 12), index=True)
    season: Mapped[int | None] = mapped_column(Integer)
    # Money (premium due and payments), in minor units of ``currency``
    amount_minor: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    # Premium due: the confirmed allocation it comes from, kg allocated and premium per kg
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocation.id"), index=True)
    kg: Mapped[Kg | None]
    premium_per_kg_minor: Mapped[int | None] = mapped_column(Integer)
    # Payment: date, bank reference, and whether it is an advance on premium not yet due
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(120), default="")
    advance: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fund split: percentages of the season's premium, adding up to 100
    pct_sustainable_investment: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    pct_fodder: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    pct_risk_management: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    pct_pug_cofunding: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    pct_social_fund: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # Corrections
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("fund_entry.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(300), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    cooperative: Mapped[Organisation] = relationship()
    recorded_by: Mapped[User | None] = relationship()
    corrects: Mapped[FundEntry | None] = relationship(remote_side=[id])

    def split(self) -> dict[Fund, Decimal]:
        return {fund: getattr(self, column) or Decimal(0) for fund, column in SPLIT_COLUMNS.items()}

    def __repr__(self) -> str:
        return f"<FundEntry {self.id} {self.kind} coop={self.cooperative_id}>"


immutable(FundEntry, LedgerError, "A ledger entry")
