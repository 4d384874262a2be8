"""Search benchmark: 100,000 synthetic lots, index build time, query latency, peak RSS.

    .venv/bin/python benchmarks/search_bench.py            # 100,000 lots, 500 queries
    .venv/bin/python benchmarks/search_bench.py --lots 5000 --queries 100   # a quick run
    .venv/bin/python benchmarks/search_bench.py --engine meilisearch        # the same through Meilisearch

With ``--engine meilisearch`` the server is ``MEILISEARCH_URL`` (key ``MEILISEARCH_API_KEY``), or, when
that is unset, a throwaway server started from ``MEILISEARCH_BIN``, whose memory and disk use are
then reported too.

It builds a SQLite database (reference and demo content plus the synthetic lots) in a temp
dir (``BENCH_DEMO_DATABASE=FILE`` starts from a copy of a migrated demo database instead), times
``search reindex`` (documents built from the database, written to the embedded
engine), then runs the same 500 mixed queries (typos, Cyrillic and Latin place names,
facet filters, ranges, sorts, pages; facet counts always) directly against the engine and
through ``GET /api/v1/lots`` of a web process serving on 127.0.0.1 (werkzeug, one process,
one thread). It reports p50/p95 and the peak RSS of both processes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AIMAG_SPELLINGS = {
    "BKH": ["Bayankhongor", "Bayanhongor", "Bayan-Khongor", "Баянхонгор", "bayankhongr", "bayanhongro"],
    "UVO": ["Övörkhangai", "Uvurkhangai", "Өвөрхангай", "ovorkhangai", "uvurkhangia"],
    "GAL": ["Govi-Altai", "Gobi-Altai", "Говь-Алтай", "govialtai"],
    "ARK": ["Arkhangai", "Arhangai", "Архангай", "arkhangia"],
}
COLOURS = ["white", "light_grey", "grey", "brown"]
STATES = ["greasy", "scoured", "dehaired"]


def make_app(db_path: Path, index_path: Path) -> Any:
    """The app in the test profile; the engine from BENCH_MEILISEARCH_* (set by ``main``), else embedded."""
    from marketplace import create_app

    meili = {"MEILISEARCH_URL": os.environ["BENCH_MEILISEARCH_URL"],
             "MEILISEARCH_API_KEY": os.environ.get("BENCH_MEILISEARCH_KEY"),
             "MEILISEARCH_INDEX_PREFIX": os.environ.get("BENCH_MEILISEARCH_PREFIX", "")
             } if os.environ.get("BENCH_MEILISEARCH_URL") else {}
    return create_app({
        "ENV": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "SEARCH_INDEX_PATH": str(index_path),
        "IMAGE_STORAGE_PATH": str(db_path.parent / "images"), "SEARCH_APPLY_AFTER_COMMIT": False,
        "PASSPORT_SIGNING_KEY": str(db_path.parent / "signing-key.jwk"),  # made on first use, like dev
        **meili,
    })


# A migrated SQLite database holding the demo content to start from, instead of migrating and loading it here:
# the test suite's check that this benchmark runs passes its own demo template (tests/site/test_benchmarks.py).
DEMO_DATABASE = os.environ.get("BENCH_DEMO_DATABASE")


def build_database(app: Any, count: int, rng: random.Random) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from marketplace.certification.models import Certificate
    from marketplace.demo.loader import load_all
    from marketplace.extensions import db
    from marketplace.lots.models import Lot
    from marketplace.organisations.models import Organisation, OrgKind

    with app.app_context():
        if not DEMO_DATABASE:
            upgrade()
            load_all(Path(app.config["CONTENT_DIR"]))
            db.session.commit()
        coops = db.session.execute(
            select(Organisation.id, Organisation.aimag_id, Organisation.soum_id)
            .where(Organisation.kind == OrgKind.cooperative)
        ).all()
        certs = list(db.session.scalars(select(Certificate.id)))
        now = dt.datetime.now(dt.UTC)
        rows = []
        for i in range(count):
            coop = rng.choice(coops)
            state = rng.choice(STATES)
            net = rng.randint(200, 3000)
            rows.append({
                "code": f"BENCH-{i:06d}", "cooperative_id": coop.id, "aimag_id": coop.aimag_id,
                "soum_id": coop.soum_id, "season": rng.choice([2023, 2024, 2025, 2026]),
                "herder_households": rng.randint(5, 80), "colour": rng.choice(COLOURS), "sorting": "unsorted",
                "state": state, "status": "listed", "listed_at": now - dt.timedelta(minutes=i),
                "mean_diameter_um": round(rng.uniform(14.0, 18.5), 1), "diameter_cv_pct": 21.0,
                "fibres_over_30um_pct": 0.8, "mean_length_mm": round(rng.uniform(30, 45), 1),
                "hair_content_pct": 0.2 if state == "dehaired" else 40.0,
                "dehairing_yield_pct": round(rng.uniform(40, 65), 1) if state == "greasy" else None,
                "vegetable_matter_pct": 0.5, "moisture_regain_pct": 15.0, "test_method": "IWTO-8",
                "lab_name": "Bench lab", "lab_report_number": f"B-{i}", "tested_on": dt.date(2025, 9, 1),
                "net_kg": net, "bags": net // 50 + 1, "available_kg": rng.randint(0, net), "reserved_kg": 0,
                "min_order_kg": 50, "sample_size_g": 100, "price_minor": rng.randint(4000, 20000),
                "premium_minor": 600, "currency": rng.choice(["EUR", "USD"]),
                "price_basis": "greasy" if state == "greasy" else "clean", "incoterm": "FCA",
                "incoterm_place": "Ulaanbaatar", "deposit_pct": 30, "price_valid_until": dt.date(2027, 6, 30),
                "certificate_id": rng.choice(certs) if rng.random() < 0.9 else None,
            })
            if len(rows) == 5000:
                db.session.execute(insert(Lot.__table__), rows)
                rows = []
        if rows:
            db.session.execute(insert(Lot.__table__), rows)
        db.session.commit()


KINDS = ("typo'd place + colour + micron word", "facets + micron range", "place + aimag + available + price sort",
         "browsing: sort, page up to 50", "prefix + season + tier")  # query i is of kind i % 5


def mixed_queries(n: int, rng: random.Random) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    for i in range(n):
        kind = i % 5
        args: dict[str, Any] = {}
        aimag = rng.choice(list(AIMAG_SPELLINGS))
        if kind == 0:  # typo'd place, colour and micron words
            args["q"] = f"{rng.choice(AIMAG_SPELLINGS[aimag])} {rng.choice(['white', 'grey', 'brown'])} 15"
        elif kind == 1:  # facets and a micron range
            args.update(colour=[rng.choice(COLOURS)], state=[rng.choice(STATES)],
                        micron_min="14.5", micron_max=str(round(rng.uniform(15.0, 17.0), 1)))
        elif kind == 2:  # text plus filters plus a sort
            args.update(q=rng.choice(AIMAG_SPELLINGS[aimag]), aimag=[aimag], sort=rng.choice(["price", "-price"]),
                        available_min="500")
        elif kind == 3:  # browsing: sort and deep pages
            args.update(sort=rng.choice(["newest", "micron", "price"]), page=str(rng.randint(1, 50)))
        else:  # prefix as typed
            args.update(q=rng.choice(AIMAG_SPELLINGS[aimag])[:5], season=["2025", "2026"], tier=["Advanced"])
        queries.append(args)
    return queries


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def time_engine(app: Any, queries: list[dict[str, Any]]) -> tuple[list[float], list[float], list[float]]:
    """Engine-only ms of the main query, its CPU ms, whole lot search ms incl. per-facet counts."""
    from werkzeug.datastructures import MultiDict

    from marketplace.lots import services as lots
    from marketplace.lots.forms import LotFilterForm
    from marketplace.lots.search import LOTS
    from marketplace.search import services

    engine_ms, engine_cpu, service_ms = [], [], []
    with app.test_request_context():
        engine = services.engine()
        wanted_all = []
        for args in queries:
            form = LotFilterForm(MultiDict([(k, v) for k, vs in args.items() for v in ([vs] if isinstance(vs, str)
                                                                                        else vs)]))
            if not form.validate():
                raise SystemExit(f"benchmark query not valid: {form.errors}")
            wanted_all.append(lots.LotSearch.from_form(form.data))
        cold = getattr(engine, "_handle", None)  # the embedded engine's facet cache
        for wanted in wanted_all:  # the engine alone, cold: its facet cache is emptied before each query
            if cold:
                cold(LOTS).facet_cache.clear()
            started, cpu = time.perf_counter(), time.thread_time()
            engine.search(LOTS, wanted.to_query())
            engine_ms.append((time.perf_counter() - started) * 1000)
            engine_cpu.append((time.thread_time() - cpu) * 1000)
        if cold:
            cold(LOTS).facet_cache.clear()
        for wanted in wanted_all:  # the lot search service, in sequence as a web process would run them
            started = time.perf_counter()
            lots.find_lots(wanted)
            service_ms.append((time.perf_counter() - started) * 1000)
    return engine_ms, engine_cpu, service_ms


def serve(db_path: str, index_path: str, port: int) -> None:
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = make_app(Path(db_path), Path(index_path))
    make_server("127.0.0.1", port, app, threaded=False).serve_forever()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def time_http(db_path: Path, index_path: Path, queries: list[dict[str, Any]],
              warm_up: list[dict[str, Any]]) -> tuple[list[float], float, int]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(db_path), str(index_path), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1/lots"
        for _ in range(200):
            try:
                urllib.request.urlopen(base, timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        for args in warm_up:  # other queries, so that the measured ones find nothing cached
            urllib.request.urlopen(f"{base}?{urllib.parse.urlencode(args, doseq=True)}", timeout=10).read()  # noqa: S310
        times = []
        cpu_before = _cpu_seconds(server.pid)
        for args in queries:
            url = f"{base}?{urllib.parse.urlencode(args, doseq=True)}"
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
                response.read()
                if response.status != 200:
                    raise SystemExit(f"{url} answered {response.status}")
            times.append((time.perf_counter() - started) * 1000)
        cpu_ms = (_cpu_seconds(server.pid) - cpu_before) * 1000 / len(queries)
        status = Path(f"/proc/{server.pid}/status").read_text()
        rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
        return times, cpu_ms, rss_kb
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--engine", choices=("embedded", "meilisearch"), default="embedded")
    parser.add_argument("--serve", nargs=3, metavar=("DB", "INDEX", "PORT"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve(options.serve[0], options.serve[1], int(options.serve[2]))
        return
    os.environ.setdefault("MARKETPLACE_ENV", "test")
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        server = None
        if options.engine == "meilisearch":
            server = _meilisearch(Path(tmp))
        try:
            run(options, Path(tmp), server)
        finally:
            if server is not None:
                server.kill()


def _meilisearch(tmp: Path) -> Any:
    """Point the benchmark at MEILISEARCH_URL, or start a throwaway server from MEILISEARCH_BIN."""
    from benchmarks.meili_server import MeilisearchServer

    os.environ["BENCH_MEILISEARCH_PREFIX"] = f"bench{os.getpid()}_"
    if os.environ.get("MEILISEARCH_URL"):
        os.environ["BENCH_MEILISEARCH_URL"] = os.environ["MEILISEARCH_URL"]
        os.environ["BENCH_MEILISEARCH_KEY"] = os.environ.get("MEILISEARCH_API_KEY", "")
        return None
    if not os.environ.get("MEILISEARCH_BIN"):
        raise SystemExit("--engine meilisearch needs MEILISEARCH_URL (and MEILISEARCH_API_KEY) or MEILISEARCH_BIN")
    server = MeilisearchServer(os.environ["MEILISEARCH_BIN"], tmp)
    server.start()
    os.environ["BENCH_MEILISEARCH_URL"], os.environ["BENCH_MEILISEARCH_KEY"] = server.url, server.key
    return server


def run(options: argparse.Namespace, tmp: Path, server: Any) -> None:
    rng = random.Random(20261122)
    db_path, index_path = tmp / "bench.sqlite3", tmp / "search"
    if DEMO_DATABASE:
        shutil.copyfile(DEMO_DATABASE, db_path)
    app = make_app(db_path, index_path)
    started = time.perf_counter()
    build_database(app, options.lots, rng)
    insert_s = time.perf_counter() - started

    from marketplace.search import services
    from marketplace.search.sources import specs

    with app.app_context():
        started, cpu = time.perf_counter(), time.process_time()
        counts = services.reindex()
        reindex_s, reindex_cpu = time.perf_counter() - started, time.process_time() - cpu
        version = services.engine().version()
    queries = mixed_queries(options.queries, rng)
    load_before = os.getloadavg()[0]
    engine_ms, engine_cpu, service_ms = time_engine(app, queries)
    http_ms, http_cpu_ms, web_rss_kb = time_http(db_path, index_path, queries, mixed_queries(20, random.Random(1)))
    own_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if server is None and options.engine == "embedded":
        where = f"index on disk {sum(f.stat().st_size for f in index_path.rglob('*') if f.is_file()) / 1e6:.0f} MB"
    elif server is not None:
        now_mb, peak_mb = server.memory_mb()
        where = f"server data {server.disk_mb():.0f} MB; server RSS {now_mb:.0f} MB now, {peak_mb:.0f} MB peak"
    else:
        where = "server at MEILISEARCH_URL (memory and disk not measured)"
    if options.engine == "meilisearch":
        with app.app_context():
            for spec in specs().values():
                services.engine().drop(spec)  # type: ignore[attr-defined]

    print(f"Search benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, engine {options.engine} ({version})")
    print(f"lots indexed: {counts['lots']} (+{counts['products']} products); database built in {insert_s:.1f} s")
    print(f"reindex (documents from the database → {options.engine} index): {reindex_s:.1f} s wall, "
          f"{reindex_cpu:.1f} s CPU; {where}")
    for name, values in (("engine only, main query", engine_ms), ("lot search service (+facet counts)", service_ms),
                         ("HTTP GET /api/v1/lots", http_ms)):
        print(f"{name:38s} p50 {statistics.median(values):7.2f} ms   p95 {percentile(values, 95):7.2f} ms   "
              f"max {max(values):7.2f} ms   (n={len(values)})")
    print(f"CPU per query: engine p50 {statistics.median(engine_cpu):.2f} ms, p95 {percentile(engine_cpu, 95):.2f} ms; "
          f"web process {http_cpu_ms:.2f} ms per HTTP request on average")
    print(f"load average (1 min) before the queries: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}")
    print(f"peak RSS: web process {web_rss_kb / 1024:.0f} MB; benchmark process (build + reindex) {own_rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
