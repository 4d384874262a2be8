"""From quote to allocated order: samples, quotes, reservations, allocation and stages.

Services take explicit arguments, flush and never commit. Stock changes happen only
under the lot row locks of :mod:`marketplace.orders.locking`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from marketplace import events
from marketplace.accounts.models import User
from marketplace.db import BUSINESS_TZ, today, utcnow
from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState, Incoterm, Lot, LotStatus, PriceBasis
from marketplace.orders import allocation as engine
from marketplace.orders import rules
from marketplace.orders.locking import lock_lots, serialise_form
from marketplace.orders.models import (
    STAGE_ORDER,
    Allocation,
    AllocationAudit,
    AllocationShare,
    AllocationStatus,
    Order,
    OrderEvent,
    OrderLine,
    OrderStage,
    Quote,
    QuoteRequest,
    QuoteRequestLot,
    QuoteStatus,
    Reservation,
    ReservationStatus,
    SampleRequest,
    SampleStatus,
)
from marketplace.organisations.models import CooperativeProfile, Organisation
from marketplace.organisations.services import verification_problem
from marketplace.payments.models import Invoice, InvoiceKind  # shipping needs the final invoice

MAX_ORDER_KG = Decimal(100_000)  # more than ten times the Union's certified output: a typo
CURRENCIES = ("EUR", "USD")
DEFAULT_ALPHA = Decimal("0.5")
DEFAULT_MIN_SHIPMENT_KG = Decimal(20)
DEFAULT_HOLD = dt.timedelta(hours=72)
KG = Decimal("0.001")
MAX_QUOTE_LOTS = 10  # lots in one quote request
CHOSEN_BY_BUYER = "lots_chosen_by_buyer"  # note on a share the buyer fixed by choosing kg per lot


class OrderError(Exception):
    """A rule was broken; the message is for the user. ``status`` is the HTTP status to answer.

    ``field`` names the input at fault (``kg``, ``lots``, or ``lots-N-kg`` for the N-th chosen lot).
    """

    def __init__(self, message: Any, status: int = 409, field: str = "kg") -> None:
        super().__init__(message)  # lazy: translated when shown, in the request's locale
        self.message = message
        self.status = status
        self.field = field


class QuoteInputError(OrderError):
    """Several field errors at once: ``errors`` maps a field name to its messages."""

    def __init__(self, errors: dict[str, list[Any]]) -> None:
        field, messages = next(iter(errors.items()))
        super().__init__(messages[0], 422, field)
        self.errors = errors


# --- samples -------------------------------------------------------------------------------


def request_sample(*, lot: Lot, buyer_id: int, user: User, address: str, form_id: str) -> SampleRequest:
    """Ask for a sample of ``lot``; the same form sent twice returns the first request."""
    serialise_form(SampleRequest, form_id)
    existing = db.session.scalar(select(SampleRequest).where(SampleRequest.form_id == form_id))
    if existing is not None:
        return existing
    if (problem := rules.offer_problem(lot, today())) is not None:
        raise OrderError(problem, 409, "address")
    if (problem := verification_problem(buyer_id)) is not None:
        raise OrderError(problem, 403, "address")
    sample = SampleRequest(lot=lot, buyer_id=buyer_id, requested_by=user, address=address.strip(), form_id=form_id)
    db.session.add(sample)
    db.session.flush()
    return sample


def open_samples() -> list[SampleRequest]:
    return list(db.session.scalars(
        select(SampleRequest).where(SampleRequest.status == SampleStatus.requested).order_by(SampleRequest.created_at)
        .options(selectinload(SampleRequest.lot), selectinload(SampleRequest.buyer))
    ))


def mark_sample_sent(sample: SampleRequest) -> None:
    if sample.status is SampleStatus.sent:
        raise OrderError(_l("This sample has already been sent."))
    sample.status = SampleStatus.sent
    db.session.flush()
    events.sample_sent.send(sample)


# --- quote requests and quotes -----------------------------------------------------------


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


def _spec_of(request: QuoteRequest) -> engine.Spec:
    return engine.Spec(
        max_micron=request.max_micron, colour=request.colour.value if request.colour else None,
        min_length_mm=request.min_length_mm, max_hair_pct=request.max_hair_pct,
        state=request.fibre_state.value if request.fibre_state else None, season=request.season,
        tier=request.tier or None, basis=request.price_basis.value if request.price_basis else None,
    )


def spec_of(request: QuoteRequest) -> engine.Spec:
    """The specification a request asks for (every field None on a request on chosen lots)."""
    return _spec_of(request)


def check_quantity(kg: Decimal | None) -> Decimal:
    if kg is None or not kg.is_finite():
        raise OrderError(_l("Enter the quantity in kg."), 422)
    if kg <= 0:
        raise OrderError(_l("The quantity must be more than 0 kg."), 422)
    if kg > MAX_ORDER_KG:
        raise OrderError(_l("%(kg)s kg is more than the Union can supply in one order.", kg=f"{kg:,}"), 422)
    if kg != kg.quantize(KG):
        raise OrderError(_l("Give the quantity to the gram at most (three decimals)."), 422)
    return kg


def matching_lots(
    spec: engine.Spec, lot_ids: Iterable[int] | None = None, *, day: dt.date | None = None,
    price_minor: int | None = None, currency: str | None = None, extra_kg: dict[int, Decimal] | None = None,
    quoted_at: dt.datetime | None = None,
) -> list[Lot]:
    """The lots that may be sold on ``spec`` on ``day``, in id order: listed, matching, certificate valid,
    at least their minimum order free (plus ``extra_kg`` already held by the order) and, with a price,
    at or above their floor (the one in force at ``quoted_at``, else today's). Only those among ``lot_ids``
    when given (a request on chosen lots)."""
    day = day or today()
    extra_kg = extra_kg or {}
    stmt = select(Lot).where(Lot.status == LotStatus.listed).order_by(Lot.id).options(selectinload(Lot.certificate))
    if lot_ids is not None:
        stmt = stmt.where(Lot.id.in_(list(lot_ids)))
    return [lot for lot in db.session.scalars(stmt)
            if rules.sellable(lot, spec, day=day, price_minor=price_minor, currency=currency,
                              extra_kg=extra_kg.get(lot.id, Decimal(0)), quoted_at=quoted_at)]


def _kg_text(kg: Decimal) -> str:
    return f"{kg.normalize():f}"


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
            errors["kg"] = [_l("The minimum order is %(kg)s kg.", kg=_kg_text(minimum))]
        elif data.lots and kg > free:
            errors["kg"] = [_l("These lots have only %(kg)s kg available together.", kg=_kg_text(free))]
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


def pin_kind(request: QuoteRequest, lots: list[Lot], order: Order | None = None) -> None:
    """Give an older specification request (from before migration 0013: fibre state and price basis
    NULL) one state and basis, so that an order never mixes them.

    An order keeps the kind of the lots it holds; otherwise the kind with the most free kg among
    ``lots`` (its matching lots) is taken. Requests on chosen lots, and pinned ones, are left alone.
    """
    if request.items or (request.fibre_state is not None and request.price_basis is not None):
        return
    held = [line.lot for line in order.lines] if order is not None and order.lines else []
    if held:
        state, basis = held[0].state, held[0].price_basis
    else:
        free: dict[tuple[FibreState, PriceBasis], Decimal] = defaultdict(Decimal)
        for lot in lots:
            if request.fibre_state in (None, lot.state) and request.price_basis in (None, lot.price_basis):
                free[lot.state, lot.price_basis] += lot.available_kg
        if not free:
            return
        state, basis = max(free, key=lambda kind: (free[kind], kind[0].value, kind[1].value))
    request.fibre_state = request.fibre_state or state
    request.price_basis = request.price_basis or basis
    db.session.flush()


def _check_offer(request: QuoteRequest, *, price_minor: int, day: dt.date) -> None:
    """The staff answer: the lots behind the request can be sold today (certificate, stock, minimum
    order, one state and basis) and the price is at or above the floor of every one of them."""
    lots = matching_lots(_spec_of(request), request_lot_ids(request), day=day)
    if not request.items and (request.fibre_state is None or request.price_basis is None):
        pin_kind(request, lots)
        lots = matching_lots(_spec_of(request), None, day=day)
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
                            kg=_kg_text(free), asked=_kg_text(request.kg)), 409, "price")
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
    return QuoteSummary(
        request=request, quote=quote, lines=[(item.lot, item.kg) for item in request.items], total_minor=total,
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


def lock_quote_request(request_id: int) -> QuoteRequest | None:
    """The request, locked so that it can be accepted only once (second writers wait, then see it)."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            update(QuoteRequest).where(QuoteRequest.id == request_id).values(id=QuoteRequest.id)
            .execution_options(synchronize_session=False)
        )
    return db.session.scalar(
        select(QuoteRequest).where(QuoteRequest.id == request_id).with_for_update()
        .execution_options(populate_existing=True)
    )


def accept_quote(
    request_id: int, *, buyer_ids: set[int], user: User, now: dt.datetime | None = None,
    hold: dt.timedelta = DEFAULT_HOLD, alpha: Decimal = DEFAULT_ALPHA,
    min_shipment_kg: Decimal = DEFAULT_MIN_SHIPMENT_KG,
) -> Order:
    """Accept a quote: create the order, allocate it and reserve its stock until ``now + hold``."""
    now = now or utcnow()
    request = lock_quote_request(request_id)
    if request is None or request.buyer_id not in buyer_ids:
        raise OrderError(_l("There is no such quote."), 404)
    if (problem := verification_problem(request.buyer_id)) is not None:
        raise OrderError(problem, 403)
    if request.status is QuoteStatus.accepted:
        raise OrderError(_l("This quote has already been accepted."))
    if request.status is QuoteStatus.declined:
        raise OrderError(_l("The Union declined this request, so there is nothing to accept."))
    if request.status is not QuoteStatus.quoted or request.quote is None:
        raise OrderError(_l("Only a quote the Union has answered can be accepted."))
    quote = request.quote
    if quote.valid_until < now.astimezone(BUSINESS_TZ).date():
        raise OrderError(_l("This quote expired on %(date)s. Ask for a new one.", date=quote.valid_until.isoformat()))

    order = Order(
        reference=_reference(), buyer_id=request.buyer_id, placed_by=user, stage=OrderStage.accepted,
        currency=quote.currency, incoterm=request.incoterm, incoterm_place=request.incoterm_place,
        deposit_pct=quote.deposit_pct, notes=request.message,
    )
    db.session.add(order)
    order.events.extend([
        OrderEvent(stage=OrderStage.quote_requested, at=request.created_at, actor=request.requested_by),
        OrderEvent(stage=OrderStage.quoted, at=request.answered_at or now, actor=request.answered_by),
        OrderEvent(stage=OrderStage.accepted, at=now, actor=user),
    ])
    request.status = QuoteStatus.accepted
    request.order = order
    db.session.flush()
    _allocate_and_reserve(order, request, now=now, hold=hold, alpha=alpha, min_shipment_kg=min_shipment_kg,
                          actor=user)
    return order


def _reference() -> str:
    return f"ORD-{today().year}-{secrets.token_hex(3).upper()}"


def _lot_stock(lot: Lot) -> engine.LotStock:
    return rules.stock_of(lot)


def _candidates(lots: list[Lot], extra_kg: dict[int, Decimal] | None = None) -> list[engine.Cooperative]:
    """Engine inputs from locked lots; ``extra_kg`` adds back kg this order already holds per lot."""
    extra_kg = extra_kg or {}
    by_coop: dict[int, list[engine.LotStock]] = defaultdict(list)
    for lot in lots:
        stock = rules.stock_of(lot, extra_kg.get(lot.id, Decimal(0)))
        by_coop[lot.cooperative_id].append(stock)
    profiles = {
        p.organisation_id: p
        for p in db.session.scalars(select(CooperativeProfile).where(CooperativeProfile.organisation_id.in_(by_coop)))
    }
    return [
        engine.Cooperative(
            id=cid,
            members=profiles[cid].members if cid in profiles else 0,
            capacity_kg=profiles[cid].declared_capacity_kg if cid in profiles else Decimal(0),
            lots=tuple(stocks),
        )
        for cid, stocks in by_coop.items()
    ]


def release_expired(now: dt.datetime | None = None, lot_ids: set[int] | None = None) -> int:
    """Give back the stock of held reservations whose time is up. Returns how many were released."""
    now = now or utcnow()
    stmt = select(Reservation.id, Reservation.lot_id).where(
        Reservation.status == ReservationStatus.held, Reservation.expires_at <= now
    )
    if lot_ids is not None:
        stmt = stmt.where(Reservation.lot_id.in_(lot_ids))
    due = db.session.execute(stmt).all()
    if not due:
        return 0
    lock_lots(lot_id for _, lot_id in due)
    reservations = db.session.scalars(
        select(Reservation).where(
            Reservation.id.in_([rid for rid, _ in due]), Reservation.status == ReservationStatus.held
        ).execution_options(populate_existing=True)
    ).all()
    orders = set()
    for reservation in reservations:
        _give_back(reservation, ReservationStatus.expired, now)
        orders.add(reservation.order)
    for order in orders:
        if order.stage is OrderStage.accepted and not any(
            r.status in (ReservationStatus.held, ReservationStatus.firm) for r in order.reservations
        ):
            order.stage = OrderStage.cancelled
            order.events.append(OrderEvent(stage=OrderStage.cancelled, at=now, note="reservation_expired"))
    db.session.flush()
    return len(reservations)


def _give_back(reservation: Reservation, status: ReservationStatus, now: dt.datetime) -> None:
    lot = reservation.lot
    lot.reserved_kg -= reservation.kg
    lot.available_kg += reservation.kg
    reservation.status = status
    reservation.released_at = now


def _allocate_and_reserve(
    order: Order, request: QuoteRequest, *, now: dt.datetime, hold: dt.timedelta, alpha: Decimal,
    min_shipment_kg: Decimal, actor: User,
) -> Allocation:
    if request.kg_per_lot:
        return _reserve_chosen(order, request, now=now, hold=hold, alpha=alpha, min_shipment_kg=min_shipment_kg,
                               actor=actor)
    day = now.astimezone(BUSINESS_TZ).date()
    if not request.items and (request.fibre_state is None or request.price_basis is None):
        pin_kind(request, matching_lots(_spec_of(request), None, day=day))
    spec = _spec_of(request)
    quote = request.quote
    assert quote is not None
    candidate_ids = [lot.id for lot in matching_lots(spec, request_lot_ids(request), day=day)]
    release_expired(now, set(candidate_ids))
    locked = lock_lots(candidate_ids)  # read again under the locks: every rule on fresh rows
    lots = [lot for lot in locked
            if rules.sellable(lot, spec, day=day, price_minor=quote.price_minor, currency=quote.currency,
                              quoted_at=quote.created_at)]
    if not lots:
        raise OrderError(_l("No lot that can be sold today meets this quote (certificate, stock, minimum order or "
                            "price floor). Nothing was reserved; ask the Union for a new quote."))
    if (problem := rules.mixed_kinds(lots)) is not None:
        raise OrderError(problem)
    # No share may be smaller than what its cooperative's lots can give (each lot's minimum order):
    # the engine then leaves such a cooperative out and shares its kg among the others.
    min_shipment_kg = max(min_shipment_kg, _smallest_takeable(lots))
    result = engine.allocate(request.kg, _candidates(lots), spec=spec, alpha=alpha, min_shipment_kg=min_shipment_kg)
    if result.total < result.order_units:
        raise OrderError(_l(
            "Only %(kg)s kg of matching stock is free now, less than the %(asked)s kg quoted. "
            "Nothing was reserved; ask the Union for a new quote.",
            kg=f"{(result.total * result.unit_kg).normalize():f}", asked=f"{request.kg.normalize():f}",
        ))
    allocation = Allocation(
        order=order, season=max((lot.season for lot in lots), default=today().year), alpha=alpha,
        min_shipment_kg=min_shipment_kg, unit_kg=result.unit_kg,
    )
    db.session.add(allocation)
    for row in result.rows:
        kg = row.share * result.unit_kg
        allocation.shares.append(AllocationShare(
            cooperative_id=row.cooperative_id, weight=_dec(row.weight, 6), eligible_kg=row.eligible_kg,
            cap_kg=row.cap * result.unit_kg, target_kg=_dec(row.target * Fraction(result.unit_kg), 3),
            engine_kg=kg, kg=kg, reason=row.reason, note=row.note,
        ))
    # The remainder of the quoted kg (below one unit) goes to the largest share.
    _reserve(order, lots, _shares_by_coop(allocation, request.kg), request, now + hold, day=day)
    allocation.audit.append(AllocationAudit(actor=actor, action="proposed", after=_snapshot(allocation)))
    db.session.flush()
    return allocation


def _smallest_takeable(lots: list[Lot]) -> Decimal:
    """The largest, over the cooperatives, of the smallest minimum order among each one's lots."""
    smallest: dict[int, Decimal] = {}
    for lot in lots:
        smallest[lot.cooperative_id] = min(smallest.get(lot.cooperative_id, lot.min_order_kg), lot.min_order_kg)
    return max(smallest.values(), default=Decimal(0))


def request_lot_ids(request: QuoteRequest | None) -> list[int] | None:
    """The lots a request is limited to, or None for a request on a specification."""
    if request is None or not request.items:
        return None
    return [item.lot_id for item in request.items]


def _reserve_chosen(
    order: Order, request: QuoteRequest, *, now: dt.datetime, hold: dt.timedelta, alpha: Decimal,
    min_shipment_kg: Decimal, actor: User,
) -> Allocation:
    """The buyer chose the kg of each lot: reserve exactly that on every lot, or nothing at all.

    All the lots are locked together (in id order) before any stock is read, so two acceptances
    sharing lots queue up instead of overselling, and never deadlock.
    """
    wanted = {item.lot_id: item.kg or Decimal(0) for item in request.items}
    release_expired(now, set(wanted))
    lots = {lot.id: lot for lot in lock_lots(wanted)}
    day = now.astimezone(BUSINESS_TZ).date()
    quote = request.quote
    assert quote is not None
    for lot_id, kg in sorted(wanted.items()):
        lot = lots.get(lot_id)
        if lot is None:
            raise OrderError(_l("Lot %(code)s is not available. Nothing was reserved.", code=lot_id))
        problem = (rules.certificate_problem(lot, day) or rules.quantity_problem(lot, kg)
                   or rules.price_problem(lot, quote.price_minor, quote.currency, quote.created_at))
        if problem is not None:
            raise OrderError(_l("%(problem)s Nothing was reserved; ask the Union for a new quote.", problem=problem))
    if (problem := rules.mixed_kinds(lots.values())) is not None:
        raise OrderError(problem)
    by_coop: dict[int, Decimal] = defaultdict(Decimal)
    free_by_coop: dict[int, Decimal] = defaultdict(Decimal)
    for lot_id, kg in wanted.items():
        by_coop[lots[lot_id].cooperative_id] += kg
        free_by_coop[lots[lot_id].cooperative_id] += lots[lot_id].available_kg
    total = sum(by_coop.values(), Decimal(0))
    allocation = Allocation(
        order=order, season=max(lot.season for lot in lots.values()), alpha=alpha,
        min_shipment_kg=min_shipment_kg, unit_kg=Decimal(1),
    )
    db.session.add(allocation)
    for cid, kg in sorted(by_coop.items()):
        allocation.shares.append(AllocationShare(
            cooperative_id=cid, weight=_dec(Fraction(kg) / Fraction(total), 6), eligible_kg=free_by_coop[cid],
            cap_kg=free_by_coop[cid], target_kg=kg, engine_kg=kg, kg=kg, note=CHOSEN_BY_BUYER,
        ))
    for lot_id, kg in sorted(wanted.items()):
        lot = lots[lot_id]
        lot.available_kg -= kg
        lot.reserved_kg += kg
        db.session.add(Reservation(order=order, lot=lot, kg=kg, status=ReservationStatus.held,
                                   expires_at=now + hold))
        order.lines.append(OrderLine(lot=lot, kg=kg, price_minor=quote.price_minor,
                                     premium_minor=quote.premium_minor))
    allocation.audit.append(AllocationAudit(actor=actor, action="proposed", after=_snapshot(allocation)))
    db.session.flush()
    return allocation


def quoted_at(order: Order, request: QuoteRequest | None) -> dt.datetime:
    """When the order's price was quoted: the fair-price floor in force then binds the order."""
    if request is not None and request.quote is not None and request.quote.created_at is not None:
        return request.quote.created_at
    return order.created_at or utcnow()


def _order_price(order: Order, request: QuoteRequest | None) -> int:
    """The price per kg the buyer agreed to (the quote's, else the order lines')."""
    if request is not None and request.quote is not None:
        return request.quote.price_minor
    return order.lines[0].price_minor if order.lines else 0


def _dec(value: Fraction, places: int) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal(1).scaleb(-places))


def _shares_by_coop(allocation: Allocation, total: Decimal) -> dict[int, Decimal]:
    shares = {s.cooperative_id: s.kg for s in allocation.shares if s.kg > 0}
    rest = total - sum(shares.values(), Decimal(0))
    if rest and shares:
        biggest = max(shares, key=lambda c: (shares[c], -c))
        shares[biggest] += rest
        for s in allocation.shares:
            if s.cooperative_id == biggest:
                s.kg += rest
                s.engine_kg += rest
    return shares


def _reserve(
    order: Order, lots: list[Lot], shares: dict[int, Decimal], request: QuoteRequest | None,
    expires_at: dt.datetime | None, *, day: dt.date | None = None, for_staff: bool = False,
) -> None:
    """Reserve each cooperative's share on its lots (lowest id first). Lots are locked.

    ``for_staff``: the refusal may name the cooperative (staff adjusting); a buyer's never does.

    Every lot taken must pass the selling rules (specification, certificate, price floor) and
    give at least its minimum order and at most its free kg.
    """
    quote = request.quote if request else None
    price = quote.price_minor if quote else (order.lines[0].price_minor if order.lines else 0)
    premium = quote.premium_minor if quote else (order.lines[0].premium_minor if order.lines else 0)
    spec = _spec_of(request) if request else engine.Spec()
    day = day or today()
    status = ReservationStatus.held if order.stage is OrderStage.accepted else ReservationStatus.firm
    order.lines.clear()
    db.session.flush()
    for cid, kg in sorted(shares.items()):
        usable = [lot for lot in lots if lot.cooperative_id == cid
                  and rules.sellable(lot, spec, day=day, price_minor=price, currency=order.currency,
                                     quoted_at=quoted_at(order, request))]
        takes = _takes(usable, kg)
        if takes is None:
            if not for_staff:  # the buyer is never told which cooperative could not supply
                raise OrderError(_l(
                    "The matching lots cannot make up %(kg)s kg without going below a lot's minimum order. "
                    "Nothing was reserved; ask the Union for a new quote.", kg=_kg_text(sum(shares.values()))))
            name = db.session.get(Organisation, cid)
            raise OrderError(_l(
                "%(name)s cannot supply %(kg)s kg from its lots without going below a lot's minimum order or "
                "above its free stock. Nothing was changed.", name=name.name if name else cid, kg=_kg_text(kg)))
        for lot, take in takes:
            lot.available_kg -= take
            lot.reserved_kg += take
            db.session.add(Reservation(order=order, lot=lot, kg=take, status=status,
                                       expires_at=expires_at if status is ReservationStatus.held else None))
            order.lines.append(OrderLine(lot=lot, kg=take, price_minor=price, premium_minor=premium))


def _takes(lots: list[Lot], kg: Decimal) -> list[tuple[Lot, Decimal]] | None:
    """Kg to take from each lot so that they add up to ``kg``, each between the lot's minimum order
    and its free kg (the quantity rule); None when that cannot be done.

    Lots are filled in id order; a take is shortened when what would be left for the next lots
    is below their smallest minimum order.
    """
    takes: list[tuple[Lot, Decimal]] = []
    left = kg
    for index, lot in enumerate(lots):
        if left <= 0:
            break
        take = min(left, lot.available_kg)
        rest = left - take
        later = [other.min_order_kg for other in lots[index + 1:] if other.available_kg >= other.min_order_kg]
        if rest > 0 and later and rest < min(later):
            take -= min(later) - rest  # leave the next lot at least its minimum order
        if rules.quantity_problem(lot, take) is not None:
            continue
        takes.append((lot, take))
        left -= take
    return takes if left == 0 else None


def _snapshot(allocation: Allocation) -> dict[str, str]:
    return {str(s.cooperative_id): f"{s.kg.normalize():f}" for s in allocation.shares if s.kg > 0}


# --- after acceptance ------------------------------------------------------------------------


def record_event(order: Order, stage: OrderStage, actor: User | None, note: str = "",
                 at: dt.datetime | None = None) -> None:
    order.stage = stage
    order.events.append(OrderEvent(stage=stage, at=at or utcnow(), actor=actor, note=note))
    db.session.flush()
    events.order_stage.send(order, args=(stage,))


def mark_deposit_paid(order: Order, at: dt.datetime | None = None) -> bool:
    """The deposit arrived (from a verified webhook): the reservation becomes firm. False if nothing changed."""
    if order.stage is not OrderStage.accepted:
        return False
    held = [r for r in order.reservations if r.status is ReservationStatus.held]
    if not held:  # expired in the meantime: the Union refunds or re-reserves by hand
        return False
    for reservation in held:
        reservation.status = ReservationStatus.firm
        reservation.expires_at = None
    record_event(order, OrderStage.deposit_paid, None, at=at)
    return True


def active_reservations(order: Order) -> list[Reservation]:
    return [r for r in order.reservations if r.status in (ReservationStatus.held, ReservationStatus.firm)]


def order_kg(order: Order) -> Decimal:
    """The kg of the order: what its lines hold (kept after collection and delivery, when the reservations
    are released); none once cancelled."""
    if order.stage is OrderStage.cancelled:
        return sum((r.kg for r in active_reservations(order)), Decimal(0))
    return order.kg


def adjust_allocation(order: Order, *, staff: User, kg_by_coop: dict[int, Decimal], reason: str) -> None:
    """Change the shares by hand, with a reason; the reservations follow. Audited."""
    allocation = order.allocation
    if allocation is None or allocation.status is AllocationStatus.confirmed:
        raise OrderError(_l("Only a proposed allocation can be adjusted."))
    if not reason.strip():
        raise OrderError(_l("Give a reason for the adjustment."), 422)
    total = order_kg(order)
    if any(kg < 0 for kg in kg_by_coop.values()):
        raise OrderError(_l("A share cannot be negative."), 422)
    if sum(kg_by_coop.values(), Decimal(0)) != total:
        raise OrderError(_l("The shares must add up to the order, %(kg)s kg.", kg=f"{total.normalize():f}"), 422)
    request = db.session.scalar(select(QuoteRequest).where(QuoteRequest.order_id == order.id))
    if request is not None and request.kg_per_lot:
        raise OrderError(_l("The buyer chose the kg of each lot: this allocation cannot be changed."), 409)
    if request is not None:
        pin_kind(request, [], order)  # an older request: the kind of the lots the order holds
    spec = _spec_of(request) if request else engine.Spec()
    price = _order_price(order, request)
    day = today()
    held: dict[int, Decimal] = defaultdict(Decimal)
    for r in active_reservations(order):
        held[r.lot_id] += r.kg
    when = quoted_at(order, request)
    candidate_ids = {lot.id for lot in matching_lots(spec, request_lot_ids(request), day=day, price_minor=price,
                                                     currency=order.currency, extra_kg=held, quoted_at=when)}
    candidate_ids |= set(held)
    lots = lock_lots(candidate_ids)
    before = _snapshot(allocation)
    expires = min((r.expires_at for r in active_reservations(order) if r.expires_at), default=None)
    now = utcnow()
    for reservation in active_reservations(order):
        _give_back(reservation, ReservationStatus.released, now)
    shares = {s.cooperative_id: s for s in allocation.shares}
    for cid, kg in kg_by_coop.items():
        if cid not in shares:
            raise OrderError(_l("That cooperative has no matching stock for this order."), 422)
        free = sum((lot.available_kg for lot in lots if lot.cooperative_id == cid
                    and rules.sellable(lot, spec, day=day, price_minor=price, currency=order.currency,
                                       quoted_at=when)), Decimal(0))
        if kg > free:
            raise OrderError(_l("%(name)s has only %(kg)s kg of matching stock free.",
                                name=shares[cid].cooperative.name, kg=f"{free.normalize():f}"), 422)
        shares[cid].kg = kg
    _reserve(order, lots, {c: k for c, k in kg_by_coop.items() if k > 0}, request, expires, day=day, for_staff=True)
    allocation.audit.append(AllocationAudit(actor=staff, action="adjusted", reason=reason.strip(),
                                            before=before, after=_snapshot(allocation)))
    db.session.flush()


CHANGE_PROPOSED, CHANGE_ACCEPTED, CHANGE_REJECTED = "change_proposed", "change_accepted", "change_rejected"


def pending_change(order: Order) -> AllocationAudit | None:
    """The change staff proposed that the buyer has not answered yet, or None."""
    allocation = order.allocation
    if allocation is None:
        return None
    pending = None
    for entry in allocation.audit:
        if entry.action == CHANGE_PROPOSED:
            pending = entry
        elif entry.action in (CHANGE_ACCEPTED, CHANGE_REJECTED):
            pending = None
    return pending


def propose_change(order: Order, *, staff: User, kg_by_coop: dict[int, Decimal], reason: str) -> AllocationAudit:
    """Staff want other shares (other lots) for an accepted order: the buyer consents first.

    The change is tried now and undone (every rule is checked: a change that could not be made is refused
    at once); it is made only when the buyer accepts it (:func:`answer_change`).
    """
    if pending_change(order) is not None:
        raise OrderError(_l("A change already waits for the buyer's answer."))
    allocation = order.allocation
    before = _snapshot(allocation) if allocation is not None else {}
    savepoint = db.session.begin_nested()
    try:
        adjust_allocation(order, staff=staff, kg_by_coop=kg_by_coop, reason=reason)
    finally:
        savepoint.rollback()
    assert order.allocation is not None
    entry = AllocationAudit(actor=staff, action=CHANGE_PROPOSED, reason=reason.strip(), before=before,
                            after={str(cid): f"{kg.normalize():f}" for cid, kg in kg_by_coop.items() if kg > 0})
    order.allocation.audit.append(entry)
    db.session.flush()
    return entry


def answer_change(order: Order, *, buyer: User, accept: bool) -> None:
    """The buyer accepts (the change is made, under every rule) or rejects (nothing changes) a proposal."""
    proposal = pending_change(order)
    if proposal is None:
        raise OrderError(_l("No change waits for your answer."))
    allocation = order.allocation
    assert allocation is not None
    if accept:
        kg_by_coop = {s.cooperative_id: Decimal(proposal.after.get(str(s.cooperative_id), "0"))
                      for s in allocation.shares}
        adjust_allocation(order, staff=buyer, kg_by_coop=kg_by_coop, reason=proposal.reason)
    allocation.audit.append(AllocationAudit(actor=buyer, action=CHANGE_ACCEPTED if accept else CHANGE_REJECTED,
                                            reason=proposal.reason, before=proposal.before, after=proposal.after))
    db.session.flush()


def confirm_allocation(order: Order, *, staff: User) -> None:
    allocation = order.allocation
    if allocation is None or allocation.status is AllocationStatus.confirmed:
        raise OrderError(_l("This allocation is already confirmed."))
    if pending_change(order) is not None:
        raise OrderError(_l("A proposed change waits for the buyer's answer: confirm once the buyer has answered."))
    no_deposit = order.deposit_pct == 0 and order.stage is OrderStage.accepted
    if order.stage is not OrderStage.deposit_paid and not no_deposit:
        raise OrderError(_l("The allocation can be confirmed once the deposit is paid."))
    day = today()
    prices = {line.lot_id: line.price_minor for line in order.lines}
    request = db.session.scalar(select(QuoteRequest).where(QuoteRequest.order_id == order.id))
    when = quoted_at(order, request)  # the floor the buyer was quoted under binds, not a later revision
    for reservation in active_reservations(order):
        lot = reservation.lot
        problem = (rules.certificate_problem(lot, day)
                   or rules.quantity_problem(lot, reservation.kg, extra_kg=reservation.kg)
                   or rules.price_problem(lot, prices.get(lot.id, 0), order.currency, when))
        if problem is not None:
            raise OrderError(_l("%(problem)s The allocation was not confirmed; adjust it first.", problem=problem))
    allocation.status = AllocationStatus.confirmed
    allocation.confirmed_by = staff
    allocation.confirmed_at = utcnow()
    for reservation in active_reservations(order):
        reservation.status = ReservationStatus.firm
        reservation.expires_at = None
    allocation.audit.append(AllocationAudit(actor=staff, action="confirmed", before=_snapshot(allocation),
                                            after=_snapshot(allocation)))
    record_event(order, OrderStage.allocated, staff)
    events.allocation_confirmed.send(allocation, actor=staff)  # funds: premium becomes due to each cooperative


LATER_STAGES = [OrderStage.collected, OrderStage.dehaired_tested, OrderStage.shipped, OrderStage.delivered]


def advance(order: Order, *, staff: User, note: str = "") -> OrderStage:
    """Move an allocated order to its next stage (collected → dehaired and tested → shipped → delivered)."""
    position = STAGE_ORDER.index(order.stage) if order.stage in STAGE_ORDER else -1
    if order.stage not in (OrderStage.allocated, *LATER_STAGES[:-1]):
        raise OrderError(_l("This order cannot move on from its current stage."))
    stage = STAGE_ORDER[position + 1]
    if stage is OrderStage.shipped:
        if not (order.carrier and order.tracking_number and order.shipped_on):
            raise OrderError(_l("Enter the carrier, the tracking or AWB number and the shipping date first."))
        if db.session.scalar(select(Invoice.id).where(Invoice.order_id == order.id,
                                                      Invoice.kind == InvoiceKind.final)) is None:
            raise OrderError(_l("Issue the final invoice before the order is shipped."))
    if stage is OrderStage.collected:  # the fibre leaves the cooperatives: reserved becomes sold
        lock_lots(r.lot_id for r in active_reservations(order))
        for reservation in active_reservations(order):
            reservation.lot.reserved_kg -= reservation.kg
            reservation.status = ReservationStatus.released
            reservation.released_at = utcnow()
    record_event(order, stage, staff, note.strip())
    return stage


SHIPPING_STAGES = (OrderStage.allocated, *LATER_STAGES[:-1])


def set_shipping(order: Order, *, carrier: str, tracking_number: str, shipped_on: dt.date | None,
                 expected_on: dt.date | None) -> None:
    """Staff enter how the order travels: carrier, tracking or AWB number, shipping and expected dates."""
    if order.stage not in SHIPPING_STAGES:
        raise OrderError(_l("Shipping details can be entered from allocation until the order is shipped."))
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier or not tracking_number:
        raise OrderError(_l("Give the carrier and the tracking or AWB number."), 422)
    if shipped_on is not None and expected_on is not None and expected_on < shipped_on:
        raise OrderError(_l("The expected delivery cannot be before the shipping date."), 422)
    order.carrier, order.tracking_number = carrier[:80], tracking_number[:80]
    order.shipped_on, order.expected_on = shipped_on, expected_on
    db.session.flush()


# --- reading ---------------------------------------------------------------------------------


def buyer_order(reference: str, buyer_ids: set[int]) -> Order | None:
    order = db.session.scalar(select(Order).where(Order.reference == reference))
    if order is None or order.buyer_id not in buyer_ids:
        return None
    return order


def tracking(order: Order) -> list[tuple[OrderStage, OrderEvent | None]]:
    """Each stage with the event that reached it (date and actor), or None if not yet reached."""
    events: dict[OrderStage, OrderEvent] = {}
    for event in order.events:
        events.setdefault(event.stage, event)  # the first time the stage was reached
    return [(stage, events.get(stage)) for stage in STAGE_ORDER]


@dataclass(frozen=True)
class Supply:
    cooperative: Organisation
    kg: Decimal
    households: int


def supply(order: Order) -> tuple[list[Supply], int]:
    """The cooperatives supplying the order, and the herder households behind it."""
    allocation = order.allocation
    if allocation is None:
        return [], 0
    lots = {line.lot for line in order.lines}
    households_by_coop: dict[int, int] = defaultdict(int)
    for lot in lots:
        households_by_coop[lot.cooperative_id] += lot.herder_households
    rows = [Supply(s.cooperative, s.kg, households_by_coop.get(s.cooperative_id, 0))
            for s in allocation.shares if s.kg > 0]
    return rows, sum(r.households for r in rows)


def fair_weights(alpha: Decimal = DEFAULT_ALPHA) -> dict[int, Fraction]:
    """Every cooperative's weight by members and declared capacity (the engine's formula)."""
    profiles = db.session.scalars(select(CooperativeProfile)).all()
    members = sum(p.members for p in profiles)
    capacity = sum(p.declared_capacity_kg for p in profiles)
    a = Fraction(alpha)
    weights = {}
    for p in profiles:
        w = Fraction(0)
        if members:
            w += a * Fraction(p.members, members)
        if capacity:
            w += (1 - a) * Fraction(p.declared_capacity_kg) / Fraction(capacity)
        weights[p.organisation_id] = w
    return weights


@dataclass(frozen=True)
class SeasonRow:
    cooperative: Organisation
    allocated_kg: Decimal
    fair_kg: Decimal
    weight: Fraction

    @property
    def difference_kg(self) -> Decimal:
        return self.allocated_kg - self.fair_kg


def season_view(season: int, alpha: Decimal = DEFAULT_ALPHA) -> list[SeasonRow]:
    """Each cooperative's allocated kg this season against its fair share of all allocated kg."""
    allocated = dict(db.session.execute(
        select(AllocationShare.cooperative_id, func.sum(AllocationShare.kg))
        .join(Allocation).where(Allocation.season == season, Allocation.status == AllocationStatus.confirmed)
        .group_by(AllocationShare.cooperative_id)
    ).all())
    weights = fair_weights(alpha)
    total = sum(allocated.values(), Decimal(0))
    organisations = {o.id: o for o in db.session.scalars(select(Organisation).where(Organisation.id.in_(weights)))}
    rows = [
        SeasonRow(organisations[cid], Decimal(allocated.get(cid) or 0), _dec(w * Fraction(total), 1), w)
        for cid, w in weights.items()
    ]
    return sorted(rows, key=lambda r: r.cooperative.name)


@dataclass(frozen=True)
class LotWhy:
    lot: Lot
    standing: Any  # the certificate's standing today
    kg_in_order: Decimal
    excluded: Any | None  # why the lot could not take part (None: eligible)


@dataclass(frozen=True)
class ShareWhy:
    cooperative: Organisation
    members: int
    capacity_kg: Decimal
    lots: list[LotWhy]


def explain_allocation(order: Order) -> list[ShareWhy]:
    """For each cooperative of the allocation: its members and declared capacity (the weights' inputs), and
    every lot of it with its state, certificate standing and price, and why a lot was excluded."""
    allocation = order.allocation
    if allocation is None:
        return []
    request = db.session.scalar(select(QuoteRequest).where(QuoteRequest.order_id == order.id))
    spec = _spec_of(request) if request else engine.Spec()
    chosen = set(request_lot_ids(request) or [])
    price = _order_price(order, request)
    when = quoted_at(order, request)
    day = today()
    in_order: dict[int, Decimal] = defaultdict(Decimal)
    for line in order.lines:
        in_order[line.lot_id] += line.kg
    coop_ids = [s.cooperative_id for s in allocation.shares]
    profiles = {p.organisation_id: p for p in db.session.scalars(
        select(CooperativeProfile).where(CooperativeProfile.organisation_id.in_(coop_ids)))}
    lots_by_coop: dict[int, list[Lot]] = defaultdict(list)
    for lot in db.session.scalars(select(Lot).where(Lot.cooperative_id.in_(coop_ids),
                                                    (Lot.status == LotStatus.listed) | Lot.id.in_(list(in_order)))
                                  .order_by(Lot.id)):
        lots_by_coop[lot.cooperative_id].append(lot)
    rows = []
    for share in allocation.shares:
        profile = profiles.get(share.cooperative_id)
        whys = []
        for lot in lots_by_coop.get(share.cooperative_id, []):
            held = in_order.get(lot.id, Decimal(0))
            excluded = None
            if not held:
                if chosen and lot.id not in chosen:
                    excluded = _l("Not among the lots the buyer chose.")
                elif not spec.matches(rules.stock_of(lot)):
                    excluded = _l("Does not meet the specification.")
                else:
                    excluded = (rules.certificate_problem(lot, day)
                                or rules.quantity_problem(lot, lot.min_order_kg)
                                or rules.price_problem(lot, price, order.currency, when))
            whys.append(LotWhy(lot, rules.certificate_standing(lot, day), held, excluded))
        rows.append(ShareWhy(share.cooperative, profile.members if profile else 0,
                             profile.declared_capacity_kg if profile else Decimal(0), whys))
    return rows


STAFF_ORDERS_PER_PAGE = 50


def staff_orders(stage: OrderStage | None = None, query: str = "", page: int = 1) -> tuple[list[Order], int]:
    """One page of every order (newest first) for the staff list: of one stage, and matching a reference or
    buyer name (the text is matched literally, ``%`` and ``_`` included). Returns the page and the count."""
    stmt = select(Order).join(Organisation, Order.buyer_id == Organisation.id)
    if stage is not None:
        stmt = stmt.where(Order.stage == stage)
    query = query.strip()[:80]
    if query:
        literal = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{literal}%"
        stmt = stmt.where(func.lower(Order.reference).like(pattern, escape="\\")
                          | func.lower(Organisation.name).like(pattern, escape="\\"))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = (stmt.options(selectinload(Order.buyer), selectinload(Order.lines))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .offset((max(page, 1) - 1) * STAFF_ORDERS_PER_PAGE).limit(STAFF_ORDERS_PER_PAGE))
    return list(db.session.scalars(stmt)), total


def seasons() -> list[int]:
    years = set(db.session.scalars(select(Allocation.season).distinct()))
    years.add(today().year)
    return sorted(years, reverse=True)


def open_quote_requests() -> list[QuoteRequest]:
    return list(db.session.scalars(
        select(QuoteRequest).where(QuoteRequest.status.in_([QuoteStatus.requested, QuoteStatus.quoted]))
        .order_by(QuoteRequest.created_at)
        .options(selectinload(QuoteRequest.buyer), selectinload(QuoteRequest.items).selectinload(QuoteRequestLot.lot))
    ))


def buyer_quote_requests(buyer_ids: set[int]) -> list[QuoteRequest]:
    return list(db.session.scalars(
        select(QuoteRequest).where(QuoteRequest.buyer_id.in_(buyer_ids)).order_by(QuoteRequest.created_at.desc())
        .options(selectinload(QuoteRequest.quote), selectinload(QuoteRequest.order),
                 selectinload(QuoteRequest.items).selectinload(QuoteRequestLot.lot))
    ))


def buyer_samples(buyer_ids: set[int]) -> list[SampleRequest]:
    return list(db.session.scalars(
        select(SampleRequest).where(SampleRequest.buyer_id.in_(buyer_ids)).order_by(SampleRequest.created_at.desc())
    ))
