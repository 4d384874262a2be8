"""Choosing the engine, recording changes in the outbox, applying them, rebuilding, searching."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.orm import Session

from marketplace.db import as_utc, utcnow
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.search.engine import batched, engine, make_engine, search, search_many  # noqa: F401 (the CLI, tests and benchmarks use them here)
from marketplace.search.meili import MeilisearchEngine
from marketplace.search.models import SearchOutbox
from marketplace.search.port import IndexSpec, SearchUnavailable
from marketplace.search.sources import IndexSource, register, sources, specs

log = logging.getLogger(__name__)
PENDING = "search_outbox_pending"
DRAIN_BATCH = 500
LOCK_WAIT_S = 2.0
SYNC_JOB = "search.sync"
CONFIRM_AGAIN_S = 2.0
# With the embedded engine each commit sends its own changes; the job it enqueues runs this much later,
# to send only what that missed (the engine busy, the process gone), never racing the commit for the lock.
SYNC_DELAY_S = 10.0
# A commit that changes more documents than this (a certificate behind every lot of a cooperative) leaves them
# to the worker's job, due at once: a web request never waits on indexing many documents (issue 20, point 2).
INLINE_MAX = 50
_CONFIGURED: dict[int, bool] = {}


# Engine (chosen in search/engine.py) -------------------------------------------------------

def configure_all() -> None:
    """Create each index if needed and push its settings (the worker does this when it starts)."""
    for spec in specs().values():
        engine().configure(spec)


# Outbox: record in the flush, apply after the commit --------------------------------------

def _changed_keys(session: Session) -> set[tuple[str, str]]:
    """The (index, key) pairs whose documents the flushed rows make stale: each index's source decides."""
    keys: set[tuple[str, str]] = set()
    conn = session.connection()
    for obj in chain(session.new, session.dirty, session.deleted):
        dirty = obj in session.dirty
        if dirty and not session.is_modified(obj, include_collections=False):
            continue
        for name, source in sources().items():
            keys.update((name, key) for key in source.changed_keys(obj, conn, dirty))
    return keys


def _record(session: Session, _context: Any) -> None:
    keys = _changed_keys(session)
    if keys:
        ids = session.connection().execute(
            insert(SearchOutbox.__table__).returning(SearchOutbox.id),
            [{"index_name": i, "key": k} for i, k in sorted(keys)],
        ).scalars().all()
        # This transaction's own rows: its commit sends exactly these (not the oldest rows of the outbox).
        own = session.info.setdefault(PENDING, [])
        own.extend(ids)
        # The worker's job, in the same transaction (one pending job serves every change). Where the web
        # process applies its own changes after the commit, the job only mops up what that missed, later;
        # a change of many documents is the worker's alone, at once.
        jobs.enqueue_on(session.connection(), SYNC_JOB, key=SYNC_JOB,
                        run_at=utcnow() + _sync_delay(inline=len(own) <= INLINE_MAX))


def _applies_after_commit() -> bool:
    return has_app_context() and bool(current_app.config.get("SEARCH_APPLY_AFTER_COMMIT", True))


def _sync_delay(*, inline: bool = True) -> dt.timedelta:
    return dt.timedelta(seconds=SYNC_DELAY_S if inline and _applies_after_commit() else 0)


def _forget(session: Session, *_args: Any) -> None:
    if not session.in_nested_transaction():  # a savepoint rolled back: the transaction's other rows stand
        session.info.pop(PENDING, None)


def _apply_after_commit(session: Session) -> None:
    # A savepoint's release fires after_commit too: the transaction is still open (its rows unseen by
    # other connections, the database's write lock held), so only the outermost commit sends.
    if session.in_nested_transaction():
        return
    own = session.info.pop(PENDING, None)
    if not own or not _applies_after_commit():
        return
    if len(own) > INLINE_MAX:  # e.g. a certificate behind every lot of a cooperative: the worker sends them
        return
    try:
        for start in range(0, len(own), DRAIN_BATCH):
            drain(ids=own[start:start + DRAIN_BATCH])
    except SearchUnavailable as error:  # the write is committed and the outbox keeps it
        log.warning("Search outbox not sent after commit (%s); the job worker (search.sync) will retry", error)
    except Exception:  # never fail the request
        log.exception("Applying the search outbox after commit failed; the job worker (search.sync) will retry")


def register_listeners() -> None:
    if not event.contains(Session, "after_flush", _record):
        event.listen(Session, "after_flush", _record)
        event.listen(Session, "after_commit", _apply_after_commit)
        event.listen(Session, "after_rollback", _forget)


# Applying the outbox ----------------------------------------------------------------------

@contextlib.contextmanager
def _drain_lock(app: Flask) -> Iterator[bool]:
    """One drain at a time per index folder, across processes (reads and writes stay in order)."""
    if app.config.get("MEILISEARCH_URL"):
        yield True
        return
    folder = Path(app.config["SEARCH_INDEX_PATH"])
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "drain.lock").open("a") as handle:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.02)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def drain(limit: int = DRAIN_BATCH, ids: Iterable[int] | None = None) -> int:
    """Send up to ``limit`` outbox rows not yet sent (with ``ids``: those rows, the ones a commit wrote);
    returns how many. Raises SearchUnavailable.

    An engine that applies at once (embedded) has its rows deleted here. An engine that indexes
    asynchronously (Meilisearch) returns task uids: the rows keep them until ``confirm`` sees the
    tasks succeed, so nothing here waits for indexing.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _drain_lock(app) as locked:
        if not locked:
            raise SearchUnavailable("another process is applying the search outbox")
        with Session(db.engine) as session:
            wanted = select(SearchOutbox.id, SearchOutbox.index_name, SearchOutbox.key).where(
                SearchOutbox.task_uid.is_(None))
            if ids is not None:
                wanted = wanted.where(SearchOutbox.id.in_(sorted(set(ids))))
            rows = session.execute(wanted.order_by(SearchOutbox.id).limit(limit)).all()
            done = 0
            for name, spec in specs().items():
                mine = [r for r in rows if r.index_name == name]
                if mine:
                    _send(session, app, spec, mine)
                    done += len(mine)
            stray = [r.id for r in rows if r.index_name not in specs()]
            if stray:
                session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(stray)))
                session.commit()
            return done


def _send(session: Session, app: Flask, spec: IndexSpec, rows: list[Any]) -> None:
    docs = sources()[spec.name].documents_for(session, [r.key for r in rows])
    upserts = [d for d in docs.values() if d is not None]
    deletes = [k for k, d in docs.items() if d is None]
    tasks = engine(app).apply(spec, upserts, deletes)
    by_task: dict[int | None, list[int]] = {}
    for row in rows:
        by_task.setdefault(tasks.get(row.key), []).append(row.id)
    for task_uid, ids in by_task.items():
        if task_uid is None:
            session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(ids)))
        else:
            session.execute(update(SearchOutbox).where(SearchOutbox.id.in_(ids)).values(task_uid=task_uid))
    session.commit()


def confirm(wait: bool = False) -> int:
    """Delete the rows whose tasks succeeded; rows whose task failed are sent again by the next drain.

    Returns how many rows were confirmed. With ``wait``, first waits for the tasks to finish.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with Session(db.engine) as session:
        uids = session.scalars(
            select(SearchOutbox.task_uid).where(SearchOutbox.task_uid.is_not(None)).distinct()
        ).all()
        if not uids:
            return 0
        if wait:
            engine(app).wait(uids)
        states = engine(app).task_states(uids)
        succeeded = [u for u, state in states.items() if state == "succeeded"]
        failed = [u for u, state in states.items() if state in ("failed", "canceled")]
        confirmed = session.execute(delete(SearchOutbox).where(SearchOutbox.task_uid.in_(succeeded))).rowcount
        if failed:
            log.warning("Search tasks %s failed; their changes will be sent again", failed)
            session.execute(update(SearchOutbox).where(SearchOutbox.task_uid.in_(failed)).values(task_uid=None))
        session.commit()
        return int(confirmed or 0)


def sync_once() -> int:
    """One pass of the worker: confirm what was sent, then send the rest. Returns rows sent."""
    engine().retry_now()  # the worker always tries; pages skip a failing server for a while
    confirm()
    total = 0
    while sent := drain():
        total += sent
    return total


def sync_job() -> None:
    """(The job ``search.sync``.) One pass of the worker; while changes wait for the engine to confirm them,
    come back shortly. An engine that is down raises: the job retries with backoff, the outbox keeps all."""
    if not _CONFIGURED.get(id(current_app._get_current_object())):  # type: ignore[attr-defined]
        configure_all()  # index settings come from the code, as at every deploy (once per worker process)
        _CONFIGURED[id(current_app._get_current_object())] = True  # type: ignore[attr-defined]
    sync_once()
    if backlog():
        raise jobs.RetryLater(utcnow() + dt.timedelta(seconds=CONFIRM_AGAIN_S))


def drain_all() -> int:
    """Send every waiting change and wait until the engine has applied it (CLI ``--once`` and tests)."""
    engine().retry_now()
    total = 0
    for _ in range(3):  # a failed task is sent again, at most twice
        while sent := drain():
            total += sent
        confirm(wait=True)
        if not backlog():
            break
    return total


def backlog() -> int:
    """Changes not yet confirmed in the index (waiting to be sent, or sent and not yet applied)."""
    with Session(db.engine) as session:
        return session.scalar(select(func.count()).select_from(SearchOutbox)) or 0


def outbox_stats() -> dict[str, float]:
    """The backlog and the age of its oldest change in seconds (for /metrics)."""
    with Session(db.engine) as session:
        count, oldest = session.execute(select(func.count(), func.min(SearchOutbox.created_at))).one()
    age = max((utcnow() - as_utc(oldest)).total_seconds(), 0.0) if oldest else 0.0
    return {"backlog": count or 0, "oldest_seconds": age}


Wrap = Callable[[str, int, Iterator[dict[str, Any]]], Iterable[dict[str, Any]]]


def reindex(wrap: Wrap | None = None) -> dict[str, int]:
    """Rebuild every index from the database; ``wrap(name, total, docs)`` may report progress.

    The outbox rows recorded before the rebuild started are obsolete afterwards and deleted.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    counts: dict[str, int] = {}
    with _drain_lock(app) as locked:
        if not locked:
            raise SearchUnavailable("another process is applying the search outbox")
        with Session(db.engine) as session:
            high = session.scalar(select(SearchOutbox.id).order_by(SearchOutbox.id.desc()).limit(1)) or 0
            for name, spec in specs().items():
                counts[name] = sources()[name].count_all(session)
                docs: Iterable[dict[str, Any]] = sources()[name].all_documents(session)
                if wrap is not None:
                    docs = wrap(name, counts[name], iter(docs))
                engine(app).rebuild(spec, docs)
            session.execute(delete(SearchOutbox).where(SearchOutbox.id <= high))
            # A change committed while the rebuild read the database may have gone to the index that
            # the swap replaced: send every later change again, to the new index.
            session.execute(update(SearchOutbox).where(SearchOutbox.id > high).values(task_uid=None))
            session.commit()
    return counts


# Operations: health, differences, start-up report ------------------------------------------

def _engine_name(app: Flask) -> str:
    return "meilisearch" if app.config.get("MEILISEARCH_URL") else "embedded"


def health() -> dict[str, Any]:
    """The search part of ``/healthz``: reachable, key accepted, index counts equal to the database's."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    report: dict[str, Any] = {"engine": _engine_name(app), **engine(app).probe()}
    if not report["reachable"]:
        return {**report, "status": "error", "action": "Start the search server or correct MEILISEARCH_URL."}
    if report["key"] != "ok":
        return {**report, "status": "error",
                "action": "Correct MEILISEARCH_API_KEY / MEILISEARCH_SEARCH_KEY (`flask search keys` creates them)."}
    pending = backlog()
    try:
        with Session(db.engine) as session:
            counts = {name: {"index": engine(app).document_count(spec), "database": sources()[name].count_all(session)}
                      for name, spec in specs().items()}
    except SearchUnavailable:
        return {**report, "status": "error", "action": "The search engine did not answer; try again shortly."}
    report.update(documents=counts, pending=pending, status="ok")
    if any(c["index"] != c["database"] for c in counts.values()) and not pending:
        report.update(status="degraded",
                      action="The index differs from the database: run `flask --app marketplace search reindex`.")
    return report


def differences() -> dict[str, dict[str, list[str]]]:
    """Per index: ids in the database but not in the index (``missing``), and the reverse (``extra``)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    out: dict[str, dict[str, list[str]]] = {}
    with Session(db.engine) as session:
        for name, spec in specs().items():
            wanted = {str(doc["id"]) for doc in sources()[name].all_documents(session)}
            held = engine(app).document_ids(spec)
            out[name] = {"missing": sorted(wanted - held, key=_natural),
                         "extra": sorted(held - wanted, key=_natural)}
    return out


def _natural(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (0, key)


def report_engine(app: Flask) -> None:
    """At start-up: which engine, the server's version and whether the adapter supports it."""
    if not app.config.get("MEILISEARCH_URL"):
        log.info("Search engine: embedded (%s)", app.config.get("SEARCH_INDEX_PATH"))
        return
    found = engine(app).probe()
    if not found["reachable"]:
        log.warning("Search engine: Meilisearch at %s does not answer", app.config["MEILISEARCH_URL"])
    elif found["key"] != "ok":
        log.warning("Search engine: Meilisearch at %s refuses the API key", app.config["MEILISEARCH_URL"])
    else:
        log.log(logging.INFO if found["supported"] else logging.WARNING,
                "Search engine: Meilisearch %s at %s (%s)", found["version"], app.config["MEILISEARCH_URL"],
                "supported" if found["supported"] else "NOT a version this adapter supports (1.x)")


def refuse_master_key(app: Flask) -> None:
    """Production web processes must not hold a key that can manage keys (the master key)."""
    if app.config.get("ENV") != "production" or not app.config.get("MEILISEARCH_URL"):
        return
    found = engine(app)
    if isinstance(found, MeilisearchEngine) and found.can_manage_keys():
        raise SystemExit("Refusing to start in production: MEILISEARCH_API_KEY is the master key (or an admin "
                         "key). Give web processes the keys `flask search keys` prints.")


def init_app(app: Flask, index_sources: Iterable[IndexSource] = ()) -> None:
    """Register the domains' indexes (lots/search.py, products/search.py) and record changes in the outbox."""
    register(*index_sources)
    jobs.register(SYNC_JOB, sync_job)
    jobs.schedule(SYNC_JOB, SYNC_JOB, dt.timedelta(minutes=5))  # a safety net after an engine outage
    app.config.setdefault("SEARCH_INDEX_PATH", str(Path(app.instance_path) / "search"))
    if not app.config.get("SEARCH_INDEX_PATH"):
        app.config["SEARCH_INDEX_PATH"] = str(Path(app.instance_path) / "search")
    register_listeners()
