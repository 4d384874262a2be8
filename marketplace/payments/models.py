"""Payments recorded against orders (deposits, purchases, refunds)."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, TimestampMixin, enum_column
from marketplace.orders.models import Order


class PaymentKind(enum.StrEnum):
    deposit = "deposit"
    purchase = "purchase"
    refund = "refund"


class PaymentStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    refunded = "refunded"


class Payment(TimestampMixin, Base):
    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    kind: Mapped[PaymentKind] = mapped_column(enum_column(PaymentKind, 10))
    status: Mapped[PaymentStatus] = mapped_column(enum_column(PaymentStatus, 10), default=PaymentStatus.pending)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    provider_ref: Mapped[str | None] = mapped_column(String(120), unique=True)

    order: Mapped[Order | None] = relationship()
