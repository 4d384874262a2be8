"""Reading for staff: who supplies an order, the season's allocations against the fair shares, why
each lot did or did not take part, and the order list."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.db import today
from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.lots.models import Lot, LotStatus
from marketplace.orders import allocation as engine
from marketplace.orders import rules
from marketplace.orders.common import (
    DEFAULT_ALPHA,
    fraction_to_decimal,
    order_price,
    quoted_at,
    request_lot_ids,
    spec_of,
)
from marketplace.orders.models import (
    Allocation,
    AllocationShare,
    AllocationStatus,
    Order,
    OrderStage,
    QuoteRequest,
)
from marketplace.organisations.models import CooperativeProfile, Organisation


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
        SeasonRow(organisations[cid], Decimal(allocated.get(cid) or 0), fraction_to_decimal(w * Fraction(total), 1), w)
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
    spec = spec_of(request) if request else engine.Spec()
    chosen = set(request_lot_ids(request) or [])
    price = order_price(order, request)
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
    # An order holds one fibre state and one price basis (rules.mixed_kinds): a lot of another is not a candidate,
    # whatever its price (an order made without a quote request has no specification to say so). Its lots were
    # read just above: no query per line.
    states = {line.lot.state for line in order.lines}
    bases = {line.lot.price_basis for line in order.lines}
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
                elif len(states) == 1 and lot.state not in states:
                    excluded = _l("Not of this order's fibre state (%(state)s).", state=label(next(iter(states))))
                elif len(bases) == 1 and lot.price_basis not in bases:
                    excluded = _l("Not priced on this order's price basis (%(basis)s).",
                                  basis=label(next(iter(bases))))
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
