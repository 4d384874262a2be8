"""Buyers' orders of lots, with their lines and stage history."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.db import Base, Kg, TimestampMixin, enum_column, utcnow
from marketplace.lots.models import Colour, FibreState, Incoterm, Lot, PriceBasis
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
    # Shipping, entered by Union staff before the order moves to "shipped".
    carrier: Mapped[str] = mapped_column(String(80), default="", server_default="")
    tracking_number: Mapped[str] = mapped_column(String(80), default="", server_default="")  # or the AWB number
    shipped_on: Mapped[dt.date | None] = mapped_column(Date)
    expected_on: Mapped[dt.date | None] = mapped_column(Date)

    buyer: Mapped[Organisation] = relationship()
    placed_by: Mapped[User | None] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", cascade="all, delete-orphan")
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.at"
    )
    reservations: Mapped[list[Reservation]] = relationship(back_populates="order", order_by="Reservation.id")
    allocation: Mapped[Allocation | None] = relationship(back_populates="order", uselist=False)

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def kg(self) -> Decimal:
        """The kg the order holds (its lines follow every reservation and adjustment; kept once delivered)."""
        return sum((line.kg for line in self.lines), Decimal(0))


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


class SampleStatus(enum.StrEnum):
    requested = "requested"
    sent = "sent"


class SampleRequest(TimestampMixin, Base):
    """A buyer asking for a sample of a lot (its sample size in grams)."""

    __tablename__ = "sample_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    address: Mapped[str] = mapped_column(Text)
    status: Mapped[SampleStatus] = mapped_column(enum_column(SampleStatus, 10), default=SampleStatus.requested)
    form_id: Mapped[str] = mapped_column(String(40), unique=True)  # a form submitted twice counts once

    lot: Mapped[Lot] = relationship()
    buyer: Mapped[Organisation] = relationship()
    requested_by: Mapped[User | None] = relationship()


class QuoteStatus(enum.StrEnum):
    requested = "requested"
    quoted = "quoted"
    declined = "declined"
    accepted = "accepted"


class QuoteRequest(TimestampMixin, Base):
    """A buyer asking for a quote on a specification, or on specific lots (its ``items``)."""

    __tablename__ = "quote_request"
    __table_args__ = (
        CheckConstraint("kg > 0", name="kg_positive"),
        CheckConstraint("target_price_minor IS NULL OR target_price_minor > 0", name="target_price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kg: Mapped[Kg]  # the total asked for (the sum of the items' kg when the buyer gives kg per lot)
    incoterm: Mapped[Incoterm] = mapped_column(enum_column(Incoterm, 3))
    incoterm_place: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3))
    max_micron: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    colour: Mapped[Colour | None] = mapped_column(enum_column(Colour, 20))
    min_length_mm: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    max_hair_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    fibre_state: Mapped[FibreState | None] = mapped_column(enum_column(FibreState, 20))
    season: Mapped[int | None] = mapped_column(Integer)
    tier: Mapped[str | None] = mapped_column(String(40))
    price_basis: Mapped[PriceBasis | None] = mapped_column(enum_column(PriceBasis, 10))
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[QuoteStatus] = mapped_column(enum_column(QuoteStatus, 10), default=QuoteStatus.requested)
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), unique=True)
    form_id: Mapped[str] = mapped_column(String(40), unique=True)
    # A counter-offer: the quote request it answers, and the price per kg the buyer proposes (or None).
    counter_to_id: Mapped[int | None] = mapped_column(ForeignKey("quote_request.id"))
    target_price_minor: Mapped[int | None] = mapped_column(Integer)

    buyer: Mapped[Organisation] = relationship()
    counter_to: Mapped[QuoteRequest | None] = relationship(remote_side="QuoteRequest.id")
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])
    order: Mapped[Order | None] = relationship()
    quote: Mapped[Quote | None] = relationship(back_populates="request", uselist=False)
    # No items: a request on a specification. Items: the chosen lots.
    items: Mapped[list[QuoteRequestLot]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="QuoteRequestLot.id"
    )

    @property
    def lots(self) -> list[Lot]:
        return [item.lot for item in self.items]

    @property
    def lot(self) -> Lot | None:
        """The lot of a request on exactly one lot, else None."""
        return self.items[0].lot if len(self.items) == 1 else None

    @lot.setter
    def lot(self, lot: Lot | None) -> None:
        self.items = [] if lot is None else [QuoteRequestLot(lot=lot)]

    @property
    def kg_per_lot(self) -> bool:
        """The buyer gave the kg of each lot (else the total is shared fairly across the lots)."""
        return bool(self.items) and all(item.kg is not None for item in self.items)


class QuoteRequestLot(Base):
    """One lot of a quote request, with the kg wanted from it (None: a share of the total)."""

    __tablename__ = "quote_request_lot"
    __table_args__ = (
        UniqueConstraint("request_id", "lot_id", name="request_lot"),
        CheckConstraint("kg IS NULL OR kg > 0", name="kg_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("quote_request.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), index=True)
    kg: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))

    request: Mapped[QuoteRequest] = relationship(back_populates="items")
    lot: Mapped[Lot] = relationship()


class Quote(TimestampMixin, Base):
    """The Union's answer: price and premium per kg, validity and deposit."""

    __tablename__ = "quote"
    __table_args__ = (
        CheckConstraint("price_minor > 0 AND premium_minor >= 0", name="price_positive"),
        CheckConstraint("deposit_pct >= 0 AND deposit_pct <= 100", name="deposit_pct_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("quote_request.id"), unique=True)
    price_minor: Mapped[int] = mapped_column(Integer)  # per kg
    premium_minor: Mapped[int] = mapped_column(Integer)  # per kg
    currency: Mapped[str] = mapped_column(String(3))
    valid_until: Mapped[dt.date] = mapped_column(Date)
    deposit_pct: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    quoted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    request: Mapped[QuoteRequest] = relationship(back_populates="quote")
    quoted_by: Mapped[User | None] = relationship()


class ReservationStatus(enum.StrEnum):
    held = "held"  # until expires_at, waiting for the deposit
    firm = "firm"  # deposit paid: no expiry
    released = "released"
    expired = "expired"


class Reservation(TimestampMixin, Base):
    """Kg of one lot held for one order."""

    __tablename__ = "reservation"
    __table_args__ = (CheckConstraint("kg > 0", name="kg_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lot.id"), index=True)
    kg: Mapped[Kg]
    status: Mapped[ReservationStatus] = mapped_column(
        enum_column(ReservationStatus, 10), default=ReservationStatus.held, index=True
    )
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    released_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    order: Mapped[Order] = relationship(back_populates="reservations")
    lot: Mapped[Lot] = relationship()


class AllocationStatus(enum.StrEnum):
    proposed = "proposed"
    confirmed = "confirmed"


class Allocation(TimestampMixin, Base):
    """How one order is split across cooperatives, with the parameters the engine used."""

    __tablename__ = "allocation"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), unique=True)
    season: Mapped[int] = mapped_column(Integer, index=True)
    alpha: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    min_shipment_kg: Mapped[Kg]
    unit_kg: Mapped[Kg]
    status: Mapped[AllocationStatus] = mapped_column(
        enum_column(AllocationStatus, 10), default=AllocationStatus.proposed
    )
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    order: Mapped[Order] = relationship(back_populates="allocation")
    confirmed_by: Mapped[User | None] = relationship()
    shares: Mapped[list[AllocationShare]] = relationship(
        back_populates="allocation", cascade="all, delete-orphan", order_by="AllocationShare.cooperative_id"
    )
    audit: Mapped[list[AllocationAudit]] = relationship(
        back_populates="allocation", cascade="all, delete-orphan", order_by="AllocationAudit.id"
    )


class AllocationShare(Base):
    """One row of the engine's table: a cooperative's weight, cap, target and share."""

    __tablename__ = "allocation_share"
    __table_args__ = (CheckConstraint("kg >= 0", name="kg_positive"),)

    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocation.id"), primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True, index=True)
    weight: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    eligible_kg: Mapped[Kg]
    cap_kg: Mapped[Kg]
    target_kg: Mapped[Kg]
    engine_kg: Mapped[Kg]  # what the engine gave
    kg: Mapped[Kg]  # the share now (after any staff adjustment)
    reason: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(String(60))

    allocation: Mapped[Allocation] = relationship(back_populates="shares")
    cooperative: Mapped[Organisation] = relationship()

    @property
    def rounding_kg(self) -> Decimal:
        return self.engine_kg - self.target_kg


class AllocationAudit(Base):
    """Every change to an allocation: who, when, why, before and after (kg per cooperative id)."""

    __tablename__ = "allocation_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocation.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(20))  # proposed, adjusted, confirmed
    reason: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    allocation: Mapped[Allocation] = relationship(back_populates="audit")
    actor: Mapped[User | None] = relationship()
