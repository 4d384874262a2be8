"""Work done once per batch: a bulk operation (a lot import) publishes hundreds of passports that each read the
same cooperative ledger, certificate and Union party. Inside ``with memo.batch():`` a value computed by
``memo.once(key, compute)`` is kept and reused until the block ends; outside a batch ``once`` simply computes.

Use a batch only around work that changes none of the memoised inputs (importing lots writes lots, passports
and the log, never a ledger entry, a certificate or an organisation), so values read once stay true.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_kept: ContextVar[dict[Hashable, Any] | None] = ContextVar("memo_batch", default=None)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    token = _kept.set({})
    try:
        yield
    finally:
        _kept.reset(token)


def active() -> bool:
    """Inside a batch: a caller that opens its own batch only when none is open keeps the outer one's values."""
    return _kept.get() is not None


def keep(key: Hashable, value: Any) -> None:
    """Keep a value read ahead for many keys at once (a batch's rows in one query); nothing outside a batch."""
    kept = _kept.get()
    if kept is not None:
        kept[key] = value


def kept(key: Hashable) -> Any | None:
    """The value kept under ``key`` in the open batch, or None (no batch, or nothing kept yet)."""
    values = _kept.get()
    return None if values is None else values.get(key)


def once(key: Hashable, compute: Callable[[], T]) -> T:
    kept = _kept.get()
    if kept is None:
        return compute()
    if key not in kept:
        kept[key] = compute()
    return kept[key]
