"""Enqueue jobs in the caller's transaction; claim, run, retry and dead-letter them in the worker.

* ``enqueue`` adds a ``job`` row to the caller's session (flush, never commit): the change and the work it
  causes commit together or not at all. ``enqueue_on`` does the same on a connection (flush listeners).
* A worker claims one due job at a time (one ``UPDATE … WHERE id = (SELECT the first due job)``; on PostgreSQL
  that SELECT is ``FOR UPDATE SKIP LOCKED``, so several workers never take the same row), commits the claim with
  a lease, runs the handler in its own transaction, then marks the job done, or failed with backoff, or dead after
  ``JOBS_MAX_ATTEMPTS`` attempts. A worker killed mid-job loses nothing: its lease runs out and another
  worker runs the job again (at least once: every handler is idempotent).
* Periodic jobs (``schedule``): each worker offers them; one conditional UPDATE of ``job_schedule`` decides
  which worker enqueues the run, measured on the database's clock (workers' clocks may disagree).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from marketplace.db import as_utc, utcnow
from marketplace.extensions import db
from marketplace.jobs.models import Job, JobSchedule, JobStatus

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
SCHEDULE_POLL = 15.0  # seconds between two looks at the schedules in one worker


@dataclass(frozen=True)
class Periodic:
    name: str
    kind: str
    every: dt.timedelta


HANDLERS: dict[str, Handler] = {}
SCHEDULES: dict[str, Periodic] = {}


class RetryLater(Exception):  # noqa: N818 (a signal, not a failure)
    """Raised by a handler whose work is not finished yet (e.g. e-mail waiting for its retry time): the job
    goes back to the queue at ``at`` without counting as a failure."""

    def __init__(self, at: dt.datetime) -> None:
        super().__init__(at.isoformat())
        self.at = at


def register(kind: str, handler: Handler) -> None:
    """``handler(**payload)`` runs the jobs of ``kind``. It must be idempotent (a job may run twice)."""
    HANDLERS[kind] = handler


def schedule(name: str, kind: str, every: dt.timedelta) -> None:
    """Run a job of ``kind`` every ``every`` (reservation expiry, reminders, premium dues…)."""
    SCHEDULES[name] = Periodic(name, kind, every)


def _is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def now() -> dt.datetime:
    """The database's clock on PostgreSQL (one clock for every worker machine); the process's on SQLite."""
    if _is_postgres():
        found = db.session.scalar(select(func.now()))
        if isinstance(found, dt.datetime):
            return found.astimezone(dt.UTC)
    return utcnow()


def _row(kind: str, payload: Mapping[str, Any] | None, key: str | None, run_at: dt.datetime) -> dict[str, Any]:
    if kind not in HANDLERS and HANDLERS:
        log.warning("Enqueueing a job of kind %r, which no handler runs (it will be dead-lettered)", kind)
    return {"kind": kind, "payload": dict(payload or {}), "key": key, "status": JobStatus.pending.value,
            "attempts": 0, "run_at": run_at, "worker": "", "last_error": "", "created_at": utcnow()}


def _pending_with_key(connection: Connection, key: str, run_at: dt.datetime) -> bool:
    """A pending job with this key that will run no later than ``run_at`` (and so sees the new change)."""
    return connection.scalar(select(Job.id).where(Job.key == key, Job.status == JobStatus.pending,
                                                  Job.run_at <= run_at).limit(1)) is not None


def enqueue(kind: str, payload: Mapping[str, Any] | None = None, *, key: str | None = None,
            run_at: dt.datetime | None = None) -> bool:
    """Add a job to the caller's transaction. With ``key``, nothing is added while a job with that key is
    still pending (it will see this change too). Returns whether a row was added."""
    return enqueue_on(db.session.connection(), kind, payload, key=key, run_at=run_at)


def enqueue_on(connection: Connection, kind: str, payload: Mapping[str, Any] | None = None, *,
               key: str | None = None, run_at: dt.datetime | None = None) -> bool:
    """``enqueue`` on a connection (from a flush listener, which may not use the session)."""
    run_at = run_at or utcnow()
    if key is not None and _pending_with_key(connection, key, run_at):
        return False
    connection.execute(insert(Job.__table__), [_row(kind, payload, key, run_at)])
    return True


# The worker ---------------------------------------------------------------------------------------

def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def backoff(attempts: int) -> dt.timedelta:
    config = current_app.config
    first, most = config["JOBS_BACKOFF_FIRST_SECONDS"], config["JOBS_BACKOFF_MAX_SECONDS"]
    return dt.timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), most))


def _due(at: dt.datetime) -> Any:
    return or_(and_(Job.status == JobStatus.pending, Job.run_at <= at),
               and_(Job.status == JobStatus.running, Job.locked_until < at))  # a worker died: its lease ran out


def claim(worker: str | None = None) -> int | None:
    """Take the next due job (committed, with a lease) and return its id; None when nothing is due.

    One statement, ``UPDATE job … WHERE id = (SELECT the first due job) RETURNING id``, so no other worker
    comes between the read and the write. SQLite runs one write statement at a time (its write lock is taken
    before the statement reads). On PostgreSQL the inner SELECT locks the row it picks and skips rows other
    workers hold (``FOR UPDATE SKIP LOCKED``): without the lock a second worker would pick the same row, wait
    for the first and take it again; without ``SKIP LOCKED`` it would wait instead of taking the next job.
    The due condition is written once, in the inner SELECT.
    """
    at = now()
    first_due = select(Job.id).where(_due(at)).order_by(Job.run_at, Job.id).limit(1)
    if _is_postgres():
        first_due = first_due.with_for_update(skip_locked=True)
    lease = dt.timedelta(seconds=current_app.config["JOBS_LEASE_SECONDS"])
    job_id = db.session.scalar(
        update(Job).where(Job.id == first_due.scalar_subquery())
        .values(status=JobStatus.running, locked_until=at + lease, attempts=Job.attempts + 1,
                worker=worker or worker_name())
        .returning(Job.id).execution_options(synchronize_session=False))
    db.session.commit()
    return job_id


def _error_text(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:1000]


def run(job_id: int) -> str:
    """Run a claimed job in its own transaction; returns "done", "retry", "later" or "dead"."""
    job = db.session.get(Job, job_id)
    if job is None:
        return "gone"
    kind, payload, attempts = job.kind, dict(job.payload or {}), job.attempts
    handler = HANDLERS.get(kind)
    outcome, error, later = "done", None, None
    if handler is None:
        outcome, error = "dead", LookupError(f"no handler for jobs of kind {kind!r}")
    else:
        try:
            handler(**payload)
            db.session.flush()
        except RetryLater as wait:
            later = wait.at
            outcome = "later"
        except Exception as failure:  # any handler failure: roll its work back, retry or dead-letter
            db.session.rollback()
            log.exception("Job %s (%s) failed on attempt %d", job_id, kind, attempts)
            error = failure
            outcome = "dead" if attempts >= current_app.config["JOBS_MAX_ATTEMPTS"] else "retry"
    job = db.session.get(Job, job_id)
    if job is None:
        db.session.commit()
        return "gone"
    if outcome == "done":
        job.status, job.finished_at, job.locked_until, job.last_error = JobStatus.done, utcnow(), None, ""
    elif outcome == "later":
        job.status, job.run_at, job.locked_until = JobStatus.pending, later, None
        job.attempts = max(job.attempts - 1, 0)  # waiting is not failing
    elif outcome == "retry":
        job.status, job.run_at, job.locked_until = JobStatus.pending, now() + backoff(attempts), None
        job.last_error = _error_text(error)  # type: ignore[arg-type]
    else:
        job.status, job.finished_at, job.locked_until = JobStatus.dead, utcnow(), None
        job.last_error = _error_text(error)  # type: ignore[arg-type]
        log.error("Job %s (%s) is dead after %d attempt(s): %s", job_id, kind, attempts, job.last_error)
    db.session.commit()
    return outcome


def offer_schedules() -> int:
    """Enqueue the periodic jobs that are due; one worker wins each run. Returns how many this one enqueued."""
    enqueued = 0
    for periodic in SCHEDULES.values():
        at = now()
        if db.session.get(JobSchedule, periodic.name) is None:
            try:
                with db.session.begin_nested():
                    db.session.add(JobSchedule(name=periodic.name, next_run_at=at))
            except IntegrityError:  # another worker created it meanwhile
                pass
        won = db.session.execute(update(JobSchedule).where(
            JobSchedule.name == periodic.name, JobSchedule.next_run_at <= at,
        ).values(next_run_at=at + periodic.every))
        if won.rowcount == 1:  # type: ignore[attr-defined]
            enqueue(periodic.kind, key=f"schedule:{periodic.name}")
            enqueued += 1
        db.session.commit()
    return enqueued


def work_once(worker: str | None = None) -> str | None:
    """Claim and run one job; None when nothing is due."""
    job_id = claim(worker)
    if job_id is None:
        return None
    return run(job_id)


def run_pending(limit: int = 1000, *, schedules: bool = False) -> dict[str, int]:
    """Run due jobs until none is left (or ``limit``): the worker's burst mode, and tests."""
    counts: dict[str, int] = {}
    if schedules:
        offer_schedules()
    for _ in range(limit):
        outcome = work_once()
        if outcome is None:
            break
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def work(*, interval: float = 1.0, stopping: Callable[[], bool] = lambda: False, burst: bool = False) -> None:
    """The worker loop: offer the schedules, then run jobs until none is due, then sleep ``interval``."""
    name = worker_name()
    next_offer = 0.0
    while not stopping():
        try:
            if time.monotonic() >= next_offer:  # the schedules are minutes apart: look every SCHEDULE_POLL
                offer_schedules()
                next_offer = time.monotonic() + SCHEDULE_POLL
            ran = False
            while not stopping() and work_once(name) is not None:
                ran = True
        except Exception:  # the database went away: keep the worker alive, try again shortly
            log.exception("The job worker could not reach the database; trying again")
            db.session.rollback()
            ran = False
        finally:
            db.session.remove()
        if burst and not ran:
            return
        if not ran:
            time.sleep(interval)


def cleanup() -> int:
    """Delete finished jobs older than JOBS_KEEP_DONE_DAYS (the dead ones stay until retried or dropped)."""
    cutoff = utcnow() - dt.timedelta(days=current_app.config["JOBS_KEEP_DONE_DAYS"])
    result = db.session.execute(delete(Job).where(Job.status == JobStatus.done, Job.finished_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def connect() -> None:
    """The job system's own upkeep (``create_app`` calls this after the domains registered theirs)."""
    register("jobs.cleanup", cleanup)
    schedule("jobs.cleanup", "jobs.cleanup", dt.timedelta(days=1))


# Staff: the dead-letter list ------------------------------------------------------------------------

def dead(limit: int = 200) -> list[Job]:
    return list(db.session.scalars(select(Job).where(Job.status == JobStatus.dead)
                                   .order_by(Job.id.desc()).limit(limit)))


class JobError(ValueError):
    """A staff action on a job that cannot be done (not dead any more, or gone)."""


def retry_dead(job_id: int) -> Job:
    """Put a dead job back in the queue, with its attempts reset."""
    job = db.session.get(Job, job_id)
    if job is None or job.status is not JobStatus.dead:
        raise JobError(job_id)
    job.status, job.attempts, job.run_at, job.finished_at = JobStatus.pending, 0, utcnow(), None
    db.session.flush()
    return job


def stats() -> dict[str, Any]:
    """Counts by status and kind, and the age of the oldest due job (for /healthz and /metrics)."""
    at = now()
    rows = db.session.execute(select(Job.status, Job.kind, func.count()).where(Job.status != JobStatus.done)
                              .group_by(Job.status, Job.kind)).all()
    by_status: dict[str, int] = {status.value: 0 for status in JobStatus if status is not JobStatus.done}
    by_kind: dict[tuple[str, str], int] = {}
    for status, kind, count in rows:
        by_status[str(status)] = by_status.get(str(status), 0) + count
        by_kind[(str(status), kind)] = count
    oldest = db.session.scalar(select(func.min(Job.run_at)).where(Job.status == JobStatus.pending, Job.run_at <= at))
    age = max((at - as_utc(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0
    return {"by_status": by_status, "by_kind": by_kind, "oldest_due_seconds": age}


def health() -> dict[str, Any]:
    """The ``jobs`` part of /healthz: "stalled" when a due job has waited past JOBS_STALE_SECONDS (no worker
    is running, or all are stuck)."""
    found = stats()
    stale = found["oldest_due_seconds"] > current_app.config["JOBS_STALE_SECONDS"]
    return {"status": "stalled" if stale else "ok", "pending": found["by_status"]["pending"],
            "running": found["by_status"]["running"], "dead": found["by_status"]["dead"],
            "oldest_due_seconds": round(found["oldest_due_seconds"], 1)}
