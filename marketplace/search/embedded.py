"""The embedded engine: tantivy index files on local disk, no server.

Several processes may open the same files. Readers never block; tantivy allows one writer at
a time, so a process that cannot take the writer raises ``SearchUnavailable`` and the changes
stay in the outbox for ``flask search sync`` (or the next commit) to apply.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import tantivy
from tantivy import FieldType, Occur, Order, Query

from marketplace.search.embedded_reads import (
    MULTI,
    NONE,
    TIE,
    facet_counts,
    first_of,
    load,
    more_of,
    ordered,
    tie_number,
)
from marketplace.search.port import (
    MAX_QUERY_TERMS,
    Document,
    IndexSpec,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    chosen_sort,
    query_words,
    tokens,
)
from marketplace.search.schema import expand_place

SCHEMA_VERSION = 4  # a new version is a new folder: run `flask search reindex` after upgrading
WRITER_HEAP = 16_000_000  # small batches from the outbox; keeps web processes lean
REBUILD_HEAP = 256_000_000  # one thread, big enough that 100k lots make one segment (faster searches)
EXACT_BOOST = 4.0
FACET_CACHE_SIZE = 256
# Meilisearch's exactness rule, mirrored: an attribute (all its values, in order) that equals the query
# ranks first, then one that starts with it. Each attribute is kept as one folded term, and its first
# words (up to the most words a query may have) as terms of their own.
WHOLE = "whole"
STARTS = "starts"
TIERS = 5  # whole, starts, every word exact, the last word a prefix, typos (see _query)


def typo_budget(word: str) -> int:
    """Edits allowed for a word, as Meilisearch does by default: 0 below 5 letters, 1 below 9, else 2."""
    if word.isdigit() or len(word) < 5:
        return 0
    return 1 if len(word) < 9 else 2


class _Handle:
    """One opened index and a stamp of its metadata file, to reload readers lazily.

    Readers reload only here (the policy is manual): tantivy's default reloads them from a watcher
    thread, which takes the index's lock file at any moment, even while the folder is being removed.
    tantivy replaces ``meta.json`` on each commit, so its inode, size and time make the stamp.
    """

    def __init__(self, index: tantivy.Index, meta: Path) -> None:
        self.index = index
        self.meta = meta
        self.seen = self._stamp()
        self.lock = threading.Lock()
        # Facet counts of recent queries, valid until the index changes: paging and sorting a
        # result (and browsing without a query) count the same documents again.
        self.facet_cache: OrderedDict[tuple[Any, ...], dict[str, dict[str, int]]] = OrderedDict()

    def _stamp(self) -> tuple[int, int, int]:
        try:
            status = self.meta.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (status.st_mtime_ns, status.st_ino, status.st_size)

    def fresh_searcher(self) -> tantivy.Searcher:
        stamp = self._stamp()
        if stamp != self.seen:
            with self.lock:
                self.index.reload()
                self.seen = stamp
                self.facet_cache.clear()
        return self.index.searcher()


class EmbeddedEngine:
    """Writes apply at once (``apply`` returns no tasks to confirm); searches run in this process."""

    batched = False  # searches cost no round trip: run only the ones a page needs

    def __init__(self, path: str | Path, synonyms: tuple[tuple[str, ...], ...]) -> None:
        self.path = Path(path)
        self.synonyms = synonyms
        self._handles: dict[str, _Handle] = {}
        self._lock = threading.Lock()

    # Index files ---------------------------------------------------------------------

    def _schema(self, spec: IndexSpec) -> tantivy.Schema:
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=False, tokenizer_name="raw", index_option="basic", fast=True)
        builder.add_text_field("text", stored=False, tokenizer_name="default", index_option="freq")
        builder.add_bytes_field("doc", stored=True)
        builder.add_text_field(MULTI, stored=False, tokenizer_name="raw", index_option="basic")
        builder.add_unsigned_field(TIE, stored=False, indexed=False, fast=True)
        builder.add_text_field(WHOLE, stored=False, tokenizer_name="raw", index_option="basic")
        builder.add_text_field(STARTS, stored=False, tokenizer_name="raw", index_option="basic")
        for name in spec.facets:
            builder.add_text_field(name, stored=False, tokenizer_name="raw", index_option="basic")
            builder.add_text_field(first_of(name), stored=False, tokenizer_name="raw", index_option="basic", fast=True)
            builder.add_text_field(more_of(name), stored=False, tokenizer_name="raw", index_option="basic", fast=True)
        for name in spec.numbers:
            builder.add_float_field(name, stored=False, indexed=True, fast=True)
        return builder.build()

    def _handle(self, spec: IndexSpec) -> _Handle:
        with self._lock:
            if spec.name not in self._handles:
                folder = self.path / f"{spec.name}-v{SCHEMA_VERSION}"
                folder.mkdir(parents=True, exist_ok=True)
                try:
                    index = tantivy.Index(self._schema(spec), path=str(folder), reuse=True)
                    index.config_reader("Manual")
                except (OSError, ValueError) as error:
                    raise SearchUnavailable(f"cannot open the search index in {folder}: {error}") from error
                self._handles[spec.name] = _Handle(index, folder / "meta.json")
            return self._handles[spec.name]

    def _writer(self, spec: IndexSpec, threads: int = 1, heap: int = WRITER_HEAP) -> tantivy.IndexWriter:
        try:
            return self._handle(spec).index.writer(heap, threads)
        except ValueError as error:  # LockBusy: another process is writing
            raise SearchUnavailable(f"the {spec.name} index is being written by another process") from error

    # Writes --------------------------------------------------------------------------

    def _document(self, spec: IndexSpec, doc: Document) -> tantivy.Document:
        fields: dict[str, Any] = {"id": str(doc["id"]), "doc": json.dumps(doc).encode(), TIE: tie_number(spec, doc)}
        words: list[str] = []
        for name in spec.searchable:
            for value in _as_list(doc.get(name)):
                if name in spec.place_fields:
                    words.extend(expand_place(str(value), self.synonyms))
                else:
                    words.append(str(value))
        fields["text"] = " ".join(token for w in words for token in tokens(w))
        whole, starts = [], []
        for name in spec.searchable:
            attribute = [token for value in _as_list(doc.get(name)) for token in tokens(str(value))]
            if attribute:
                whole.append(" ".join(attribute))
                starts += [" ".join(attribute[:n]) for n in range(1, min(len(attribute), MAX_QUERY_TERMS) + 1)]
        fields[WHOLE] = list(dict.fromkeys(whole))
        fields[STARTS] = list(dict.fromkeys(starts))
        multi = []
        for name in spec.facets:
            values = list(dict.fromkeys(str(v) for v in _as_list(doc.get(name))))
            fields[first_of(name)] = values[0] if values else NONE
            if values:
                fields[name] = values
            if len(values) > 1:
                fields[more_of(name)] = values[1:]
                multi.append(name)
        if multi:
            fields[MULTI] = multi
        for name in spec.numbers:
            if doc.get(name) is not None:
                fields[name] = float(doc[name])
        return tantivy.Document.from_dict(fields, self._handle(spec).index.schema)

    def configure(self, spec: IndexSpec) -> None:
        self._handle(spec)

    def apply(self, spec: IndexSpec, upserts: list[Document], deletes: list[str]) -> dict[str, int]:
        if not upserts and not deletes:
            return {}

        def write(writer: tantivy.IndexWriter) -> None:
            for key in [*deletes, *(str(d["id"]) for d in upserts)]:
                writer.delete_documents_by_term("id", key)
            for doc in upserts:
                writer.add_document(self._document(spec, doc))

        self._commit(self._writer(spec), write)
        return {}

    def task_states(self, uids: Iterable[int]) -> dict[int, str]:
        return dict.fromkeys(uids, "succeeded")

    def wait(self, uids: Iterable[int]) -> None:
        return None

    def document_count(self, spec: IndexSpec) -> int | None:
        return int(self._handle(spec).fresh_searcher().num_docs)

    def retry_now(self) -> None:
        return None

    def probe(self) -> dict[str, Any]:
        return {"reachable": True, "key": "ok", "version": self.version(), "supported": True}

    def version(self) -> str:
        return str(getattr(tantivy, "__version__", "tantivy"))

    def rebuild(self, spec: IndexSpec, documents: Iterable[Document]) -> None:
        """Replace every document; readers see the old index until the single commit."""

        def write(writer: tantivy.IndexWriter) -> None:
            writer.delete_all_documents()
            for doc in documents:
                writer.add_document(self._document(spec, doc))

        self._commit(self._writer(spec, threads=1, heap=REBUILD_HEAP), write)

    @staticmethod
    def _commit(writer: tantivy.IndexWriter, write: Callable[[tantivy.IndexWriter], None]) -> None:
        """Run ``write`` and commit it as one change, or roll it all back; always release the writer."""
        try:
            write(writer)
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()

    # Reads ---------------------------------------------------------------------------

    def _query(self, spec: IndexSpec, schema: tantivy.Schema, query: SearchQuery, *, tier: int = TIERS - 1
               ) -> Query:
        """The query's words, filters and ranges. ``tier`` narrows the words to the documents of one rank
        and those before it (``port``): 0, an attribute equals the whole query; 1, an attribute starts
        with it; 2, every word matches exactly; 3, the last word may be a prefix; 4 (the full query),
        each word may also be within its typo budget."""
        clauses: list[tuple[Occur, Query]] = []
        words = query_words(query.text)
        if words and tier < 2:
            clauses.append((Occur.Must, Query.term_query(schema, WHOLE if tier == 0 else STARTS, " ".join(words))))
        for position, word in enumerate(words if tier >= 2 else []):
            last = position == len(words) - 1
            if tier < TIERS - 1:
                match = Query.fuzzy_term_query(schema, "text", word, 0, True, True) if last and tier == 3 else \
                    Query.term_query(schema, "text", word)
                clauses.append((Occur.Must, match))
                continue
            strict = Query.boost_query(Query.term_query(schema, "text", word), EXACT_BOOST)
            loose = Query.fuzzy_term_query(schema, "text", word, typo_budget(word), True, last)
            clauses.append((Occur.Must, Query.boolean_query([(Occur.Should, strict), (Occur.Should, loose)])))
        for name, values in query.filters.items():
            if name in spec.facets and values:
                clauses.append((Occur.Must, Query.term_set_query(schema, name, list(values))))
        for name, (low, high) in query.ranges.items():
            if name in spec.numbers and (low is not None or high is not None):
                clauses.append((Occur.Must, Query.range_query(schema, name, FieldType.Float, low, high)))
        if not clauses:
            return Query.all_query()
        return Query.boolean_query(clauses)

    def _page(self, spec: IndexSpec, searcher: tantivy.Searcher, schema: tantivy.Schema, query: SearchQuery,
              tq: Query) -> tuple[list[Document], int]:
        """One page of hits in the stated order (``port``): by tier, then the sort, then the tie-break."""
        offset = (query.page - 1) * query.per_page
        order = chosen_sort(spec, query)  # (field, descending), or None: the tie-break alone orders
        if not query_words(query.text) and order is None:  # browsing: one search gives the page and the count
            found = searcher.search(tq, limit=query.per_page, offset=offset, count=True, order_by_field=TIE,
                                    order=Order.Desc)
            return load(searcher, found.hits), found.count or 0
        total = searcher.search(tq, limit=1, count=True).count or 0
        if not query_words(query.text):
            return ordered(spec, searcher, schema, tq, order=order, offset=offset, limit=query.per_page), total
        hits: list[Document] = []
        seen = 0  # documents in the tiers before this one
        previous: Query | None = None
        for tier in range(TIERS):
            if len(hits) >= query.per_page or seen >= total:
                break
            wider = tq if tier == TIERS - 1 else self._query(spec, schema, query, tier=tier)
            this = wider if previous is None else Query.boolean_query([(Occur.Must, wider),
                                                                       (Occur.MustNot, previous)])
            size = searcher.search(this, limit=1, count=True).count or 0
            if size and offset + len(hits) < seen + size:
                hits += ordered(spec, searcher, schema, this, order=order, offset=max(0, offset - seen),
                                 limit=query.per_page - len(hits))
            seen += size
            previous = wider
        return hits, total

    def search(self, spec: IndexSpec, query: SearchQuery) -> SearchResult:
        started = time.perf_counter()
        handle = self._handle(spec)
        searcher = handle.fresh_searcher()
        tq = self._query(spec, handle.index.schema, query)
        hits: list[Document] = []
        total = None  # per_page 0: facet counts only, no hits and no total
        if query.per_page:
            hits, total = self._page(spec, searcher, handle.index.schema, query, tq)
        names = query.counted_facets(spec)
        facets: dict[str, dict[str, int]] = {}
        if names and total != 0:
            key = (query.text, tuple(sorted((k, tuple(v)) for k, v in query.filters.items())),
                   tuple(sorted(query.ranges.items())), names)
            with handle.lock:
                cached = handle.facet_cache.get(key)
            if cached is None:
                cached = facet_counts(searcher, handle.index.schema, tq, names)
                with handle.lock:
                    handle.facet_cache[key] = cached
                    if len(handle.facet_cache) > FACET_CACHE_SIZE:
                        handle.facet_cache.popitem(last=False)
            facets = cached
        facets = {name: dict(facets.get(name, {})) for name in names}
        elapsed = (time.perf_counter() - started) * 1000
        return SearchResult(hits, facets, total or 0, query.page, query.per_page, round(elapsed, 3))

    def search_many(self, spec: IndexSpec, queries: list[SearchQuery]) -> list[SearchResult]:
        return [self.search(spec, query) for query in queries]

    def document_ids(self, spec: IndexSpec) -> set[str]:
        searcher = self._handle(spec).fresh_searcher()
        total = searcher.num_docs
        if not total:
            return set()
        found = searcher.search(Query.all_query(), limit=total)
        return {str(json.loads(bytes(searcher.doc(a)["doc"][0]))["id"]) for _s, a in found.hits}


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None and v != ""]
    return [value]
