"""The PaymentGateway port and its adapters: Stripe (or localstripe), or none configured.

The adapter is chosen by configuration: with ``STRIPE_SECRET_KEY`` set, payments go
through an explicit ``stripe.StripeClient`` (its API base is ``STRIPE_API_BASE`` when
set, which is localstripe in dev and tests); without it the site runs and says plainly
that payments are unavailable.

Card entry: against localstripe (dev and tests) the server confirms with Stripe's test
card. Against Stripe itself, with ``STRIPE_PUBLISHABLE_KEY`` set, the buyer types the card
into Stripe's Payment Element (Stripe.js from https://js.stripe.com/v3), which confirms
in the browser and returns to ``/payments/return``; state still changes only by webhook.
"""

from __future__ import annotations

import functools
import json
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import stripe
from flask import Flask, current_app
from flask_babel import gettext as _

EXTENSION = "payment_gateway"


class PaymentsUnavailableError(RuntimeError):
    """No payment provider is configured, or it could not be reached."""


class InvalidEventError(ValueError):
    """A webhook whose signature, timestamp or body does not check out."""


@dataclass(frozen=True)
class Intent:
    id: str
    client_secret: str
    status: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class RefundResult:
    id: str
    status: str
    amount_minor: int


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: int
    object: dict[str, Any]


class PaymentGateway(Protocol):
    available: bool
    test_mode: bool
    card_element: bool  # the buyer enters the card in Stripe's Payment Element
    publishable_key: str | None

    def create_intent(self, *, amount_minor: int, currency: str, metadata: dict[str, str],
                      idempotency_key: str) -> Intent: ...
    def retrieve_intent(self, intent_id: str) -> Intent: ...
    def pay_with_test_card(self, intent_id: str) -> Intent: ...
    def refund(self, *, intent_id: str, idempotency_key: str, amount_minor: int | None = None) -> RefundResult: ...
    def cancel_intent(self, intent_id: str) -> Intent: ...
    def verify_event(self, payload: bytes, signature: str | None) -> Event: ...
    def register_local_webhook(self, url: str) -> None: ...


class UnavailableGateway:
    """No payment provider configured: every call says so."""

    available = False
    test_mode = False
    card_element = False
    publishable_key = None

    def __init__(self, webhook_secret: str | None = None) -> None:
        self.webhook_secret = webhook_secret

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        raise PaymentsUnavailableError(_("Payments are not configured on this site."))

    create_intent = retrieve_intent = pay_with_test_card = refund = register_local_webhook = cancel_intent = _refuse

    def verify_event(self, payload: bytes, signature: str | None) -> Event:
        raise InvalidEventError("Webhooks are not configured on this site.")


class StripeGateway:
    """Stripe through an explicit ``stripe.StripeClient`` (never the module-level globals)."""

    available = True

    def __init__(self, secret_key: str, *, webhook_secret: str | None, api_base: str | None = None,
                 publishable_key: str | None = None) -> None:
        self._secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.api_base = api_base
        self.test_mode = secret_key.startswith("sk_test_")
        self.publishable_key = publishable_key or None
        # Stripe itself (no localstripe) with a publishable key: the card is typed into Stripe.js.
        self.card_element = not api_base and bool(publishable_key) and str(publishable_key).startswith("pk_")

    @functools.cached_property
    def client(self) -> stripe.StripeClient:
        """Made at the first call to Stripe, not with the app: building one loads the system's CA certificates
        (an SSL context for its HTTP client), a few milliseconds that every process and command paid at start-up,
        most of which never talk to Stripe."""
        addresses = {"api": self.api_base} if self.api_base else None
        return stripe.StripeClient(self._secret_key, base_addresses=addresses, max_network_retries=1)

    def _intent(self, pi: Any) -> Intent:
        return Intent(pi.id, pi.client_secret, pi.status, int(pi.amount), str(pi.currency).upper())

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except stripe.StripeError as error:
            raise PaymentsUnavailableError(str(error.user_message or error)) from error

    def create_intent(self, *, amount_minor: int, currency: str, metadata: dict[str, str],
                      idempotency_key: str) -> Intent:
        params = {"amount": amount_minor, "currency": currency.lower(), "payment_method_types": ["card"],
                  "metadata": metadata}
        pi = self._call(self.client.v1.payment_intents.create, params, {"idempotency_key": idempotency_key})
        return self._intent(pi)

    def retrieve_intent(self, intent_id: str) -> Intent:
        return self._intent(self._call(self.client.v1.payment_intents.retrieve, intent_id))

    def pay_with_test_card(self, intent_id: str) -> Intent:
        """Test mode only: pay with Stripe's test Visa card (``pm_card_visa``)."""
        if not self.test_mode:
            raise PaymentsUnavailableError(_("The test card is only accepted with a test-mode key."))
        pi = self._call(self.client.v1.payment_intents.retrieve, intent_id)
        if pi.status == "requires_payment_method":
            pi = self._call(self.client.v1.payment_intents.update, intent_id, {"payment_method": "pm_card_visa"})
        if pi.status == "requires_confirmation":
            pi = self._call(self.client.v1.payment_intents.confirm, intent_id)
        return self._intent(pi)

    def refund(self, *, intent_id: str, idempotency_key: str, amount_minor: int | None = None) -> RefundResult:
        """Refund the intent in full, or ``amount_minor`` of it (a partial refund: one parcel of an order)."""
        params: dict[str, Any] = {"payment_intent": intent_id}
        if amount_minor is not None:
            params["amount"] = amount_minor
        refund = self._call(self.client.v1.refunds.create, params, {"idempotency_key": idempotency_key})
        return RefundResult(refund.id, refund.status, int(refund.amount))

    def cancel_intent(self, intent_id: str) -> Intent:
        """Cancel an unpaid PaymentIntent; a cancelled intent can never be paid."""
        return self._intent(self._call(self.client.v1.payment_intents.cancel, intent_id))

    def verify_event(self, payload: bytes, signature: str | None) -> Event:
        if not self.webhook_secret:
            raise InvalidEventError("No webhook secret is configured.")
        if not signature:
            raise InvalidEventError("The Stripe-Signature header is missing.")
        try:
            # Checks the HMAC and that the timestamp is within five minutes (no replays).
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, self.webhook_secret, 300)
            data = json.loads(payload)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, RecursionError) as error:
            raise InvalidEventError(str(error)) from error
        try:
            event = Event(str(data["id"]), str(data["type"]), int(data["created"]), dict(data["data"]["object"]))
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            raise InvalidEventError("The event is missing its id, type, created time or object.") from error
        if not 0 <= event.created < 2**63:
            raise InvalidEventError("The event's created time is out of range.")
        amount = event.object.get("amount")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or abs(amount) >= 2**63):
            raise InvalidEventError("The event's amount is not a whole number of minor units.")
        return event

    def register_local_webhook(self, url: str) -> None:
        """localstripe only: tell it where to send signed events (Stripe itself is set up in its dashboard)."""
        if not self.api_base or not self.webhook_secret:
            return
        try:
            requests.post(f"{self.api_base}/_config/webhooks/marketplace",
                          data={"url": url, "secret": self.webhook_secret}, timeout=5).raise_for_status()
        except requests.RequestException as error:
            raise PaymentsUnavailableError(str(error)) from error


def build(config: dict[str, Any]) -> PaymentGateway:
    key = config.get("STRIPE_SECRET_KEY")
    if not key:
        return UnavailableGateway()
    return StripeGateway(
        key, webhook_secret=config.get("STRIPE_WEBHOOK_SECRET"), api_base=config.get("STRIPE_API_BASE"),
        publishable_key=config.get("STRIPE_PUBLISHABLE_KEY"),
    )


def gateway() -> PaymentGateway:
    return current_app.extensions[EXTENSION]


def init_app(app: Flask) -> None:
    if app.config.get("STRIPE_API_BASE") and app.config.get("STRIPE_SECRET_KEY") \
            and not app.config.get("STRIPE_WEBHOOK_SECRET"):
        # localstripe in dev: a per-process secret that the app registers with localstripe itself.
        app.config["STRIPE_WEBHOOK_SECRET"] = "whsec_dev_" + secrets.token_hex(16)
    app.extensions[EXTENSION] = build(app.config)
