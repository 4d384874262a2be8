"""Buyers' orders of lots, with their lines and stage history."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.db import Base, Kg, TimestampMixin, enum_column, utcnow
from marketplace.lots.models import Incoterm, Lot
from marketplace.organisations.models import Organisation


class OrderStage(enum.StrEnum):
    """The stages a buyer follows, in order."""

    quote_requested = "quote_requested"
    quoted = "quoted"
    accepted = "accepted"
    deposit_paid = "deposit_paid"
    allocated = "allocated"
    collected = "collected"  # collected from cooperatives
    dehaired_tested = "dehaired_tested"
    shipped = "shipped"
    delivered = "delivered"
    cancelled = "cancelled"


STAGE_ORDER = [s for s in OrderStage if s is not OrderStage.cancelled]
OPEN_STAGES = [s for s in OrderStage if s not in (OrderStage.delivered, OrderStage.cancelled)]


class Order(TimestampMixin, Base):
    __tablename__ = "purchase_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    stage: Mapped[OrderStage] = mapped_column(enum_column(OrderStage, 20), default=OrderStage.quote_requested)
    currency: Mapped[str] = mapped_column(String(3))
    incoterm: Mapped[Incoterm] = mapped_column(enum_column(Incoterm, 3))
    incoterm_place: Mapped[str] = mapped_column(String(120))
    deposit_pct: Mapped[int] = mapped_column(Integer, default=30)
    notes: Mapped[str] = mapped_column(Text, default="")

    buyer: Mapped[Organisation] = relationship()
    placed_by: Mapped[User | None] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", cascade="all, delete-orphan")
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.at"
    )

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (
        CheckConstraint("kg > 0", name="kg_positive"),
        CheckConstraint("price_minor >= 0 AND premium_minor >= 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), index=True)
    kg: Mapped[Kg]
    price_minor: Mapped[int] = mapped_column(Integer)  # per kg, in the order's currency
    premium_minor: Mapped[int] = mapped_column(Integer)  # per kg

    order: Mapped[Order] = relationship(back_populates="lines")
    lot: Mapped[Lot] = relationship()

    @property
    def total_minor(self) -> int:
        return int((self.kg * (self.price_minor + self.premium_minor)).to_integral_value())


class OrderEvent(Base):
    """An order reaching a stage: when, and who acted."""

    __tablename__ = "order_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    stage: Mapped[OrderStage] = mapped_column(enum_column(OrderStage, 20))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    order: Mapped[Order] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()
