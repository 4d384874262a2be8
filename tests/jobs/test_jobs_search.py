"""The search engine down while the ``search.sync`` job runs (issue 20, "search down"): every write commits
and waits in the outbox, the job fails and comes back with a growing backoff (never dead-lettered early,
never blocking other jobs), and once the engine is back the job's next run makes the index match the
database, with nothing lost. Run by the real job worker (``jobs.run_pending``).

Embedded engine: made unavailable the way another process would, by holding tantivy's only index writer.
Meilisearch: only with a real server this test starts and kills (``MEILISEARCH_BIN``, as ./dev test sets it)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from benchmarks.meili_server import MeilisearchServer
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobStatus
from marketplace.lots.models import Lot, LotStatus
from marketplace.lots.search import LOTS
from marketplace.products.search import PRODUCTS
from marketplace.search import services as search
from marketplace.search.models import SearchOutbox
from marketplace.search.port import SearchQuery
from marketplace.search.sources import sources
from tests.conftest import make_app

CODES = ("USCC-2025-BKH-002", "USCC-2025-UVO-007", "USCC-2025-BKH-003")


def _index_equals_database() -> None:
    for spec in (LOTS, PRODUCTS):
        expected = {d["id"]: d for d in sources()[spec.name].all_documents(db.session)}
        engine = search.engine()
        assert engine.document_ids(spec) == set(expected), spec.name
        hits = engine.search(spec, SearchQuery(per_page=1000, with_facets=False)).hits
        assert {h["id"]: h for h in hits} == expected, spec.name


def _outbox() -> int:
    return db.session.scalar(select(func.count()).select_from(SearchOutbox)) or 0


def _sync_job() -> Job:
    [job] = db.session.scalars(select(Job).where(Job.kind == search.SYNC_JOB, Job.status != JobStatus.done)).all()
    return job


def _due_now(job: Job) -> None:
    """The backoff has passed (the test does not wait for it)."""
    db.session.execute(update(Job).where(Job.id == job.id).values(run_at=jobs.now()))
    db.session.commit()


def _wait_seconds(job: Job) -> float:
    run_at = job.run_at if job.run_at.tzinfo else job.run_at.replace(tzinfo=dt.UTC)
    return (run_at - jobs.now()).total_seconds()


def _writes_while_down() -> list[int]:
    """Three lot changes, each committed on its own (as three requests would): none waits for search."""
    ids = []
    for n, code in enumerate(CODES):
        lot = db.session.scalar(select(Lot).where(Lot.code == code))
        if n == 0:
            lot.status = LotStatus.withdrawn
        else:
            lot.available_kg = Decimal("7.5")
        db.session.commit()
        ids.append(lot.id)
    return ids


def _fails_with_backoff(outbox: int) -> None:
    """Two runs of the job while the engine is down: each fails, keeps the outbox, waits longer."""
    first_backoff = jobs.backoff(1).total_seconds()
    _due_now(_sync_job())  # the web process tried first, so the job was enqueued to mop up a little later
    for attempt in (1, 2):
        jobs.run_pending()
        job = _sync_job()
        assert (job.status, job.attempts) == (JobStatus.pending, attempt)
        assert job.last_error
        assert first_backoff * 2 ** (attempt - 1) - 5 < _wait_seconds(job) <= first_backoff * 2 ** (attempt - 1)
        assert _outbox() == outbox  # nothing lost
        db.session.commit()
        if attempt == 1:
            _due_now(job)


def test_the_sync_job_retries_with_backoff_while_the_embedded_engine_is_down_and_loses_nothing(
        demo_app: Flask) -> None:
    with demo_app.app_context():
        db.session.execute(Job.__table__.delete())  # the demo load's own jobs: only this test's count
        db.session.commit()
        held = search.engine()._writer(LOTS)  # another process holds the only writer: the engine cannot write
        try:
            ids = _writes_while_down()
            assert db.session.get(Lot, ids[0]).status is LotStatus.withdrawn  # the writes committed
            assert _outbox() == 3
            assert db.session.scalar(select(func.count()).select_from(Job).where(
                Job.kind == search.SYNC_JOB)) == 1  # one pending job serves every change
            _fails_with_backoff(3)
            assert str(ids[0]) in search.engine().document_ids(LOTS)  # stale meanwhile: the withdrawn lot
        finally:
            held.rollback()
            held.wait_merging_threads()
        _due_now(_sync_job())
        jobs.run_pending()
        assert db.session.scalars(select(Job.status).where(Job.kind == search.SYNC_JOB)).all() == [JobStatus.done]
        assert _outbox() == 0
        assert str(ids[0]) not in search.engine().document_ids(LOTS)
        _index_equals_database()


@pytest.fixture
def meili_server(tmp_path: Path) -> Iterator[MeilisearchServer]:
    binary = os.environ.get("MEILISEARCH_BIN")
    if not binary:
        pytest.skip("MEILISEARCH_BIN is not set: this test starts (and kills) a Meilisearch server of its own")
    server = MeilisearchServer(binary, tmp_path)
    server.start()
    yield server
    server.kill()


def test_the_sync_job_retries_while_meilisearch_is_down_then_the_index_matches(
        demo_app: Flask, tmp_path: Path, meili_server: MeilisearchServer) -> None:
    app = make_app(demo_app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "meili", MEILISEARCH_URL=meili_server.url,
                   MEILISEARCH_API_KEY=meili_server.key, MEILISEARCH_INDEX_PREFIX="jobs_")
    try:
        with app.app_context():
            search.configure_all()
            search.reindex()
            db.session.execute(Job.__table__.delete())
            db.session.commit()
            meili_server.kill()  # the server goes away
            _writes_while_down()
            assert _outbox() == 3
            _fails_with_backoff(3)
            meili_server.start()  # the same data folder: the server comes back
            _due_now(_sync_job())
            for _ in range(20):  # the job comes back by itself (RetryLater) until Meilisearch confirms the tasks
                jobs.run_pending()
                if not _outbox():
                    break
                db.session.execute(update(Job).where(Job.kind == search.SYNC_JOB, Job.status == JobStatus.pending)
                                   .values(run_at=jobs.now()))
                db.session.commit()
                search.engine().wait(list(filter(None, db.session.scalars(select(SearchOutbox.task_uid)))))
            assert _outbox() == 0
            assert db.session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.dead)) == 0
            _index_equals_database()
    finally:
        with app.app_context():
            db.engine.dispose()
