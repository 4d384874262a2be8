"""What the Meilisearch adapter sends and reads, as pure functions (unit-tested, no server needed).

``index_settings`` and ``filter_expression`` come from the same ``IndexSpec`` as the embedded
engine's schema, and filter values are always quoted and escaped, never pasted into the expression.
"""

from __future__ import annotations

import math
from typing import Any

from marketplace.search.port import (
    TIE,
    Document,
    IndexSpec,
    SearchQuery,
    SearchResult,
    chosen_sort,
    query_words,
    tie_number,
)

SUPPORTED_MAJOR = 1  # the adapter speaks the Meilisearch v1 API (tested against 1.50)
MAX_TOTAL_HITS = 100_000


def supported(version: str) -> bool:
    major = version.split(".", 1)[0]
    return major.isdigit() and int(major) == SUPPORTED_MAJOR


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
        "sortableAttributes": [*spec.sortable, TIE],
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
    params["sort"] = [f"{TIE}:desc"]  # one exact number (``port.tie_number``): one sort level, not two
    if (order := chosen_sort(spec, query)) is not None:
        params["sort"].insert(0, f"{order[0]}:{'desc' if order[1] else 'asc'}")
    return params


def with_tie(spec: IndexSpec, doc: Document) -> Document:
    """The document as sent: with its tie-break number (``port.tie_number``), taken off again in hits."""
    return {**doc, TIE: tie_number(spec, doc)}


def multi_search_queries(uid: str, spec: IndexSpec, queries: list[SearchQuery]) -> list[dict[str, Any]]:
    """The body of one multi-search: the words of each query only, as the embedded engine reads them
    (no ``-word`` exclusions, no "phrases"), with its filters, facets, sort and page."""
    return [{"indexUid": uid, "q": " ".join(query_words(q.text)), **search_params(spec, q)} for q in queries]


def read_result(spec: IndexSpec, query: SearchQuery, found: dict[str, Any], elapsed: float) -> SearchResult:
    """One answer of a multi-search as the port's result (the tie-break number taken off the hits)."""
    facets: dict[str, dict[str, int]] = {name: {} for name in query.counted_facets(spec)}
    for name, values in (found.get("facetDistribution") or {}).items():
        if name in facets:
            facets[name] = {str(k): int(v) for k, v in values.items()}
    total = int(found.get("totalHits", 0)) if query.per_page else 0
    hits = found["hits"]
    for hit in hits:
        hit.pop(TIE, None)
    return SearchResult(hits, facets, total, query.page, query.per_page, elapsed)


# A page deep in the results costs Meilisearch much more when it returns whole documents than when it
# returns their ids (measured at 100,000 lots, page 40 sorted by micron: 201 against 97 ms, on the shared
# 2-core machine): from this offset on, a page is asked for as ids, then its documents are fetched by id
# (a second round trip, only for such pages).
DEEP_OFFSET = 100


def deep_pages(queries: list[SearchQuery]) -> list[int]:
    """The positions of the queries whose page starts at ``DEEP_OFFSET`` or further."""
    return [i for i, q in enumerate(queries) if q.per_page and (q.page - 1) * q.per_page >= DEEP_OFFSET]


def ids_only(request: dict[str, Any]) -> dict[str, Any]:
    return {**request, "attributesToRetrieve": ["id"]}


def fetch_by_id(uid: str, hits: list[dict[str, Any]]) -> dict[str, Any]:
    """The query that fetches the documents of a page given as ids (in any order; ``fill`` restores it)."""
    ids = ", ".join(quote(str(hit["id"])) for hit in hits)
    return {"indexUid": uid, "q": "", "filter": [f"id IN [{ids}]"], "limit": len(hits)}


def fill(hits: list[dict[str, Any]], documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's documents in the page's order (a document deleted between the two requests is left out)."""
    by_id = {str(doc["id"]): doc for doc in documents}
    return [by_id[str(hit["id"])] for hit in hits if str(hit["id"]) in by_id]
