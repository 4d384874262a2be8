"""The status side of the provable log: each passport's last logged status, and the status lists as served
compared with it (``verify_log``, and ``passports verify --since`` for the passports its new entries touch)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports.log_models import PassportLogLeaf
from marketplace.passports.models import Passport


def logged_status() -> dict[str, tuple[bool, bool]]:
    """Each passport's last logged status (revoked, suspended); passports never logged read (False, False)."""
    return _logged_statuses(None)[0]


def live_status_bits(flagged: dict[str, set[int]]) -> dict[str, tuple[bool, bool]]:
    """Each passport's bits in the status lists as served now (``flagged``: ``services.status_indexes()``)."""
    return {public_id: (index in flagged["revocation"], index in flagged["suspension"])
            for public_id, index in db.session.execute(select(Passport.public_id, Passport.status_index))}


SCOPE_CHUNK = 500  # public ids or status indexes per query


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[at:at + SCOPE_CHUNK] for at in range(0, len(values), SCOPE_CHUNK)]


def _logged_statuses(public_ids: list[str] | None) -> tuple[dict[str, tuple[bool, bool]], set[str]]:
    """Each passport's last logged status, and those whose revocation the log ever recorded (every passport
    with a status entry, or only ``public_ids``, by the entries' indexed passport column)."""
    latest: dict[str, tuple[bool, bool]] = {}
    ever_revoked: set[str] = set()
    query = select(PassportLogLeaf.data).where(PassportLogLeaf.kind == "status").order_by(PassportLogLeaf.index)
    for scope in [None] if public_ids is None else _chunks(public_ids):
        for data in db.session.scalars(query if scope is None
                                       else query.where(PassportLogLeaf.passport_public_id.in_(scope))):
            entry = json.loads(data)
            latest[entry["passport"]] = (bool(entry["revoked"]), bool(entry["suspended"]))
            if entry.get("revoked"):
                ever_revoked.add(entry["passport"])
    return latest, ever_revoked


def _status_problems(flagged: dict[str, set[int]], public_ids: Collection[str] | None = None) -> list[str]:
    """The status lists served now must say what the log last said of each passport; a revocation is final.

    Only the passports that can differ are read: those with a bit set now (``flagged``) or a status entry in
    the log; any other one reads active on both sides. ``public_ids``: only those passports (an incremental
    verify, ``flagged`` read for them alone)."""
    ids = None if public_ids is None else sorted(public_ids)
    logged, ever_revoked = _logged_statuses(ids)
    live: dict[str, tuple[bool, bool]] = {}
    rows = select(Passport.public_id, Passport.status_index)
    if ids is None:
        scopes = ([rows.where(Passport.status_index.in_(chunk))
                   for chunk in _chunks(sorted(flagged["revocation"] | flagged["suspension"]))]
                  + [rows.where(Passport.public_id.in_(chunk)) for chunk in _chunks(sorted(logged))])
    else:
        scopes = [rows.where(Passport.public_id.in_(chunk)) for chunk in _chunks(ids)]
    for query in scopes:
        for public_id, index in db.session.execute(query):
            live[public_id] = (index in flagged["revocation"], index in flagged["suspension"])
    problems = []
    for public_id, (revoked, suspended) in sorted(live.items()):
        if public_id in ever_revoked and not revoked:
            problems.append(f"passport {public_id}: the log records its revocation, but the status list no longer "
                            "shows it revoked (status rolled back)")
        elif (revoked, suspended) != logged.get(public_id, (False, False)):
            was = logged.get(public_id, (False, False))
            problems.append(f"passport {public_id}: the status list shows {_state(revoked, suspended)} but the log "
                            f"last recorded {_state(*was)} (a status change was not logged)")
    return problems


def _state(revoked: bool, suspended: bool) -> str:
    return "revoked" if revoked else "suspended" if suspended else "active"
