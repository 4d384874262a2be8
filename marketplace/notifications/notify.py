"""One function per event worth telling someone about. Domains call these with one line each
(issue 13 may move the calls onto domain events); each finds its recipients, its link and its
parameters, and hands them to ``services.notify`` / ``services.enqueue`` in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.accounts.models import Role, User
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.db import business_date, utcnow
from marketplace.extensions import db
from marketplace.i18n import label, money
from marketplace.lots.models import Lot
from marketplace.notifications.models import Notification
from marketplace.notifications.services import enqueue, link, locale_of, members, notify, notify_all, staff
from marketplace.orders.models import Order, OrderStage, Quote, QuoteRequest, QuoteStatus, Reservation
from marketplace.orders.models import ReservationStatus as Held
from marketplace.payments.services import deposit_minor, item_name, order_token
from marketplace.products.models import Product, ProductSource

if TYPE_CHECKING:
    from marketplace.certification.models import Certificate
    from marketplace.orders.models import Order, OrderStage, Quote, QuoteRequest, SampleRequest
    from marketplace.organisations.models import Organisation
    from marketplace.payments.models import ConsumerOrder, ConsumerShipment, Payment
    from marketplace.practice.models import PerformanceReport
    from marketplace.products.models import Product


# Accounts ------------------------------------------------------------------------------------------------

def verify_email(user: User, token: str) -> None:
    """Sent to the address being confirmed, whatever the user's preferences (no in-app line: not signed in)."""
    enqueue("verify_email", to_address=user.email, to_name=user.name, user=user, locale=locale_of(user),
            params={}, url=link("accounts.verify_email", token=token))


def signup_existing(user: User) -> None:
    enqueue("signup_existing", to_address=user.email, to_name=user.name, user=user, locale=locale_of(user),
            params={}, url=link("accounts.password_reset"))


def password_reset(user: User, token: str) -> None:
    enqueue("password_reset", to_address=user.email, to_name=user.name, user=user, locale=locale_of(user),
            params={}, url=link("accounts.password_reset_confirm", token=token))


def password_changed(user: User) -> None:
    notify(user, "password_changed", params={}, url=link("accounts.password_reset"))


def organisation_to_verify(organisation: Organisation) -> None:
    notify_all(staff(), "organisation_to_verify", params={"organisation": organisation.name},
               url=link("accounts.verification_queue"))


def organisation_verified(organisation: Organisation) -> None:
    notify_all(members(organisation.id), "organisation_verified", params={"organisation": organisation.name},
               url=link("dashboard.index"))


# Quotes, samples, orders and payments -----------------------------------------------------------------------

def _buyers(organisation_id: int) -> list[User]:
    return members(organisation_id, Role.brand_buyer)


def _money(minor: int, currency: str) -> Callable[[], str]:
    return lambda: money(minor, currency)


def _label(value: object) -> Callable[[], str]:
    return lambda: label(value)


def quote_requested(request: QuoteRequest) -> None:
    notify_all(staff(), "quote_requested", params={"ref": f"#{request.id}", "organisation": request.buyer.name},
               url=link("union.quote", quote_id=request.id))


def quote_answered(quote: Quote) -> None:
    request = quote.request
    notify_all(_buyers(request.buyer_id), "quote_answered",
               params={"ref": f"#{request.id}", "price": _money(quote.price_minor, quote.currency),
                       "until": quote.valid_until.isoformat()},
               url=link("orders.my_quotes"))


def quote_declined(request: QuoteRequest) -> None:
    notify_all(_buyers(request.buyer_id), "quote_declined",
               params={"ref": f"#{request.id}", "reason": request.decline_reason}, url=link("orders.my_quotes"))


def sample_sent(sample: SampleRequest) -> None:
    notify_all(_buyers(sample.buyer_id), "sample_sent", params={"lot": sample.lot.code},
               url=link("orders.my_quotes"))


def order_stage(order: Order, stage: OrderStage) -> None:
    """A stage recorded on an order: the deposit's arrival is a receipt, the others are progress."""

    url = link("orders.detail", reference=order.reference)
    if stage is OrderStage.deposit_paid:
        notify_all(_buyers(order.buyer_id), "deposit_received",
                   params={"ref": order.reference, "amount": _money(deposit_minor(order), order.currency)}, url=url)
        return
    notify_all(_buyers(order.buyer_id), "order_stage", params={"ref": order.reference, "stage": _label(stage)},
               url=url)


def balance_received(order: Order, amount_minor: int) -> None:
    notify_all(_buyers(order.buyer_id), "balance_received",
               params={"ref": order.reference, "amount": _money(amount_minor, order.currency)},
               url=link("orders.detail", reference=order.reference))


def deposit_unmatched(order: Order, payment: Payment) -> None:
    """Staff: money arrived that no reservation takes (a second deposit, or one paid after the hold ran out)."""
    notify_all(staff(), "deposit_unmatched",
               params={"ref": order.reference, "amount": _money(payment.amount_minor, payment.currency)},
               url=link("union.order", reference=order.reference))


def invoice_issued(order: Order, amount_minor: int, url: str | None = None) -> None:
    notify_all(_buyers(order.buyer_id), "invoice_issued",
               params={"ref": order.reference, "amount": _money(amount_minor, order.currency)},
               url=url or link("orders.detail", reference=order.reference))


# Products and the Code of Practice --------------------------------------------------------------------------

def _product_name(product: Product) -> Callable[[], str]:
    return lambda: product.display_name(str(get_locale()))


def product_submitted(product: Product) -> None:
    notify_all(staff(), "product_submitted",
               params={"product": _product_name(product), "organisation": product.organisation.name},
               url=link("product_review.product", product_id=product.id))


def product_approved(product: Product) -> None:
    notify_all(members(product.organisation_id, Role.msme_editor), "product_approved",
               params={"product": _product_name(product)}, url=link("products.detail", product_id=product.id))


def product_rejected(product: Product) -> None:
    notify_all(members(product.organisation_id, Role.msme_editor), "product_rejected",
               params={"product": _product_name(product), "reason": product.rejection_reason},
               url=link("workspace.product", product_id=product.id))


def report_reviewed(report: PerformanceReport) -> None:
    notify_all(members(report.msme_id, Role.msme_editor), "report_reviewed",
               params={"period": str(report.year), "outcome": _label(report.status), "note": report.review_note},
               url=link("practice.msme"))


def repair_request(product: Product, message: str) -> None:
    """A consumer asks for a repair or take-back (to the MSME's editors)."""
    notify_all(members(product.organisation_id, Role.msme_editor), "repair_request",
               params={"product": _product_name(product), "message": message},
               url=link("payments.service_inbox"))


# Certificates -------------------------------------------------------------------------------------------------

def certificate_affected(cert: Certificate) -> list[User]:
    """Who must hear about a change of ``cert``: its holder, the MSMEs whose products source lots under
    it, and the buyers with open orders reserving such lots."""


    lots = select(Lot.id).where(Lot.certificate_id == cert.id)
    msmes = db.session.scalars(select(Product.organisation_id).join(ProductSource)
                               .where(ProductSource.lot_id.in_(lots)).distinct())
    closed = (OrderStage.delivered, OrderStage.cancelled)
    buyers = db.session.scalars(select(Order.buyer_id).join(Reservation).where(
        Reservation.lot_id.in_(lots), Order.stage.not_in(closed)).distinct())
    people = members(cert.holder_id)
    for msme_id in sorted(set(msmes)):
        people += members(msme_id, Role.msme_editor)
    for buyer_id in sorted(set(buyers)):
        people += _buyers(buyer_id)
    return people


def certificate_status(cert: Certificate) -> None:
    """A certificate was suspended or revoked (reinstatement tells no one: nothing to act on)."""
    if cert.status.value not in ("suspended", "revoked"):
        return
    notify_all(certificate_affected(cert), "certificate_status",
               params={"number": cert.number, "holder": cert.holder.name, "status": _label(cert.status),
                       "reason": cert.status_reason},
               url=link("dashboard.index"))


# Consumers (an address, no account) ---------------------------------------------------------------------------

def _consumer(order: ConsumerOrder, kind: str, **extra: str | Callable[[], str]) -> None:
    """To the consumer's address, with the signed link to their order's page (no account needed)."""
    enqueue(kind, to_address=order.email, locale=locale_of(None, getattr(order, "locale", None)),
            params={"ref": order.reference, "amount": _money(order.total_minor, order.currency), **extra},
            url=link("payments.consumer_order", token=order_token(order)))


def consumer_receipt(order: ConsumerOrder) -> None:
    _consumer(order, "consumer_receipt")


def consumer_shipped(order: ConsumerOrder, shipment: ConsumerShipment | None = None) -> None:
    _consumer(order, "consumer_shipped", maker=shipment.organisation.name if shipment else "",
              carrier=shipment.carrier if shipment else "", tracking=shipment.tracking if shipment else "")


def consumer_refunded(order: ConsumerOrder, refund: Payment | None = None) -> None:
    """A parcel cancelled before it shipped, returned, or some of its items returned, was refunded to the card:
    the message names the items and amounts (in the consumer's language)."""
    shipment = refund.consumer_shipment if refund is not None else None
    detail = refund.consumer_refund if refund is not None else None

    def items() -> str:
        if detail is None:
            return ""
        parts = [str(_l("%(count)d × %(item)s (%(amount)s)", count=item.quantity, item=item_name(item.line),
                        amount=money(item.amount_minor, order.currency))) for item in detail.lines]
        if detail.shipping_minor:
            parts.append(str(_l("shipping (%(amount)s)", amount=money(detail.shipping_minor, order.currency))))
        return "; ".join(parts)

    _consumer(order, "consumer_refunded",
              refund=_money(refund.amount_minor, refund.currency) if refund else "",
              maker=shipment.organisation.name if shipment else "",
              parcel=_label(shipment.status) if shipment else "", items=items)


# Reminders (run by `flask mail reminders` and hourly by the job worker) -------------------------------------

QUOTE_WARNING = dt.timedelta(days=2)
RESERVATION_WARNING = dt.timedelta(hours=24)
CERTIFICATE_WARNING = dt.timedelta(days=30)


def _already_told(kind: str, url: str) -> bool:


    path = "/" + url.split("://", 1)[-1].partition("/")[2]
    return db.session.scalar(select(Notification.id).where(Notification.kind == kind, Notification.url == path)
                             .limit(1)) is not None


def reminders(now: dt.datetime | None = None) -> int:
    """Tell buyers about quotes and reservations about to expire, and certificate holders (and those
    relying on them) about certificates about to expire; each once. Returns how many reminders."""


    now = now or utcnow()
    day = business_date(now)
    sent = 0
    quotes = db.session.scalars(select(Quote).join(QuoteRequest).where(
        QuoteRequest.status == QuoteStatus.quoted, Quote.valid_until >= day, Quote.valid_until <= day + QUOTE_WARNING))
    for quote in quotes:
        url = link("orders.my_quotes", _anchor=f"quote-{quote.request.id}")
        if not _already_told("quote_expiring", url):
            notify_all(_buyers(quote.request.buyer_id), "quote_expiring",
                       params={"ref": f"#{quote.request.id}", "until": quote.valid_until.isoformat()}, url=url)
            sent += 1
    orders = db.session.scalars(select(Order).where(Order.stage == OrderStage.accepted, Order.id.in_(
        select(Reservation.order_id).where(Reservation.status == Held.held, Reservation.expires_at > now,
                                           Reservation.expires_at <= now + RESERVATION_WARNING))))
    for order in orders:
        url = link("orders.detail", reference=order.reference)
        held = [r.expires_at for r in order.reservations if r.status is Held.held and r.expires_at]
        if held and not _already_told("reservation_expiring", url):
            until = min(held).replace(tzinfo=min(held).tzinfo or dt.UTC).astimezone(dt.UTC)
            notify_all(_buyers(order.buyer_id), "reservation_expiring",
                       params={"ref": order.reference, "until": until.strftime("%Y-%m-%d %H:%M UTC")}, url=url)
            sent += 1
    certificates = db.session.scalars(select(Certificate).where(
        Certificate.status == CertificateStatus.active, Certificate.valid_to >= day,
        Certificate.valid_to <= day + CERTIFICATE_WARNING))
    for cert in certificates:
        url = link("dashboard.index", _anchor=f"certificate-{cert.number}-{cert.valid_to.isoformat()}")
        if not _already_told("certificate_expiring", url):
            notify_all(certificate_affected(cert), "certificate_expiring",
                       params={"number": cert.number, "holder": cert.holder.name,
                               "until": cert.valid_to.isoformat()}, url=url)
            sent += 1
    return sent
