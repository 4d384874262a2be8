"""The job queue's claim guards, each caught on its own (issue 21: redundant guards).

``jobs.claim`` is one statement: ``UPDATE job … WHERE id = (SELECT the first due job) RETURNING id``; on
PostgreSQL the inner SELECT is ``FOR UPDATE SKIP LOCKED``. (It used to read the job, then take it with an
``UPDATE … WHERE`` the job was still due: on PostgreSQL that second condition could never refuse anything the
row lock had not already refused, so no test could catch its removal there. One statement leaves each part a
job of its own.) Each guard meets the case only it answers:

- the due condition: a job whose time has not come, or that a live worker holds under its lease, is not
  taken; once the lease runs out it is (both databases);
- the row lock and ``SKIP LOCKED``: while worker A holds the first job (claimed, not yet committed), worker B
  takes the next job at once; without the lock B would pick A's job and wait for it, without ``SKIP LOCKED``
  it would wait for A's row (PostgreSQL; SQLite runs one write statement at a time).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text, update

from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobStatus
from tests.helpers import statements_run

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


def _paused_before_commit(app: Flask, worker_b: Any) -> dict[str, Any]:
    """Worker A claims in a thread and is held just before it commits its claim (holding the job's row);
    ``worker_b`` runs meanwhile."""
    with app.app_context():
        engine = db.engine
    paused, b_done = threading.Event(), threading.Event()
    a_thread: list[int] = []
    result: dict[str, Any] = {}

    def pause_a(conn: Any) -> None:
        if threading.get_ident() in a_thread and not paused.is_set():
            paused.set()
            b_done.wait(30)

    def worker_a() -> None:
        a_thread.append(threading.get_ident())
        with app.app_context():
            try:
                result["a"] = jobs.claim("worker-a")
            except Exception as error:  # reported by the assertions
                result["a_error"] = repr(error)
            finally:
                db.session.remove()

    event.listen(engine, "commit", pause_a)
    try:
        thread = threading.Thread(target=worker_a)
        thread.start()
        assert paused.wait(30), "worker A never reached its commit"
        with app.app_context():
            try:
                result["b"] = worker_b()
            except Exception as error:  # reported by the assertions
                result["b_error"] = repr(error)
            finally:
                db.session.rollback()
                db.session.remove()
        b_done.set()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        b_done.set()
        event.remove(engine, "commit", pause_a)
    return result


def test_a_job_not_due_or_held_under_a_live_lease_is_not_claimed(app: Flask) -> None:
    """The due condition: a job for tomorrow and a job another worker is running (its lease still runs) are
    left alone; when the lease has run out (the worker died), the job is claimed again."""
    with app.app_context():
        jobs.enqueue("test.plant_record", {"n": 1}, run_at=jobs.now() + dt.timedelta(days=1))
        jobs.enqueue("test.plant_record", {"n": 2})
        db.session.commit()
        later, due = db.session.scalars(select(Job.id).order_by(Job.id)).all()
        assert jobs.claim("worker-a") == due
        assert jobs.claim("worker-b") is None  # tomorrow's job waits; A's lease on the other still runs
        db.session.execute(update(Job).where(Job.id == due).values(
            locked_until=jobs.now() - dt.timedelta(seconds=1)))  # A died and its lease ran out
        db.session.commit()
        assert jobs.claim("worker-b") == due
        job = db.session.get(Job, due)
        assert (job.worker, job.attempts, job.status) == ("worker-b", 2, JobStatus.running)
        assert db.session.get(Job, later).status is JobStatus.pending


def test_a_worker_skips_the_job_another_worker_is_taking_and_takes_the_next(app: Flask) -> None:
    """The row lock and SKIP LOCKED (PostgreSQL): A has claimed job 1 and not yet committed; B takes job 2 at
    once, without waiting for A's row and without taking job 1 too."""
    if not _is_postgres(app):
        pytest.skip("row locks: PostgreSQL (SQLite runs one write statement at a time)")
    with app.app_context():
        jobs.enqueue("test.plant_record", {"n": 1})
        jobs.enqueue("test.plant_record", {"n": 2})
        db.session.commit()
        first, second = db.session.scalars(select(Job.id).order_by(Job.id)).all()

    def worker_b() -> int | None:
        db.session.execute(text("SET lock_timeout = '2s'"))  # waiting for A's row would fail, not hang
        return jobs.claim("worker-b")

    result = _paused_before_commit(app, worker_b)
    assert result == {"a": first, "b": second}, result
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Job).where(Job.attempts > 1)) == 0
        assert sorted(db.session.scalars(select(Job.worker))) == ["worker-a", "worker-b"]


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
    with statements_run(engine) as ran, app.app_context():
        assert release_expired() == 0
        db.session.commit()
    statements = [" ".join(statement.split()).upper() for statement, _ in ran]
    assert statements, "the check reads the reservations"
    writes = [s for s in statements if not s.startswith("SELECT") or "FOR UPDATE" in s]
    assert writes == [], writes
