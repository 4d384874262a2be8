"""The shop's background work (marketplace/jobs): consumer orders left unpaid give their stock back.
Connected by ``create_app``."""

from __future__ import annotations

import datetime as dt

from marketplace.jobs import services as jobs
from marketplace.payments.gateway import gateway
from marketplace.payments.shop import STALE_AFTER, release_stale

RELEASE_JOB = "shop.release_stale"


def release_stale_orders() -> None:
    """(The scheduled job.) Cancel the intents of orders unpaid for an hour and put their sizes back in stock.
    Idempotent: a released order is no longer pending. Stripe unreachable: the job fails and is retried."""
    release_stale(gateway(), older_than=STALE_AFTER)


def connect() -> None:
    jobs.register(RELEASE_JOB, release_stale_orders)
    jobs.schedule(RELEASE_JOB, RELEASE_JOB, dt.timedelta(minutes=15))
