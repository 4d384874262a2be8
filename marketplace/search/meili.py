"""The Meilisearch adapter, through the official client. Every call has a timeout.

``index_settings`` and ``filter_expression`` are pure functions (unit-tested): the settings
come from the same ``IndexSpec`` as the embedded engine's schema, and filter values are always
quoted and escaped, never pasted into the expression.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

import meilisearch
from meilisearch.errors import MeilisearchApiError, MeilisearchCommunicationError, MeilisearchTimeoutError

from marketplace.search.port import MAX_QUERY_TERMS, Document, IndexSpec, SearchQuery, SearchResult, SearchUnavailable

TIMEOUT_S = 5
TASK_TIMEOUT_MS = 30_000
BATCH = 5_000
MAX_TOTAL_HITS = 100_000
_T = TypeVar("_T")
_ERRORS = (MeilisearchApiError, MeilisearchCommunicationError, MeilisearchTimeoutError, OSError)


def quote(value: str) -> str:
    """A Meilisearch string literal: double quotes, with backslashes and quotes escaped."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("range bounds must be finite numbers")
    return repr(number)


def filter_expression(spec: IndexSpec, query: SearchQuery) -> list[str]:
    """The filter as a list of AND-ed expressions. Unknown field names are ignored."""
    parts: list[str] = []
    for name, values in query.filters.items():
        if name in spec.facets and values:
            parts.append(f"{name} IN [{', '.join(quote(v) for v in values)}]")
    for name, (low, high) in query.ranges.items():
        if name not in spec.numbers:
            continue
        if low is not None:
            parts.append(f"{name} >= {_number(low)}")
        if high is not None:
            parts.append(f"{name} <= {_number(high)}")
    return parts


def index_settings(spec: IndexSpec, synonyms: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """Searchable, filterable and sortable attributes, ranking, synonyms, typos and faceting."""
    table: dict[str, list[str]] = {}
    for group in synonyms:
        for name in group:
            table[name] = [other for other in group if other != name]
    return {
        "searchableAttributes": list(spec.searchable),
        # ``id`` is filterable so that deletes go by filter (deleting by a list of ids is deprecated).
        "filterableAttributes": [*spec.facets, *spec.numbers, "id"],
        "sortableAttributes": list(spec.sortable),
        "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
        "synonyms": table,
        "typoTolerance": {
            "enabled": True,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
            "disableOnNumbers": True,
        },
        "faceting": {"maxValuesPerFacet": 1000, "sortFacetValuesBy": {"*": "count"}},
        "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
    }


def search_params(spec: IndexSpec, query: SearchQuery) -> dict[str, Any]:
    params: dict[str, Any] = {
        "filter": filter_expression(spec, query),
        "page": query.page,
        "hitsPerPage": query.per_page,
        "matchingStrategy": "all",
    }
    if query.counted_facets(spec):
        params["facets"] = list(query.counted_facets(spec))
    if query.sort and query.sort.lstrip("-") in spec.sortable:
        name = query.sort.lstrip("-")
        params["sort"] = [f"{name}:{'desc' if query.sort.startswith('-') else 'asc'}"]
    return params


class MeilisearchEngine:
    def __init__(self, url: str, api_key: str | None, synonyms: tuple[tuple[str, ...], ...], prefix: str = "") -> None:
        self.client = meilisearch.Client(url, api_key, timeout=TIMEOUT_S)
        self.synonyms = synonyms
        self.prefix = prefix
        self._configured: set[str] = set()

    def _uid(self, spec: IndexSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def _wait(self, task: Any, tolerate: str = "") -> None:
        done = self.client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        if done.status != "succeeded" and not (tolerate and (done.error or {}).get("code") == tolerate):
            raise SearchUnavailable(f"Meilisearch task {task.task_uid} {done.status}: {done.error}")

    def _create(self, uid: str) -> None:
        self._wait(self.client.create_index(uid, {"primaryKey": "id"}), tolerate="index_already_exists")

    def _index(self, spec: IndexSpec) -> Any:
        index = self.client.index(self._uid(spec))
        if spec.name not in self._configured:
            self._create(self._uid(spec))
            self._wait(index.update_settings(index_settings(spec, self.synonyms)))
            self._configured.add(spec.name)
        return index

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _ERRORS as error:
            raise SearchUnavailable(f"Meilisearch: {error}") from error

    def apply(self, spec: IndexSpec, upserts: list[Document], deletes: list[str]) -> None:
        def run() -> None:
            index = self._index(spec)
            for batch in _batches(iter(deletes), 1000):
                self._wait(index.delete_documents(filter=f"id IN [{', '.join(quote(i) for i in batch)}]"))
            if upserts:
                self._wait(index.add_documents(upserts, primary_key="id"))

        self._call(run)

    def rebuild(self, spec: IndexSpec, documents: Iterable[Document]) -> None:
        """Build a fresh index beside the live one, then swap them, so searches never see it half-full."""

        def run() -> None:
            live = self._uid(spec)
            spare = f"{live}_rebuild"
            self._wait(self.client.delete_index(spare), tolerate="index_not_found")
            self._create(spare)
            index = self.client.index(spare)
            self._wait(index.update_settings(index_settings(spec, self.synonyms)))
            for batch in _batches(documents, BATCH):
                self._wait(index.add_documents(batch, primary_key="id"))
            self._create(live)
            self._wait(self.client.swap_indexes([{"indexes": [live, spare]}]))
            self._wait(self.client.delete_index(spare))
            self._configured.add(spec.name)

        self._call(run)

    def search(self, spec: IndexSpec, query: SearchQuery) -> SearchResult:
        started = time.perf_counter()
        text = " ".join(query.text.split()[:MAX_QUERY_TERMS])
        found = self._call(lambda: self._index(spec).search(text, search_params(spec, query)))
        facets: dict[str, dict[str, int]] = {name: {} for name in query.counted_facets(spec)}
        for name, values in (found.get("facetDistribution") or {}).items():
            if name in facets:
                facets[name] = {str(k): int(v) for k, v in values.items()}
        elapsed = (time.perf_counter() - started) * 1000
        return SearchResult(found["hits"], facets, int(found.get("totalHits", 0)), query.page, query.per_page,
                            round(elapsed, 3))

    def document_ids(self, spec: IndexSpec) -> set[str]:
        def run() -> set[str]:
            ids: set[str] = set()
            offset = 0
            while True:
                page = self._index(spec).get_documents({"fields": ["id"], "limit": 1000, "offset": offset})
                ids.update(str(d.id) for d in page.results)
                offset += 1000
                if offset >= page.total:
                    return ids

        return self._call(run)

    def drop(self, spec: IndexSpec) -> None:
        """Delete the index (tests use their own prefix and clean up)."""
        self._call(lambda: self._wait(self.client.delete_index(self._uid(spec)), tolerate="index_not_found"))
        self._configured.discard(spec.name)


def _batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
