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


# Handlers run at least once, so each must be idempotent (issue 20). ------------------------------------------------
# The expiry job reads the held reservations whose time is up, locks their lots, and reads them again under the
# locks: a second run, or a second worker that read the same reservations first, gives nothing back twice.

def _expired_reservation(app: Flask) -> tuple[int, int]:
    import datetime as dt
    from decimal import Decimal

    from marketplace.db import utcnow
    from tests import factories

    with app.app_context():
        reservation = factories.ReservationFactory(
            expires_at=utcnow() - dt.timedelta(minutes=1), kg=Decimal(100),
            lot=factories.LotFactory(net_kg=Decimal(500), available_kg=Decimal(400), reserved_kg=Decimal(100)))
        db.session.commit()
        return reservation.id, reservation.lot_id


def _count_done(kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == kind,
                                                                         Job.status == JobStatus.done)) or 0


def _lot_kg(app: Flask, lot_id: int) -> tuple[object, object]:
    from marketplace.lots.models import Lot

    with app.app_context():
        lot = db.session.get(Lot, lot_id)
        return lot.available_kg, lot.reserved_kg


def test_the_expiry_job_run_twice_gives_the_stock_back_once(app: Flask) -> None:
    from decimal import Decimal

    from marketplace.orders.subscribers import EXPIRY_JOB

    _, lot_id = _expired_reservation(app)
    for _run in range(2):
        with app.app_context():
            jobs.enqueue(EXPIRY_JOB, {})
            db.session.commit()
            assert jobs.run_pending().get("done", 0) >= 1
            assert _count_done(EXPIRY_JOB) == _run + 1
        assert _lot_kg(app, lot_id) == (Decimal(500), Decimal(0))


def test_two_expiry_runs_racing_give_the_stock_back_once(app: Flask) -> None:
    """Worker A has read the expired reservation and is about to lock its lot when worker B releases it;
    A, reading again under the lock, gives nothing back (without that second read the lot would gain 100 kg)."""
    from decimal import Decimal

    from marketplace.orders.models import Reservation, ReservationStatus
    from marketplace.orders.services import release_expired

    reservation_id, lot_id = _expired_reservation(app)
    with app.app_context():
        engine = db.engine
    paused, b_done = threading.Event(), threading.Event()
    a_thread: list[int] = []
    result: dict[str, Any] = {}

    def lock_statement(statement: str) -> bool:
        words = " ".join(statement.split()).upper()
        return words.startswith("UPDATE LOT SET") or (words.startswith("SELECT") and "FROM LOT" in words
                                                      and "FOR UPDATE" in words)

    def pause_a(conn, cursor, statement, *_rest):  # type: ignore[no-untyped-def]
        if threading.get_ident() in a_thread and lock_statement(statement) and not paused.is_set():
            paused.set()
            b_done.wait(30)

    def worker_a() -> None:
        a_thread.append(threading.get_ident())
        with app.app_context():
            try:
                result["a"] = release_expired()
                db.session.commit()
            except Exception as error:  # reported by the assertions
                result["a_error"] = repr(error)
            finally:
                db.session.remove()

    event.listen(engine, "before_cursor_execute", pause_a)
    try:
        thread = threading.Thread(target=worker_a)
        thread.start()
        assert paused.wait(30), "worker A never reached the lot lock"
        with app.app_context():
            result["b"] = release_expired()
            db.session.commit()
            db.session.remove()
        b_done.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        b_done.set()
        event.remove(engine, "before_cursor_execute", pause_a)
    assert "a_error" not in result, result
    assert (result["a"], result["b"]) == (0, 1)
    assert _lot_kg(app, lot_id) == (Decimal(500), Decimal(0))
    with app.app_context():
        assert db.session.get(Reservation, reservation_id).status is ReservationStatus.expired


def test_with_nothing_expired_the_expiry_check_locks_nothing(app: Flask) -> None:
    """``release_expired`` also runs on reads (an order page, an acceptance): when no held reservation is due it
    must take no lock and write nothing (it reads only held reservations, so a released one does not count)."""
    from marketplace.orders.services import release_expired

    _expired_reservation(app)
    with app.app_context():
        assert release_expired() == 1
        db.session.commit()
        engine = db.engine
    statements: list[str] = []

    def record(conn, cursor, statement, *_rest):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        with app.app_context():
            assert release_expired() == 0
            db.session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements, "the check reads the reservations"
    writes = [s for s in statements if not s.startswith("SELECT") or "FOR UPDATE" in s]
    assert writes == [], writes
