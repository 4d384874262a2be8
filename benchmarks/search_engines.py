"""Both search engines at demo size, in one run: write latency, and throughput through the site against
Meilisearch's own for the same searches.

Run: MEILISEARCH_BIN=$(../shared/tools/meilisearch/install) .venv/bin/python -m benchmarks.search_engines \
         [seconds] [rounds]

It builds a dev instance with the demo content in a temp dir and starts a throwaway Meilisearch server
from MEILISEARCH_BIN. Then:
- write latency: the wall time of committing one lot edit (the search outbox applied after the commit,
  as web processes do), 60 times per engine, in a subprocess per engine;
- throughput with wrk (Debian's package), 16 connections, the site under gunicorn (2 workers, 4 threads
  each; one server per engine, both running): ``GET /api/v1/lots?q=bayanhongr&colour=white`` through
  each engine and, for the same search, the multi-search request the site sends, straight to
  Meilisearch; and ``GET /lots`` with two facets ticked through each engine. The five cases run in
  ``rounds`` (default 5) of one slice of ``seconds`` (default 5) each, the order turning every round, so
  that a ratio compares slices taken under the same load of the shared machine; it prints the ratio of
  the totals and the median, lowest and highest ratio of the rounds.
Goals (issue 25): a commit adds at most 20 ms (p50) with Meilisearch; the API through Meilisearch keeps
at least 50 % of Meilisearch's own throughput; /lots through Meilisearch reaches at least half of embedded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import BIN, ROOT, demo_instance, gunicorn, machine
from benchmarks.meili_server import MeilisearchServer

API = "/api/v1/lots?q=bayanhongr&colour=white"
PAGE = "/lots?colour=white&state=dehaired"
WRITES = 60


def wrk(url: str, seconds: float, script: Path | None = None, warm: bool = False) -> float:
    """Requests per second, from wrk (2 threads, 16 connections), after a 3 s warm-up if ``warm``; fails on
    any error."""
    args = ["wrk", "-t2", "-c16", "--timeout", "10s", url, *(["-s", str(script)] if script else [])]
    if warm:
        subprocess.run([*args, "-d3s"], check=True, capture_output=True)  # caches, connections, workers
    out = subprocess.run([*args, f"-d{seconds:.0f}s"], check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out or "Socket errors" in out or "Requests/sec:" not in out:
        raise SystemExit(f"{url} gave errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def flask(env: dict[str, str], *args: str) -> str:
    return subprocess.run([BIN / "flask", "--app", "marketplace", *args], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def write_latency(env: dict[str, str]) -> list[float]:
    done = subprocess.run([sys.executable, "-m", "benchmarks.search_engines", "--writes"], env=env, cwd=ROOT,
                          check=False, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return [float(v) for v in json.loads(done.stdout.strip().splitlines()[-1])]


def _writes() -> None:
    """In a subprocess: commit WRITES lot edits and print their wall times (ms) as JSON."""
    from decimal import Decimal

    from sqlalchemy import select

    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.lots.models import Lot, LotStatus

    app = create_app()
    times = []
    with app.app_context():
        lot_ids = db.session.scalars(select(Lot.id).where(Lot.status == LotStatus.listed).order_by(Lot.id)).all()
        for n in range(WRITES):
            lot = db.session.get(Lot, lot_ids[n % len(lot_ids)])
            lot.available_kg = lot.available_kg + Decimal("0.1") * (-1 if (n // len(lot_ids)) % 2 == 0 else 1)
            started = time.perf_counter()
            db.session.commit()  # the search outbox is applied (sent) after the commit, as in a web request
            times.append((time.perf_counter() - started) * 1000)
    print(json.dumps(times))


def meili_body(prefix: str) -> str:
    """The multi-search the site sends for API (the same queries, built by the same code: the API sends no
    suggestion queries, ``find_lots(..., suggest=False)``)."""
    from marketplace.lots.search import LOTS
    from marketplace.lots.services import LotSearch, page_queries
    from marketplace.search.meili import multi_search_queries

    main, counts, loosened = page_queries(LotSearch(q="bayanhongr", facets={"colour": ("white",)}), speculative=False)
    return json.dumps({"queries": multi_search_queries(f"{prefix}lots", LOTS,
                                                        [main, *counts, *(q for _s, q in loosened)])})


def main() -> None:
    if "--writes" in sys.argv:
        _writes()
        return
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    if not os.environ.get("MEILISEARCH_BIN") or not shutil.which("wrk"):
        raise SystemExit("Needs MEILISEARCH_BIN (../shared/tools/meilisearch/install) and wrk (apt-get install wrk)")
    with demo_instance() as env, tempfile.TemporaryDirectory(prefix="bench-meili-") as tmp:
        server = MeilisearchServer(os.environ["MEILISEARCH_BIN"], Path(tmp))
        server.start()
        try:
            meili_env = {**env, "MEILISEARCH_URL": server.url, "MEILISEARCH_API_KEY": server.key,
                         "MEILISEARCH_INDEX_PREFIX": "bench_"}
            flask(env, "search", "reindex")
            flask(meili_env, "search", "reindex")
            request = urllib.request.Request(f"{server.url}/version",  # noqa: S310 (our own server on loopback)
                                             headers={"Authorization": f"Bearer {server.key}"})
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                version = json.loads(answer.read())["pkgVersion"]
            writes = {"embedded": write_latency(env), "meilisearch": write_latency(meili_env)}
            script = Path(tmp) / "multi-search.lua"
            body = json.dumps(meili_body("bench_"))
            script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                              f'wrk.headers["Authorization"] = "Bearer {server.key}"\nwrk.body = {body}\n')
            with gunicorn(env, threads=4) as embedded, gunicorn(meili_env, threads=4) as meili:
                cases: list[tuple[str, str, Path | None]] = [
                    (ALONE, f"{server.url}/multi-search", script),
                    (API_MEILI, f"http://{meili}{API}", None), (API_EMBEDDED, f"http://{embedded}{API}", None),
                    (PAGE_MEILI, f"http://{meili}{PAGE}", None), (PAGE_EMBEDDED, f"http://{embedded}{PAGE}", None),
                ]
                for _name, url, lua in cases:
                    wrk(url, 1, lua, warm=True)
                rates: list[dict[str, float]] = []
                for turn in range(rounds):
                    order = cases[turn % len(cases):] + cases[:turn % len(cases)]
                    rates.append({name: wrk(url, seconds, lua) for name, url, lua in order})
            memory = server.memory_mb()
        finally:
            server.kill()
    report(version, writes, rates, memory, seconds)


ALONE = "meilisearch alone: the same multi-search"
API_MEILI, API_EMBEDDED = "site, meilisearch: API", "site, embedded: API"
PAGE_MEILI, PAGE_EMBEDDED = "site, meilisearch: /lots, 2 facets", "site, embedded: /lots, 2 facets"


def _ratios(rates: list[dict[str, float]], top: str, bottom: str) -> str:
    total = sum(r[top] for r in rates) / sum(r[bottom] for r in rates)
    each = sorted(r[top] / r[bottom] for r in rates)
    return f"{total:.2f} (rounds: median {statistics.median(each):.2f}, {each[0]:.2f}-{each[-1]:.2f})"


def report(version: str, writes: dict[str, list[float]], rates: list[dict[str, float]], memory: tuple[float, float],
           seconds: float) -> None:
    print(f"Search engines at demo size, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}; "
          f"Meilisearch {version} (RSS {memory[0]:.0f} MB, peak {memory[1]:.0f} MB); load average "
          f"{os.getloadavg()[0]:.1f}")
    for name, times in writes.items():
        print(f"commit of one lot edit, {name:11s}: p50 {statistics.median(times):6.1f} ms   "
              f"p95 {sorted(times)[int(len(times) * 0.95) - 1]:6.1f} ms   max {max(times):6.1f} ms   (n={len(times)})")
    added = statistics.median(writes["meilisearch"]) - statistics.median(writes["embedded"])
    print(f"Meilisearch adds {added:.1f} ms to a commit (p50; goal <= 20 ms)")
    for name in rates[0]:
        each = " ".join(f"{r[name]:.0f}" for r in rates)
        print(f"{name:42s} {sum(r[name] for r in rates) / len(rates):8.0f} req/s   (rounds: {each}; wrk, "
              f"16 connections, {seconds:.0f} s slices)")
    print(f"API through Meilisearch / Meilisearch alone: {_ratios(rates, API_MEILI, ALONE)} (goal >= 0.50)")
    print(f"/lots through Meilisearch / embedded:        {_ratios(rates, PAGE_MEILI, PAGE_EMBEDDED)} (goal >= 0.50)")


if __name__ == "__main__":
    main()
