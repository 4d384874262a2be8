"""Card entry with Stripe's Payment Element, and the page Stripe returns to."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.payments.gateway import PaymentGateway, PaymentsUnavailableError
from marketplace.payments.models import (
    Payment,
    PaymentStatus,
)

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
