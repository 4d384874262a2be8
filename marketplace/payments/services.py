"""Deposits, consumer purchases, refunds and Stripe webhooks; callers import the payments domain's services
from here. A business order's deposit, invoices, balance and sales report are in ``invoicing.py``; card entry
with Stripe's Payment Element in ``card.py``; the consumer shop in the ``shop`` package; circular services in
``circular.py``.

Only verified webhook events change a payment's or an order's state. Events are
stored by id, so a redelivered event changes nothing, and a payment's status only
moves forward (pending → failed → succeeded → refunded), so events that arrive out
of order cannot undo a later one.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from marketplace import events
from marketplace.accounts.models import User
from marketplace.extensions import db
from marketplace.orders.models import Order, OrderEvent
from marketplace.orders.services import OrderError, mark_deposit_paid
from marketplace.payments.card import (
    MAX_CACHED_SECRETS,
    RETURN_STATUSES,
    SECRETS_KEY,
    intent_client_secret,
    payment_by_intent,
    return_status,
)
from marketplace.payments.circular import (
    consumer_terms,
    move_service,
    offer_of,
    offers_for,
    request_service,
    save_offer,
    service_history,
    service_request_of,
    service_requests,
)
from marketplace.payments.gateway import Event, PaymentGateway
from marketplace.payments.invoicing import (
    BANK,
    INVOICED_STAGES,
    SOLD_STAGES,
    SalesRow,
    SalesTotal,
    balance_payment,
    deposit_minor,
    deposit_payment,
    final_invoice,
    invoices,
    issue_final_invoice,
    issue_invoice,
    order_payments,
    outstanding_minor,
    paid_minor,
    record_bank_transfer,
    sales,
    start_balance,
    start_deposit,
)
from marketplace.payments.models import (
    ConsumerOrder,
    ConsumerOrderStatus,
    ConsumerShipment,
    InvoiceKind,
    Payment,
    PaymentKind,
    PaymentStatus,
    WebhookEvent,
)
from marketplace.payments.shop import *  # noqa: F403  (the shop's rules, reached through this module)
from marketplace.payments.shop import __all__ as _shop_names
from marketplace.payments.shop import (
    mark_paid,
    move_shipment,
    payment_cancelled,
    purchase_payment,
    refund_parcel,
    shipped_any,
)

RANK = {PaymentStatus.pending: 0, PaymentStatus.failed: 1, PaymentStatus.succeeded: 2, PaymentStatus.refunded: 3}


# --- consumer cart: the rules are in shop/, reached through this module -------------------------------


__all__ = [  # noqa: PLE0604 (the shop's names, and the circular services')
    *_shop_names,
    "consumer_terms",
    "move_service",
    "offer_of",
    "offers_for",
    "request_service",
    "save_offer",
    "service_history",
    "service_request_of",
    "service_requests",
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
        issue_invoice(payment.order, InvoiceKind.credit_note, record.amount_minor, staff=staff, payment=record,
               note=reason.strip())
    db.session.flush()
    return record


def _refund_event(order: Order, staff: User) -> Any:
    return OrderEvent(stage=order.stage, actor=staff, note="payment_refunded")


# --- webhooks ------------------------------------------------------------------------------


def handle_event(event: Event) -> str:
    """Apply one verified event, once. Returns what happened (stored with the event).

    A redelivery (Stripe retries until it gets a 2xx) is answered "duplicate" from the lookup: one read, no
    insert for the unique event id to refuse (PostgreSQL logs each refusal as an ERROR) and no savepoint. The
    unique id is for two deliveries at once, which both pass the lookup."""
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
    if event.type in ("refund.updated", "charge.refund.updated", "refund.failed"):
        return _refund_status(obj, event)
    return "ignored"


# Stripe's refund statuses, as ours: a refund still on its way, gone through, or failed (or cancelled).
REFUND_STATUSES = {"pending": PaymentStatus.pending, "requires_action": PaymentStatus.pending,
                   "succeeded": PaymentStatus.succeeded, "failed": PaymentStatus.failed,
                   "canceled": PaymentStatus.failed}


def _refund_status(obj: dict[str, Any], event: Event) -> str:
    """A refund Stripe reports on later: one that failed (the card closed, say) no longer counts as refunded
    (``shop.refunds_of`` counts pending and succeeded ones), so the order's payment is paid again for that
    amount and the refund shows as failed on every screen. A failed refund never comes back to life."""
    refund_id, status = obj.get("id"), REFUND_STATUSES.get(str(obj.get("status")))
    if not isinstance(refund_id, str) or not refund_id or status is None:
        return "no_object"
    record = _lock_payment(refund_id)
    if record is None or record.kind is not PaymentKind.refund:
        return "unknown_payment"
    if record.status is PaymentStatus.failed or record.status is status:
        return "stale"
    amount = obj.get("amount")
    if isinstance(amount, int) and amount != record.amount_minor:
        return "amount_mismatch"
    if not currency_matches(obj.get("currency"), record.currency):
        return "currency_mismatch"
    record.status, record.last_event_at = status, event.created
    if status is PaymentStatus.failed and record.refund_of is not None:
        paid = record.refund_of
        order = record.consumer_order
        if paid.status is PaymentStatus.refunded:  # some of it is no longer given back
            paid.status = PaymentStatus.succeeded
        if order is not None and order.status is ConsumerOrderStatus.refunded:
            order.status = ConsumerOrderStatus.paid
    db.session.flush()
    return f"applied:refund_{status.value}"


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
        if payment.order is not None and payment.kind is PaymentKind.deposit:
            if mark_deposit_paid(payment.order):
                db.session.flush()
                issue_invoice(payment.order, InvoiceKind.deposit, payment.amount_minor, staff=None, payment=None)
            else:  # paid twice, or after the hold ran out: the money is here, no fibre is held for it
                events.deposit_unmatched.send(payment.order, args=(payment,))
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


# Reached through this module too: the business order's money (invoicing.py) and card entry (card.py).
__all__ += [
    "BANK",
    "INVOICED_STAGES",
    "MAX_CACHED_SECRETS",
    "RETURN_STATUSES",
    "SECRETS_KEY",
    "SOLD_STAGES",
    "SalesRow",
    "SalesTotal",
    "balance_payment",
    "deposit_minor",
    "deposit_payment",
    "final_invoice",
    "intent_client_secret",
    "invoices",
    "issue_final_invoice",
    "order_payments",
    "outstanding_minor",
    "paid_minor",
    "payment_by_intent",
    "record_bank_transfer",
    "return_status",
    "sales",
    "start_balance",
    "start_deposit",
]
