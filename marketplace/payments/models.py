"""Payments recorded against orders (deposits, purchases, refunds)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.db import Base, TimestampMixin, enum_column, utcnow
from marketplace.orders.models import Order
from marketplace.products.models import Product


class PaymentKind(enum.StrEnum):
    deposit = "deposit"
    balance = "balance"  # the rest of an order, once the final invoice is issued
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
    consumer_order_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_order.id"), index=True)
    refund_of_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    last_event_at: Mapped[int | None] = mapped_column(Integer)  # Stripe's event.created of the last applied event

    order: Mapped[Order | None] = relationship()
    consumer_order: Mapped[ConsumerOrder | None] = relationship(back_populates="payments")
    refund_of: Mapped[Payment | None] = relationship(remote_side="Payment.id")


class ConsumerOrderStatus(enum.StrEnum):
    pending = "pending"
    paid = "paid"
    refunded = "refunded"


class ConsumerOrder(TimestampMixin, Base):
    """A consumer buying published MSME products (cart → PaymentIntent)."""

    __tablename__ = "consumer_order"
    __table_args__ = (CheckConstraint("total_minor > 0", name="total_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str | None] = mapped_column(String(5))  # the language of the receipt and shipping e-mails
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(Integer)
    status: Mapped[ConsumerOrderStatus] = mapped_column(
        enum_column(ConsumerOrderStatus, 10), default=ConsumerOrderStatus.pending
    )
    form_id: Mapped[str] = mapped_column(String(40), unique=True)

    lines: Mapped[list[ConsumerOrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="ConsumerOrderLine.product_id"
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="consumer_order")


class ConsumerOrderLine(Base):
    __tablename__ = "consumer_order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor > 0", name="price_positive"),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_order.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(Integer)

    order: Mapped[ConsumerOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class WebhookEvent(Base):
    """A verified Stripe event we have received: its id makes redelivery harmless."""

    __tablename__ = "webhook_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(120), unique=True)
    type: Mapped[str] = mapped_column(String(80))
    created: Mapped[int] = mapped_column(Integer)  # Stripe's timestamp
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(40), default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class InvoiceKind(enum.StrEnum):
    deposit = "deposit"
    final = "final"  # the balance: the order's total less the deposit
    credit_note = "credit_note"  # a refund


class Invoice(Base):
    """An invoice or credit note on an order, numbered per calendar year (INV-2026-0001). Written once."""

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("year", "sequence", name="year_sequence"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    kind: Mapped[InvoiceKind] = mapped_column(enum_column(InvoiceKind, 12))
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))  # the refund of a credit note
    note: Mapped[str] = mapped_column(Text, default="")

    order: Mapped[Order] = relationship()
    issued_by: Mapped[User | None] = relationship()
    payment: Mapped[Payment | None] = relationship()
