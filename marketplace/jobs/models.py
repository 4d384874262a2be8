"""The job queue (one table for every kind of background work) and the schedule of periodic jobs."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, TimestampMixin, enum_column, utcnow


class JobStatus(enum.StrEnum):
    pending = "pending"  # waiting until run_at (again, after a failed attempt)
    running = "running"  # claimed by a worker until locked_until; a worker that dies lets the lease run out
    done = "done"  # finished; deleted after JOBS_KEEP_DONE_DAYS
    dead = "dead"  # failed JOBS_MAX_ATTEMPTS times (or has no handler): the dead-letter list, never retried alone


class Job(TimestampMixin, Base):
    """One piece of background work: a kind (its handler's name) and JSON parameters."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(80), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Jobs with the same key coalesce while pending (ten ledger entries: one republish).
    key: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus, 10), default=JobStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str] = mapped_column(String(100), default="")
    last_error: Mapped[str] = mapped_column(String(1000), default="")
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class JobSchedule(Base):
    """When a periodic job is next due. Workers race for it with one conditional UPDATE: one wins."""

    __tablename__ = "job_schedule"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    next_run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
