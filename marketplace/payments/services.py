"""Deposits, consumer purchases, refunds and Stripe webhooks.

Only verified webhook events change a payment's or an order's state. Events are
stored by id, so a redelivered event changes nothing, and a payment's status only
moves forward (pending → failed → succeeded → refunded), so events that arrive out
of order cannot undo a later one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from marketplace import events
from marketplace.accounts.models import User
from marketplace.db import BUSINESS_TZ, utcnow
from marketplace.extensions import db
from marketplace.i18n import money
from marketplace.orders.locking import serialise_form
from marketplace.orders.models import Order, OrderEvent, OrderStage
from marketplace.orders.services import OrderError, mark_deposit_paid
from marketplace.payments.circular import (
    move_service,
    offer_of,
    offered_services,
    offers_for,
    request_service,
    save_offer,
    service_history,
    service_request_of,
    service_requests,
)
from marketplace.payments.gateway import Event, PaymentGateway, PaymentsUnavailableError
from marketplace.payments.models import (
    ConsumerOrder,
    ConsumerOrderStatus,
    ConsumerShipment,
    Invoice,
    InvoiceKind,
    Payment,
    PaymentKind,
    PaymentStatus,
    WebhookEvent,
)
from marketplace.payments.shop import (
    INBOX_CSV_HEADER,
    MAX_CART_QUANTITY,
    PARCEL_REFUNDS,
    Address,
    AddressError,
    CartLine,
    Checkout,
    add_to_cart,
    cancellable,
    cart_lines,
    check_address,
    checkout,
    consumer_sales,
    duties_note,
    for_sale,
    give_back_stock,
    inbox,
    inbox_csv_rows,
    mark_paid,
    move_shipment,
    order_by_token,
    order_token,
    parcel_minor,
    payment_cancelled,
    purchase_payment,
    refund_parcel,
    refundable_minor,
    refunded_minor,
    refunds_of,
    release_stale,
    remove_from_cart,
    save_zone,
    shipment_of,
    shipments_for,
    shipped_any,
    take_stock,
    update_cart,
    zones_of,
)

RANK = {PaymentStatus.pending: 0, PaymentStatus.failed: 1, PaymentStatus.succeeded: 2, PaymentStatus.refunded: 3}


def deposit_minor(order: Order) -> int:
    amount = Decimal(order.total_minor) * order.deposit_pct / 100
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def deposit_payment(order: Order) -> Payment | None:
    return db.session.scalar(
        select(Payment).where(Payment.order_id == order.id, Payment.kind == PaymentKind.deposit)
        .order_by(Payment.id.desc())
    )


def start_deposit(order: Order, gateway: PaymentGateway) -> Payment:
    """The deposit's PaymentIntent, created once per order (a second click reuses it)."""
    if order.stage is not OrderStage.accepted:
        raise OrderError(_l("The deposit can only be paid on an accepted order awaiting it."))
    existing = deposit_payment(order)
    if existing is not None and existing.status in (PaymentStatus.pending, PaymentStatus.succeeded):
        return existing
    amount = deposit_minor(order)
    if amount <= 0:
        raise OrderError(_l("This order has no deposit to pay."))
    attempt = 1 + db.session.scalar(
        select(func.count(Payment.id)).where(Payment.order_id == order.id, Payment.kind == PaymentKind.deposit)
    )
    intent = gateway.create_intent(
        amount_minor=amount, currency=order.currency,
        metadata={"kind": "deposit", "order": order.reference},
        idempotency_key=f"deposit-{order.reference}-{attempt}",
    )
    payment = Payment(order=order, kind=PaymentKind.deposit, amount_minor=amount, currency=order.currency,
                      provider_ref=intent.id)
    db.session.add(payment)
    db.session.flush()
    return payment


# --- invoices, the balance and what an order has paid ------------------------------------------

BANK = "bank"  # Payment.provider of a bank transfer recorded by staff
INVOICED_STAGES = (OrderStage.allocated, OrderStage.collected, OrderStage.dehaired_tested, OrderStage.shipped,
                   OrderStage.delivered)


def order_payments(order: Order) -> list[Payment]:
    return list(db.session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)))


def paid_minor(order: Order, kinds: tuple[PaymentKind, ...] = (PaymentKind.deposit, PaymentKind.balance)) -> int:
    """What the buyer has paid on the order (payments of ``kinds`` that succeeded, less their refunds)."""
    paid = 0
    for payment in order_payments(order):
        if payment.kind in kinds and payment.status in (PaymentStatus.succeeded, PaymentStatus.refunded):
            paid += payment.amount_minor
        if payment.kind is PaymentKind.refund and payment.refund_of is not None and payment.refund_of.kind in kinds \
                and payment.status is PaymentStatus.succeeded:
            paid -= payment.amount_minor
    return paid


def outstanding_minor(order: Order) -> int:
    """What the buyer still owes: the order's total less what was paid (0 on a cancelled order)."""
    if order.stage is OrderStage.cancelled:
        return 0
    return max(0, order.total_minor - paid_minor(order))


def invoices(order: Order) -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.id)))


def final_invoice(order: Order) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.order_id == order.id, Invoice.kind == InvoiceKind.final))


def _issue(order: Order, kind: InvoiceKind, amount_minor: int, *, staff: User | None, payment: Payment | None = None,
           note: str = "") -> Invoice:
    """Number the next invoice of the year (INV-2026-0001): numbers are taken one writer at a time."""
    year = utcnow().astimezone(BUSINESS_TZ).year
    serialise_form(Invoice, f"invoice-number-{year}")
    last = db.session.scalar(select(func.max(Invoice.sequence)).where(Invoice.year == year)) or 0
    invoice = Invoice(number=f"INV-{year}-{last + 1:04d}", year=year, sequence=last + 1, order=order, kind=kind,
                      amount_minor=amount_minor, currency=order.currency, issued_by=staff, payment=payment,
                      note=note)
    db.session.add(invoice)
    db.session.flush()
    if kind in (InvoiceKind.deposit, InvoiceKind.final):
        events.invoice_issued.send(order, args=(amount_minor,))
    return invoice


def issue_final_invoice(order: Order, *, staff: User) -> Invoice:
    """The final invoice: the order's total less the deposit paid. Once, and only on an allocated order."""
    if order.stage is OrderStage.cancelled:
        raise OrderError(_l("Order %(ref)s is cancelled: it cannot be invoiced.", ref=order.reference))
    if order.stage not in INVOICED_STAGES:
        raise OrderError(_l("The final invoice is issued once the allocation is confirmed."))
    if final_invoice(order) is not None:
        raise OrderError(_l("The final invoice of this order has already been issued."))
    amount = order.total_minor - paid_minor(order, (PaymentKind.deposit,))
    if amount <= 0:
        raise OrderError(_l("Nothing is left to invoice: the deposit covers the order."))
    return _issue(order, InvoiceKind.final, amount, staff=staff)


def _payable_balance(order: Order) -> int:
    if order.stage is OrderStage.cancelled:
        raise OrderError(_l("Order %(ref)s is cancelled: nothing is due.", ref=order.reference))
    if final_invoice(order) is None:
        raise OrderError(_l("The balance can be paid once the Union has issued the final invoice."))
    amount = outstanding_minor(order)
    if amount <= 0:
        raise OrderError(_l("This order is paid in full."))
    return amount


def balance_payment(order: Order) -> Payment | None:
    return db.session.scalar(
        select(Payment).where(Payment.order_id == order.id, Payment.kind == PaymentKind.balance,
                              Payment.provider != BANK).order_by(Payment.id.desc())
    )


def start_balance(order: Order, gateway: PaymentGateway) -> Payment:
    """The balance's PaymentIntent for what is outstanding (a second click reuses a pending one)."""
    existing = balance_payment(order)
    if existing is not None and existing.status is PaymentStatus.pending:
        return existing
    amount = _payable_balance(order)
    attempt = 1 + db.session.scalar(
        select(func.count(Payment.id)).where(Payment.order_id == order.id, Payment.kind == PaymentKind.balance)
    )
    intent = gateway.create_intent(
        amount_minor=amount, currency=order.currency, metadata={"kind": "balance", "order": order.reference},
        idempotency_key=f"balance-{order.reference}-{attempt}",
    )
    payment = Payment(order=order, kind=PaymentKind.balance, amount_minor=amount, currency=order.currency,
                      provider_ref=intent.id)
    db.session.add(payment)
    db.session.flush()
    return payment


def record_bank_transfer(order: Order, *, staff: User, amount_minor: int, reference: str,
                         received_on: dt.date) -> Payment:
    """Staff record the balance (or part of it) received by bank transfer, with the bank's reference."""
    reference = reference.strip()
    if not reference:
        raise OrderError(_l("Give the bank's reference of the transfer."), 422)
    outstanding = _payable_balance(order)
    if amount_minor <= 0:
        raise OrderError(_l("The amount must be more than zero."), 422)
    if amount_minor > outstanding:
        raise OrderError(_l("%(amount)s is more than the %(due)s outstanding. Nothing was recorded.",
                            amount=money(amount_minor, order.currency), due=money(outstanding, order.currency)),
                         422)
    if received_on > utcnow().astimezone(BUSINESS_TZ).date():
        raise OrderError(_l("The transfer cannot have been received in the future."), 422)
    ref = f"{BANK}:{reference[:100]}"
    if db.session.scalar(select(Payment.id).where(Payment.provider_ref == ref)) is not None:
        raise OrderError(_l("A transfer with the reference %(ref)s is already recorded.", ref=reference), 422)
    payment = Payment(order=order, kind=PaymentKind.balance, status=PaymentStatus.succeeded,
                      amount_minor=amount_minor, currency=order.currency, provider=BANK, provider_ref=ref)
    db.session.add(payment)
    order.events.append(OrderEvent(stage=order.stage, actor=staff, note="bank_transfer_recorded",
                                   at=dt.datetime.combine(received_on, dt.time(12), BUSINESS_TZ)))
    db.session.flush()
    events.balance_received.send(order, args=(amount_minor,))
    return payment


@dataclass(frozen=True)
class SalesRow:
    season: int
    currency: str
    cooperative: str
    kg: Decimal
    revenue_minor: int


@dataclass(frozen=True)
class SalesTotal:
    season: int
    currency: str
    orders: int
    kg: Decimal
    revenue_minor: int
    deposits_minor: int
    balances_minor: int
    outstanding_minor: int


SOLD_STAGES = (OrderStage.allocated, OrderStage.collected, OrderStage.dehaired_tested, OrderStage.shipped,
               OrderStage.delivered)


def sales() -> tuple[list[SalesRow], list[SalesTotal]]:
    """B2B sales of allocated orders: revenue and kg by season and cooperative, and per season the
    deposits and balances received and what is still outstanding (each currency apart)."""

    orders = list(db.session.scalars(select(Order).where(Order.stage.in_(SOLD_STAGES))))
    by_coop: dict[tuple[int, str, str], list] = defaultdict(lambda: [Decimal(0), 0])
    totals: dict[tuple[int, str], list] = defaultdict(lambda: [0, Decimal(0), 0, 0, 0, 0])
    for order in orders:
        season = order.allocation.season if order.allocation else order.created_at.year
        for line in order.lines:
            row = by_coop[season, order.currency, line.lot.cooperative.name]
            row[0] += line.kg
            row[1] += line.total_minor
        total = totals[season, order.currency]
        total[0] += 1
        total[1] += order.kg
        total[2] += order.total_minor
        total[3] += paid_minor(order, (PaymentKind.deposit,))
        total[4] += paid_minor(order, (PaymentKind.balance,))
        total[5] += outstanding_minor(order)
    rows = [SalesRow(season, currency, name, kg, revenue)
            for (season, currency, name), (kg, revenue) in sorted(by_coop.items(), key=lambda i: (-i[0][0], i[0][1:]))]
    summary = [SalesTotal(season, currency, *values)
               for (season, currency), values in sorted(totals.items(), key=lambda i: (-i[0][0], i[0][1]))]
    return rows, summary


# --- consumer cart: the rules are in shop.py, reached through this module -------------------------------


__all__ = [
    "INBOX_CSV_HEADER",
    "MAX_CART_QUANTITY",
    "PARCEL_REFUNDS",
    "Address",
    "AddressError",
    "CartLine",
    "Checkout",
    "add_to_cart",
    "cancellable",
    "cart_lines",
    "check_address",
    "checkout",
    "consumer_sales",
    "duties_note",
    "for_sale",
    "give_back_stock",
    "inbox",
    "inbox_csv_rows",
    "mark_paid",
    "move_service",
    "move_shipment",
    "offer_of",
    "offered_services",
    "offers_for",
    "order_by_token",
    "order_token",
    "parcel_minor",
    "payment_cancelled",
    "purchase_payment",
    "refund_parcel",
    "refundable_minor",
    "refunded_minor",
    "refunds_of",
    "release_stale",
    "remove_from_cart",
    "request_service",
    "save_offer",
    "save_zone",
    "service_history",
    "service_request_of",
    "service_requests",
    "shipment_of",
    "shipments_for",
    "shipped_any",
    "take_stock",
    "update_cart",
    "zones_of",
]


def cancel_consumer_order(order: ConsumerOrder, *, gateway: PaymentGateway) -> list[Payment]:
    """The consumer cancels a paid order before anything has shipped: each parcel is cancelled and refunded
    (``shop.refund_parcel``, so the full amount goes back) and its sizes return to stock."""
    if order.status is not ConsumerOrderStatus.paid:
        raise OrderError(_l("Only a paid order can be cancelled."), 409)
    if shipped_any(order):
        raise OrderError(_l("Part of this order has already shipped, so it can no longer be cancelled: "
                            "return it when it arrives."), 409)
    payment = purchase_payment(order)
    if payment is None or payment.status is not PaymentStatus.succeeded or not order.shipments:
        raise OrderError(_l("This order's payment has not gone through, so there is nothing to refund."), 409)
    return [refund_parcel(shipment, "cancel", gateway=gateway) for shipment in list(order.shipments)]


def ship(shipment: ConsumerShipment, *, carrier: str, tracking: str) -> None:
    """The MSME sends its parcel: the consumer is told, with the carrier and tracking number."""
    move_shipment(shipment, "ship", carrier=carrier, tracking=tracking)
    events.consumer_shipped.send(shipment.order, args=(shipment,))


# --- refunds -------------------------------------------------------------------------------


def refund(payment_id: int, *, staff: User | None, gateway: PaymentGateway, reason: str = "") -> Payment:
    """Refund a succeeded payment in full, once, for a reason. The payment row is locked while Stripe is
    asked. A payment on a B2B order gets a credit note."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(Payment).where(Payment.id == payment_id).values(id=Payment.id)
                           .execution_options(synchronize_session=False))
    payment = db.session.scalar(
        select(Payment).where(Payment.id == payment_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if payment is None or payment.kind is PaymentKind.refund:
        raise OrderError(_l("There is no such payment."), 404)
    if payment.status is PaymentStatus.refunded:
        raise OrderError(_l("This payment has already been refunded."))
    if payment.status is not PaymentStatus.succeeded or not payment.provider_ref:
        raise OrderError(_l("Only a payment that has succeeded can be refunded."))
    if payment.order is not None and not reason.strip():
        raise OrderError(_l("Give the reason for the refund."), 422)
    if payment.provider == BANK:
        raise OrderError(_l("A bank transfer is refunded by bank transfer, outside the site."))
    if payment.consumer_order is not None:  # one rule for what a parcel may get back: shop.refundable_minor
        raise OrderError(_l("A shop order is refunded parcel by parcel: cancel a parcel before it ships or "
                            "accept its return."), 409)
    result = gateway.refund(intent_id=payment.provider_ref, idempotency_key=f"refund-{payment.id}")
    payment.status = PaymentStatus.refunded
    record = Payment(order_id=payment.order_id, kind=PaymentKind.refund,
                     status=PaymentStatus.succeeded if result.status == "succeeded" else PaymentStatus.pending,
                     amount_minor=result.amount_minor, currency=payment.currency, provider_ref=result.id,
                     refund_of=payment)
    db.session.add(record)
    if payment.order is not None:
        assert staff is not None, "a refund on a business order is made by Union staff"
        payment.order.events.append(_refund_event(payment.order, staff))
        db.session.flush()
        _issue(payment.order, InvoiceKind.credit_note, record.amount_minor, staff=staff, payment=record,
               note=reason.strip())
    db.session.flush()
    return record


def _refund_event(order: Order, staff: User) -> Any:
    return OrderEvent(stage=order.stage, actor=staff, note="payment_refunded")


# --- webhooks ------------------------------------------------------------------------------


def handle_event(event: Event) -> str:
    """Apply one verified event, once. Returns what happened (stored with the event)."""
    if db.session.scalar(select(WebhookEvent.id).where(WebhookEvent.event_id == event.id)) is not None:
        return "duplicate"
    record = WebhookEvent(event_id=event.id, type=event.type, created=event.created,
                          payload={"object_id": str(event.object.get("id", ""))})
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:  # the same event, delivered twice at once: the other delivery applies it
        return "duplicate"
    record.outcome = _apply(event)
    db.session.flush()
    return record.outcome


def _lock_payment(provider_ref: str) -> Payment | None:
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(Payment).where(Payment.provider_ref == provider_ref).values(id=Payment.id)
                           .execution_options(synchronize_session=False))
    return db.session.scalar(
        select(Payment).where(Payment.provider_ref == provider_ref).with_for_update()
        .execution_options(populate_existing=True)
    )


def _apply(event: Event) -> str:
    obj = event.object
    if event.type == "payment_intent.succeeded":
        return _move(obj.get("id"), PaymentStatus.succeeded, event)
    if event.type in ("payment_intent.payment_failed", "payment_intent.canceled"):
        return _move(obj.get("id"), PaymentStatus.failed, event)
    if event.type == "charge.refunded":
        refunded, amount = obj.get("amount_refunded"), obj.get("amount")
        if isinstance(refunded, int) and isinstance(amount, int) and refunded < amount:
            return "partial_refund"  # one parcel of a shop order (recorded when it was made): the rest stays paid
        return _move(obj.get("payment_intent"), PaymentStatus.refunded, event)
    return "ignored"


def currency_matches(sent: Any, stored: str) -> bool:
    """Whether an event's currency (Stripe writes ``eur``) is the stored payment's; an event without one
    (some older event types) is judged on its amount alone."""
    if sent is None:
        return True
    return isinstance(sent, str) and sent.upper() == stored.upper()


def _refusal(payment: Payment, status: PaymentStatus, event: Event) -> str | None:
    """Why ``event`` must not move ``payment`` to ``status`` (None: it may)."""
    if RANK[status] <= RANK[payment.status]:
        return "stale"  # out of order: a later state is already recorded
    amount = event.object.get("amount")
    if status is PaymentStatus.succeeded and amount is not None and int(amount) != payment.amount_minor:
        return "amount_mismatch"
    if not currency_matches(event.object.get("currency"), payment.currency):
        return "currency_mismatch"
    if (status is PaymentStatus.succeeded and payment.consumer_order is not None
            and payment.consumer_order.status is ConsumerOrderStatus.cancelled):
        return "order_cancelled"  # its stock went back when it was cancelled: never mark it paid
    return None


def _move(provider_ref: Any, status: PaymentStatus, event: Event) -> str:
    if not isinstance(provider_ref, str) or not provider_ref:
        return "no_object"
    payment = _lock_payment(provider_ref)
    if payment is None:
        return "unknown_payment"
    refused = _refusal(payment, status, event)
    if refused:
        return refused
    payment.status = status
    payment.last_event_at = event.created
    if status is PaymentStatus.succeeded:
        if payment.order is not None and payment.kind is PaymentKind.deposit and mark_deposit_paid(payment.order):
            db.session.flush()
            _issue(payment.order, InvoiceKind.deposit, payment.amount_minor, staff=None, payment=None)
        if payment.order is not None and payment.kind is PaymentKind.balance:
            events.balance_received.send(payment.order, args=(payment.amount_minor,))
        if payment.consumer_order is not None:
            mark_paid(payment.consumer_order)
            events.consumer_receipt.send(payment.consumer_order)
    if status is PaymentStatus.refunded and payment.consumer_order is not None:
        payment.consumer_order.status = ConsumerOrderStatus.refunded
    if event.type == "payment_intent.canceled" and payment.consumer_order is not None:
        payment_cancelled(payment.consumer_order)
    return f"applied:{status.value}"


# --- card entry with Stripe's Payment Element, and the page Stripe returns to ----------------

SECRETS_KEY = "intent_secrets"  # the buyer's own session: intent id → client secret
MAX_CACHED_SECRETS = 5


def intent_client_secret(payment: Payment, gateway: PaymentGateway, cache: dict[str, str]) -> str | None:
    """The client secret Stripe.js needs for ``payment``: from the buyer's session, else from Stripe.

    The secret only ever goes to the buyer who pays (their session cookie and their page).
    Returns None if Stripe cannot be reached; the page then offers the other ways to pay.
    """
    intent_id = payment.provider_ref or ""
    if not intent_id or payment.status is not PaymentStatus.pending:
        return None
    if intent_id in cache:
        return cache[intent_id]
    try:
        secret = gateway.retrieve_intent(intent_id).client_secret
    except PaymentsUnavailableError:
        return None
    while len(cache) >= MAX_CACHED_SECRETS:
        cache.pop(next(iter(cache)))
    cache[intent_id] = secret
    return secret


def payment_by_intent(intent_id: str) -> Payment | None:
    if not intent_id or len(intent_id) > 120:
        return None
    return db.session.scalar(select(Payment).where(Payment.provider_ref == intent_id))


# What the return page says for each PaymentIntent status; anything else reads "unknown".
RETURN_STATUSES = ("succeeded", "processing", "requires_payment_method", "requires_action", "canceled")


def return_status(status: str) -> str:
    return status if status in RETURN_STATUSES else "unknown"
