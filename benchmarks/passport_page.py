"""Passport page throughput against a trivial Flask route, under the same gunicorn settings in one run.

Run: .venv/bin/python -m benchmarks.passport_page [rounds [seconds per slice]]
(10 rounds of 1 s slices by default; the suite's check that it runs uses 1 round of 0.2 s slices)
(on SQLite; set BENCH_DATABASE_URL to an empty PostgreSQL database to measure on PostgreSQL;
BENCH_DEMO_DATABASE=FILE starts from a copy of an SQLite database already holding the demo: benchmarks/common.py)
Targets: passport/trivial >= 0.6, 304 path/trivial >= 0.9, page weight (HTML+CSS+JS) <= 60 KB.
"""

from __future__ import annotations

import datetime as dt
import http.client
import re
import statistics
import sys

from benchmarks.common import LoadResult, database_name, demo_instance, gunicorn, load, machine


def fetch(host: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    name, port = host.split(":")
    connection = http.client.HTTPConnection(name, int(port), timeout=10)
    connection.request("GET", path, headers=headers or {})
    return connection.getresponse()


def first_passport(host: str) -> str:
    """A lot passport found the way a visitor would: through the public log."""
    import json

    page = json.loads(fetch(host, "/passports/log/entries?start=0&limit=1").read())
    return f"/passports/{json.loads(page['entries'][0]['data'])['passport']}"


def page_weight(host: str, path: str) -> tuple[int, dict[str, int]]:
    html = fetch(host, path).read()
    parts = {"html": len(html)}
    for asset in re.findall(rb'(?:href|src)="(/static/[^"?]+\.(?:css|js)(?:\?v=[0-9a-f]+)?)"', html):
        parts[asset.decode()] = len(fetch(host, asset.decode()).read())
    return sum(parts.values()), parts


def main() -> None:
    rounds = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    with demo_instance() as env, gunicorn(env) as host:
        passport = first_passport(host)
        etag = fetch(host, passport).getheader("ETag") or ""
        load(host, passport, 2 * seconds)  # warm up
        # Rounds of one-second slices, one per case, so that noise on this shared machine hits all
        # three alike; the order turns each round so that no case always follows another.
        cases = {"trivial": ("/_bench/trivial", None), "page": (passport, None),
                 "304": (passport, {"If-None-Match": etag})}
        names = list(cases)
        totals = {name: LoadResult(0, 0.0, {}) for name in cases}
        per_round: list[dict[str, float]] = []
        for number in range(rounds):
            rates: dict[str, float] = {}
            for name in names[number % 3:] + names[:number % 3]:
                path, headers = cases[name]
                result = load(host, path, seconds, headers=headers)
                rates[name] = result.rate
                total = totals[name]
                total.requests += result.requests
                total.seconds += result.seconds
                for code, count in result.statuses.items():
                    total.statuses[code] = total.statuses.get(code, 0) + count
            per_round.append(rates)
        trivial, page, not_modified = totals["trivial"], totals["page"], totals["304"]
        weight, parts = page_weight(host, passport)

    def paired(name: str) -> str:
        ratios = sorted(r[name] / r["trivial"] for r in per_round)
        return (f"median of {len(ratios)} paired rounds {statistics.median(ratios):.2f} "
                f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f})")

    print(f"# Passport page benchmark, {dt.datetime.now(dt.UTC).date().isoformat()}")
    print(f"machine: {machine()}; database: {database_name()}; gunicorn 2 sync workers; 4 client threads; "
          f"{rounds} rounds of one {seconds:g} s slice per case")
    print(f"trivial route:        {trivial.rate:8.1f} req/s  statuses {trivial.statuses}")
    print(f"passport page (200):  {page.rate:8.1f} req/s  statuses {page.statuses}  "
          f"ratio {page.rate / trivial.rate:.2f} (target >= 0.6); {paired('page')}")
    print(f"passport page (304):  {not_modified.rate:8.1f} req/s  statuses {not_modified.statuses}  "
          f"ratio {not_modified.rate / trivial.rate:.2f} (target >= 0.9); {paired('304')}")
    print(f"page weight: {weight / 1024:.1f} KB (target <= 60 KB): "
          + ", ".join(f"{k} {v / 1024:.1f} KB" for k, v in parts.items()))


if __name__ == "__main__":
    main()
