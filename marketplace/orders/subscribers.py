"""Orders' background work (marketplace/jobs): the scheduled release of expired reservations.
Connected by ``create_app``."""

from __future__ import annotations

import datetime as dt

from marketplace.jobs import services as jobs
from marketplace.orders.services import release_expired

EXPIRY_JOB = "orders.release_expired"


def release_expired_reservations() -> None:
    """(The scheduled job.) Give back the stock of reservations whose hold has run out (idempotent)."""
    release_expired()


def connect() -> None:
    jobs.register(EXPIRY_JOB, release_expired_reservations)
    jobs.schedule(EXPIRY_JOB, EXPIRY_JOB, dt.timedelta(minutes=5))
