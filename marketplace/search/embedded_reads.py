"""Reading the embedded index: pages in the stated order and facet counts (``embedded`` holds the engine).

The order of results is the port's (``port``): with words, by match tier, then the chosen sort, then
the tie-break (newer first, then the higher id); tantivy orders by one field only, so the sort's
ties are put in order here.
"""

from __future__ import annotations

import json
from typing import Any

import tantivy
from tantivy import FieldType, Occur, Order, Query

from marketplace.search.port import TIE, Document, IndexSpec, tie_number

FACET_SIZE = 1000
# Facet counting reads columnar "fast" fields. Tantivy counts a column that is single-valued and
# present in every document many times faster than an optional or multi-valued one (about 0.2 ms
# against 4 to 9 ms over 100k lots), so each facet is stored three ways: the field itself (all its
# values, indexed, for filtering), ``<facet>__first`` (one value per document, NONE when it has
# none: a dense single-valued column to count) and ``<facet>__more`` (the other values, only on
# the few documents with several, counted separately over just those documents).
NONE = "\u2205"
MULTI = "multi"  # names of the facets that have several values in a document


def first_of(name: str) -> str:
    return f"{name}__first"


def more_of(name: str) -> str:
    return f"{name}__more"


__all__ = ["TIE", "first_of", "load", "more_of", "ordered", "tie_number"]


def load(searcher: tantivy.Searcher, hits: list[tuple[Any, Any]]) -> list[Document]:
    return [json.loads(bytes(searcher.doc(address)["doc"][0])) for _key, address in hits]


def _by_tie(searcher: tantivy.Searcher, tq: Query, offset: int, limit: int) -> list[Document]:
    if limit <= 0:
        return []
    return load(searcher, searcher.search(tq, limit=limit, offset=offset, count=False, order_by_field=TIE,
                                           order=Order.Desc).hits)


def ordered(spec: IndexSpec, searcher: tantivy.Searcher, schema: tantivy.Schema, tq: Query, *,
             order: tuple[str, bool] | None, offset: int, limit: int) -> list[Document]:
    """``limit`` matches of ``tq`` from ``offset``, by ``order`` and then the tie-break.

    Tantivy orders by one field only. Without a sort, that field is the tie-break. With one, the page
    is taken by the sort field; values strictly inside the page are complete there and only need
    their ties ordered, while the first and last values of the page may continue outside it: those
    two groups are fetched again in tie-break order, skipping the members that belong to the pages
    before (counted by a range query).
    """
    if limit <= 0:
        return []
    if order is None:
        return _by_tie(searcher, tq, offset, limit)
    name, descending = order
    found = searcher.search(tq, limit=limit, offset=offset, count=False, order_by_field=name,
                            order=Order.Desc if descending else Order.Asc)
    docs = load(searcher, found.hits)
    values = [doc.get(name) for doc in docs]
    if not docs or any(not isinstance(v, int | float) for v in values):
        return docs  # a document without the value: no tie-break (the schema's sortable fields are always set)
    first, last = float(values[0]), float(values[-1])

    def group(value: float, skip: int, take: int) -> list[Document]:
        same = Query.range_query(schema, name, FieldType.Float, value, value)
        return _by_tie(searcher, Query.boolean_query([(Occur.Must, tq), (Occur.Must, same)]), skip, take)

    ahead = (Query.range_query(schema, name, FieldType.Float, first, None, include_lower=False) if descending
             else Query.range_query(schema, name, FieldType.Float, None, first, include_upper=False))
    before = searcher.search(Query.boolean_query([(Occur.Must, tq), (Occur.Must, ahead)]), limit=1,
                             count=True).count or 0
    if first == last:
        return group(first, offset - before, limit)
    middle = [doc for doc, value in zip(docs, values, strict=True) if float(value) not in (first, last)]
    middle.sort(key=lambda doc: tie_number(spec, doc), reverse=True)
    middle.sort(key=lambda doc: float(doc[name]), reverse=descending)  # stable: ties keep the tie order
    head = group(first, offset - before, sum(1 for v in values if float(v) == first))
    tail = group(last, 0, sum(1 for v in values if float(v) == last))
    return head + middle + tail


def facet_counts(
    searcher: tantivy.Searcher, schema: tantivy.Schema, tq: Query, names: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    """Documents matching ``tq`` per value of each facet in ``names``."""
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    terms = {name: {"terms": {"field": first_of(name), "size": FACET_SIZE}} for name in names}
    result = searcher.aggregate(tq, terms)
    for name in names:
        for bucket in result.get(name, {}).get("buckets", []):
            if bucket["key"] != NONE:
                counts[name][str(bucket["key"])] = int(bucket["doc_count"])
    for name in names:
        if not searcher.doc_freq(MULTI, name):
            continue  # no document has several values for this facet
        only_multi = Query.boolean_query([(Occur.Must, tq), (Occur.Must, Query.term_query(schema, MULTI, name))])
        more = searcher.aggregate(only_multi, {name: {"terms": {"field": more_of(name), "size": FACET_SIZE}}})
        for bucket in more.get(name, {}).get("buckets", []):
            key = str(bucket["key"])
            counts[name][key] = counts[name].get(key, 0) + int(bucket["doc_count"])
    return {name: dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))) for name, values in counts.items()}
