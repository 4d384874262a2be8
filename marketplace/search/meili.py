"""The Meilisearch adapter: the engine, on the official client for writes and operations and on a
kept-alive connection of its own for searches (``meili_http``). Every call has a timeout.

What it sends and reads (settings, filters, search parameters) is in ``meili_query``.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

import meilisearch
import urllib3
from meilisearch.errors import MeilisearchApiError, MeilisearchCommunicationError, MeilisearchTimeoutError

from marketplace.search.meili_http import PooledHttp, RefusedRequest, SearchLine
from marketplace.search.meili_query import (
    deep_pages,
    fetch_by_id,
    fill,
    filter_expression,
    ids_only,
    index_settings,
    multi_search_queries,
    quote,
    read_result,
    search_params,
    supported,
    with_tie,
)
from marketplace.search.port import Document, IndexSpec, SearchQuery, SearchResult, SearchUnavailable

__all__ = ["TIMEOUT_S", "MeilisearchEngine", "filter_expression", "index_settings", "multi_search_queries", "quote",
           "search_params", "supported"]

TIMEOUT_S = 5
BREAKER_S = 15  # after a timeout or a refused connection, fail fast for this long
PROBE_TIMEOUT_S = 2
KEY_ACTIONS = {
    "search": ["search"],
    "indexing": ["documents.add", "documents.get", "documents.delete", "indexes.create", "indexes.get",
                 "indexes.delete", "indexes.swap", "settings.get", "settings.update", "tasks.get", "stats.get"],
}
TASK_TIMEOUT_MS = 30_000
BATCH = 5_000
_T = TypeVar("_T")


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
        self._searches = SearchLine(url, self.search_key, timeout)
        self._configured: set[str] = set()
        self._down_until = 0.0

    def _thread_client(self, name: str, key: str | None) -> meilisearch.Client:
        """This thread's client for ``key``, on the engine's connection pool."""
        client = getattr(self._local, name, None)
        if client is None:
            client = meilisearch.Client(self.url, key, timeout=self.timeout)
            client.http = PooledHttp(client.config, self._pool)
            client.task_handler.http = client.http
            setattr(self._local, name, client)
        return client

    @property
    def client(self) -> meilisearch.Client:
        """The client with the indexing key: writes, tasks, settings."""
        return self._thread_client("client", self.api_key)

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
        except (MeilisearchCommunicationError, MeilisearchTimeoutError, OSError, http.client.HTTPException) as error:
            self._down_until = time.monotonic() + BREAKER_S
            raise SearchUnavailable(f"Meilisearch: {error}") from error
        except (MeilisearchApiError, RefusedRequest) as error:
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
        """Several searches in one round trip (Meilisearch's multi-search; one more for a page deep in the
        results, see ``meili_query.DEEP_OFFSET``)."""
        started = time.perf_counter()
        requests_ = multi_search_queries(self.uid(spec), spec, queries)
        deep = deep_pages(queries)
        for i in deep:
            requests_[i] = ids_only(requests_[i])
        found = self._call(self._multi_search, requests_)
        deep = [i for i in deep if found[i]["hits"]]
        if deep:  # the documents of the deep pages, by id, in one more round trip
            fetch = [fetch_by_id(self.uid(spec), found[i]["hits"]) for i in deep]
            documents = self._call(self._multi_search, fetch)
            for i, answer in zip(deep, documents, strict=True):
                found[i]["hits"] = fill(found[i]["hits"], answer["hits"])
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        return [read_result(spec, query, answer, elapsed) for query, answer in zip(queries, found, strict=True)]

    def _multi_search(self, queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One answer per query, each with its hits, or ``HTTPException`` (the server is not answering right)."""
        results = self._searches.post("/multi-search", {"queries": queries}).get("results")
        if not (isinstance(results, list) and len(results) == len(queries)
                and all(isinstance(r, dict) and isinstance(r.get("hits"), list) for r in results)):
            raise http.client.HTTPException("the multi-search answer does not hold one result with hits per query")
        return results

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


def _batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
