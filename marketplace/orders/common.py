"""What every order use case shares: the errors, the limits, the specification a request asks for,
the lots that may be sold on it, and the order's live reservations."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from marketplace.db import today, utcnow
from marketplace.extensions import db
from marketplace.lots.models import FibreState, Lot, LotStatus, PriceBasis
from marketplace.orders import allocation as engine
from marketplace.orders import rules
from marketplace.orders.models import (
    Order,
    OrderStage,
    QuoteRequest,
    Reservation,
    ReservationStatus,
)

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


def spec_of(request: QuoteRequest) -> engine.Spec:
    """The specification a request asks for (every field None on a request on chosen lots)."""
    return engine.Spec(
        max_micron=request.max_micron, colour=request.colour.value if request.colour else None,
        min_length_mm=request.min_length_mm, max_hair_pct=request.max_hair_pct,
        state=request.fibre_state.value if request.fibre_state else None, season=request.season,
        tier=request.tier or None, basis=request.price_basis.value if request.price_basis else None,
    )


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


def kg_text(kg: Decimal) -> str:
    return f"{kg.normalize():f}"


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


def request_lot_ids(request: QuoteRequest | None) -> list[int] | None:
    """The lots a request is limited to, or None for a request on a specification."""
    if request is None or not request.items:
        return None
    return [item.lot_id for item in request.items]


def quoted_at(order: Order, request: QuoteRequest | None) -> dt.datetime:
    """When the order's price was quoted: the fair-price floor in force then binds the order."""
    if request is not None and request.quote is not None and request.quote.created_at is not None:
        return request.quote.created_at
    return order.created_at or utcnow()


def order_price(order: Order, request: QuoteRequest | None) -> int:
    """The price per kg the buyer agreed to (the quote's, else the order lines')."""
    if request is not None and request.quote is not None:
        return request.quote.price_minor
    return order.lines[0].price_minor if order.lines else 0


def fraction_to_decimal(value: Fraction, places: int) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal(1).scaleb(-places))


def active_reservations(order: Order) -> list[Reservation]:
    return [r for r in order.reservations if r.status in (ReservationStatus.held, ReservationStatus.firm)]


def order_kg(order: Order) -> Decimal:
    """The kg of the order: what its lines hold (kept after collection and delivery, when the reservations
    are released); none once cancelled."""
    if order.stage is OrderStage.cancelled:
        return sum((r.kg for r in active_reservations(order)), Decimal(0))
    return order.kg
