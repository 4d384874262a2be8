"""Passports at scale (issue 26): build N lot passports and measure publishing, the tiled log, proofs,
full and incremental verification and the passport page.

Run: .venv/bin/python -m benchmarks.passport_scale N   (default 1000; SQLite file in a temp dir, one process)
     .venv/bin/python -m benchmarks.passport_scale N --db FILE   (keeps the database in FILE; a second run on the
     same FILE skips building and publishing and measures the read steps again on the same log)
     .venv/bin/python -m benchmarks.passport_scale N --publish-only [--profile FILE]   (builds the lots and
     measures the publish step alone; ``--profile`` writes a cProfile of it to FILE)
     ... --steps verify,since   (only those read steps: sizes, proofs, verify, since, pages, web; default all)
     ``web``: the passport page from one gunicorn worker over HTTP, and that web process's peak memory
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import machine


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


STEPS = ("sizes", "proofs", "verify", "since", "pages", "web")


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"N must be a whole number ≥ 1, not {value!r}")
    return int(value)


def _steps(value: str) -> list[str]:
    return [step for step in value.split(",") if step in STEPS]


def _options(argv: list[str] | None = None) -> argparse.Namespace:
    """N; ``--db FILE``: keep the database in FILE (its signing key beside it) and, when FILE already holds a
    built database, skip building and publishing (the read steps measured on one database, run after run);
    ``--steps a,b``: only those read steps (``STEPS``); ``--publish-only`` and ``--profile FILE``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.passport_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", metavar="N", nargs="?", type=_positive, default=1000, help="passports (1000)")
    parser.add_argument("--db", type=lambda value: Path(value).resolve(), help="keep the database in this file")
    parser.add_argument("--steps", type=_steps, default=list(STEPS), help=f"read steps, of {','.join(STEPS)}")
    parser.add_argument("--publish-only", action="store_true", help="build and publish, no read steps")
    parser.add_argument("--profile", help="with --publish-only: write a cProfile of the publish to this file")
    return parser.parse_args(argv)


OPTIONS = _options([])  # the defaults, until main reads the command line


def main() -> None:
    global OPTIONS  # noqa: PLW0603 (read once, by the steps below)
    OPTIONS = _options()
    count, keep = OPTIONS.count, OPTIONS.db
    from sqlalchemy import select

    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.lots.models import Lot
    from marketplace.passports import log as merkle_log
    from marketplace.passports.models import Passport

    with tempfile.TemporaryDirectory() as tmp:
        database = keep or Path(tmp) / "bench.sqlite3"
        built = keep is not None and keep.exists()
        app = create_app({"ENV": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
                          "IMAGE_STORAGE_PATH": f"{tmp}/images", "PASSPORT_SIGNING_KEY": f"{database}.key.jwk",
                          "SEARCH_INDEX_PATH": f"{tmp}/search", "MAIL_PORT": 9, "ACCESS_LOG": False})
        out: list[str] = []
        with app.app_context():
            if built:
                out.append(f"database: reused {database} (built earlier; publish not measured in this run)")
                lots = db.session.scalars(select(Lot).order_by(Lot.id).limit(100)).all()
            else:
                lots = _build(count, out)
                if OPTIONS.publish_only:  # the publish step alone
                    print(f"# Publish only: {count} lots, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
                    print(f"machine: {machine()}")
                    for line in out:
                        print(f"- {line}")
                    return
            changed = [lot.id for lot in lots[:100]]
            latest = merkle_log.latest_checkpoint()
            assert latest is not None
            if "sizes" in OPTIONS.steps:
                out.extend(log_sizes(latest))
            if "proofs" in OPTIONS.steps:
                out.extend(inclusion_proofs())
            if "verify" in OPTIONS.steps:
                out.extend(full_verify(latest.tree_size))
            if "since" in OPTIONS.steps:
                # a fresh database gets 100 new versions; a kept one is verified from its checkpoint before the
                # latest (nothing written, so every run reads the same log)
                out.extend(incremental_verify(latest, changed) if not built else incremental_verify_kept(latest))
            public_ids = list(db.session.scalars(select(Passport.public_id))) if "pages" in OPTIONS.steps else []
        if public_ids:
            out.extend(passport_pages(app, public_ids))
        if "web" in OPTIONS.steps:
            out.extend(web_pages(Path(database), Path(tmp)))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.append(f"peak memory (this process, everything above): {peak:.0f} MB")
    print(f"# Passports at scale: {count} lots, {dt.datetime.now(dt.UTC).date().isoformat()}")
    print(f"machine: {machine()}; database: SQLite (a file in a temp dir); Flask test client, one process")
    for line in out:
        print(f"- {line}")


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _publish_step(publish_all: Callable[[], tuple[int, int]], setup: float) -> str:
    """Publish every passport (as ``publish_all``: batches, signed by the worker processes) and commit. The
    wall time depends on what else the machine runs; the CPU seconds of this process (building, the log, the
    database) and of the signing workers say what two idle cores would do: the publishing process is the one
    that cannot be shared, so N / its CPU seconds is the rate when the workers fit on the other core."""
    from marketplace.extensions import db

    began, cpu, children = time.perf_counter(), time.process_time(), _cpu_children()
    published, _unchanged = publish_all()
    db.session.commit()
    wall, cpu, children = (time.perf_counter() - began, time.process_time() - cpu, _cpu_children() - children)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    return (f"publish: {published} passports in {wall:.1f} s = {published / wall:.0f} per second (load average "
            f"{load}); CPU: this process {cpu:.1f} s ({published / cpu:.0f} per CPU second), signing workers "
            f"{children:.1f} s; on two idle cores about {published / max(cpu, (cpu + children) / 2):.0f} per second "
            f"(lots created in {setup:.1f} s, not counted)")


def _build(count: int, out: list[str]) -> list[Any]:
    """Create N lots and publish their passports (the publish step); returns the lots."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from marketplace.extensions import db
    from marketplace.lots.models import Lot
    from marketplace.passports import services
    from tests import factories

    upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    factories.use_session(db.session)
    coop = factories.CooperativeProfileFactory().organisation
    cert = factories.CertificateFactory(holder=coop)  # one certificate for every lot, as a season's are
    began = time.perf_counter()
    template = factories.LotFactory(cooperative=coop, code="BENCH-0000000", certificate=cert)
    db.session.flush()
    row = {column.key: getattr(template, column.key) for column in Lot.__mapper__.column_attrs}
    row.pop("id")
    for start in range(1, count, 5000):  # copies of one lot row, in bulk (the factory is slow)
        db.session.execute(insert(Lot), [{**row, "code": f"BENCH-{number:07d}",
                                          "lab_report_number": f"R-B{number}"}
                                         for number in range(start, min(start + 5000, count))])
    db.session.commit()
    setup = time.perf_counter() - began

    publish_only, profile = OPTIONS.publish_only, OPTIONS.profile
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    # as ``flask passports publish`` does: the lots read 200 at a time and committed every COMMIT_EVERY batches
    # (when the tree has them; before, ``publish_all`` read every lot first and committed once at the end)
    commits = {"commit_every": services.COMMIT_EVERY} if hasattr(services, "COMMIT_EVERY") else {}
    out.append(_publish_step(lambda: services.publish_all(**commits), setup))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    if publish_only:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.append(f"peak memory (this process): {peak:.0f} MB")
        return []
    lots = db.session.scalars(select(Lot).order_by(Lot.id).limit(None if count <= 2000 else 100)).all()
    if count <= 2000:  # every passport again, unchanged: no new version (slow at scale, so small runs)
        began = time.perf_counter()
        again, unchanged = services.publish_many(services.passports_in_batches(lots))
        db.session.commit()
        out.append(f"republish unchanged: {again} new versions, {unchanged} unchanged, "
                   f"{time.perf_counter() - began:.1f} s")
    return lots


# ---- the read steps (issue 26 points 3 and 4): each on its own, on a built database -----------------

def log_sizes(latest: Any) -> list[str]:
    from marketplace.passports import log as merkle_log
    from marketplace.passports import tiles
    from marketplace.passports.signing import get_signer

    size = latest.tree_size
    note = tiles.checkpoint_note(latest, merkle_log.origin(), get_signer())
    full = tiles.tile(0, 0, 0, size)
    bundle = tiles.entry_bundle(0, 0, size)
    return [(f"log: {size} entries; checkpoint note {len(note.encode())} B; full tile "
             f"{len(full or b'')} B; full entry bundle {len(bundle or b'')} B; "
             f"{len(tiles.paths(size))} tiles and bundles in all")]


def inclusion_proofs(samples: int = 200) -> list[str]:
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.passports import log as merkle_log
    from marketplace.passports.models import PassportVersion

    ids = list(db.session.scalars(select(PassportVersion.id)))  # ids only: holding every version would
    picks = [db.session.get(PassportVersion, version_id)  # pin them in the session (and in verify's memory)
             for version_id in random.Random(1).sample(ids, min(samples, len(ids)))]
    timings = []
    for version in picks:
        began = time.perf_counter()
        merkle_log.inclusion(version)
        timings.append((time.perf_counter() - began) * 1000)
    return [f"inclusion proof: p50 {statistics.median(timings):.2f} ms, p95 {_pct(timings, 0.95):.2f} ms"]


def _worker_memory(pids: list[int], peaks: dict[str, int], stop: Any) -> None:
    """Sample the workers' memory every 0.1 s until ``stop``: the peak resident set (which counts the pages
    inherited from this process at the fork) and the peak private memory (what a worker itself made: the
    part that could grow with the log)."""
    while not stop.is_set():
        for pid in pids:
            try:  # open(), not Path: pathlib interns each path's parts, which tracemalloc counted as verify's
                with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                    fields = dict(line.split(":", 1) for line in rollup.read().splitlines()[1:])
            except (OSError, ValueError):
                continue
            kb = {key: int(value.split()[0]) for key, value in fields.items()}
            peaks["rss"] = max(peaks.get("rss", 0), kb.get("Rss", 0))
            peaks["private"] = max(peaks.get("private", 0), kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0))
        stop.wait(0.1)


def full_verify(size: int) -> list[str]:
    """What ``flask passports verify`` runs: the versions' checks (2 worker processes from 2,000 versions) while
    the main process checks the log; the CPU seconds of both sides, and each side's memory."""
    import threading

    from marketplace.extensions import db
    from marketplace.passports import log as merkle_log
    from marketplace.passports import services, verification

    peaks: dict[str, int] = {}

    def run() -> list[str]:
        checks = verification.start_checks()
        stop = threading.Event()
        pool = checks.checks.pool
        sampler = threading.Thread(target=_worker_memory, daemon=True, args=(
            [process.pid for process in pool._pool] if pool is not None else [], peaks, stop))
        sampler.start()
        try:
            log_problems = merkle_log.verify_log(services.status_indexes(), contents=False)
            return checks.problems() + log_problems
        finally:
            stop.set()
            sampler.join()

    began, cpu, children = time.perf_counter(), time.process_time(), _cpu_children()
    problems = run()
    took, cpu, children = time.perf_counter() - began, time.process_time() - cpu, _cpu_children() - children
    assert problems == [], problems[:5]
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    out = [(f"full verify: {took:.1f} s ({size / took:.0f} entries per second, load average {load}); CPU: this "
            f"process {cpu:.1f} s, workers {children:.1f} s ({(cpu + children) / size * 1e6:.0f} µs per entry, "
            f"on two idle cores about {max(cpu, (cpu + children) / 2):.1f} s); a worker's peak RSS "
            f"{peaks.get('rss', 0) / 1024:.0f} MB (pages shared with this process included), private "
            f"{peaks.get('private', 0) / 1024:.0f} MB")]
    db.session.expire_all()
    tracemalloc.start()  # a second run, for its memory: what verify allocates beyond what is held already
    run()
    verify_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out.append(f"full verify memory: peak {verify_peak / 2**20:.1f} MB allocated in the main process "
               "(tracemalloc, second run)")
    return out


def incremental_verify(latest: Any, lot_ids: list[int]) -> list[str]:
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.lots.models import Lot
    from marketplace.passports import log_since, services

    checkpoint_size, root = latest.tree_size, bytes.fromhex(latest.root_hash)
    changed = db.session.scalars(select(Lot).where(Lot.id.in_(lot_ids))).all()
    for lot in changed:
        lot.herder_price_minor = (lot.herder_price_minor or 0) + 1
    services.publish_many(services.passport_for(lot=lot) for lot in changed)
    db.session.commit()
    began = time.perf_counter()
    problems, ids = log_since.verify_since(checkpoint_size, root, services.status_indexes)
    problems += services.verify_all(ids)
    since = time.perf_counter() - began
    assert problems == [], problems[:5]
    return [f"incremental verify (--since, {len(ids)} new entries): {since:.2f} s"]


def incremental_verify_kept(latest: Any) -> list[str]:
    """``verify --since`` on a kept database, from the stored checkpoint before the latest (three runs)."""
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.passports import log_since, services
    from marketplace.passports.log_models import PassportCheckpoint

    base = db.session.scalar(select(PassportCheckpoint).where(PassportCheckpoint.tree_size < latest.tree_size)
                             .order_by(PassportCheckpoint.tree_size.desc()).limit(1))
    if base is None:
        return ["incremental verify: no checkpoint before the latest"]
    walls, cpus = [], []
    for _ in range(3):
        db.session.expire_all()
        began, cpu = time.perf_counter(), time.process_time()
        problems, ids = log_since.verify_since(base.tree_size, bytes.fromhex(base.root_hash), services.status_indexes)
        problems += services.verify_all(ids)
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
        assert problems == [], problems[:5]
    return [(f"incremental verify (--since the checkpoint of size {base.tree_size}, "
             f"{latest.tree_size - base.tree_size} new entries): "
             f"{min(walls):.3f} s (best of 3; CPU {min(cpus):.3f} s)")]


def passport_pages(app: Any, public_ids: list[str], samples: int = 300) -> list[str]:
    client = app.test_client()
    picks = random.Random(2).sample(public_ids, min(samples, len(public_ids)))
    cold, warm = [], []
    for public_id in picks:
        began = time.perf_counter()
        response = client.get(f"/passports/{public_id}")
        cold.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        assert client.get(f"/passports/{public_id}",
                          headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
        warm.append((time.perf_counter() - began) * 1000)
    return [(f"passport page: rendered p50 {statistics.median(cold):.1f} ms, p95 {_pct(cold, 0.95):.1f} ms; "
             f"revalidated (304) p50 {statistics.median(warm):.1f} ms, p95 {_pct(warm, 0.95):.1f} ms")]


def _memory_kb(pid: int) -> dict[str, int]:
    """A process's resident set now (VmRSS) and at its peak (VmHWM), in kB."""
    found = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


def web_pages(database: Path, tmp: Path, samples: int = 300) -> list[str]:
    """The passport page as a visitor gets it: one gunicorn worker (one thread, the production app) serving the
    built database, 300 passports picked at random (by row id, so nothing here holds the whole list), each
    fetched over HTTP on a new connection, then revalidated with its ETag. Timed by the client; the worker's
    peak resident memory (VmHWM) read from /proc at the end."""
    import http.client
    import os
    import sqlite3

    from benchmarks.common import ROOT, gunicorn

    with contextlib.closing(sqlite3.connect(database)) as connection:
        top = connection.execute("SELECT max(id) FROM passport").fetchone()[0] or 0
        ids = random.Random(3).sample(range(1, top + 1), min(samples, top))
        marks = ",".join("?" * len(ids))
        public_ids = [row[0] for row in connection.execute(
            f"SELECT public_id FROM passport WHERE id IN ({marks})", ids)]  # noqa: S608 (placeholders only)
    env = {**os.environ, "MARKETPLACE_ENV": "dev", "MARKETPLACE_INSTANCE": str(tmp), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"sqlite:///{database}", "PASSPORT_SIGNING_KEY": f"{database}.key.jwk",
           "SEARCH_INDEX_PATH": str(tmp / "web-search"), "IMAGE_STORAGE_PATH": str(tmp / "web-images")}
    cold, warm = [], []
    with gunicorn(env, workers=1, threads=1) as host:
        name, port = host.split(":")

        def get(path: str, headers: dict[str, str]) -> tuple[float, http.client.HTTPResponse, bytes]:
            began = time.perf_counter()
            connection = http.client.HTTPConnection(name, int(port), timeout=60)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            connection.close()
            return (time.perf_counter() - began) * 1000, response, body

        for public_id in public_ids:
            took, response, _ = get(f"/passports/{public_id}", {})
            assert response.status == 200, response.status
            cold.append(took)
            took, response, _ = get(f"/passports/{public_id}", {"If-None-Match": response.getheader("ETag") or ""})
            assert response.status == 304, response.status
            warm.append(took)
        workers = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if f"127.0.0.1:{port}".encode() in cmdline.read():
                        workers.append(_memory_kb(int(entry)))
    peak = max((memory.get("VmHWM", 0) for memory in workers), default=0) / 1024
    return [(f"passport page over HTTP (one gunicorn worker, {len(public_ids)} passports at random): p50 "
             f"{statistics.median(cold):.1f} ms, p95 {_pct(cold, 0.95):.1f} ms; revalidated (304) p50 "
             f"{statistics.median(warm):.1f} ms, p95 {_pct(warm, 0.95):.1f} ms"),
            f"web process memory: peak resident {peak:.0f} MB (the largest of gunicorn's {len(workers)} processes)"]


if __name__ == "__main__":
    main()
