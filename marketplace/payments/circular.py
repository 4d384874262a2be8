"""Circular services from the passport: a consumer asks for a repair, a take-back or a resale listing of a
product that offers it; the MSME accepts, schedules and closes the request; a closed one becomes part of the
item's passport (a new version, by the ``service_closed`` event). Reached through ``payments.services``."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace import events
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.orders.services import OrderError
from marketplace.organisations.models import Organisation
from marketplace.payments.models import ServiceKind, ServiceOffer, ServiceRequest, ServiceStatus
from marketplace.products.models import Product, ProductStatus
from marketplace.products.rules import circular_terms
from marketplace.products.services import current_versions

MAX_MESSAGE = 2000

# What each MSME action does: (the states it may start from, the state it leads to).
SERVICE_FLOW = {
    "accept": ((ServiceStatus.requested,), ServiceStatus.accepted),
    "schedule": ((ServiceStatus.accepted, ServiceStatus.scheduled), ServiceStatus.scheduled),
    "close": ((ServiceStatus.accepted, ServiceStatus.scheduled), ServiceStatus.closed),
    "decline": ((ServiceStatus.requested, ServiceStatus.accepted), ServiceStatus.declined),
}


def consumer_terms(product: Product | int | None, *, offered: Any = None) -> dict[str, dict[str, Any]]:
    """THE terms a consumer sees for each circular service of a product: the one source read by the passport
    page, the product page, the service request page, the DPP credential and the request validation.

    The product says WHICH services it offers (its published version's ``circular_services``; ``offered``
    replaces that for a version being published now) and may add product-specific conditions and a price
    that overrides the MSME's cost; the MSME's ``ServiceOffer`` for that service gives what, where (texts
    per language), cost and time in days. A service the product does not offer is absent (and cannot be
    requested). Each entry: ``{"what", "where", "conditions": {locale: text}, "price_minor": int | None
    (None: free of charge), "currency", "days": int | None (None: the MSME stated no time)}``.
    """
    if isinstance(product, int):
        product = db.session.get(Product, product)
    if product is None:
        return {}
    if offered is None:
        versions = current_versions([product.id])
        if versions:
            offered = versions[0].snapshot.get("circular_services") or {}
        elif product.status is ProductStatus.published:  # published without a version record (older data)
            offered = product.circular_services
        else:
            return {}
    by_product = circular_terms(offered)
    msme = offers_for(product.organisation_id) if by_product else {}
    terms: dict[str, dict[str, Any]] = {}
    for kind, own in by_product.items():
        offer = msme.get(kind)
        price, currency = own["price_minor"], own["currency"]
        if price is None and offer is not None:  # no product-specific price: the MSME's cost
            price, currency = offer.cost_minor, offer.currency
        terms[kind] = {"what": dict(offer.what) if offer else {}, "where": dict(offer.where) if offer else {},
                       "conditions": own["conditions"], "price_minor": price, "currency": currency,
                       "days": offer.days if offer else None}
    return terms


def request_service(product_id: int, kind: str, *, email: str, message: str, locale: str | None) -> ServiceRequest:
    """A consumer's request, refused (nothing written) when the product is not for sale or lacks the service."""
    product = db.session.get(Product, product_id)
    if product is None or not current_versions([product_id]):
        raise OrderError(_l("That product is not for sale."), 404)
    if kind not in consumer_terms(product):
        raise OrderError(_l("This product does not offer that service."), 422)
    if len(message) > MAX_MESSAGE:
        raise OrderError(_l("Keep the message under %(max)d characters.", max=MAX_MESSAGE), 422)
    request = ServiceRequest(
        reference="SR-" + secrets.token_hex(4).upper(), product=product, organisation_id=product.organisation_id,
        kind=ServiceKind(kind), email=email.strip(), message=message.strip(), locale=locale)
    db.session.add(request)
    db.session.flush()
    events.repair_request.send(product, args=(f"{request.reference} ({kind}): {request.message}",))
    return request


def service_requests(organisation_ids: list[int]) -> list[ServiceRequest]:
    return list(db.session.scalars(select(ServiceRequest).where(ServiceRequest.organisation_id.in_(organisation_ids))
                                   .order_by(ServiceRequest.id.desc())))


def service_request_of(request_id: int, organisation_ids: list[int]) -> ServiceRequest:
    request = db.session.get(ServiceRequest, request_id)
    if request is None or request.organisation_id not in organisation_ids:
        raise OrderError(_l("There is no such request among yours."), 404)
    return request


def move_service(request: ServiceRequest, action: str, *, on: dt.date | None = None, outcome: str = "") -> None:
    """Accept, schedule (a date), close (what was done) or decline; closing republishes the item's passport."""
    if action not in SERVICE_FLOW:
        raise OrderError(_l("Unknown action."), 400)
    allowed, after = SERVICE_FLOW[action]
    if request.status not in allowed:
        raise OrderError(_l("This request is %(status)s: that step is not possible now.",
                            status=label(request.status)), 409)
    if action == "schedule":
        if on is None:
            raise OrderError(_l("Give the date."), 422)
        request.scheduled_for = on
    if action == "close":
        if not outcome.strip():
            raise OrderError(_l("Say what was done: it is shown on the item's passport."), 422)
        request.outcome = outcome.strip()[:500]
        request.closed_at = utcnow()
    request.status = after
    db.session.flush()
    if after is ServiceStatus.closed:
        events.service_closed.send(request.product, request=request)


def service_history(product_id: int) -> list[ServiceRequest]:
    """The closed services of a product, oldest first: what its passport shows."""
    return list(db.session.scalars(select(ServiceRequest).where(
        ServiceRequest.product_id == product_id, ServiceRequest.status == ServiceStatus.closed)
        .order_by(ServiceRequest.closed_at, ServiceRequest.id)))


def offer_of(organisation_id: int, kind: ServiceKind) -> ServiceOffer | None:
    return db.session.scalar(select(ServiceOffer).where(ServiceOffer.organisation_id == organisation_id,
                                                        ServiceOffer.kind == kind))


def save_offer(organisation_id: int, kind: ServiceKind, *, what: dict[str, str], where: dict[str, str],
               cost_minor: int | None, days: int) -> ServiceOffer:
    """An MSME's terms for one service: what, where (texts per language), cost (None: free) and time in days."""
    if not what.get("en") or not where.get("en"):
        raise OrderError(_l("Describe the service and where it is done, at least in English."), 422)
    if cost_minor is not None and cost_minor < 0:
        raise OrderError(_l("The cost cannot be negative."), 422)
    if not 1 <= days <= 365:
        raise OrderError(_l("The time must be between 1 and 365 days."), 422)
    offer = offer_of(organisation_id, kind)
    if offer is None:
        offer = ServiceOffer(organisation_id=organisation_id, kind=kind)
        db.session.add(offer)
    offer.what, offer.where, offer.cost_minor, offer.days, offer.currency = dict(what), dict(where), cost_minor, \
        days, "EUR"
    db.session.flush()
    # The terms are part of what the MSME's passports say (``consumer_terms``): one coalesced job republishes
    # them, so that the credential never keeps terms the request page no longer offers.
    events.organisation_changed.send(db.session.get(Organisation, organisation_id))
    return offer


def offers_for(organisation_id: int) -> dict[str, ServiceOffer]:
    return {offer.kind.value: offer for offer in db.session.scalars(
        select(ServiceOffer).where(ServiceOffer.organisation_id == organisation_id))}
