"""The background job system (issue 20): transactional enqueue, retries with backoff, the dead-letter list,
leases that outlive a killed worker, schedules that one worker wins, and several workers at once on
PostgreSQL (each job runs once; SKIP LOCKED never waits for another worker's row)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text, update

from marketplace.accounts.models import Role
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobSchedule, JobStatus
from tests import factories
from tests.helpers import csrf_token, sign_in

RUNS: list[Any] = []
RUNS_LOCK = threading.Lock()


def _record(n: int, pause: float = 0.0) -> None:
    time.sleep(pause)
    with RUNS_LOCK:
        RUNS.append(n)


def _fail(**_: Any) -> None:
    raise RuntimeError("always fails")


@pytest.fixture(autouse=True)
def _test_kinds() -> Any:
    RUNS.clear()
    jobs.register("test.record", _record)
    jobs.register("test.fail", _fail)
    yield
    jobs.HANDLERS.pop("test.record", None)
    jobs.HANDLERS.pop("test.fail", None)
    jobs.SCHEDULES.pop("test.every_minute", None)


def _count(**where: Any) -> int:
    query = select(func.count()).select_from(Job)
    for name, value in where.items():
        query = query.where(getattr(Job, name) == value)
    return db.session.scalar(query) or 0


def _is_postgres(app: Flask) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def test_a_job_commits_with_the_change_or_not_at_all(app: Flask) -> None:
    with app.app_context():
        jobs.enqueue("test.record", {"n": 1})
        db.session.rollback()
        assert _count() == 0
        assert jobs.run_pending() == {}
        jobs.enqueue("test.record", {"n": 2})
        db.session.commit()
        assert jobs.run_pending() == {"done": 1}
        assert RUNS == [2]
        assert _count(status=JobStatus.done) == 1


def test_jobs_with_one_key_coalesce_while_pending(app: Flask) -> None:
    with app.app_context():
        assert jobs.enqueue("test.record", {"n": 1}, key="k")
        assert not jobs.enqueue("test.record", {"n": 1}, key="k")
        # A job due later does not absorb work due now (it would delay it).
        assert jobs.enqueue("test.record", {"n": 3}, key="later", run_at=utcnow() + dt.timedelta(hours=1))
        assert jobs.enqueue("test.record", {"n": 4}, key="later")
        db.session.commit()
        assert jobs.run_pending() == {"done": 2}
        assert sorted(RUNS) == [1, 4]
        assert jobs.enqueue("test.record", {"n": 1}, key="k")  # done: a new change needs a new run


def test_a_failing_job_retries_with_backoff_then_is_dead_and_never_blocks_the_others(app: Flask) -> None:
    app.config.update(JOBS_MAX_ATTEMPTS=3, JOBS_BACKOFF_FIRST_SECONDS=10)
    with app.app_context():
        jobs.enqueue("test.fail")
        jobs.enqueue("test.record", {"n": 7})
        db.session.commit()
        assert jobs.run_pending() == {"retry": 1, "done": 1}
        assert RUNS == [7]
        failing = db.session.scalar(select(Job).where(Job.kind == "test.fail"))
        assert failing.status is JobStatus.pending
        assert failing.attempts == 1
        assert "always fails" in failing.last_error
        waited = failing.run_at.replace(tzinfo=dt.UTC) - utcnow()
        assert dt.timedelta(seconds=5) < waited <= dt.timedelta(seconds=10)
        for attempt in (2, 3):
            db.session.execute(update(Job).where(Job.kind == "test.fail").values(run_at=utcnow()))
            db.session.commit()
            assert jobs.run_pending() == ({"retry": 1} if attempt < 3 else {"dead": 1})
        assert [job.kind for job in jobs.dead()] == ["test.fail"]
        assert jobs.health()["dead"] == 1
        job_id = jobs.dead()[0].id
        jobs.retry_dead(job_id)
        db.session.commit()
        assert db.session.get(Job, job_id).status is JobStatus.pending
        with pytest.raises(jobs.JobError):
            jobs.retry_dead(job_id)  # not dead any more


def test_a_job_of_an_unknown_kind_goes_to_the_dead_letter_list_at_once(app: Flask) -> None:
    with app.app_context():
        jobs.enqueue("test.nobody_runs_this")
        db.session.commit()
        assert jobs.run_pending() == {"dead": 1}
        assert "no handler" in jobs.dead()[0].last_error


def test_a_worker_killed_mid_job_loses_nothing_its_lease_runs_out(app: Flask) -> None:
    with app.app_context():
        jobs.enqueue("test.record", {"n": 5})
        db.session.commit()
        job_id = jobs.claim("killed-worker")  # claimed, then the worker died before running it
        assert job_id is not None
        assert jobs.run_pending() == {}  # the lease still holds: nobody else runs it yet
        db.session.execute(update(Job).where(Job.id == job_id).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
        assert jobs.run_pending() == {"done": 1}
        assert RUNS == [5]
        assert db.session.get(Job, job_id).attempts == 2


def _only_schedule_due(name: str | None) -> None:
    """Every schedule row exists and is due tomorrow, except ``name`` (due now); the queue is empty."""
    jobs.offer_schedules()
    db.session.execute(update(JobSchedule).values(next_run_at=utcnow() + dt.timedelta(days=1)))
    db.session.execute(update(JobSchedule).where(JobSchedule.name == name).values(next_run_at=utcnow()))
    db.session.execute(delete(Job))
    db.session.commit()


def test_a_scheduled_job_is_enqueued_once_per_period_whoever_offers_it(app: Flask) -> None:
    with app.app_context():
        _only_schedule_due(None)
        jobs.schedule("test.every_minute", "test.record", dt.timedelta(minutes=1))
        assert jobs.offer_schedules() == 1  # new: due now
        assert jobs.offer_schedules() == 0  # a second worker offering it at once: not due any more
        assert _count(kind="test.record") == 1
        db.session.execute(update(JobSchedule).where(JobSchedule.name == "test.every_minute")
                           .values(next_run_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
        assert jobs.offer_schedules() == 1


def test_every_background_task_of_the_issue_has_a_handler_and_the_periodic_ones_a_schedule(app: Flask) -> None:
    assert {"mail.deliver", "mail.reminders", "passports.republish_ledger", "passports.republish_practice",
            "search.sync", "orders.release_expired", "funds.premiums_due", "jobs.cleanup",
            "products.image_variants"} <= set(jobs.HANDLERS)
    assert {"mail.reminders", "orders.release_expired", "funds.premiums_due", "search.sync",
            "jobs.cleanup"} <= set(jobs.SCHEDULES)


def test_an_expired_reservation_is_released_by_the_scheduled_job(app: Flask) -> None:
    from marketplace.orders.models import Reservation, ReservationStatus

    with app.app_context():
        reservation = factories.ReservationFactory(
            expires_at=utcnow() - dt.timedelta(minutes=1), kg=Decimal(100),
            lot=factories.LotFactory(net_kg=Decimal(500), available_kg=Decimal(400), reserved_kg=Decimal(100)))
        db.session.commit()
        _only_schedule_due("orders.release_expired")
        assert jobs.run_pending(schedules=True).get("done", 0) >= 1
        assert db.session.get(Reservation, reservation.id).status is ReservationStatus.expired


def test_staff_see_the_dead_letter_list_and_queue_a_job_again(app: Flask) -> None:
    with app.app_context():
        factories.user_with_role(Role.union_staff, email="staff@example.com")
        jobs.enqueue("test.nobody_runs_this")
        db.session.commit()
        jobs.run_pending()
        job_id = jobs.dead()[0].id
    client = app.test_client()
    assert sign_in(client, "staff@example.com").status_code == 302
    page = client.get("/union/jobs").get_data(as_text=True)
    assert "Dead-letter list" in page
    assert "test.nobody_runs_this" in page
    assert "no handler" in page
    token = csrf_token(client, "/union/jobs")
    assert client.post(f"/union/jobs/{job_id}/retry", data={}).status_code == 400  # no CSRF token
    done = client.post(f"/union/jobs/{job_id}/retry", data={"csrf_token": token})
    assert done.status_code == 303
    again = client.post(f"/union/jobs/{job_id}/retry", data={"csrf_token": token}, follow_redirects=True)
    assert "not in the dead-letter list any more" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Job, job_id).status is JobStatus.pending


def _worker(app: Flask, stop: threading.Event, errors: list[BaseException]) -> None:
    try:
        with app.app_context():
            while not stop.is_set():
                if jobs.work_once() is None:
                    time.sleep(0.01)
            db.session.remove()
    except BaseException as error:
        errors.append(error)


def _run_workers(app: Flask, count: int, until: Any, timeout: float = 60.0) -> list[BaseException]:
    stop, errors = threading.Event(), []
    threads = [threading.Thread(target=_worker, args=(app, stop, errors)) for _ in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until():
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)
    return errors


def test_two_workers_at_once_run_each_job_exactly_once_on_postgresql(app: Flask) -> None:
    if not _is_postgres(app):
        pytest.skip("several workers need PostgreSQL (SQLite: one worker)")
    jobs_count = 120
    with app.app_context():
        for n in range(jobs_count):
            jobs.enqueue("test.record", {"n": n, "pause": 0.005})
        db.session.commit()
    errors = _run_workers(app, 2, lambda: len(RUNS) >= jobs_count)
    assert errors == []
    assert sorted(RUNS) == list(range(jobs_count))  # every job, none twice
    with app.app_context():
        assert _count(status=JobStatus.done) == jobs_count
        workers = db.session.scalars(select(Job.worker).distinct()).all()
        assert len(workers) == 1  # one process: the threads share a name; each claimed with its own connection


def test_a_claim_skips_the_row_another_worker_is_claiming_instead_of_waiting(app: Flask) -> None:
    """SKIP LOCKED: while one worker holds the first job's row lock, another takes the next job at once."""
    if not _is_postgres(app):
        pytest.skip("row locks: PostgreSQL")
    with app.app_context():
        jobs.enqueue("test.record", {"n": 1})
        jobs.enqueue("test.record", {"n": 2})
        db.session.commit()
        first = db.session.scalar(select(func.min(Job.id)))
        other = db.engine.connect()
        try:
            other.execute(text("SELECT id FROM job WHERE id = :id FOR UPDATE"), {"id": first})
            db.session.execute(text("SET lock_timeout = '2s'"))
            claimed = jobs.claim("second-worker")
            assert claimed is not None
            assert claimed != first
        finally:
            other.rollback()
            other.close()


def test_two_mail_workers_at_once_send_each_message_once_on_postgresql(app: Flask, mailbox: Any) -> None:
    """Issue 15's second concurrent mail worker: two outbox senders at once, each message delivered once."""
    if not _is_postgres(app):
        pytest.skip("several workers need PostgreSQL (SQLite: one worker)")
    from marketplace.notifications import services as mail
    from marketplace.notifications.models import MailStatus, OutgoingMail

    messages = 40
    with app.app_context():
        for n in range(messages):
            mail.enqueue("password_changed", to_address=f"person{n}@example.com", params={}, url="https://x.example/",
                         locale="en")
        db.session.commit()
    stop, errors = threading.Event(), []

    def sender() -> None:
        try:
            with app.app_context():
                while not stop.is_set():
                    if not mail.deliver(limit=5):
                        time.sleep(0.01)
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(mailbox.messages) < messages:
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    recipients = sorted(str(message["To"]) for message in mailbox.messages)
    assert recipients == sorted(f"person{n}@example.com" for n in range(messages))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutgoingMail)
                                 .where(OutgoingMail.status == MailStatus.sent)) == messages


def test_a_mail_sender_that_loses_the_race_sends_nothing_twice(app: Flask, mailbox: Any) -> None:
    """The mail outbox's claim, forced into the race: sender A has read the due messages, then sender B
    claims and sends them all before A's claim; A's claim must find nothing left (SQLite and PostgreSQL)."""
    from sqlalchemy import event

    from marketplace.notifications import services as mail

    with app.app_context():
        for n in range(3):
            mail.enqueue("password_changed", to_address=f"race{n}@example.com", params={}, url="https://x.example/",
                         locale="en")
        db.session.commit()
        engine = db.engine
    paused, b_done = threading.Event(), threading.Event()
    a_thread: list[int] = []

    def pause_a(conn, cursor, statement, *_rest):  # type: ignore[no-untyped-def]
        if threading.get_ident() in a_thread and statement.lstrip().upper().startswith("UPDATE OUTGOING_MAIL"):
            paused.set()
            b_done.wait(30)

    counts: dict[str, Any] = {}

    def sender_a() -> None:
        a_thread.append(threading.get_ident())
        with app.app_context():
            counts["a"] = dict(mail.deliver())
            db.session.remove()

    event.listen(engine, "before_cursor_execute", pause_a)
    try:
        thread = threading.Thread(target=sender_a)
        thread.start()
        assert paused.wait(30)  # A has read the three due messages and is about to claim them
        with app.app_context():
            counts["b"] = dict(mail.deliver())
            db.session.remove()
        b_done.set()
        thread.join(30)
    finally:
        event.remove(engine, "before_cursor_execute", pause_a)
    assert counts["b"] == {"sent": 3}
    assert counts["a"] == {}  # lost the race: claimed nothing, sent nothing
    assert sorted(str(message["To"]) for message in mailbox.messages) == [f"race{n}@example.com" for n in range(3)]


def test_an_smtp_outage_loses_nothing_the_backlog_is_sent_when_it_returns(app: Flask, mailbox: Any) -> None:
    """The mail job during an outage: every message waits (its own attempts and backoff), the job comes back
    when the first is due, never dead-letters; when SMTP returns the whole backlog is delivered."""
    from marketplace.notifications import services as mail
    from marketplace.notifications.models import MailStatus, OutgoingMail

    port = app.config["MAIL_PORT"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        app.config["MAIL_PORT"] = s.getsockname()[1]  # nothing listens there: SMTP is down
    with app.app_context():
        for n in range(10):
            mail.enqueue("password_changed", to_address=f"outage{n}@example.com", params={}, url="https://x.example/",
                         locale="en")
        db.session.commit()
        assert jobs.run_pending() == {"later": 1}
        job = db.session.scalar(select(Job).where(Job.kind == "mail.deliver"))
        assert job.status is JobStatus.pending
        assert job.attempts == 0  # waiting is not failing
        waiting = db.session.scalars(select(OutgoingMail)).all()
        assert {row.status for row in waiting} == {MailStatus.pending}
        assert {row.attempts for row in waiting} == {1}
        assert mailbox.messages == []
        app.config["MAIL_PORT"] = port  # SMTP is back; time passes to the retry
        db.session.execute(update(OutgoingMail).values(next_attempt_at=utcnow()))
        db.session.execute(update(Job).values(run_at=utcnow()))
        db.session.commit()
        assert jobs.run_pending() == {"done": 1}
        sent = db.session.scalar(select(func.count()).select_from(OutgoingMail)
                                 .where(OutgoingMail.status == MailStatus.sent))
    assert sent == 10
    assert sorted(str(m["To"]) for m in mailbox.messages) == sorted(f"outage{n}@example.com" for n in range(10))
