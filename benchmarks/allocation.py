"""Benchmark: allocate one order across 1,000 cooperatives (target: 20 ms or less).

Run: PYTHONPATH=. .venv/bin/python benchmarks/allocation.py [RUNS]

Each case is timed RUNS times (default 200) after a warm-up, with a garbage collection
before each run (as ``timeit`` hygiene: a collection of the benchmark's own garbage is
not the engine's cost); p50, p95 and max are reported for the wall-clock time and for the
CPU time of the process (the engine's own cost, whatever else the machine is running).
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
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


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main(runs: int = 200) -> None:
    coops = cooperatives(1000)
    cases = {
        "any lot, 20 t, min 20 kg": {"order_kg": 20_000, "spec": Spec(), "min_shipment_kg": 20},
        "white ≤ 16 µm, 50 t, min 50 kg": {
            "order_kg": 50_000, "spec": Spec(max_micron=Decimal("16.0"), colour="white"), "min_shipment_kg": 50},
        "binding minimum: 5 t, min 100 kg": {"order_kg": 5_000, "spec": Spec(), "min_shipment_kg": 100},
    }
    print(f"Allocation of one order across 1,000 cooperatives (target ≤ 20 ms), {runs} runs per case")
    for name, params in cases.items():
        allocate(cooperatives=coops, **params)  # warm-up
        timings, cpu = [], []
        for _ in range(runs):
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            result = allocate(cooperatives=coops, **params)
            cpu.append((time.process_time() - start_cpu) * 1000)
            timings.append((time.perf_counter() - start) * 1000)
        receiving = sum(1 for r in result.rows if r.share)
        print(f"  {name} ({receiving} cooperatives receive a share, {result.total} kg allocated)\n"
              f"    wall: p50 {statistics.median(timings):.1f} ms, p95 {percentile(timings, 95):.1f} ms, "
              f"max {max(timings):.1f} ms\n"
              f"    CPU:  p50 {statistics.median(cpu):.1f} ms, p95 {percentile(cpu, 95):.1f} ms, max {max(cpu):.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
