"""Equitable allocation of one order across the Union's cooperatives.

Pure Python, no Flask and no database: the order service builds the inputs from the
database and stores the result; tests and the benchmark call :func:`allocate` directly.

The rule, in order:

1. **Eligibility.** A cooperative takes part if at least one of its lots meets the
   specification (micron, colour, length, hair %, fibre state, season, tier, price basis) and has
   unreserved stock. Its *cap* is that eligible stock, in whole units (kg or bags).
   A cooperative whose cap is below the minimum shipment, or whose weight is zero,
   is excluded with its reason.
2. **Weight.** ``w = α·members/Σmembers + (1−α)·capacity/Σcapacity`` over the eligible
   cooperatives. α is given by the caller and returned with the result.
3. **Water-filling with caps.** Each cooperative's target is ``min(cap, λ·w)``, with λ
   chosen so that the targets add up to the order (or to all eligible stock, if smaller).
4. **Minimum shipment.** While some target is below the minimum shipment, the
   cooperative with the lowest weight (ties: the higher id) is dropped and the targets
   are recomputed, as long as the others can still fill the order. When they cannot,
   the next-lightest cooperative whose target is below the minimum is dropped instead,
   if the others can fill the order without it; a small share that no one can replace
   is kept and flagged, so that the buyer's order is never short.
5. **Rounding.** Largest remainder to whole units: everyone gets the floor of the
   target; the units left go to the largest remainders (ties: higher weight, then
   lower id). No share exceeds its cap, and every share is within one unit of its target.

Everything is computed with integers and exact fractions, so the result does not
depend on the order of the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from marketplace.orders.waterfill import keep_for_minimum, order_by_ratio, round_shares, water_fill

# Exclusion reasons (keys for the staff table; the site translates them).
NO_MATCHING_LOT = "no_matching_lot"
NO_STOCK = "no_stock"
BELOW_MINIMUM = "stock_below_minimum_shipment"
NO_WEIGHT = "no_members_or_capacity"
DROPPED_FOR_MINIMUM = "share_below_minimum_shipment"
# A note on an included cooperative.
KEPT_TO_FILL = "kept_below_minimum_to_fill_order"


@dataclass(frozen=True)
class Spec:
    """What the buyer asked for. ``None`` means "any".

    :meth:`matches` is the one specification rule: every entry point (quote request, staff
    answer, acceptance, allocation, adjustment) selects lots through it.
    """

    max_micron: Decimal | None = None
    colour: str | None = None
    min_length_mm: Decimal | None = None
    max_hair_pct: Decimal | None = None
    state: str | None = None  # fibre state: greasy, scoured, dehaired
    season: int | None = None  # combing season (year)
    tier: str | None = None  # certification tier
    basis: str | None = None  # price basis: greasy or clean

    def matches(self, lot: LotStock) -> bool:
        return (
            (self.max_micron is None or lot.micron <= self.max_micron)
            and (self.colour is None or lot.colour == self.colour)
            and (self.min_length_mm is None or lot.length_mm >= self.min_length_mm)
            and (self.max_hair_pct is None or lot.hair_pct <= self.max_hair_pct)
            and (self.state is None or lot.state == self.state)
            and (self.season is None or lot.season == self.season)
            and (self.tier is None or lot.tier == self.tier)
            and (self.basis is None or lot.basis == self.basis)
        )


@dataclass(frozen=True)
class LotStock:
    """One lot a cooperative offers: its lab values, kind and its unreserved kg."""

    lot_id: int
    micron: Decimal
    colour: str
    length_mm: Decimal
    hair_pct: Decimal
    available_kg: Decimal
    state: str | None = None
    season: int | None = None
    tier: str | None = None
    basis: str | None = None


@dataclass(frozen=True)
class Cooperative:
    """A candidate cooperative: members, declared capacity (kg) and its lots."""

    id: int
    members: int
    capacity_kg: Decimal
    lots: tuple[LotStock, ...] = ()


class Row(NamedTuple):
    """One line of the explanation table (exact fractions are built on demand, for speed)."""

    cooperative_id: int
    eligible_kg: Decimal
    cap: int  # units
    share: int  # units, after rounding
    lot_ids: tuple[int, ...]  # eligible lots, in id order
    reason: str | None = None  # why the cooperative gets nothing
    note: str | None = None
    weight_num: int = 0
    weight_den: int = 1
    target_num: int = 0  # units, before rounding
    target_den: int = 1

    @property
    def weight(self) -> Fraction:
        """The cooperative's weight, as a share of all eligible weight (0 to 1)."""
        return Fraction(self.weight_num, self.weight_den)

    @property
    def target(self) -> Fraction:
        return Fraction(self.target_num, self.target_den)

    @property
    def rounding(self) -> Fraction:
        """Final share minus target (always between -1 and 1 unit)."""
        return self.share - self.target


@dataclass(frozen=True)
class Allocation:
    """The result: one row per cooperative (sorted by id) and the parameters used."""

    order_units: int
    unit_kg: Decimal
    alpha: Fraction
    min_shipment: int
    rows: tuple[Row, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return sum(r.share for r in self.rows)

    @property
    def eligible_units(self) -> int:
        return sum(r.cap for r in self.rows if r.reason not in (NO_MATCHING_LOT, NO_STOCK, BELOW_MINIMUM, NO_WEIGHT))

    def shares(self) -> dict[int, int]:
        return {r.cooperative_id: r.share for r in self.rows if r.share}


def allocate(
    order_kg: Decimal | int,
    cooperatives: Iterable[Cooperative],
    *,
    spec: Spec | None = None,
    alpha: Decimal | Fraction | float | str = Decimal("0.5"),
    min_shipment_kg: Decimal | int = 0,
    unit_kg: Decimal | int = 1,
) -> Allocation:
    """Split ``order_kg`` across ``cooperatives`` fairly; see the module docstring for the rule.

    :param order_kg: the quantity ordered; rounded down to whole units.
    :param cooperatives: the candidates with their members, declared capacity and lots.
    :param spec: the specification the lots must meet (``None``: any lot).
    :param alpha: the weight of member numbers against declared capacity, between 0 and 1.
    :param min_shipment_kg: the smallest non-zero share a cooperative may get.
    :param unit_kg: the unit shares are rounded to: 1 for whole kg, or the kg of one bag.
    :returns: an :class:`Allocation` whose rows (sorted by cooperative id) give each
        cooperative's weight, cap, target, rounding and final share in units, or the
        reason it gets nothing.
    :raises ValueError: on a negative quantity, a unit that is not positive or α outside [0, 1].
    """
    unit = Decimal(unit_kg)
    a = Fraction(str(alpha)) if isinstance(alpha, float | str) else Fraction(alpha)
    if unit <= 0:
        raise ValueError("unit_kg must be positive")
    if Decimal(order_kg) < 0 or Decimal(min_shipment_kg) < 0:
        raise ValueError("quantities cannot be negative")
    if not 0 <= a <= 1:
        raise ValueError("alpha must be between 0 and 1")
    spec = spec or Spec()
    order = int(Decimal(order_kg) // unit)
    minimum = int(-(-Decimal(min_shipment_kg) // unit))  # a minimum rounds up

    rows, eligible = _eligibility(cooperatives, spec, unit, minimum, order)
    weights = _weights(eligible, a)  # integers on a common denominator
    caps = {cid: cap for cid, _, _, cap in eligible if cid in weights}
    total = min(order, sum(caps.values()))
    # A minimum larger than the order itself would exclude everyone: the order is the floor.
    floor_units = min(minimum, total)
    by_ratio = order_by_ratio(caps, weights)
    kept = keep_for_minimum(caps, weights, total, floor_units, by_ratio)
    kept_set = set(kept)
    fill = water_fill([c for c in by_ratio if c in kept_set], caps, weights, total)
    shares = round_shares(fill, caps, weights)
    weight_sum = sum(weights.values()) or 1

    saturated, free, remaining, free_weight = fill.saturated, fill.free, fill.remaining, fill.free_weight
    result: list[Row] = []
    append = result.append
    make_row = tuple.__new__  # a Row from its fields in order, without the keyword-handling constructor
    for cid, eligible_kg, cap, lot_ids, excluded in rows:  # already in id order
        share = shares.get(cid, 0)
        weight = weights.get(cid, 0)
        if cid in saturated:
            target_num, target_den = cap, 1
        elif cid in free and free_weight:
            target_num, target_den = remaining * weight, free_weight
        else:
            target_num, target_den = 0, 1
        reason = excluded
        if excluded is None and cid not in caps:
            reason = NO_WEIGHT  # eligible, but its weight is zero
        elif excluded is None and cid not in kept_set:
            reason = DROPPED_FOR_MINIMUM
        note = KEPT_TO_FILL if share and floor_units and share < floor_units else None
        append(make_row(Row, (cid, eligible_kg, cap, share, lot_ids, reason, note, weight, weight_sum, target_num,
                              target_den)))
    return Allocation(order_units=order, unit_kg=unit, alpha=a, min_shipment=minimum, rows=tuple(result))


def _eligibility(
    cooperatives: Iterable[Cooperative], spec: Spec, unit: Decimal, minimum: int, order: int
) -> tuple[list[tuple[int, Decimal, int, tuple[int, ...], str | None]], list[tuple[int, int, int, int]]]:
    """Each cooperative's eligible stock, cap and lots, with the reason if it cannot take part.

    Returns the rows ``(id, eligible kg, cap, lot ids, reason)`` in id order, and the eligible
    cooperatives as ``(id, members, capacity in grams, cap)``.
    """
    rows: list[tuple[int, Decimal, int, tuple[int, ...], str | None]] = []
    eligible: list[tuple[int, int, int, int]] = []
    matches = spec.matches if spec != Spec() else None
    zero = Decimal(0)
    whole = unit == 1
    smallest = min(minimum, order)
    for coop in sorted(cooperatives, key=_by_id):
        lots = coop.lots if matches is None else [lot for lot in coop.lots if matches(lot)]
        stock = zero
        stocked = []
        for lot in lots:
            kg = lot.available_kg
            if kg > zero:
                stock += kg
                stocked.append(lot.lot_id)
        cap = int(stock) if whole else int(stock // unit)
        lot_ids = tuple(sorted(stocked)) if len(stocked) > 1 else tuple(stocked)
        reason = None
        if not lots:
            reason = NO_MATCHING_LOT
        elif cap <= 0:
            reason = NO_STOCK
        elif cap < smallest:
            reason = BELOW_MINIMUM
        elif coop.members <= 0 and coop.capacity_kg <= 0:
            reason = NO_WEIGHT
        else:
            grams = int(coop.capacity_kg * 1000)
            members = coop.members
            eligible.append((coop.id, members if members > 0 else 0, grams if grams > 0 else 0, cap))
        rows.append((coop.id, stock, cap, lot_ids, reason))
    return rows, eligible


def _by_id(coop: Cooperative) -> int:
    return coop.id


def _weights(eligible: Sequence[tuple[int, int, int, int]], alpha: Fraction) -> dict[int, int]:
    """Integer weights proportional to α·members/Σmembers + (1−α)·capacity/Σcapacity.

    With α = p/q, every weight has the denominator q·Σmembers·Σcapacity, so the numerators
    p·m·C + (q−p)·c·M are exact integers that compare and divide without rounding.
    """
    members = sum(m for _, m, _, _ in eligible)
    capacity = sum(g for _, _, g, _ in eligible)
    p, q = alpha.numerator, alpha.denominator
    weights = {}
    for cid, m, g, _ in eligible:
        if members and capacity:
            w = p * m * capacity + (q - p) * g * members
        elif members:
            w = m
        else:
            w = g
        if w > 0:  # a zero weight (no members while α = 1, say) receives nothing: excluded with its reason
            weights[cid] = w
    return weights
