"""Shared benchmark plumbing: a demo database in a temp dir, a gunicorn server, an HTTP load loop."""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def machine() -> str:
    cpus = os.cpu_count()
    memory = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    return f"{platform.processor() or platform.machine()}, {cpus} cores{memory}, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_name() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", "")
    if url.startswith("postgres") and not os.environ.get("BENCH_DEMO_DATABASE"):  # which demo_instance uses
        return "PostgreSQL"
    return "SQLite (a file in a temp dir)"


@contextlib.contextmanager
def demo_instance() -> Iterator[dict[str, str]]:
    """Environment for a dev instance in a temp dir, migrated and loaded with the demo content.

    The database is an SQLite file in that dir, or the empty database named by
    ``BENCH_DATABASE_URL`` (e.g. a PostgreSQL database created for the run). ``BENCH_DEMO_DATABASE=FILE`` starts
    from a copy of an SQLite database already migrated and loaded with the demo content instead (the test suite's
    check that a benchmark runs passes its demo template: migrating and loading again was most of that check). Only
    the database is copied (no pictures, search index or organisations' key file): for benchmarks that read pages,
    such as ``passport_page``. It takes precedence over ``BENCH_DATABASE_URL``.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        env = {**os.environ, "MARKETPLACE_ENV": "dev", "MARKETPLACE_INSTANCE": tmp, "PYTHONPATH": str(ROOT)}
        env.pop("DATABASE_URL", None)
        if os.environ.get("BENCH_DEMO_DATABASE"):
            shutil.copyfile(os.environ["BENCH_DEMO_DATABASE"], Path(tmp) / "marketplace.sqlite3")  # the dev file
            yield env
            return
        if os.environ.get("BENCH_DATABASE_URL"):
            env["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
        for args in (["db", "upgrade"], ["demo", "load"]):
            subprocess.run([BIN / "flask", "--app", "marketplace", *args], env=env, cwd=ROOT, check=True,
                           capture_output=True)
        yield env


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int = 2, threads: int = 1, root: Path = ROOT) -> Iterator[str]:
    """A gunicorn serving ``benchmarks.wsgi:app`` of the tree at ``root`` (this one by default)."""
    port = free_port()
    process = subprocess.Popen(
        [BIN / "gunicorn", "--workers", str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "benchmarks.wsgi:app"], env=env, cwd=root,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        _until_workers_answer(f"127.0.0.1:{port}", workers)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _until_workers_answer(host: str, workers: int) -> None:
    """The master accepts connections before its workers have imported the app. Poll the trivial
    route until ten requests per worker in a row answer within 50 ms (a worker still booting makes
    a request wait), so that no measurement includes a worker's start-up."""
    name, port = host.split(":")
    quick = 0
    for _ in range(600):
        started = time.perf_counter()
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection(name, int(port), timeout=30)
            connection.request("GET", "/_bench/trivial")
            if connection.getresponse().status == 200:
                quick = quick + 1 if time.perf_counter() - started < 0.05 else 0
            connection.close()
        if quick >= 10 * workers:
            return
        time.sleep(0.05)


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def load(host: str, path: str, seconds: float, concurrency: int = 4,
         headers: dict[str, str] | None = None) -> LoadResult:
    """Send GET requests from ``concurrency`` threads for ``seconds`` (bounded in time and count)."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    limit = 200_000

    def worker() -> None:
        name, port = host.split(":")
        while time.perf_counter() < deadline:
            connection = http.client.HTTPConnection(name, int(port), timeout=10)
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            response.read()
            connection.close()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if sum(statuses.values()) >= limit:
                    return

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return LoadResult(sum(statuses.values()), elapsed, statuses)
