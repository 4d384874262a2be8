"""The job queue's two claim guards, each caught on its own (issue 21: redundant guards).

``jobs.claim`` reads the next due job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then takes it with an
``UPDATE … WHERE`` the job is still due. On PostgreSQL the row lock alone keeps a claim exclusive; on SQLite
(no row locks) the conditional update alone does. The end-to-end test with several workers
(``test_jobs.py::test_two_workers_at_once_run_each_job_exactly_once_on_postgresql``) only fails when both go.
Here each guard meets the race that only it can answer:

- the conditional update: worker A has read the due job and is about to take it when worker B takes and runs
  it; A must take nothing (SQLite, where no row lock stands in for it; on PostgreSQL B never sees A's row);
- the row lock: while worker A holds the first job's row (between its read and its update), worker B must
  neither wait for it nor take it, but take the next job at once (PostgreSQL).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text

from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobStatus

RUNS: list[int] = []


def _record(n: int) -> None:
    RUNS.append(n)


@pytest.fixture(autouse=True)
def _record_kind() -> Any:
    RUNS.clear()
    jobs.register("test.plant_record", _record)
    yield
    jobs.HANDLERS.pop("test.plant_record", None)


def _is_postgres(app: Flask) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def _paused_before_update(app: Flask, worker_b: Any) -> dict[str, Any]:
    """Worker A claims in a thread and is held just before its ``UPDATE job``; ``worker_b`` runs meanwhile."""
    with app.app_context():
        engine = db.engine
    paused, b_done = threading.Event(), threading.Event()
    a_thread: list[int] = []
    result: dict[str, Any] = {}

    def pause_a(conn, cursor, statement, *_rest):  # type: ignore[no-untyped-def]
        if threading.get_ident() in a_thread and statement.lstrip().upper().startswith("UPDATE JOB "):
            paused.set()
            b_done.wait(30)

    def worker_a() -> None:
        a_thread.append(threading.get_ident())
        with app.app_context():
            try:
                result["a"] = jobs.claim("worker-a")
                if result["a"] is not None:
                    jobs.run(result["a"])
            except Exception as error:  # reported by the assertions
                result["a_error"] = repr(error)
            finally:
                db.session.remove()

    event.listen(engine, "before_cursor_execute", pause_a)
    try:
        thread = threading.Thread(target=worker_a)
        thread.start()
        assert paused.wait(30), "worker A never reached its update"
        with app.app_context():
            try:
                result["b"] = worker_b()
            finally:
                db.session.remove()
        b_done.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        b_done.set()
        event.remove(engine, "before_cursor_execute", pause_a)
    return result


def test_a_worker_that_lost_the_race_for_a_job_takes_nothing(app: Flask) -> None:
    """The conditional update: A read job 1 as due; B takes and runs it before A's update; A takes nothing."""
    with app.app_context():
        jobs.enqueue("test.plant_record", {"n": 1})
        db.session.commit()
        only = db.session.scalar(select(Job.id))

    def worker_b() -> int | None:
        claimed = jobs.claim("worker-b")
        if claimed is not None:
            jobs.run(claimed)
        return claimed

    result = _paused_before_update(app, worker_b)
    assert "a_error" not in result, result
    if _is_postgres(app):
        # B skipped the row A holds: A keeps its claim, B found nothing else to do.
        assert (result["a"], result["b"]) == (only, None)
    else:
        assert (result["a"], result["b"]) == (None, only)
    assert RUNS == [1]  # run once, by one worker
    with app.app_context():
        job = db.session.get(Job, only)
        assert (job.status, job.attempts) == (JobStatus.done, 1)


def test_a_worker_skips_the_job_another_worker_is_taking_and_takes_the_next(app: Flask) -> None:
    """The row lock (PostgreSQL): A holds job 1 between its read and its update; B takes job 2 at once,
    without waiting for A's row and without taking job 1 too."""
    if not _is_postgres(app):
        pytest.skip("row locks: PostgreSQL (on SQLite one worker claims at a time)")
    with app.app_context():
        jobs.enqueue("test.plant_record", {"n": 1})
        jobs.enqueue("test.plant_record", {"n": 2})
        db.session.commit()
        first, second = db.session.scalars(select(Job.id).order_by(Job.id)).all()

    def worker_b() -> int | None:
        db.session.execute(text("SET lock_timeout = '2s'"))  # waiting for A's row would fail, not hang
        return jobs.claim("worker-b")

    result = _paused_before_update(app, worker_b)
    assert "a_error" not in result, result
    assert (result["a"], result["b"]) == (first, second)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Job).where(Job.attempts > 1)) == 0
