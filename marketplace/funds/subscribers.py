"""The premium ledger listens to sales (marketplace/events.py). Connected by ``create_app``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace import events
from marketplace.funds.services import ensure_premiums_due, record_premium_due
from marketplace.jobs import services as jobs
from marketplace.orders.models import Allocation


def premium_due_on_sale(allocation: Allocation, *, actor: Any = None, **_: Any) -> None:
    """A confirmed allocation makes premium due to each contributing cooperative."""
    record_premium_due(allocation, actor=actor)


def premiums_due() -> None:
    """(The scheduled job ``funds.premiums_due``.) Premium due for any confirmed allocation not yet in the
    ledger (idempotent: an allocation already recorded adds nothing)."""
    ensure_premiums_due()


def connect() -> None:
    events.allocation_confirmed.connect(premium_due_on_sale, weak=False)
    jobs.register("funds.premiums_due", premiums_due)
    jobs.schedule("funds.premiums_due", "funds.premiums_due", dt.timedelta(days=1))
