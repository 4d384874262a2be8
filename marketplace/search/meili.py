"""The Meilisearch adapter, through the official client. Every call has a timeout.

``index_settings`` and ``filter_expression`` are pure functions (unit-tested): the settings
come from the same ``IndexSpec`` as the embedded engine's schema, and filter values are always
quoted and escaped, never pasted into the expression.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

import meilisearch
import requests
import urllib3
from meilisearch._httprequests import HttpRequests
from meilisearch.errors import MeilisearchApiError, MeilisearchCommunicationError, MeilisearchTimeoutError
from requests.structures import CaseInsensitiveDict

from marketplace.search.port import (
    TIE_ID,
    TIE_SECOND,
    Document,
    IndexSpec,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    query_words,
    tie_key,
)

TIMEOUT_S = 5
BREAKER_S = 15  # after a timeout or a refused connection, fail fast for this long
PROBE_TIMEOUT_S = 2
SUPPORTED_MAJOR = 1  # the adapter speaks the Meilisearch v1 API (tested against 1.50)
KEY_ACTIONS = {
    "search": ["search"],
    "indexing": ["documents.add", "documents.get", "documents.delete", "indexes.create", "indexes.get",
                 "indexes.delete", "indexes.swap", "settings.get", "settings.update", "tasks.get", "stats.get"],
}


def supported(version: str) -> bool:
    major = version.split(".", 1)[0]
    return major.isdigit() and int(major) == SUPPORTED_MAJOR
TASK_TIMEOUT_MS = 30_000
BATCH = 5_000
MAX_TOTAL_HITS = 100_000
_T = TypeVar("_T")


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
        "sortableAttributes": [*spec.sortable, TIE_SECOND, TIE_ID],
        # The stated order (``port``): fewer typos first, then exactness (a value equal to the query, then
        # every word exact, then a prefix), then the sort, which always ends with the tie-break; proximity
        # and attribute never get to decide.
        "rankingRules": ["words", "typo", "exactness", "sort", "proximity", "attribute"],
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
    params["sort"] = [f"{TIE_SECOND}:desc", f"{TIE_ID}:desc"]
    if query.sort and query.sort.lstrip("-") in spec.sortable:
        name = query.sort.lstrip("-")
        params["sort"].insert(0, f"{name}:{'desc' if query.sort.startswith('-') else 'asc'}")
    return params


def with_tie(spec: IndexSpec, doc: Document) -> Document:
    """The document as sent: with its two tie-break fields (``port.tie_key``), taken off again in hits."""
    seconds, ident = tie_key(spec, doc)
    return {**doc, TIE_SECOND: seconds, TIE_ID: ident}


def multi_search_queries(uid: str, spec: IndexSpec, queries: list[SearchQuery]) -> list[dict[str, Any]]:
    """The body of one multi-search: the words of each query only, as the embedded engine reads them
    (no ``-word`` exclusions, no "phrases"), with its filters, facets, sort and page."""
    return [{"indexUid": uid, "q": " ".join(query_words(q.text)), **search_params(spec, q)} for q in queries]


class _PooledHttp(HttpRequests):
    """The official client's HTTP layer on one urllib3 pool: connections are reused, and a response
    is read in one piece.

    The client calls ``requests.get``/``post``/… for each request: a new connection every time, and
    requests' chunked reading of the answer cost about 40 ms per search on loopback (measured: a
    search answered in 1 ms by urllib3 or http.client took 45 ms through requests). The answer is
    handed back as a ``requests.Response``, which is what the client's error handling reads. One
    object per thread (the client keeps per-request headers on it); the pool is shared.
    """

    def __init__(self, config: Any, pool: urllib3.PoolManager) -> None:
        super().__init__(config)
        self.pool = pool

    def _send(self, method: str, url: str, body: bytes | None, headers: Any, timeout: float | None) -> Any:
        """One request; sent again once on a new connection when a kept-alive one turns out to have
        been closed by the server meanwhile (it closes idle connections). Timeouts are not retried."""
        try:
            return self.pool.request(method, url, body=body, headers=headers, timeout=timeout, retries=False)
        except urllib3.exceptions.ProtocolError:
            return self.pool.request(method, url, body=body, headers=headers, timeout=timeout, retries=False)

    def _via_pool(self, method: str) -> Any:
        def call(url: str, timeout: float | None = None, headers: dict[str, str] | None = None,
                 data: str | bytes | None = None) -> requests.Response:
            body = data.encode() if isinstance(data, str) else data
            try:
                answer = self._send(method.upper(), url, body, headers, timeout)
            except urllib3.exceptions.TimeoutError as error:
                raise requests.exceptions.Timeout(str(error)) from error
            except urllib3.exceptions.HTTPError as error:
                raise requests.exceptions.ConnectionError(str(error)) from error
            response = requests.Response()
            response.status_code, response.reason, response.url = answer.status, answer.reason or "", url
            response.headers = CaseInsensitiveDict(answer.headers)
            response._content = answer.data
            response.encoding = "utf-8"
            return response

        call.__name__ = method  # the client tells a GET (no body) by the function's name
        return call

    def get(self, path: str) -> Any:
        return self.send_request(self._via_pool("get"), path)

    def post(self, path: str, body: Any = None, content_type: str | None = "application/json", *,
             serializer: Any = None) -> Any:
        return self.send_request(self._via_pool("post"), path, body, content_type, serializer=serializer)

    def patch(self, path: str, body: Any = None, content_type: str | None = "application/json") -> Any:
        return self.send_request(self._via_pool("patch"), path, body, content_type)

    def put(self, path: str, body: Any = None, content_type: str | None = "application/json", *,
            serializer: Any = None) -> Any:
        return self.send_request(self._via_pool("put"), path, body, content_type, serializer=serializer)

    def delete(self, path: str, body: Any = None) -> Any:
        return self.send_request(self._via_pool("delete"), path, body)


class MeilisearchEngine:
    """Writes are sent without waiting for indexing (``apply`` returns the task uids; ``task_states``
    confirms them later). After a timeout or a connection failure the engine fails fast for
    ``BREAKER_S`` seconds, so a hung server costs searches and writes nothing, then tries again."""

    batched = True  # one multi-search round trip is cheaper than several searches

    def __init__(self, url: str, api_key: str | None, synonyms: tuple[tuple[str, ...], ...], *, prefix: str = "",
                 timeout: float = TIMEOUT_S, search_key: str | None = None) -> None:
        self.url, self.api_key, self.timeout = url, api_key, timeout
        self.search_key = search_key or api_key  # web processes may search with a search-only key
        self.synonyms = synonyms
        self.prefix = prefix
        self._local = threading.local()
        self._pool = urllib3.PoolManager(maxsize=16)
        self._configured: set[str] = set()
        self._down_until = 0.0

    def _thread_client(self, name: str, key: str | None) -> meilisearch.Client:
        """This thread's client for ``key``, on the engine's connection pool."""
        client = getattr(self._local, name, None)
        if client is None:
            client = meilisearch.Client(self.url, key, timeout=self.timeout)
            client.http = _PooledHttp(client.config, self._pool)
            client.task_handler.http = client.http
            setattr(self._local, name, client)
        return client

    @property
    def client(self) -> meilisearch.Client:
        """The client with the indexing key: writes, tasks, settings."""
        return self._thread_client("client", self.api_key)

    @property
    def searcher(self) -> meilisearch.Client:
        """The client with the search key."""
        return self._thread_client("searcher", self.search_key)

    def uid(self, spec: IndexSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def _index(self, spec: IndexSpec, uid: str | None = None) -> Any:
        index = self.client.index(uid or self.uid(spec))
        index.http = self.client.http
        return index

    def _wait(self, task: Any, tolerate: str = "") -> None:
        done = self.client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        if done.status != "succeeded" and not (tolerate and (done.error or {}).get("code") == tolerate):
            raise SearchUnavailable(f"Meilisearch task {task.task_uid} {done.status}: {done.error}")

    def _create(self, uid: str) -> None:
        self._wait(self.client.create_index(uid, {"primaryKey": "id"}), tolerate="index_already_exists")

    def retry_now(self) -> None:
        """Forget a recent failure (the worker tries at every poll; pages fail fast meanwhile)."""
        self._down_until = 0.0

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            raise SearchUnavailable("Meilisearch did not answer a moment ago; trying again shortly")
        try:
            return func(*args, **kwargs)
        except (MeilisearchCommunicationError, MeilisearchTimeoutError, OSError) as error:
            self._down_until = time.monotonic() + BREAKER_S
            raise SearchUnavailable(f"Meilisearch: {error}") from error
        except MeilisearchApiError as error:
            raise SearchUnavailable(f"Meilisearch: {error}") from error

    def configure(self, spec: IndexSpec) -> None:
        """Create the index if needed and push its settings (the worker and the rebuild do this)."""

        def run() -> None:
            self._create(self.uid(spec))
            self._wait(self._index(spec).update_settings(index_settings(spec, self.synonyms)))
            self._configured.add(spec.name)

        if spec.name not in self._configured:
            self._call(run)

    def apply(self, spec: IndexSpec, upserts: list[Document], deletes: list[str]) -> dict[str, int]:
        """Send the changes; returns each key's task uid. Tasks on one index run in the order sent."""

        def run() -> dict[str, int]:
            index = self._index(spec)
            tasks: dict[str, int] = {}
            for batch in _batches(iter(deletes), 1000):
                task = index.delete_documents(filter=f"id IN [{', '.join(quote(i) for i in batch)}]")
                tasks.update(dict.fromkeys(batch, task.task_uid))
            for docs in _batches(iter(upserts), BATCH):
                task = index.add_documents([with_tie(spec, d) for d in docs], primary_key="id")
                tasks.update(dict.fromkeys((str(d["id"]) for d in docs), task.task_uid))
            return tasks

        return self._call(run)

    def task_states(self, uids: Iterable[int]) -> dict[int, str]:
        """``succeeded``, ``failed``, ``canceled``, ``enqueued`` or ``processing`` per task; a task the
        server no longer knows (its data was lost) counts as ``failed``, to be sent again."""
        wanted = sorted(set(uids))
        states: dict[int, str] = dict.fromkeys(wanted, "failed")
        for batch in _batches(iter(wanted), 500):
            found = self._call(lambda b=batch: self.client.get_tasks({"uids": [str(u) for u in b], "limit": len(b)}))
            states.update({task.uid: task.status for task in found.results})
        return states

    def wait(self, uids: Iterable[int]) -> None:
        for uid in sorted(set(uids)):
            self._call(lambda u=uid: self.client.wait_for_task(u, timeout_in_ms=TASK_TIMEOUT_MS))

    def rebuild(self, spec: IndexSpec, documents: Iterable[Document]) -> None:
        """Build a fresh index beside the live one, then swap them, so searches never see it half-full."""

        def run() -> None:
            live = self.uid(spec)
            spare = f"{live}_rebuild"
            self._wait(self.client.delete_index(spare), tolerate="index_not_found")
            self._create(spare)
            index = self._index(spec, spare)
            self._wait(index.update_settings(index_settings(spec, self.synonyms)))
            for batch in _batches(documents, BATCH):
                self._wait(index.add_documents([with_tie(spec, d) for d in batch], primary_key="id"))
            self._create(live)
            self._wait(self.client.swap_indexes([{"indexes": [live, spare]}]))
            self._wait(self.client.delete_index(spare))
            self._configured.add(spec.name)

        self._call(run)

    def search(self, spec: IndexSpec, query: SearchQuery) -> SearchResult:
        return self.search_many(spec, [query])[0]

    def search_many(self, spec: IndexSpec, queries: list[SearchQuery]) -> list[SearchResult]:
        """Several searches in one round trip (Meilisearch's multi-search)."""
        started = time.perf_counter()
        requests_ = multi_search_queries(self.uid(spec), spec, queries)
        found = self._call(lambda: self.searcher.multi_search(requests_))["results"]
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        return [_result(spec, query, answer, elapsed) for query, answer in zip(queries, found, strict=True)]

    def document_ids(self, spec: IndexSpec) -> set[str]:
        def run() -> set[str]:
            ids: set[str] = set()
            offset = 0
            while True:
                try:
                    page = self._index(spec).get_documents({"fields": ["id"], "limit": 1000, "offset": offset})
                except MeilisearchApiError as error:
                    if error.code == "index_not_found":
                        return ids
                    raise
                ids.update(str(d.id) for d in page.results)
                offset += 1000
                if offset >= page.total:
                    return ids

        return self._call(run)

    def version(self) -> str:
        return str(self._call(self.client.get_version)["pkgVersion"])

    def document_count(self, spec: IndexSpec) -> int | None:
        """Documents in the index; None when the index does not exist (a fresh server)."""

        def run() -> int | None:
            try:
                return int(self._index(spec).get_stats().number_of_documents)
            except MeilisearchApiError as error:
                if error.code == "index_not_found":
                    return None
                raise

        return self._call(run)

    def probe(self) -> dict[str, Any]:
        """Whether the server answers, whether the key works, its version and whether it is supported.

        Bypasses the fail-fast pause, with a short timeout: for ``/healthz`` and the start-up log.
        """
        client = meilisearch.Client(self.url, self.api_key, timeout=PROBE_TIMEOUT_S)
        unreachable = (MeilisearchCommunicationError, MeilisearchTimeoutError, OSError)
        try:
            client.health()
            client.get_indexes({"limit": 1})  # any key of this site may list its indexes
        except MeilisearchApiError as error:
            return {"reachable": True, "key": "refused" if error.status_code in (401, 403) else "error"}
        except unreachable:
            return {"reachable": False, "key": "unknown"}
        try:
            version: str | None = str(client.get_version()["pkgVersion"])
        except MeilisearchApiError:  # an index-scoped key may not read the version (a global action)
            version = None
        except unreachable:
            return {"reachable": False, "key": "unknown"}
        return {"reachable": True, "key": "ok", "version": version,
                "supported": None if version is None else supported(version)}

    def can_manage_keys(self) -> bool:
        """Whether this key may list API keys: only the master key (or an admin key) can."""
        try:
            self.client.get_keys({"limit": 1})
        except (MeilisearchApiError, MeilisearchCommunicationError, MeilisearchTimeoutError, OSError):
            return False  # refused, or no answer (the start-up report says so)
        return True

    def create_keys(self) -> dict[str, str]:
        """A search-only key for web processes and an indexing key for the worker, on this site's indexes."""
        indexes = [f"{self.prefix}*"] if self.prefix else ["*"]
        made = {}
        for name, actions in KEY_ACTIONS.items():
            key = self._call(lambda a=actions, n=name: self.client.create_key({
                "description": f"marketplace {n} ({self.prefix or 'no prefix'})",
                "actions": a, "indexes": indexes, "expiresAt": None}))
            made[name] = key.key
        return made

    def drop(self, spec: IndexSpec) -> None:
        """Delete the index (tests use their own prefix and clean up)."""
        self._call(lambda: self._wait(self.client.delete_index(self.uid(spec)), tolerate="index_not_found"))
        self._configured.discard(spec.name)


def _result(spec: IndexSpec, query: SearchQuery, found: dict[str, Any], elapsed: float) -> SearchResult:
    facets: dict[str, dict[str, int]] = {name: {} for name in query.counted_facets(spec)}
    for name, values in (found.get("facetDistribution") or {}).items():
        if name in facets:
            facets[name] = {str(k): int(v) for k, v in values.items()}
    total = int(found.get("totalHits", 0)) if query.per_page else 0
    hits = found["hits"]
    for hit in hits:
        hit.pop(TIE_SECOND, None)
        hit.pop(TIE_ID, None)
    return SearchResult(hits, facets, total, query.page, query.per_page, elapsed)


def _batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
