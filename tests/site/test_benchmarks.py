"""The benchmarks stay runnable: each one runs end to end in a small size (no figures checked).

Each works on SQLite files in temp dirs: copies of the run's templates (the demo one, or the empty migrated one),
so they run once, in the SQLite pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, Databases

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.skipif(bool(PG_URL) or os.environ.get("TEST_DATABASE") == "postgresql",
                                reason="benchmarks use their own SQLite databases: run in the SQLite pass only")


def _run(*args: str, **extra: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(  # noqa: S603 (our own scripts, fixed arguments)
        [sys.executable, *args], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_search_benchmark_runs(databases: Databases) -> None:
    """From the run's demo template (BENCH_DEMO_DATABASE), which the suite has built anyway: migrating and loading
    the demo again was half this check's time."""
    out = _run("benchmarks/search_bench.py", "--lots", "300", "--queries", "10",
               BENCH_DEMO_DATABASE=databases.template(demo=True))
    assert "lots indexed: 3" in out
    assert "HTTP GET /api/v1/lots" in out


def test_passport_benchmark_runs(databases: Databases) -> None:
    """From the demo template too (benchmarks/common.py, ``demo_instance``)."""
    out = _run("-m", "benchmarks.passport_page", "1", "0.2", BENCH_DEMO_DATABASE=databases.template(demo=True))
    assert "statuses {304:" in out
    assert "page weight" in out
    assert "/static/css/site.css?v=" in out  # the stylesheet is weighed (its URL carries a fingerprint)


def test_ledger_jobs_benchmark_runs(databases: Databases) -> None:
    """From the run's empty template (BENCH_MIGRATED_DATABASE), migrated already."""
    out = _run("-m", "benchmarks.ledger_jobs", "5", "3", BENCH_MIGRATED_DATABASE=databases.template(demo=False))
    assert "republish jobs pending after the requests: 1" in out
    assert "5 new passport versions" in out
    assert "the very next passport request showed the new status: 3/3" in out  # suspend, reinstate, suspend
