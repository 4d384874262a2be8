"""Choosing the engine, recording changes in the outbox, applying them, rebuilding, searching."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import delete, event, insert, select
from sqlalchemy.orm import Session

from marketplace.certification.models import Certificate
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotContribution
from marketplace.organisations.models import Organisation
from marketplace.products.models import Product, ProductSource
from marketplace.search.documents import all_documents, count_all, documents_for
from marketplace.search.embedded import EmbeddedEngine
from marketplace.search.meili import MeilisearchEngine
from marketplace.search.models import SearchOutbox
from marketplace.search.port import IndexSpec, SearchEngine, SearchQuery, SearchResult, SearchUnavailable
from marketplace.search.schema import SPECS, place_synonyms

log = logging.getLogger(__name__)
PENDING = "search_outbox_pending"
DRAIN_BATCH = 500
LOCK_WAIT_S = 2.0


# Engine ---------------------------------------------------------------------------------

def make_engine(config: dict[str, Any]) -> SearchEngine:
    synonyms = place_synonyms(str(Path(config["CONTENT_DIR"]) / "reference"))
    if config.get("MEILISEARCH_URL"):
        return MeilisearchEngine(
            config["MEILISEARCH_URL"], config.get("MEILISEARCH_API_KEY"), synonyms,
            prefix=config.get("MEILISEARCH_INDEX_PREFIX", ""),
        )
    return EmbeddedEngine(config["SEARCH_INDEX_PATH"], synonyms)


def engine(app: Flask | None = None) -> SearchEngine:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if "search_engine" not in app.extensions:
        app.extensions["search_engine"] = make_engine(app.config)
    return app.extensions["search_engine"]


def search(spec: IndexSpec, query: SearchQuery) -> SearchResult:
    return engine().search(spec, query)


# Outbox: record in the flush, apply after the commit --------------------------------------

def _changed_keys(session: Session) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    conn = session.connection()
    for obj in chain(session.new, session.dirty, session.deleted):
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        if isinstance(obj, Lot):
            keys.add(("lots", str(obj.id)))
        elif isinstance(obj, LotContribution):
            keys.add(("lots", str(obj.lot_id)))
        elif isinstance(obj, Product):
            keys.add(("products", str(obj.id)))
        elif isinstance(obj, ProductSource):
            keys.add(("products", str(obj.product_id)))
        elif isinstance(obj, Certificate) and obj.id is not None:
            ids = conn.scalars(select(Lot.id).where(Lot.certificate_id == obj.id))
            keys.update(("lots", str(i)) for i in ids)
        elif isinstance(obj, Organisation) and obj in session.dirty:
            ids = conn.scalars(select(Lot.id).where(Lot.cooperative_id == obj.id))
            keys.update(("lots", str(i)) for i in ids)
            ids = conn.scalars(select(Product.id).where(Product.organisation_id == obj.id))
            keys.update(("products", str(i)) for i in ids)
    return keys


def _record(session: Session, _context: Any) -> None:
    keys = _changed_keys(session)
    if keys:
        session.connection().execute(
            insert(SearchOutbox.__table__), [{"index_name": i, "key": k} for i, k in sorted(keys)]
        )
        session.info[PENDING] = True


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(PENDING, None)


def _apply_after_commit(session: Session) -> None:
    if not session.info.pop(PENDING, False) or not has_app_context():
        return
    if not current_app.config.get("SEARCH_APPLY_AFTER_COMMIT", True):
        return
    try:
        drain()
    except Exception:  # the write is committed and the outbox keeps it; never fail the request
        log.exception("Applying the search outbox after commit failed; `flask search sync` will retry")


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


def drain(limit: int = DRAIN_BATCH) -> int:
    """Apply up to ``limit`` outbox rows; returns how many were applied. Raises SearchUnavailable."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _drain_lock(app) as locked:
        if not locked:
            raise SearchUnavailable("another process is applying the search outbox")
        with Session(db.engine) as session:
            rows = session.execute(
                select(SearchOutbox.id, SearchOutbox.index_name, SearchOutbox.key)
                .order_by(SearchOutbox.id).limit(limit)
            ).all()
            done = 0
            for name, spec in SPECS.items():
                mine = [r for r in rows if r.index_name == name]
                if not mine:
                    continue
                docs = documents_for(session, name, [r.key for r in mine])
                upserts = [d for d in docs.values() if d is not None]
                deletes = [k for k, d in docs.items() if d is None]
                engine(app).apply(spec, upserts, deletes)
                session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_([r.id for r in mine])))
                session.commit()
                done += len(mine)
            stray = [r.id for r in rows if r.index_name not in SPECS]
            if stray:
                session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(stray)))
                session.commit()
            return done


def drain_all() -> int:
    total = 0
    while applied := drain():
        total += applied
    return total


def backlog() -> int:
    from sqlalchemy import func

    with Session(db.engine) as session:
        return session.scalar(select(func.count()).select_from(SearchOutbox)) or 0


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
            for name, spec in SPECS.items():
                counts[name] = count_all(session, name)
                docs: Iterable[dict[str, Any]] = all_documents(session, name)
                if wrap is not None:
                    docs = wrap(name, counts[name], iter(docs))
                engine(app).rebuild(spec, docs)
            session.execute(delete(SearchOutbox).where(SearchOutbox.id <= high))
            session.commit()
    return counts


def init_app(app: Flask) -> None:
    app.config.setdefault("SEARCH_INDEX_PATH", str(Path(app.instance_path) / "search"))
    if not app.config.get("SEARCH_INDEX_PATH"):
        app.config["SEARCH_INDEX_PATH"] = str(Path(app.instance_path) / "search")
    register_listeners()
