"""Quote requests and quotes: the buyer asks (on a specification or on chosen lots), the Union answers
or declines, the buyer declines or counters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import events
from marketplace.accounts.models import User
from marketplace.db import today, utcnow
from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState, Incoterm, Lot, LotStatus, PriceBasis
from marketplace.orders import allocation as engine
from marketplace.orders import rules
from marketplace.orders.common import (
    CURRENCIES,
    MAX_QUOTE_LOTS,
    OrderError,
    QuoteInputError,
    check_quantity,
    kg_text,
    lock_quote_request,
    matching_lots,
    pin_kind,
    request_lot_ids,
    spec_of,
)
from marketplace.orders.locking import serialise_form
from marketplace.orders.models import (
    Quote,
    QuoteRequest,
    QuoteRequestLot,
    QuoteStatus,
)


@dataclass(frozen=True)
class LotChoice:
    """A lot the buyer picked, by its code, with the kg wanted from it (None: a share of the total)."""

    code: str
    kg: Decimal | None = None


@dataclass(frozen=True)
class QuoteInput:
    """``kg`` is the total; with ``lots`` all given with their kg, it may be None (the sum is used)."""

    kg: Decimal | None
    incoterm: Incoterm
    incoterm_place: str
    currency: str
    lots: tuple[LotChoice, ...] = ()
    max_micron: Decimal | None = None
    colour: Colour | None = None
    min_length_mm: Decimal | None = None
    max_hair_pct: Decimal | None = None
    state: FibreState | None = None
    season: int | None = None
    tier: str | None = None
    basis: PriceBasis | None = None
    message: str = ""

    @property
    def spec(self) -> engine.Spec:
        return engine.Spec(
            max_micron=self.max_micron, colour=self.colour.value if self.colour else None,
            min_length_mm=self.min_length_mm, max_hair_pct=self.max_hair_pct,
            state=self.state.value if self.state else None, season=self.season, tier=self.tier or None,
            basis=self.basis.value if self.basis else None,
        )


def _check_kg_field(kg: Decimal | None, field: str, errors: dict[str, list[Any]]) -> Decimal | None:
    try:
        return check_quantity(kg)
    except OrderError as error:
        errors.setdefault(field, []).append(error.message)
        return None


def _chosen_lots(choices: tuple[LotChoice, ...], errors: dict[str, list[Any]]) -> list[tuple[Lot, Decimal | None]]:
    """The chosen lots, checked: known, not twice, listed with free stock, kg within stock and minimum."""
    if len(choices) > MAX_QUOTE_LOTS:
        errors.setdefault("lots", []).append(
            _l("Choose at most %(n)d lots for one quote request.", n=MAX_QUOTE_LOTS))
        return []
    codes = [c.code.strip()[:40] for c in choices]
    found = {lot.code: lot for lot in db.session.scalars(select(Lot).where(Lot.code.in_(codes)))}
    given = [c.kg is not None for c in choices]
    if any(given) and not all(given):
        errors.setdefault("kg", []).append(_l("Give the kg for every lot, or leave them all empty and give a total."))
    chosen: list[tuple[Lot, Decimal | None]] = []
    seen: set[str] = set()
    for index, (code, choice) in enumerate(zip(codes, choices, strict=True)):
        field = f"lots-{index}-kg"
        lot = found.get(code)
        if code in seen:
            errors.setdefault("lots", []).append(_l("Lot %(code)s is chosen twice.", code=code))
            continue
        seen.add(code)
        if lot is None:
            errors.setdefault("lots", []).append(_l("There is no lot with the id %(code)s.", code=code))
            continue
        if lot.status is not LotStatus.listed or lot.available_kg <= 0:
            errors.setdefault(field, []).append(_l("Lot %(code)s is not available.", code=code))
            continue
        if (problem := rules.offer_problem(lot, today())) is not None:
            errors.setdefault(field, []).append(problem)
            continue
        kg = _check_kg_field(choice.kg, field, errors) if choice.kg is not None else None
        if kg is not None and (problem := rules.quantity_problem(lot, kg)) is not None:
            errors.setdefault(field, []).append(problem)
        chosen.append((lot, kg))
    if chosen and (problem := rules.mixed_kinds(lot for lot, _ in chosen)) is not None:
        errors.setdefault("lots", []).append(problem)
    return chosen


def request_quote(*, buyer_id: int, user: User, data: QuoteInput, form_id: str) -> QuoteRequest:
    """Record a quote request on a specification or on chosen lots, after checking every input.

    Raises :class:`QuoteInputError` with every field error at once; nothing is written then.
    The same form sent twice returns the first request.
    """
    serialise_form(QuoteRequest, form_id)
    existing = db.session.scalar(select(QuoteRequest).where(QuoteRequest.form_id == form_id))
    if existing is not None:
        return existing
    errors: dict[str, list[Any]] = {}
    if data.currency not in CURRENCIES:
        errors["currency"] = [_l("Choose EUR or USD.")]
    if not data.incoterm_place.strip():
        errors["incoterm_place"] = [_l("Name the place of delivery for the Incoterm.")]
    chosen = _chosen_lots(data.lots, errors)
    per_lot = bool(chosen) and all(kg is not None for _, kg in chosen)
    if per_lot and data.kg is None:
        kg = sum((k for _, k in chosen if k is not None), Decimal(0))
        kg = _check_kg_field(kg, "kg", errors)
    else:
        kg = _check_kg_field(data.kg, "kg", errors)
    if per_lot and kg is not None and kg != sum((k for _, k in chosen if k is not None), Decimal(0)):
        errors.setdefault("kg", []).append(_l("The total must be the sum of the kg per lot, or left empty."))
    spec = _check_lots_for_total(data, chosen, kg, errors) if not errors and not per_lot else data.spec
    if errors or kg is None:
        raise QuoteInputError(errors or {"kg": [_l("Enter the quantity in kg.")]})
    spec = engine.Spec() if data.lots else spec
    request = QuoteRequest(
        buyer_id=buyer_id, requested_by=user, kg=kg, incoterm=data.incoterm,
        incoterm_place=data.incoterm_place.strip(), currency=data.currency, max_micron=spec.max_micron,
        colour=None if data.lots else data.colour, min_length_mm=spec.min_length_mm, max_hair_pct=spec.max_hair_pct,
        fibre_state=FibreState(spec.state) if spec.state else None, season=spec.season, tier=spec.tier,
        price_basis=PriceBasis(spec.basis) if spec.basis else None,
        message=data.message.strip(), form_id=form_id,
        items=[QuoteRequestLot(lot=lot, kg=lot_kg) for lot, lot_kg in chosen],
    )
    db.session.add(request)
    db.session.flush()
    events.quote_requested.send(request)
    return request


def _check_lots_for_total(
    data: QuoteInput, chosen: list[tuple[Lot, Decimal | None]], kg: Decimal | None, errors: dict[str, list[Any]],
) -> engine.Spec:
    """A request for a total: some lot on sale must meet it, in one fibre state and price basis.

    Returns the specification to store: pinned to the state and basis its lots have now, so that
    a lot listed later in another state or basis is never mixed into the order.
    """
    spec = data.spec
    lots = [lot for lot, _ in chosen] if data.lots else matching_lots(spec)
    if not lots:
        errors["kg"] = [_l("No lot on sale meets this specification (listed, with a valid certificate and "
                           "at least its minimum order free). Nothing was requested.")]
        return spec
    if not data.lots:
        if (problem := rules.mixed_kinds(lots)) is not None:
            errors["fibre_state"] = [problem, _l("Choose the fibre state and the price basis.")]
            return spec
        spec = replace(spec, state=lots[0].state.value, basis=lots[0].price_basis.value)
    if kg is not None:
        minimum = min(lot.min_order_kg for lot in lots)
        free = sum((lot.available_kg for lot in lots), Decimal(0))
        if kg < minimum:
            errors["kg"] = [_l("The minimum order is %(kg)s kg.", kg=kg_text(minimum))]
        elif data.lots and kg > free:
            errors["kg"] = [_l("These lots have only %(kg)s kg available together.", kg=kg_text(free))]
    return spec


def answer_quote(
    request: QuoteRequest, *, staff: User, price_minor: int, premium_minor: int, valid_until: dt.date,
    deposit_pct: int, note: str = "", day: dt.date | None = None,
) -> Quote:
    if request.status is not QuoteStatus.requested:
        raise OrderError(_l("This request has already been answered."))
    if price_minor <= 0 or premium_minor < 0:
        raise OrderError(_l("The price must be positive and the premium cannot be negative."), 422)
    if not 0 <= deposit_pct <= 100:
        raise OrderError(_l("The deposit is a percentage between 0 and 100."), 422)
    if valid_until < (day or today()):
        raise OrderError(_l("The quote must be valid until today or later."), 422)
    _check_offer(request, price_minor=price_minor, day=day or today())
    quote = Quote(
        request=request, price_minor=price_minor, premium_minor=premium_minor, currency=request.currency,
        valid_until=valid_until, deposit_pct=deposit_pct, note=note.strip(), quoted_by=staff,
    )
    request.status = QuoteStatus.quoted
    request.answered_by = staff
    request.answered_at = utcnow()
    db.session.add(quote)
    db.session.flush()
    events.quote_answered.send(quote)
    return quote


def _check_offer(request: QuoteRequest, *, price_minor: int, day: dt.date) -> None:
    """The staff answer: the lots behind the request can be sold today (certificate, stock, minimum
    order, one state and basis) and the price is at or above the floor of every one of them."""
    lots = matching_lots(spec_of(request), request_lot_ids(request), day=day)
    if not request.items and (request.fibre_state is None or request.price_basis is None):
        pin_kind(request, lots)
        lots = matching_lots(spec_of(request), None, day=day)
    wanted = {item.lot_id: item.kg for item in request.items}
    if request.items:
        for item in request.items:
            lot = item.lot
            problem = rules.certificate_problem(lot, day)
            if problem is None and item.kg is not None:
                problem = rules.quantity_problem(lot, item.kg)
            if problem is None and lot not in lots:
                problem = _l("Lot %(code)s cannot supply its minimum order now.", code=lot.code)
            if problem is not None:
                raise OrderError(problem, 409, "price")
    if not lots:
        raise OrderError(_l("No lot on sale meets this request any more (listed, with a valid certificate and "
                            "at least its minimum order free). Decline it with a reason."), 409, "price")
    if (problem := rules.mixed_kinds(lots)) is not None:
        raise OrderError(problem, 409, "price")
    free = sum((lot.available_kg if lot.id not in wanted or wanted[lot.id] is None else wanted[lot.id]
                for lot in lots), Decimal(0))
    if free < request.kg:
        raise OrderError(_l("Only %(kg)s kg that can be sold meets this request, less than the %(asked)s kg asked.",
                            kg=kg_text(free), asked=kg_text(request.kg)), 409, "price")
    below = [(rules.minimum_price(lot, request.currency)[0], lot) for lot in lots
             if rules.price_problem(lot, price_minor, request.currency) is not None]
    if below:
        _, lot = max(below, key=lambda pair: (pair[0] is not None, pair[0] or 0))
        problem = rules.price_problem(lot, price_minor, request.currency)
        raise OrderError(_l("%(problem)s Nothing was sent to the buyer.", problem=problem), 422, "price")


def decline_quote(request: QuoteRequest, *, staff: User, reason: str) -> None:
    if request.status is not QuoteStatus.requested:
        raise OrderError(_l("This request has already been answered."))
    if not reason.strip():
        raise OrderError(_l("Give the buyer a reason for declining."), 422)
    request.status = QuoteStatus.declined
    request.decline_reason = reason.strip()
    request.answered_by = staff
    request.answered_at = utcnow()
    db.session.flush()
    events.quote_declined.send(request)


@dataclass(frozen=True)
class QuoteSummary:
    """What the buyer reviews before accepting: every figure the order will be made of."""

    request: QuoteRequest
    quote: Quote
    lines: list[tuple[Lot, Decimal | None]]  # the chosen lots and their kg (None: a share of the total)
    total_minor: int  # indicative: kg × (price + premium)
    deposit_minor: int
    balance_minor: int
    expired: bool

    @property
    def unit_minor(self) -> int:
        return self.quote.price_minor + self.quote.premium_minor

    @property
    def basis(self) -> PriceBasis | None:
        if self.request.price_basis is not None:
            return self.request.price_basis
        return self.lines[0][0].price_basis if self.lines else None


def quote_summary(request: QuoteRequest, day: dt.date | None = None) -> QuoteSummary | None:
    """The summary of an answered quote (None while the Union has not answered)."""

    quote = request.quote
    if quote is None:
        return None
    total = int((request.kg * (quote.price_minor + quote.premium_minor)).to_integral_value())
    deposit = int((Decimal(total) * quote.deposit_pct / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    items = request.items
    # One lot asked for a total: all of it comes from that lot (a share is only a share of several).
    lines = [(item.lot, item.kg if item.kg is not None or len(items) > 1 else request.kg) for item in items]
    return QuoteSummary(
        request=request, quote=quote, lines=lines, total_minor=total,
        deposit_minor=deposit, balance_minor=total - deposit, expired=quote.valid_until < (day or today()),
    )


def buyer_quote_request(request_id: int, buyer_ids: set[int]) -> QuoteRequest | None:
    request = db.session.get(QuoteRequest, request_id)
    if request is None or request.buyer_id not in buyer_ids:
        return None
    return request


def decline_by_buyer(request_id: int, *, buyer_ids: set[int], reason: str) -> QuoteRequest:
    """The buyer turns an answered quote down; it can no longer be accepted."""
    request = lock_quote_request(request_id)
    if request is None or request.buyer_id not in buyer_ids:
        raise OrderError(_l("There is no such quote."), 404)
    if request.status is not QuoteStatus.quoted:
        raise OrderError(_l("Only a quote the Union has answered, and not yet accepted, can be declined."))
    request.status = QuoteStatus.declined
    request.decline_reason = str(_l("Declined by the buyer.")) + (f" {reason.strip()}" if reason.strip() else "")
    db.session.flush()
    return request


MAX_PRICE_MINOR = 10_000_000  # 100,000 per kg: far above any cashmere price, a typo


def counter_offer(
    request_id: int, *, buyer_ids: set[int], user: User, kg: Decimal | None, price_minor: int | None,
    message: str, form_id: str,
) -> QuoteRequest:
    """The buyer answers a quote with other kg (and perhaps a price per kg they would pay): the quote is
    declined and a new request, linked to it, goes to the Union. The same form sent twice counts once."""
    serialise_form(QuoteRequest, form_id)
    existing = db.session.scalar(select(QuoteRequest).where(QuoteRequest.form_id == form_id))
    if existing is not None:
        return existing
    errors: dict[str, list[Any]] = {}
    checked = _check_kg_field(kg, "kg", errors)
    if price_minor is not None and not 0 < price_minor <= MAX_PRICE_MINOR:
        errors["price"] = [_l("The price you propose must be more than zero and a price per kg.")]
    if errors or checked is None:
        raise QuoteInputError(errors or {"kg": [_l("Enter the quantity in kg.")]})
    request = lock_quote_request(request_id)
    if request is None or request.buyer_id not in buyer_ids:
        raise OrderError(_l("There is no such quote."), 404)
    if request.status is not QuoteStatus.quoted:
        raise OrderError(_l("Only a quote the Union has answered, and not yet accepted, can be declined."))
    counter = QuoteRequest(
        buyer_id=request.buyer_id, requested_by=user, kg=checked, incoterm=request.incoterm,
        incoterm_place=request.incoterm_place, currency=request.currency, max_micron=request.max_micron,
        colour=request.colour, min_length_mm=request.min_length_mm, max_hair_pct=request.max_hair_pct,
        fibre_state=request.fibre_state, season=request.season, tier=request.tier, price_basis=request.price_basis,
        message=message.strip(), form_id=form_id, counter_to=request, target_price_minor=price_minor,
        # The chosen lots stay chosen; their kg become a share of the new total.
        items=[QuoteRequestLot(lot_id=item.lot_id) for item in request.items],
    )
    db.session.add(counter)
    request.status = QuoteStatus.declined
    db.session.flush()
    request.decline_reason = str(_l("Declined by the buyer with a counter-offer (request #%(id)s).", id=counter.id))
    db.session.flush()
    return counter


def open_quote_requests() -> list[QuoteRequest]:
    return list(db.session.scalars(
        select(QuoteRequest).where(QuoteRequest.status.in_([QuoteStatus.requested, QuoteStatus.quoted]))
        .order_by(QuoteRequest.created_at, QuoteRequest.id)
        .options(selectinload(QuoteRequest.buyer), selectinload(QuoteRequest.items).selectinload(QuoteRequestLot.lot))
    ))


def buyer_quote_requests(buyer_ids: set[int]) -> list[QuoteRequest]:
    return list(db.session.scalars(
        select(QuoteRequest).where(QuoteRequest.buyer_id.in_(buyer_ids))
        .order_by(QuoteRequest.created_at.desc(), QuoteRequest.id.desc())
        .options(selectinload(QuoteRequest.quote), selectinload(QuoteRequest.order),
                 selectinload(QuoteRequest.items).selectinload(QuoteRequestLot.lot))
    ))
