"""Equitable allocation of one order across the Union's cooperatives.

Pure Python, no Flask and no database: the order service builds the inputs from the
database and stores the result; tests and the benchmark call :func:`allocate` directly.

The rule, in order:

1. **Eligibility.** A cooperative takes part if at least one of its lots meets the
   specification (maximum micron, colour, minimum length, maximum hair %) and has
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
   the small share is kept and flagged, so that the buyer's order is never short.
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
    """What the buyer asked for. ``None`` means "any"."""

    max_micron: Decimal | None = None
    colour: str | None = None
    min_length_mm: Decimal | None = None
    max_hair_pct: Decimal | None = None

    def matches(self, lot: LotStock) -> bool:
        return (
            (self.max_micron is None or lot.micron <= self.max_micron)
            and (self.colour is None or lot.colour == self.colour)
            and (self.min_length_mm is None or lot.length_mm >= self.min_length_mm)
            and (self.max_hair_pct is None or lot.hair_pct <= self.max_hair_pct)
        )


@dataclass(frozen=True)
class LotStock:
    """One lot a cooperative offers: its lab values and its unreserved kg."""

    lot_id: int
    micron: Decimal
    colour: str
    length_mm: Decimal
    hair_pct: Decimal
    available_kg: Decimal


@dataclass(frozen=True)
class Cooperative:
    """A candidate cooperative: members, declared capacity (kg) and its lots."""

    id: int
    members: int
    capacity_kg: Decimal
    lots: tuple[LotStock, ...] = ()


@dataclass(frozen=True)
class Row:
    """One line of the explanation table."""

    cooperative_id: int
    eligible_kg: Decimal
    weight: Fraction
    cap: int  # units
    target: Fraction  # units, before rounding
    share: int  # units, after rounding
    rounding: Fraction  # share - target
    lot_ids: tuple[int, ...]  # eligible lots, in id order
    reason: str | None = None  # why the cooperative gets nothing
    note: str | None = None


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
    weights = _weights(eligible, a)
    for cid, *_ in eligible:
        if cid not in weights:
            rows[cid]["reason"] = NO_WEIGHT
    caps = {cid: cap for cid, _, _, cap in eligible if cid in weights}
    total = min(order, sum(caps.values()))
    # A minimum larger than the order itself would exclude everyone: the order is the floor.
    floor_units = min(minimum, total)
    kept = _keep_for_minimum(caps, weights, total, floor_units)
    dropped = set(caps) - set(kept)
    targets, free_num, free_den = _water_fill({c: caps[c] for c in kept}, weights, total)
    shares = _round(targets, free_num, free_den, weights, total)

    result = []
    for cid in sorted(rows):
        row = rows[cid]
        weight = weights.get(cid, Fraction(0))
        target = targets.get(cid, Fraction(0))
        share = shares.get(cid, 0)
        reason = row.pop("reason", None)
        if cid in dropped:
            reason = DROPPED_FOR_MINIMUM
        note = KEPT_TO_FILL if share and floor_units and share < floor_units else None
        result.append(Row(weight=weight, target=target, share=share, rounding=share - target,
                          reason=reason, note=note, **row))
    return Allocation(order_units=order, unit_kg=unit, alpha=a, min_shipment=minimum, rows=tuple(result))


def _eligibility(
    cooperatives: Iterable[Cooperative], spec: Spec, unit: Decimal, minimum: int, order: int
) -> tuple[dict[int, dict], list[tuple[int, int, int, int]]]:
    """Each cooperative's eligible lots, stock and cap, with the reason if it cannot take part."""
    rows: dict[int, dict] = {}
    eligible: list[tuple[int, int, int, int]] = []  # (id, members, capacity in grams, cap)
    for coop in sorted(cooperatives, key=lambda c: c.id):
        lots = sorted((lot for lot in coop.lots if spec.matches(lot)), key=lambda lot: lot.lot_id)
        stock = sum((lot.available_kg for lot in lots if lot.available_kg > 0), Decimal(0))
        cap = int(stock // unit)
        row = {"cooperative_id": coop.id, "eligible_kg": stock, "cap": cap,
               "lot_ids": tuple(lot.lot_id for lot in lots if lot.available_kg > 0)}
        rows[coop.id] = row
        if not lots:
            row["reason"] = NO_MATCHING_LOT
        elif cap <= 0:
            row["reason"] = NO_STOCK
        elif cap < min(minimum, order):
            row["reason"] = BELOW_MINIMUM
        elif coop.members <= 0 and coop.capacity_kg <= 0:
            row["reason"] = NO_WEIGHT
        else:
            grams = int(Decimal(coop.capacity_kg) * 1000)
            eligible.append((coop.id, max(coop.members, 0), max(grams, 0), cap))
    return rows, eligible


def _weights(eligible: Sequence[tuple[int, int, int, int]], alpha: Fraction) -> dict[int, Fraction]:
    members = sum(m for _, m, _, _ in eligible)
    capacity = sum(g for _, _, g, _ in eligible)
    a_m = alpha if capacity else Fraction(1)
    a_c = (1 - alpha) if members else Fraction(1)
    if not members and not capacity:
        return {}
    weights = {}
    for cid, m, g, _ in eligible:
        w = Fraction(0)
        if members:
            w += a_m * Fraction(m, members)
        if capacity:
            w += a_c * Fraction(g, capacity)
        weights[cid] = w
    # A zero weight (no members while α = 1, say) receives nothing: it is excluded with its reason.
    return {cid: w for cid, w in weights.items() if w > 0}


def _water_fill(
    caps: dict[int, int], weights: dict[int, Fraction], total: int
) -> tuple[dict[int, Fraction], int, int]:
    """Targets min(cap, λ·w) adding up to ``total`` (≤ Σcaps).

    Returns the targets and λ's numerator and denominator on the common scale of the
    integer weights, so that rounding can compare remainders exactly.
    """
    ids = [c for c in caps if c in weights]
    if not ids or total <= 0:
        return {}, 0, 1
    # Integer weights on a common denominator.
    den = 1
    for c in ids:
        den = den * weights[c].denominator // _gcd(den, weights[c].denominator)
    iw = {c: weights[c].numerator * (den // weights[c].denominator) for c in ids}
    free = set(ids)
    remaining = total
    free_weight = sum(iw[c] for c in ids)
    targets: dict[int, Fraction] = {}
    while True:
        # λ = remaining / free_weight; saturate every cooperative with cap ≤ λ·w.
        saturated = [c for c in free if caps[c] * free_weight <= remaining * iw[c]]
        if not saturated:
            break
        for c in saturated:
            targets[c] = Fraction(caps[c])
            remaining -= caps[c]
            free_weight -= iw[c]
            free.discard(c)
        if not free:
            break
    for c in free:
        targets[c] = Fraction(remaining * iw[c], free_weight)
    return targets, remaining, free_weight


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _keep_for_minimum(
    caps: dict[int, int], weights: dict[int, Fraction], total: int, minimum: int
) -> list[int]:
    """Drop the lowest-weight cooperatives whose target is below the minimum shipment.

    Water-filling raises λ when a cooperative is dropped, so the dropped ones are always
    a prefix of the cooperatives sorted by (weight, -id); the shortest prefix that leaves
    every target at or above the minimum is found by binary search. A prefix is only
    allowed while the rest can still fill the order.
    """
    order = sorted(caps, key=lambda c: (weights.get(c, Fraction(0)), -c))
    if minimum <= 1 or not order:
        return order

    def ok(k: int) -> bool:
        kept = {c: caps[c] for c in order[k:]}
        targets, _, _ = _water_fill(kept, weights, total)
        return all(t >= minimum for t in targets.values())

    def fills(k: int) -> bool:
        return sum(caps[c] for c in order[k:]) >= total

    if ok(0):
        return order
    lo, hi = 0, len(order)  # ok(hi) holds when everyone is dropped, vacuously
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    k = hi
    while k > 0 and not fills(k):  # never short-ship the buyer to honour the minimum
        k -= 1
    return order[k:]


def _round(
    targets: dict[int, Fraction], free_num: int, free_den: int, weights: dict[int, Fraction], total: int
) -> dict[int, int]:
    """Largest-remainder rounding of ``targets`` to whole units adding up to ``total``."""
    shares = {c: t.numerator // t.denominator for c, t in targets.items()}
    left = min(total, sum(t for t in targets.values())) - sum(shares.values())
    if left <= 0:
        return shares
    candidates = sorted(
        (c for c, t in targets.items() if t.denominator != 1),
        key=lambda c: (-(targets[c] - shares[c]), -weights.get(c, Fraction(0)), c),
    )
    for c in candidates[: int(left)]:
        shares[c] += 1
    return shares
