"""Benchmark: allocate one order across 1,000 cooperatives (target: 20 ms or less).

Run: .venv/bin/python benchmarks/allocation.py
"""

from __future__ import annotations

import random
import statistics
import time
from decimal import Decimal

from marketplace.orders.allocation import Cooperative, LotStock, Spec, allocate

COLOURS = ["white", "light_grey", "grey", "brown"]


def cooperatives(n: int, seed: int = 2026) -> list[Cooperative]:
    rnd = random.Random(seed)
    coops = []
    for i in range(1, n + 1):
        lots = tuple(
            LotStock(
                lot_id=i * 10 + j, micron=Decimal(rnd.randint(145, 175)) / 10, colour=rnd.choice(COLOURS),
                length_mm=Decimal(rnd.randint(320, 440)) / 10, hair_pct=Decimal(rnd.randint(5, 60)) / 100,
                available_kg=Decimal(rnd.randint(0, 4000)),
            )
            for j in range(rnd.randint(1, 4))
        )
        coops.append(Cooperative(id=i, members=rnd.randint(20, 400),
                                 capacity_kg=Decimal(rnd.randint(500, 15000)), lots=lots))
    return coops


def main() -> None:
    coops = cooperatives(1000)
    cases = {
        "any lot, 20 t, min 20 kg": {"order_kg": 20_000, "spec": Spec(), "min_shipment_kg": 20},
        "white ≤ 16 µm, 50 t, min 50 kg": {
            "order_kg": 50_000, "spec": Spec(max_micron=Decimal("16.0"), colour="white"), "min_shipment_kg": 50},
        "binding minimum: 5 t, min 100 kg": {"order_kg": 5_000, "spec": Spec(), "min_shipment_kg": 100},
    }
    print("Allocation of one order across 1,000 cooperatives (target ≤ 20 ms)")
    for name, params in cases.items():
        allocate(cooperatives=coops, **params)  # warm-up
        timings = []
        for _ in range(30):
            start = time.perf_counter()
            result = allocate(cooperatives=coops, **params)
            timings.append((time.perf_counter() - start) * 1000)
        receiving = sum(1 for r in result.rows if r.share)
        print(f"  {name}: median {statistics.median(timings):.1f} ms, max {max(timings):.1f} ms "
              f"({receiving} cooperatives receive a share, {result.total} kg allocated)")


if __name__ == "__main__":
    main()
