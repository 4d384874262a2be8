"""The search port: what every search engine offers, and the types that cross it."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Document = dict[str, Any]

MAX_QUERY_LENGTH = 512
MAX_QUERY_TERMS = 10


class SearchUnavailable(RuntimeError):  # noqa: N818 (reads as a state, like ConnectionRefused)
    """The engine is down, busy or timed out. Writes stay in the outbox; searches show a message."""


@dataclass(frozen=True)
class IndexSpec:
    """What an index holds: searchable text fields, facets, numeric fields, sortable fields."""

    name: str
    searchable: tuple[str, ...]  # ranked in this order
    facets: tuple[str, ...]  # string (or list of strings) values: filter with OR inside, AND across
    numbers: tuple[str, ...]  # float values: range filters and sorting
    sortable: tuple[str, ...]  # a subset of ``numbers``
    place_fields: tuple[str, ...] = ()  # searchable fields holding place names, expanded by synonyms
    recency: str = ""  # the numeric field (seconds since 1970) that breaks ties: newer first


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    sort: str | None = None  # a sortable field, "-field" for descending; None ranks by relevance
    page: int = 1
    per_page: int = 20
    with_facets: bool = True
    facet_names: tuple[str, ...] | None = None  # which facets to count (None: all of the index's)

    def counted_facets(self, spec: IndexSpec) -> tuple[str, ...]:
        if not self.with_facets:
            return ()
        return spec.facets if self.facet_names is None else tuple(f for f in self.facet_names if f in spec.facets)


@dataclass(frozen=True)
class SearchResult:
    hits: list[Document]
    facets: dict[str, dict[str, int]]
    total: int
    page: int
    per_page: int
    query_ms: float

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page)) if self.per_page else 1


# The order of results, the same on every engine (stated in the README, "Search"):
# 1. with words: documents that match every word exactly (a place name through its synonyms, the last
#    word also as a prefix) come before those that need a typo;
# 2. within that, the chosen sort, if any ("newest first", the ``recency`` field descending, is the
#    tie-break's own order: it compares whole seconds, then ids);
# 3. ties: the newer document first (its ``recency`` field, to the second), then the higher id.
# The tie-break is one exact number, ``tie_number``: seconds × 2**21 + id, below 2**53 so that a search
# engine storing numbers as doubles (Meilisearch) keeps it exact; one sort level instead of two costs
# Meilisearch about half as much on deep pages. Seconds count from 1970 up to 2**32 (the year 2106); ids
# at or above 2**21 (2,097,152) share the last value (they still sort, newest second first).
TIE = "tie"
TIE_ID_LIMIT = 1 << 21
TIE_SECOND_LIMIT = 1 << (53 - 21)


def tie_key(spec: IndexSpec, doc: Mapping[str, Any]) -> tuple[int, int]:
    """The two tie-break values of a document: its recency in whole seconds and its numeric id."""
    try:
        seconds = int(float(doc.get(spec.recency) or 0)) if spec.recency else 0
    except (TypeError, ValueError, OverflowError):
        seconds = 0
    ident = str(doc.get("id", ""))
    return min(max(seconds, 0), TIE_SECOND_LIMIT - 1), min(int(ident), TIE_ID_LIMIT - 1) if ident.isdigit() else 0


def tie_number(spec: IndexSpec, doc: Mapping[str, Any]) -> int:
    """The tie-break as one number below 2**53: higher is first."""
    seconds, ident = tie_key(spec, doc)
    return seconds * TIE_ID_LIMIT + ident


def chosen_sort(spec: IndexSpec, query: SearchQuery) -> tuple[str, bool] | None:
    """The query's sort as (field, descending), or None when the tie-break alone gives the order: no
    sort, a field that is not sortable, or newest first (the recency field, descending)."""
    if not query.sort or query.sort.lstrip("-") not in spec.sortable:
        return None
    name, descending = query.sort.lstrip("-"), query.sort.startswith("-")
    if name == spec.recency and descending:
        return None
    return name, descending


class SearchEngine(Protocol):
    """One search engine. Calls raise ``SearchUnavailable`` when the engine cannot answer now.

    ``apply`` either applies the changes at once (and returns ``{}``) or sends them and returns each
    key's task uid, which ``task_states`` later confirms (``succeeded``; ``failed``/``canceled``: send
    again; ``enqueued``/``processing``: not yet). ``batched`` engines answer ``search_many`` in one
    round trip, so callers may add searches they might need; others run each search in turn.
    """

    batched: bool

    def configure(self, spec: IndexSpec) -> None: ...

    def apply(self, spec: IndexSpec, upserts: list[Document], deletes: list[str]) -> dict[str, int]: ...

    def task_states(self, uids: Iterable[int]) -> dict[int, str]: ...

    def wait(self, uids: Iterable[int]) -> None: ...

    def rebuild(self, spec: IndexSpec, documents: Iterable[Document]) -> None: ...

    def search(self, spec: IndexSpec, query: SearchQuery) -> SearchResult: ...

    def search_many(self, spec: IndexSpec, queries: list[SearchQuery]) -> list[SearchResult]: ...

    def document_ids(self, spec: IndexSpec) -> set[str]: ...

    def version(self) -> str: ...

    def document_count(self, spec: IndexSpec) -> int | None: ...

    def probe(self) -> dict[str, Any]: ...

    def retry_now(self) -> None: ...


# Text normalisation shared by the engines and the synonym table ------------------------

_TOKEN = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    base = unicodedata.normalize("NFKD", char)[0]
    return base if base.isascii() else char


def fold(text: str) -> str:
    """Lower-case and drop Latin diacritics (Ö → o); Cyrillic letters are kept as they are."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    return "".join(c if c.isascii() else _fold_char(c) for c in lowered)


@functools.lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in _TOKEN.findall(fold(text)) if len(t.encode()) <= 40)


def tokens(text: str) -> list[str]:
    """The words of ``text``, folded; the same split as tantivy's simple tokenizer (which drops long words)."""
    return list(_tokens(text))


def query_words(text: str) -> list[str]:
    """The words of a query; a word too long to be indexed is kept (cut short) so that it matches nothing."""
    return [t[:64] for t in _TOKEN.findall(fold(text))][:MAX_QUERY_TERMS]
