"""The premium ledger listens to sales (marketplace/events.py). Connected by ``create_app``."""

from __future__ import annotations

from typing import Any

from marketplace import events
from marketplace.funds.services import record_premium_due
from marketplace.orders.models import Allocation


def premium_due_on_sale(allocation: Allocation, *, actor: Any = None, **_: Any) -> None:
    """A confirmed allocation makes premium due to each contributing cooperative."""
    record_premium_due(allocation, actor=actor)


def connect() -> None:
    events.allocation_confirmed.connect(premium_due_on_sale, weak=False)
