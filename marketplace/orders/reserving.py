"""Accepting a quote: the order is made, allocated among the cooperatives by the engine and its stock
reserved (or the buyer's kg per lot reserved exactly); held reservations that ran out are given back.

Stock changes happen only under the lot row locks of :mod:`marketplace.orders.locking`."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.db import business_date, today, utcnow
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.orders import allocation as engine
from marketplace.orders import rules
from marketplace.orders.common import (
    CHOSEN_BY_BUYER,
    DEFAULT_ALPHA,
    DEFAULT_HOLD,
    DEFAULT_MIN_SHIPMENT_KG,
    OrderError,
    fraction_to_decimal,
    kg_text,
    lock_quote_request,
    matching_lots,
    pin_kind,
    quoted_at,
    request_lot_ids,
    spec_of,
)
from marketplace.orders.locking import lock_lots
from marketplace.orders.models import (
    Allocation,
    AllocationAudit,
    AllocationShare,
    Order,
    OrderEvent,
    OrderLine,
    OrderStage,
    QuoteRequest,
    QuoteStatus,
    Reservation,
    ReservationStatus,
)
from marketplace.organisations.models import CooperativeProfile, Organisation
from marketplace.organisations.services import verification_problem


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
        # The Union declines only unanswered requests (no quote); the buyer only answered ones.
        if request.quote is not None:
            raise OrderError(_l("You declined this quote, so it can no longer be accepted. Ask for a new one."))
        raise OrderError(_l("The Union declined this request, so there is nothing to accept."))
    if request.status is not QuoteStatus.quoted:  # still "requested": the Union has not answered
        raise OrderError(_l("Only a quote the Union has answered can be accepted."))
    # ``quotes.answer_quote`` writes the quote and the "quoted" status together, so a quoted request has its
    # quote: no second check of ``request.quote`` (it could never refuse what the status had not refused).
    quote = request.quote
    assert quote is not None, f"quote request {request.id} is quoted but has no quote"
    if quote.valid_until < business_date(now):
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
        give_back(reservation, ReservationStatus.expired, now)
        orders.add(reservation.order)
    for order in orders:
        if order.stage is OrderStage.accepted and not any(
            r.status in (ReservationStatus.held, ReservationStatus.firm) for r in order.reservations
        ):
            order.stage = OrderStage.cancelled
            order.events.append(OrderEvent(stage=OrderStage.cancelled, at=now, note="reservation_expired"))
    db.session.flush()
    return len(reservations)


def give_back(reservation: Reservation, status: ReservationStatus, now: dt.datetime) -> None:
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
    day = business_date(now)
    if not request.items and (request.fibre_state is None or request.price_basis is None):
        pin_kind(request, matching_lots(spec_of(request), None, day=day))
    spec = spec_of(request)
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
            cooperative_id=row.cooperative_id, weight=fraction_to_decimal(row.weight, 6), eligible_kg=row.eligible_kg,
            cap_kg=row.cap * result.unit_kg, target_kg=fraction_to_decimal(row.target * Fraction(result.unit_kg), 3),
            engine_kg=kg, kg=kg, reason=row.reason, note=row.note,
        ))
    # The remainder of the quoted kg (below one unit) goes to the largest share.
    reserve_shares(order, lots, _shares_by_coop(allocation, request.kg), request, now + hold, day=day)
    allocation.audit.append(AllocationAudit(actor=actor, action="proposed", after=shares_snapshot(allocation)))
    db.session.flush()
    return allocation


def _smallest_takeable(lots: list[Lot]) -> Decimal:
    """The largest, over the cooperatives, of the smallest minimum order among each one's lots."""
    smallest: dict[int, Decimal] = {}
    for lot in lots:
        smallest[lot.cooperative_id] = min(smallest.get(lot.cooperative_id, lot.min_order_kg), lot.min_order_kg)
    return max(smallest.values(), default=Decimal(0))


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
    day = business_date(now)
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
            cooperative_id=cid, weight=fraction_to_decimal(Fraction(kg) / Fraction(total), 6),
            eligible_kg=free_by_coop[cid], cap_kg=free_by_coop[cid], target_kg=kg, engine_kg=kg, kg=kg,
            note=CHOSEN_BY_BUYER,
        ))
    for lot_id, kg in sorted(wanted.items()):
        lot = lots[lot_id]
        lot.available_kg -= kg
        lot.reserved_kg += kg
        db.session.add(Reservation(order=order, lot=lot, kg=kg, status=ReservationStatus.held,
                                   expires_at=now + hold))
        order.lines.append(OrderLine(lot=lot, kg=kg, price_minor=quote.price_minor,
                                     premium_minor=quote.premium_minor))
    allocation.audit.append(AllocationAudit(actor=actor, action="proposed", after=shares_snapshot(allocation)))
    db.session.flush()
    return allocation


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


def reserve_shares(
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
    spec = spec_of(request) if request else engine.Spec()
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
                    "Nothing was reserved; ask the Union for a new quote.", kg=kg_text(sum(shares.values()))))
            name = db.session.get(Organisation, cid)
            raise OrderError(_l(
                "%(name)s cannot supply %(kg)s kg from its lots without going below a lot's minimum order or "
                "above its free stock. Nothing was changed.", name=name.name if name else cid, kg=kg_text(kg)))
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


def shares_snapshot(allocation: Allocation) -> dict[str, str]:
    return {str(s.cooperative_id): f"{s.kg.normalize():f}" for s in allocation.shares if s.kg > 0}
