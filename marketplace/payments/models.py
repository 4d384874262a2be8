"""Payments recorded against orders (deposits, purchases, refunds)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.db import Base, TimestampMixin, enum_column, utcnow
from marketplace.orders.models import Order
from marketplace.organisations.models import Organisation
from marketplace.products.models import Product, ProductVariant


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
    # The parcel a refund pays back (a shop order is refunded parcel by parcel, or some of a parcel's lines);
    # what it paid back is its ``consumer_refund`` row.
    consumer_shipment_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_shipment.id"), index=True)
    last_event_at: Mapped[int | None] = mapped_column(Integer)  # Stripe's event.created of the last applied event

    order: Mapped[Order | None] = relationship()
    consumer_order: Mapped[ConsumerOrder | None] = relationship(back_populates="payments")
    refund_of: Mapped[Payment | None] = relationship(remote_side="Payment.id")
    consumer_shipment: Mapped[ConsumerShipment | None] = relationship()
    consumer_refund: Mapped[ConsumerRefund | None] = relationship(back_populates="payment")


class ConsumerOrderStatus(enum.StrEnum):
    pending = "pending"
    paid = "paid"
    refunded = "refunded"
    cancelled = "cancelled"  # never paid (the payment failed or the consumer gave up): its stock is back


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
    # Where it goes (checked against the country's rules by ``payments.shop.check_address``).
    ship_name: Mapped[str] = mapped_column(String(120), default="")
    ship_street: Mapped[str] = mapped_column(String(300), default="")
    ship_city: Mapped[str] = mapped_column(String(120), default="")
    ship_postcode: Mapped[str] = mapped_column(String(20), default="")
    ship_area: Mapped[str] = mapped_column(String(120), default="")
    ship_country: Mapped[str] = mapped_column(String(2), default="")
    goods_minor: Mapped[int] = mapped_column(Integer, default=0)
    shipping_minor: Mapped[int] = mapped_column(Integer, default=0)
    stock_held: Mapped[bool] = mapped_column(Boolean, default=False)  # its variants' stock is taken
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list[ConsumerOrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="ConsumerOrderLine.id"
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="consumer_order")
    shipments: Mapped[list[ConsumerShipment]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="ConsumerShipment.id"
    )


class ConsumerOrderLine(Base):
    __tablename__ = "consumer_order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor > 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_order.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("product_variant.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_shipment.id"), index=True)
    size: Mapped[str] = mapped_column(String(70), default="")  # the variant's label when bought
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(Integer)

    order: Mapped[ConsumerOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()
    variant: Mapped[ProductVariant | None] = relationship()
    shipment: Mapped[ConsumerShipment | None] = relationship(back_populates="lines")


class ShipmentStatus(enum.StrEnum):
    to_pack = "to_pack"
    shipped = "shipped"
    delivered = "delivered"
    returned = "returned"  # the return was accepted and the parcel refunded
    cancelled = "cancelled"  # cancelled before it shipped: refunded, its sizes back in stock


class ConsumerShipment(Base):
    """The part of a consumer order one MSME sends: a cart from two MSMEs makes two shipments."""

    __tablename__ = "consumer_shipment"
    __table_args__ = (
        UniqueConstraint("order_id", "organisation_id", name="uq_consumer_shipment_order_msme"),
        CheckConstraint("shipping_minor >= 0", name="shipping_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("consumer_order.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    shipping_minor: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ShipmentStatus] = mapped_column(enum_column(ShipmentStatus, 10), default=ShipmentStatus.to_pack)
    carrier: Mapped[str] = mapped_column(String(60), default="")
    tracking: Mapped[str] = mapped_column(String(60), default="")
    shipped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    returned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    order: Mapped[ConsumerOrder] = relationship(back_populates="shipments")
    organisation: Mapped[Organisation] = relationship()
    lines: Mapped[list[ConsumerOrderLine]] = relationship(back_populates="shipment", order_by="ConsumerOrderLine.id")
    refunds: Mapped[list[ConsumerRefund]] = relationship(back_populates="shipment", order_by="ConsumerRefund.id")


class ConsumerRefund(TimestampMixin, Base):
    """What one Stripe refund of a shop order paid back (``payments.shop.refunds``): some or all of one parcel's
    lines, and its shipping when the whole parcel came back or was cancelled."""

    __tablename__ = "consumer_refund"
    __table_args__ = (CheckConstraint("shipping_minor >= 0", name="shipping_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), unique=True)  # the refund sent to Stripe
    shipment_id: Mapped[int] = mapped_column(ForeignKey("consumer_shipment.id"), index=True)
    # Who asked, once: the refund form's id, the parcel's cancel / return, or "retry-<id>" (a double submit is one
    # refund, and a failed refund is retried once).
    request_key: Mapped[str] = mapped_column(String(60), unique=True)
    shipping_minor: Mapped[int] = mapped_column(Integer, default=0)
    restock: Mapped[bool] = mapped_column(Boolean, default=False)  # its units went back to stock
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("consumer_refund.id"), unique=True)

    payment: Mapped[Payment] = relationship(back_populates="consumer_refund")
    shipment: Mapped[ConsumerShipment] = relationship(back_populates="refunds")
    lines: Mapped[list[ConsumerRefundLine]] = relationship(back_populates="refund", cascade="all, delete-orphan",
                                                           order_by="ConsumerRefundLine.id")
    retry_of: Mapped[ConsumerRefund | None] = relationship(remote_side="ConsumerRefund.id")


class ConsumerRefundLine(Base):
    """How many units of one order line a refund paid back, and for how much."""

    __tablename__ = "consumer_refund_line"
    __table_args__ = (
        UniqueConstraint("refund_id", "line_id", name="uq_consumer_refund_line_refund_line"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        CheckConstraint("restocked >= 0 AND restocked <= quantity", name="restocked_within_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("consumer_refund.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("consumer_order_line.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(Integer)
    # Units this refund put back in stock: at most ``quantity``, fewer when they were back already (a failed
    # refund's units, say, refunded again), 0 when the refund did not restock.
    restocked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    refund: Mapped[ConsumerRefund] = relationship(back_populates="lines")
    line: Mapped[ConsumerOrderLine] = relationship()


class ShippingZone(Base):
    """One MSME's rate to a set of countries (or to every country its other zones leave out)."""

    __tablename__ = "shipping_zone"
    __table_args__ = (CheckConstraint("rate_minor >= 0", name="rate_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO 3166-1 alpha-2 codes
    rest_of_world: Mapped[bool] = mapped_column(Boolean, default=False)
    rate_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    days_min: Mapped[int] = mapped_column(Integer, default=3)
    days_max: Mapped[int] = mapped_column(Integer, default=10)

    organisation: Mapped[Organisation] = relationship()


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


class ServiceKind(enum.StrEnum):
    repair = "repair"
    take_back = "take_back"
    resale = "resale"


class ServiceOffer(Base):
    """An MSME's terms for one circular service: what, where, cost and time; texts per language."""

    __tablename__ = "service_offer"
    __table_args__ = (
        UniqueConstraint("organisation_id", "kind", name="uq_service_offer_msme_kind"),
        CheckConstraint("cost_minor IS NULL OR cost_minor >= 0", name="cost_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    kind: Mapped[ServiceKind] = mapped_column(enum_column(ServiceKind, 10))
    what: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # locale → text
    where: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    cost_minor: Mapped[int | None] = mapped_column(Integer)  # None: free of charge
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    days: Mapped[int] = mapped_column(Integer, default=14)

    organisation: Mapped[Organisation] = relationship()


class ServiceStatus(enum.StrEnum):
    requested = "requested"
    accepted = "accepted"
    scheduled = "scheduled"
    closed = "closed"
    declined = "declined"


class ServiceRequest(TimestampMixin, Base):
    """A consumer's repair, take-back or resale request from a passport, and what the MSME did."""

    __tablename__ = "service_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    kind: Mapped[ServiceKind] = mapped_column(enum_column(ServiceKind, 10))
    email: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str | None] = mapped_column(String(5))
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ServiceStatus] = mapped_column(enum_column(ServiceStatus, 10), default=ServiceStatus.requested)
    scheduled_for: Mapped[dt.date | None] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    product: Mapped[Product] = relationship()
    organisation: Mapped[Organisation] = relationship()
