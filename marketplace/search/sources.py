"""What an index is made of: each domain declares its index in its own ``search.py`` (the spec, how to
build its documents, which changed rows touch which documents) and ``create_app`` registers it here.

The search package itself knows no domain: the outbox, the worker and the rebuild go through this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from marketplace.search.port import Document, IndexSpec

BATCH = 2000


@dataclass(frozen=True)
class IndexSource:
    spec: IndexSpec
    #: The current document for each key, or None when the row is gone or not searchable.
    documents_for: Callable[[Session, Sequence[str]], dict[str, Document | None]]
    #: Every searchable document, in batches.
    all_documents: Callable[[Session], Iterator[Document]]
    count_all: Callable[[Session], int]
    #: The keys of this index that a new, changed (``dirty``) or deleted row makes stale, during a flush.
    changed_keys: Callable[[Any, Connection, bool], Iterable[str]]


_SOURCES: dict[str, IndexSource] = {}


def register(*sources: IndexSource) -> None:
    for source in sources:
        _SOURCES[source.spec.name] = source


def sources() -> dict[str, IndexSource]:
    return _SOURCES


def specs() -> dict[str, IndexSpec]:
    return {name: source.spec for name, source in _SOURCES.items()}


def batched(session: Session, stmt: Any, model: Any, options: list[Any],
            build: Callable[[Any], Document | None]) -> Iterator[Document]:
    """Documents of ``stmt``'s rows, BATCH rows at a time (so 100k lots never sit in memory at once)."""
    last = 0
    while True:
        batch = session.scalars(stmt.where(model.id > last).order_by(model.id).limit(BATCH).options(*options)).all()
        if not batch:
            return
        for row in batch:
            document = build(row)
            if document is not None:
                yield document
        last = batch[-1].id  # the session holds clean rows weakly: each batch is freed once done
