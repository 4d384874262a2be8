"""A business order's money: the deposit by card, the numbered invoices (deposit, final, credit note),
the balance by card or by bank transfer recorded by staff, what is paid and outstanding, and the
sales report."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace import events
from marketplace.accounts.models import User
from marketplace.db import BUSINESS_TZ, business_date, utcnow
from marketplace.extensions import db
from marketplace.i18n import money
from marketplace.orders.locking import serialise_form
from marketplace.orders.models import Order, OrderEvent, OrderStage
from marketplace.orders.services import OrderError
from marketplace.payments.gateway import PaymentGateway
from marketplace.payments.models import (
    Invoice,
    InvoiceKind,
    Payment,
    PaymentKind,
    PaymentStatus,
)


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


def issue_invoice(order: Order, kind: InvoiceKind, amount_minor: int, *, staff: User | None,
                  payment: Payment | None = None, note: str = "") -> Invoice:
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
    return issue_invoice(order, InvoiceKind.final, amount, staff=staff)


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
    if received_on > business_date(utcnow()):
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
