"""The allocation engine, alone: properties checked by Hypothesis, and worked examples."""

from __future__ import annotations

import ast
import random
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.orders import allocation, waterfill
from marketplace.orders.allocation import (
    BELOW_MINIMUM,
    DROPPED_FOR_MINIMUM,
    KEPT_TO_FILL,
    NO_MATCHING_LOT,
    Cooperative,
    LotStock,
    Spec,
    allocate,
)

COLOURS = ["white", "light_grey", "grey", "brown"]

lots = st.builds(
    LotStock,
    lot_id=st.integers(1, 10_000),
    micron=st.decimals("13.0", "19.0", places=1),
    colour=st.sampled_from(COLOURS),
    length_mm=st.decimals("28", "46", places=1),
    hair_pct=st.decimals("0", "1", places=2),
    available_kg=st.decimals("0", "3000", places=3),
)


@st.composite
def cooperatives(draw: st.DrawFn) -> list[Cooperative]:
    ids = draw(st.lists(st.integers(1, 5000), min_size=0, max_size=25, unique=True))
    return [
        Cooperative(
            id=i,
            members=draw(st.integers(0, 400)),
            capacity_kg=draw(st.decimals("0", "20000", places=3)),
            lots=tuple(draw(st.lists(lots, max_size=4))),
        )
        for i in ids
    ]


specs = st.builds(
    Spec,
    max_micron=st.none() | st.decimals("14", "19", places=1),
    colour=st.none() | st.sampled_from(COLOURS),
    min_length_mm=st.none() | st.decimals("30", "44", places=1),
    max_hair_pct=st.none() | st.decimals("0.1", "1", places=2),
)

params = st.fixed_dictionaries({
    "order_kg": st.integers(0, 20_000),
    "coops": cooperatives(),
    "spec": specs,
    "alpha": st.fractions(0, 1, max_denominator=100),
    "minimum": st.integers(0, 500),
    "unit": st.sampled_from([Decimal(1), Decimal(25), Decimal("30.5")]),
})


def _run(p: dict, coops: list[Cooperative] | None = None) -> allocation.Allocation:
    return allocate(p["order_kg"], p["coops"] if coops is None else coops, spec=p["spec"], alpha=p["alpha"],
                    min_shipment_kg=p["minimum"], unit_kg=p["unit"])


@settings(max_examples=300, deadline=None)
@given(params)
def test_properties(p: dict) -> None:
    coops, spec, unit = p["coops"], p["spec"], p["unit"]
    result = _run(p)
    rows = {r.cooperative_id: r for r in result.rows}
    eligible_stock = sum(
        int(sum((lot.available_kg for lot in c.lots if spec.matches(lot) and lot.available_kg > 0), Decimal(0)) // unit)
        for c in coops
        if rows[c.id].reason in (None, DROPPED_FOR_MINIMUM)
    )
    # The shares add up to the order, or to all eligible stock if that is smaller.
    assert result.total == min(result.order_units, eligible_stock)
    eff_min = min(result.min_shipment, result.order_units)
    for coop in coops:
        row = rows[coop.id]
        matching = [lot for lot in coop.lots if spec.matches(lot)]
        # Nobody gets more than its cap, and the cap is the eligible stock.
        assert 0 <= row.share <= row.cap
        assert row.cap * unit <= sum((lot.available_kg for lot in matching if lot.available_kg > 0), Decimal(0))
        # Ineligible cooperatives get nothing.
        if not matching:
            assert row.reason == NO_MATCHING_LOT
        if row.reason is not None:
            assert row.share == 0
        # Each share is within one unit of its target.
        assert abs(row.share - row.target) < 1
        # The minimum shipment: a share is zero or at least the minimum, unless it was kept
        # (and flagged) because the order could not be filled without it.
        if 0 < row.share < eff_min:
            assert row.note == KEPT_TO_FILL
            others = sum(r.cap for r in result.rows if r.reason is None and r.cooperative_id != coop.id)
            assert others < result.total


@settings(max_examples=100, deadline=None)
@given(params, st.randoms(use_true_random=False))
def test_shuffling_the_input_does_not_change_the_result(p: dict, rnd: random.Random) -> None:
    shuffled = list(p["coops"])
    rnd.shuffle(shuffled)
    shuffled = [Cooperative(c.id, c.members, c.capacity_kg, tuple(rnd.sample(c.lots, len(c.lots)))) for c in shuffled]
    assert _run(p) == _run(p, shuffled)


def _coop(cid: int, members: int, capacity: int, kg: int, *, colour: str = "white") -> Cooperative:
    lot = LotStock(cid * 10, Decimal("15.5"), colour, Decimal("38"), Decimal("0.2"), Decimal(kg))
    return Cooperative(cid, members, Decimal(capacity), (lot,))


def test_weights_mix_members_and_capacity_with_alpha() -> None:
    coops = [_coop(1, 100, 1000, 5000), _coop(2, 300, 3000, 5000)]
    result = allocate(400, coops, alpha=Decimal("0.5"))
    assert result.shares() == {1: 100, 2: 300}
    assert result.alpha == Fraction(1, 2)
    members_only = allocate(400, [_coop(1, 100, 3000, 5000), _coop(2, 300, 1000, 5000)], alpha=1)
    assert members_only.shares() == {1: 100, 2: 300}


def test_caps_send_the_overflow_to_the_others() -> None:
    coops = [_coop(1, 100, 1000, 50), _coop(2, 100, 1000, 5000), _coop(3, 200, 2000, 5000)]
    result = allocate(400, coops)
    assert result.shares() == {1: 50, 2: 117, 3: 233}
    assert [r.rounding for r in result.rows][1:] == [Fraction(1, 3), Fraction(-1, 3)]


def test_specification_and_minimum_shipment_exclude_with_a_reason() -> None:
    coops = [_coop(1, 100, 1000, 500, colour="brown"), _coop(2, 10, 100, 500), _coop(3, 200, 2000, 30),
             _coop(4, 300, 3000, 800)]
    result = allocate(600, coops, spec=Spec(colour="white"), min_shipment_kg=50)
    reasons = {r.cooperative_id: r.reason for r in result.rows}
    assert reasons == {1: NO_MATCHING_LOT, 2: DROPPED_FOR_MINIMUM, 3: BELOW_MINIMUM, 4: None}
    assert result.shares() == {4: 600}


def test_order_larger_than_stock_takes_all_stock() -> None:
    result = allocate(10_000, [_coop(1, 100, 1000, 300), _coop(2, 100, 1000, 200)])
    assert result.shares() == {1: 300, 2: 200}


def test_bags_as_units() -> None:
    result = allocate(Decimal("1000"), [_coop(1, 100, 1000, 600), _coop(2, 100, 1000, 600)], unit_kg=Decimal(25))
    assert result.order_units == 40
    assert result.shares() == {1: 20, 2: 20}


def test_the_engine_does_not_import_flask() -> None:
    """The engine's two modules import the standard library and each other, nothing else."""
    for module in (allocation, waterfill):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {n.names[0].name for n in ast.walk(tree) if isinstance(n, ast.Import)}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        top = {name.split(".")[0] for name in imported if name != "marketplace.orders.waterfill"}
        assert top <= {"__future__", "collections", "dataclasses", "decimal", "fractions", "heapq", "itertools",
                       "typing"}, module.__name__
    assert allocate.__doc__ is not None
    assert "order_kg" in allocate.__doc__


# --- fixed expected allocations: speed work on the engine must not change any result ---------


def _lot(lot_id: int, kg: str, colour: str = "white", micron: str = "15.5") -> LotStock:
    return LotStock(lot_id, Decimal(micron), colour, Decimal(38), Decimal("0.2"), Decimal(kg))


FIXED_COOPS = [
    Cooperative(4, 120, Decimal(5000), (_lot(41, "900"),)),
    Cooperative(2, 300, Decimal(12000), (_lot(21, "250.5"), _lot(22, "400", "brown"))),
    Cooperative(9, 40, Decimal(1000), (_lot(91, "60"),)),
    Cooperative(7, 0, Decimal(0), (_lot(71, "500"),)),
    Cooperative(5, 80, Decimal(3000), (_lot(51, "700", micron="17.2"),)),
    Cooperative(3, 50, Decimal(900), (_lot(31, "40"),)),
]


def test_fixed_small_allocations() -> None:
    spec = Spec(max_micron=Decimal("16.5"), colour="white")
    rows = [(r.cooperative_id, r.share, r.reason, r.note, str(r.target))
            for r in allocate(1000, FIXED_COOPS, spec=spec, alpha="0.5", min_shipment_kg=50).rows]
    assert rows == [
        (2, 250, None, None, "250"), (3, 0, BELOW_MINIMUM, None, "0"), (4, 690, None, None, "690"),
        (5, 0, NO_MATCHING_LOT, None, "0"), (7, 0, "no_members_or_capacity", None, "0"), (9, 60, None, None, "60"),
    ]
    rows = [(r.cooperative_id, r.share, r.reason, str(r.target), str(r.weight))
            for r in allocate(333, FIXED_COOPS, spec=spec, alpha="0.5", min_shipment_kg=50).rows]
    assert [row[:4] for row in rows] == [
        (2, 236, None, "181818/769"), (3, 0, BELOW_MINIMUM, "0"), (4, 97, None, "74259/769"),
        (5, 0, NO_MATCHING_LOT, "0"), (7, 0, "no_members_or_capacity", "0"), (9, 0, DROPPED_FOR_MINIMUM, "0"),
    ]


def _digest(result: allocation.Allocation) -> str:
    import hashlib

    h = hashlib.sha256()
    for r in result.rows:
        h.update(repr((r.cooperative_id, str(r.eligible_kg), r.cap, r.share, r.lot_ids, r.reason, r.note,
                       r.weight, r.target)).encode())
    h.update(repr((result.order_units, str(result.unit_kg), result.alpha, result.min_shipment)).encode())
    return h.hexdigest()[:16]


def test_fixed_large_allocations_are_unchanged() -> None:
    """Digests of every row (weight, cap, target, share, reason) recorded before the engine was sped up."""
    from benchmarks.allocation import cooperatives as generated

    coops = generated(300, seed=7)
    cases = [
        ({"order_kg": 20_000, "spec": Spec(), "min_shipment_kg": 20}, "898f1c067bcf0131"),
        ({"order_kg": 9_000, "spec": Spec(max_micron=Decimal("16.0"), colour="white"), "min_shipment_kg": 50,
          "alpha": "0.3"}, "bfe5a539c30afbcc"),
        ({"order_kg": 5_000, "spec": Spec(), "min_shipment_kg": 100}, "8b2bbf8bb04336d5"),
        ({"order_kg": Decimal("12345.678"), "spec": Spec(min_length_mm=Decimal(38)), "min_shipment_kg": 0,
          "unit_kg": 25, "alpha": 1}, "16af82d0e837115a"),
        ({"order_kg": 10**7, "spec": Spec(), "min_shipment_kg": 10, "alpha": 0}, "58ac143314c9668b"),
    ]
    for params, expected in cases:
        assert _digest(allocate(cooperatives=coops, **params)) == expected, params


def _reference_water_fill(caps: dict[int, int], weights: dict[int, int], total: int) -> tuple[set, int, int]:
    """The engine's first water-filling, in rounds (kept here to check the one-pass version against)."""
    free = list(caps)
    remaining, free_weight, saturated = total, sum(weights[c] for c in free), set()
    while free:
        newly = [c for c in free if caps[c] * free_weight <= remaining * weights[c]]
        if not newly:
            break
        saturated.update(newly)
        remaining -= sum(caps[c] for c in newly)
        free_weight -= sum(weights[c] for c in newly)
        free = [c for c in free if c not in saturated]
    return saturated, remaining, free_weight


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.integers(1, 60), st.tuples(st.integers(1, 50), st.integers(1, 12)), min_size=1),
       st.integers(0, 3000))
def test_one_pass_water_filling_matches_the_rounds(coops: dict[int, tuple[int, int]], order: int) -> None:
    caps = {c: cap for c, (cap, _) in coops.items()}
    weights = {c: w for c, (_, w) in coops.items()}  # small integers: many exact ties of cap/weight
    total = min(order, sum(caps.values()))
    if total <= 0:
        return
    fill = waterfill.water_fill(waterfill.order_by_ratio(caps, weights), caps, weights, total)
    saturated, remaining, free_weight = _reference_water_fill(caps, weights, total)
    assert (set(fill.saturated), fill.remaining, fill.free_weight) == (saturated, remaining, free_weight)


def test_a_heavier_small_share_is_dropped_when_the_lightest_cannot_be() -> None:
    # Found by Hypothesis: the lightest cooperative (1) cannot go without short-shipping the 69 kg,
    # but the heavier one (5, target 40 < 42) can, because 1 alone holds 109 kg.
    light = Cooperative(1, 0, Decimal("0.001"), (LotStock(1, Decimal(13), "white", Decimal(28), Decimal(0),
                                                           Decimal("109.68")),))
    heavy = Cooperative(5, 1, Decimal(0), (LotStock(2, Decimal(13), "white", Decimal(28), Decimal(0), Decimal(42)),))
    result = allocate(69, [light, heavy], alpha=Fraction(11, 19), min_shipment_kg=42)
    assert result.shares() == {1: 69}
    assert {r.cooperative_id: r.reason for r in result.rows} == {1: None, 5: DROPPED_FOR_MINIMUM}
