"""factory_boy factories of marketplace/jobs/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt

import factory

from marketplace import models as m
from tests.factory_base import Base


class JobFactory(Base):
    class Meta:
        model = m.Job

    kind = "jobs.cleanup"


class JobScheduleFactory(Base):
    class Meta:
        model = m.JobSchedule

    name = factory.Sequence(lambda n: f"schedule-{n}")
    next_run_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
