"""Steps 3 to 5 of the allocation rule (see :mod:`marketplace.orders.allocation`): water-filling with caps,
dropping the lightest cooperatives whose share would be below the minimum shipment, and rounding to whole
units by largest remainder. Pure Python on integers and exact fractions, like the engine that calls it."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from itertools import islice


@dataclass(frozen=True)
class Fill:
    """The water level: saturated cooperatives get their cap, the others remaining·w/free_weight."""

    saturated: frozenset[int]
    free: frozenset[int]
    remaining: int
    free_weight: int


def order_by_ratio(caps: dict[int, int], weights: dict[int, int]) -> list[int]:
    """The cooperatives by cap/weight, smallest first: about the order in which water-filling
    saturates them. A float key is fast; :func:`water_fill` checks the exact condition itself."""
    return sorted(caps, key=lambda c: (caps[c] / weights[c], c))


def water_fill(by_ratio: list[int], caps: dict[int, int], weights: dict[int, int], total: int) -> Fill:
    """Targets min(cap, λ·w) adding up to ``total`` (≤ Σcaps), in exact integer arithmetic.

    ``by_ratio`` lists the candidates by cap/weight, smallest first. λ = remaining/free_weight
    never falls when a cooperative with cap ≤ λ·w is saturated, so one pass in that order
    saturates the cooperatives that repeated rounds would. A final exact sweep (almost always
    empty) catches any the float order put too late, so the result is the exact fixed point.
    """
    if not by_ratio or total <= 0:
        return Fill(frozenset(), frozenset(), 0, 0)
    remaining = total
    free_weight = sum(weights[c] for c in by_ratio)
    stop = len(by_ratio)
    for index, c in enumerate(by_ratio):
        cap, weight = caps[c], weights[c]
        if cap * free_weight > remaining * weight:
            stop = index
            break
        remaining -= cap
        free_weight -= weight
    saturated = set(by_ratio[:stop])
    free = by_ratio[stop:]
    while free:
        newly = [c for c in free if caps[c] * free_weight <= remaining * weights[c]]
        if not newly:
            break
        saturated.update(newly)
        remaining -= sum(caps[c] for c in newly)
        free_weight -= sum(weights[c] for c in newly)
        free = [c for c in free if c not in saturated]
    return Fill(frozenset(saturated), frozenset(free), remaining, free_weight)


def keep_for_minimum(
    caps: dict[int, int], weights: dict[int, int], total: int, minimum: int, by_ratio: list[int]
) -> list[int]:
    """Drop the lowest-weight cooperatives whose target is below the minimum shipment.

    Water-filling raises λ when a cooperative is dropped, so the dropped ones are always
    a prefix of the cooperatives sorted by (weight, -id); the shortest prefix that leaves
    every target at or above the minimum is found by binary search. A prefix is only
    allowed while the rest can still fill the order.
    """
    order = sorted(caps, key=lambda c: (weights[c], -c))
    if minimum <= 1 or not order:
        return order

    rank = {c: i for i, c in enumerate(order)}
    kept_weight = [0] * (len(order) + 1)  # Σ weights of order[k:]
    for k in range(len(order) - 1, -1, -1):
        kept_weight[k] = kept_weight[k + 1] + weights[order[k]]

    candidates = [(rank[c], caps[c], weights[c], caps[c] / weights[c]) for c in by_ratio]
    count = len(candidates)

    def exact(k: int) -> bool:
        fill = water_fill([c for c in by_ratio if rank[c] >= k], caps, weights, total)
        if not fill.free:
            return True
        return fill.remaining * min(weights[c] for c in fill.free) >= minimum * fill.free_weight

    def ok(k: int) -> bool:
        """After dropping order[:k], does every free cooperative's target reach the minimum?

        One pass over ``by_ratio``: saturate while cap ≤ λ·w (exact integers). Saturated ones
        get their cap (≥ the minimum); free ones get remaining·w/free_weight, so only the
        lightest free weight matters. The float order can only misplace near-ties of the
        cooperative where saturation stopped; if one of those should saturate after all,
        the exact :func:`water_fill` decides instead.
        """
        remaining, free_weight = total, kept_weight[k]
        stop = count
        for index, (position, cap, weight, _) in enumerate(candidates):
            if position < k:
                continue
            if cap * free_weight > remaining * weight:
                stop = index
                break
            remaining -= cap
            free_weight -= weight
        if stop == count:
            return True
        limit = candidates[stop][3] * (1 + 1e-9)
        for position, cap, weight, ratio in islice(candidates, stop + 1, None):
            if ratio > limit:
                break
            if position >= k and cap * free_weight <= remaining * weight:
                return exact(k)
        lightest = min(weight for position, _, weight, _ in islice(candidates, stop, None) if position >= k)
        return remaining * lightest >= minimum * free_weight

    # Stock left after dropping the first k: suffix sums, so that "fills" is O(1).
    left = [0] * (len(order) + 1)
    for k in range(len(order) - 1, -1, -1):
        left[k] = left[k + 1] + caps[order[k]]

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
    while k > 0 and left[k] < total:  # never short-ship the buyer to honour the minimum
        k -= 1
    if k == hi:
        return order[k:]
    return _drop_heavier_below_minimum(order[k:], caps, weights, total=total, minimum=minimum, by_ratio=by_ratio)


def _drop_heavier_below_minimum(
    kept: list[int], caps: dict[int, int], weights: dict[int, int], *, total: int, minimum: int, by_ratio: list[int]
) -> list[int]:
    """When the lightest cooperative cannot be dropped without short-shipping the buyer, a heavier
    one whose target is below the minimum may still be: drop each such cooperative, lightest first,
    whenever the rest can still fill the order, and recompute the targets after each drop.

    Rare (only after the back-off in :func:`keep_for_minimum`), so the plain exact fill is used.
    A target only rises when another cooperative is dropped, and the stock left only falls, so
    one pass in weight order settles every cooperative.
    """
    kept_set = set(kept)
    stock = sum(caps[c] for c in kept)
    for c in list(kept):  # lightest first
        if stock - caps[c] < total:
            continue  # the order cannot be filled without it: kept, and flagged when its share is small
        fill = water_fill([x for x in by_ratio if x in kept_set], caps, weights, total)
        if c in fill.saturated or fill.remaining * weights[c] >= minimum * fill.free_weight:
            continue  # its target reaches the minimum
        kept_set.discard(c)
        stock -= caps[c]
    return [c for c in kept if c in kept_set]


def round_shares(fill: Fill, caps: dict[int, int], weights: dict[int, int]) -> dict[int, int]:
    """Largest-remainder rounding to whole units adding up to ``total``.

    Saturated cooperatives already have whole units (their caps). The free ones share the
    denominator ``free_weight``, so their remainders compare as integers.
    """
    shares = {c: caps[c] for c in fill.saturated}
    if not fill.free:
        return shares
    remaining, free_weight = fill.remaining, fill.free_weight
    remainders = []
    given = 0
    for c in fill.free:
        weight = weights[c]
        share, remainder = divmod(remaining * weight, free_weight)
        shares[c] = share
        given += share
        if remainder:
            remainders.append((-remainder, -weight, c))
    left = remaining - given
    if left:
        for _, _, c in heapq.nsmallest(left, remainders):
            shares[c] += 1
    return shares
