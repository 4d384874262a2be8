"""One contract for every search engine: the embedded one always, Meilisearch when MEILISEARCH_URL is set.

Run it against a Meilisearch server with
``MEILISEARCH_URL=http://127.0.0.1:7700 MEILISEARCH_API_KEY=… .venv/bin/pytest tests/search/test_search_contract.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from marketplace.lots.search import LOTS
from marketplace.products.search import PRODUCTS
from marketplace.search.embedded import EmbeddedEngine
from marketplace.search.meili import MeilisearchEngine
from marketplace.search.port import SearchEngine, SearchQuery, SearchUnavailable, tie_number
from marketplace.search.schema import place_synonyms
from tests.conftest import MEILISEARCH_API_KEY, MEILISEARCH_URL

REFERENCE = str(Path(__file__).resolve().parent.parent.parent / "content" / "reference")
MEILI = MEILISEARCH_URL


def _lot(id_: int, **values: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": str(id_), "code": f"LOT-{id_:03d}", "aimag": "BKH", "aimag_names": ["Bayankhongor", "Баянхонгор"],
        "soum_names": ["Jinst", "Жинст"], "colour": "white", "colour_words": "white", "state": "dehaired",
        "season": "2025", "season_text": "2025", "micron": 15.5, "micron_class": "15", "length_mm": 38.0,
        "price_per_kg": 120.0, "available_kg": 500.0, "listed_at": float(id_), "cooperative": ["jinst"],
        "cooperative_names": ["Jinst Golden Fleece"], "scheme": "SC", "tier": "Entry",
    }
    doc.update(values)
    return doc


DOCS = [
    _lot(1),
    _lot(2, colour="brown", colour_words="brown", micron=14.6, micron_class="14", price_per_kg=150.0, tier="Advanced"),
    _lot(3, aimag="UVO", aimag_names=["Övörkhangai", "Өвөрхангай"], soum_names=["Uyanga", "Уянга"],
         state="greasy", micron=16.4, micron_class="16", price_per_kg=60.0, season="2026", season_text="2026",
         cooperative=["uyanga", "jinst"], cooperative_names=["Uyanga Cooperative", "Jinst Golden Fleece"]),
    _lot(4, aimag="ARK", aimag_names=["Arkhangai", "Архангай"], soum_names=["Tariat", "Тариат"],
         colour="grey", colour_words="grey", micron=15.1, price_per_kg=99.5, scheme=None, tier=None),
    _lot(5, code="JINSK-5", soum_names=["Jinsk", "Жинск"], cooperative_names=["Other"], cooperative=["other"]),
]


def _embedded(tmp_path: Path) -> Iterator[SearchEngine]:
    yield EmbeddedEngine(tmp_path / "index", place_synonyms(REFERENCE))


def _meilisearch(tmp_path: Path) -> Iterator[SearchEngine]:
    assert MEILI
    engine = MeilisearchEngine(MEILI, MEILISEARCH_API_KEY, place_synonyms(REFERENCE),
                               prefix=f"test_{uuid.uuid4().hex[:8]}_")
    yield engine
    engine.drop(LOTS)


ENGINES = [
    pytest.param(_embedded, id="embedded"),
    pytest.param(_meilisearch, id="meilisearch", marks=pytest.mark.skipif(
        not MEILI, reason="MEILISEARCH_URL is not set: the Meilisearch half of the contract needs a server")),
]


def _holding_docs(factory: Callable[[Path], Iterator[SearchEngine]], path: Path) -> Iterator[SearchEngine]:
    engines = factory(path)
    engine = next(engines)
    engine.configure(LOTS)
    apply(engine, [dict(d) for d in DOCS], [])
    yield engine
    next(engines, None)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchEngine]:
    """An engine holding DOCS, for a test that changes its index."""
    yield from _holding_docs(request.param, tmp_path)


@pytest.fixture(scope="module", params=ENGINES)
def reader(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchEngine]:
    """An engine holding DOCS, shared by the tests that only search (one per engine and test process):
    building an index per search case was most of this file's time."""
    yield from _holding_docs(request.param, tmp_path_factory.mktemp("reader"))


def apply(engine: SearchEngine, upserts: list[dict[str, object]], deletes: list[str]) -> None:
    """Send the changes and wait until they are indexed (Meilisearch indexes asynchronously)."""
    engine.wait(engine.apply(LOTS, upserts, deletes).values())


def codes(engine: SearchEngine, **query: object) -> list[str]:
    return [h["code"] for h in engine.search(LOTS, SearchQuery(**query)).hits]  # type: ignore[arg-type]


def test_exact_words_and_every_word_must_match(reader: SearchEngine) -> None:
    assert set(codes(reader, text="bayankhongor white")) == {"LOT-001", "JINSK-5"}
    assert codes(reader, text="brown") == ["LOT-002"]
    assert codes(reader, text="brown 16") == []


def test_typos_of_one_and_two_edits(reader: SearchEngine) -> None:
    assert codes(reader, text="brwon") == ["LOT-002"]  # transposition, 5 letters: one typo allowed
    assert "LOT-003" in codes(reader, text="uyangaa")  # one insertion
    assert "LOT-001" in codes(reader, text="bayankhngr")  # two deletions in a long word
    assert codes(reader, text="grye") == []  # four letters: no typo allowed


def test_prefix_of_the_last_word(reader: SearchEngine) -> None:
    assert codes(reader, text="bro") == ["LOT-002"]
    assert set(codes(reader, text="arkh")) == {"LOT-004"}


def test_exact_match_ranks_above_a_fuzzy_one(reader: SearchEngine) -> None:
    found = codes(reader, text="jinsk")
    assert found[0] == "JINSK-5"
    assert set(found) >= {"JINSK-5", "LOT-001"}  # "jinst" is one edit away


@pytest.mark.parametrize("spelling", [
    "Bayankhongor", "Bayanhongor", "Bayan-Khongor", "Bayan Khongor", "Баянхонгор", "bayankhongor",
])
def test_aimag_spellings_are_synonyms(reader: SearchEngine, spelling: str) -> None:
    assert {"LOT-001", "LOT-002", "JINSK-5"} <= set(codes(reader, text=spelling))
    assert "LOT-003" not in codes(reader, text=spelling)


@pytest.mark.parametrize("spelling", ["Övörkhangai", "Uvurkhangai", "Ovorkhangai", "Өвөрхангай", "Uvurhangai"])
def test_ovorkhangai_spellings(reader: SearchEngine, spelling: str) -> None:
    assert codes(reader, text=spelling) == ["LOT-003"]


def test_cyrillic_soum_and_latin_soum(reader: SearchEngine) -> None:
    assert codes(reader, text="Уянга") == ["LOT-003"]
    assert codes(reader, text="Тариат") == ["LOT-004"]


def test_facet_filters_or_within_and_across(reader: SearchEngine) -> None:
    assert set(codes(reader, filters={"colour": ("brown", "grey")})) == {"LOT-002", "LOT-004"}
    assert codes(reader, filters={"colour": ("white",), "state": ("greasy",)}) == ["LOT-003"]
    assert set(codes(reader, filters={"cooperative": ("jinst",)})) == {"LOT-001", "LOT-002", "LOT-003", "LOT-004"}


def test_values_with_quotes_and_operators_match_nothing_and_break_nothing(reader: SearchEngine) -> None:
    for value in ['white" OR colour = "brown', "white' OR 1=1", "[white]", "\\", 'a"b', "colour EXISTS", "TO"]:
        assert codes(reader, filters={"colour": (value,)}) == [], value


def test_ranges_inclusive(reader: SearchEngine) -> None:
    assert set(codes(reader, ranges={"micron": (15.1, 15.5)})) == {"LOT-001", "LOT-004", "JINSK-5"}
    assert codes(reader, ranges={"price_per_kg": (None, 60.0)}) == ["LOT-003"]
    assert codes(reader, ranges={"micron": (16.0, None)}, filters={"colour": ("white",)}) == ["LOT-003"]


def test_facet_counts_follow_the_query(reader: SearchEngine) -> None:
    result = reader.search(LOTS, SearchQuery(filters={"aimag": ("BKH",)}))
    assert result.total == 3
    assert result.facets["colour"] == {"white": 2, "brown": 1}
    assert result.facets["tier"] == {"Entry": 2, "Advanced": 1}
    everything = reader.search(LOTS, SearchQuery())
    assert everything.facets["cooperative"] == {"jinst": 4, "uyanga": 1, "other": 1}
    assert everything.facets["scheme"] == {"SC": 4}
    # A lot from two cooperatives counts once for each, and only while it matches the query.
    greasy = reader.search(LOTS, SearchQuery(filters={"state": ("greasy",)}))
    assert greasy.facets["cooperative"] == {"uyanga": 1, "jinst": 1}
    assert greasy.facets["scheme"] == {"SC": 1}
    grey = reader.search(LOTS, SearchQuery(filters={"colour": ("grey",)}))
    assert grey.total == 1
    assert grey.facets["scheme"] == {}
    assert grey.facets["tier"] == {}


def test_sorting_and_pagination(reader: SearchEngine) -> None:
    assert codes(reader, sort="price_per_kg")[:2] == ["LOT-003", "LOT-004"]  # 120.0 twice: ties in any order
    assert codes(reader, sort="-price_per_kg")[0] == "LOT-002"
    assert codes(reader, sort="micron")[0] == "LOT-002"
    newest = codes(reader, sort="-listed_at")
    assert newest == ["JINSK-5", "LOT-004", "LOT-003", "LOT-002", "LOT-001"]
    page2 = reader.search(LOTS, SearchQuery(sort="-listed_at", page=2, per_page=2))
    assert [h["code"] for h in page2.hits] == ["LOT-003", "LOT-002"]
    assert page2.total == 5
    assert page2.pages == 3
    beyond = reader.search(LOTS, SearchQuery(sort="-listed_at", page=9, per_page=2))
    assert beyond.hits == []
    assert beyond.total == 5


def test_hits_are_the_documents(reader: SearchEngine) -> None:
    hit = reader.search(LOTS, SearchQuery(text="LOT-002")).hits[0]
    assert hit["code"] == "LOT-002"
    assert hit["micron"] == 14.6
    assert hit["aimag_names"] == ["Bayankhongor", "Баянхонгор"]


def test_upsert_replaces_and_delete_removes(engine: SearchEngine) -> None:
    apply(engine, [_lot(1, colour="grey", colour_words="grey")], ["2"])
    assert engine.document_ids(LOTS) == {"1", "3", "4", "5"}
    assert set(codes(engine, filters={"colour": ("grey",)})) == {"LOT-001", "LOT-004"}
    assert engine.search(LOTS, SearchQuery()).total == 4


def test_rebuild_replaces_everything(engine: SearchEngine) -> None:
    engine.rebuild(LOTS, iter([_lot(7), _lot(8)]))
    assert engine.document_ids(LOTS) == {"7", "8"}


def test_long_and_odd_queries(reader: SearchEngine) -> None:
    assert reader.search(LOTS, SearchQuery(text="x" * 512)).total == 0
    assert reader.search(LOTS, SearchQuery(text="\ufffd\ufffd")).total in (0, 5)  # no words: either is fine
    assert reader.search(LOTS, SearchQuery(text='"white" (brown) [grey] AND OR NOT -x *')).total == 0
    assert reader.search(LOTS, SearchQuery(text=" ".join(["white"] * 50))).total >= 1


def test_embedded_writer_busy_is_reported(tmp_path: Path) -> None:
    engine = EmbeddedEngine(tmp_path / "index", place_synonyms(REFERENCE))
    engine.apply(LOTS, [_lot(1)], [])
    held = engine._writer(LOTS)  # as another process writing would
    try:
        with pytest.raises(SearchUnavailable):
            engine.apply(LOTS, [_lot(2)], [])
    finally:
        held.rollback()
        held.wait_merging_threads()
    engine.apply(LOTS, [_lot(2)], [])
    assert engine.document_ids(LOTS) == {"1", "2"}


def test_embedded_readers_reload_only_when_searched(tmp_path: Path) -> None:
    """No tantivy thread reloads a reader behind the engine's back (it would take the index's lock
    file at any moment, even while a temporary index folder is being removed); a search still sees
    another process's commit."""
    engine = EmbeddedEngine(tmp_path / "index", place_synonyms(REFERENCE))
    engine.apply(LOTS, [_lot(1)], [])
    handle = engine._handle(LOTS)
    assert handle.fresh_searcher().num_docs == 1
    EmbeddedEngine(tmp_path / "index", place_synonyms(REFERENCE)).apply(LOTS, [_lot(2)], [])  # as another process
    time.sleep(1.2)  # tantivy's watcher polls meta.json every 500 ms
    assert handle.index.searcher().num_docs == 1
    assert engine.document_ids(LOTS) == {"1", "2"}


def test_counting_only_some_facets(reader: SearchEngine) -> None:
    result = reader.search(LOTS, SearchQuery(facet_names=("colour", "nope")))
    assert result.facets == {"colour": {"white": 3, "brown": 1, "grey": 1}}
    assert reader.search(LOTS, SearchQuery(with_facets=False)).facets == {}


def test_facet_counts_without_hits(reader: SearchEngine) -> None:
    result = reader.search(LOTS, SearchQuery(filters={"aimag": ("BKH",)}, per_page=0, facet_names=("colour",)))
    assert result.hits == []
    assert result.facets == {"colour": {"white": 2, "brown": 1}}


def test_query_syntax_is_words_only_on_every_engine(reader: SearchEngine) -> None:
    """No engine reads `-word` as an exclusion or quotes as a phrase: the words must all match."""
    assert codes(reader, text="white -brown") == codes(reader, text="white brown") == []
    assert sorted(codes(reader, text='"jinst white"')) == sorted(codes(reader, text="jinst white"))
    assert codes(reader, text='"jinst white"')


def test_place_synonyms_cover_products(engine: SearchEngine) -> None:
    engine.configure(PRODUCTS)
    product = {"id": "1", "sku": "KK-1", "names": ["Undyed scarf"], "descriptions": ["Warm."], "msme": "kk",
               "msme_name": "Khangai Knitwear", "fibres": ["cashmere"], "fibre": ["cashmere"], "recycled": "none",
               "dyed": "no", "aimag": ["BKH"], "aimag_names": ["Bayankhongor", "Баянхонгор"],
               "soum_names": ["Jinst", "Жинст"], "price": 180.0, "recycled_pct": 0.0, "published_at": 1.0}
    try:
        engine.wait(engine.apply(PRODUCTS, [product], []).values())
        for text in ("Жинст", "jinst", "Баянхонгор", "bayanhongor scarf"):
            assert [h["sku"] for h in engine.search(PRODUCTS, SearchQuery(text=text)).hits] == ["KK-1"], text
    finally:
        if isinstance(engine, MeilisearchEngine):
            engine.drop(PRODUCTS)


def test_ties_follow_the_stated_rule_on_every_page(engine: SearchEngine) -> None:
    """Exact matches first, then the sort, then newer first (to the second), then the higher id: the
    same pages on every engine, however the pages cut through a group of equal values."""
    apply(engine, [_lot(10 + n, code=f"TIE-{n}", price_per_kg=price, listed_at=listed)
                   for n, (price, listed) in enumerate([(80.0, 100.2), (80.0, 100.9), (80.0, 300.0), (90.0, 50.0),
                                                        (80.0, 200.0), (90.0, 400.0), (70.0, 100.5)])], [])
    # price ascending; 80.0 four times: 300.0 s, 200.0 s, then 100.x s twice (ids 14 > 11 > 10)
    expected = ["TIE-6", "TIE-2", "TIE-4", "TIE-1", "TIE-0", "TIE-5", "TIE-3"]
    for per_page in (1, 2, 3, 4, 7):
        pages = []
        for page in range(1, 8 // per_page + 2):
            found = engine.search(LOTS, SearchQuery(text="tie", sort="price_per_kg", page=page, per_page=per_page))
            pages += [h["code"] for h in found.hits]
        assert pages == expected, per_page
    descending = codes(engine, text="tie", sort="-price_per_kg")
    assert descending == ["TIE-5", "TIE-3", "TIE-2", "TIE-4", "TIE-1", "TIE-0", "TIE-6"]
    # Without a sort: newest first, then the higher id.
    assert codes(engine, text="tie")[:3] == ["TIE-5", "TIE-2", "TIE-4"]
    assert codes(engine, per_page=3) == ["TIE-5", "TIE-2", "TIE-4"]
    # The same second: the higher id first.
    apply(engine, [_lot(30, code="SAME-30", listed_at=5000.1), _lot(31, code="SAME-31", listed_at=5000.9)], [])
    assert codes(engine, per_page=2) == ["SAME-31", "SAME-30"]


def test_the_tie_break_is_one_exact_number_and_newest_first_is_its_order(engine: SearchEngine) -> None:
    """Ties compare whole seconds, then the id, as one number (``port.tie_number``) that a double holds
    exactly: real timestamps a second apart, or ids one apart in the same second, still come in order on
    every engine. Newest first is that order too: within one second the higher id first, whatever the
    fractions of the second say."""
    now = 1_795_000_000.0  # 2026
    apply(engine, [_lot(2_000_001, code="BIG-1", listed_at=now + 0.9), _lot(2_000_002, code="BIG-2", listed_at=now),
                   _lot(2_000_000, code="BIG-0", listed_at=now + 1.0), _lot(40, code="OLD-40", listed_at=now - 1)], [])
    for sort in (None, "-listed_at"):
        assert codes(engine, per_page=4, sort=sort) == ["BIG-0", "BIG-2", "BIG-1", "OLD-40"], sort
        assert codes(engine, per_page=2, page=2, sort=sort) == ["BIG-1", "OLD-40"], sort
    assert tie_number(LOTS, {"id": "2000002", "listed_at": now}) - tie_number(LOTS, {"id": "2000001",
                                                                                      "listed_at": now}) == 1
    assert tie_number(LOTS, {"id": str(10**9), "listed_at": 4e9}) < 2**53  # exact as a double
    assert tie_number(LOTS, {"id": str(10**9), "listed_at": 1e12}) < 2**53  # beyond 2106: the last second


def test_exact_matches_come_before_typos_then_newest_first(engine: SearchEngine) -> None:
    """The stated order (``port``): an attribute (all its values) equal to the query, then one that
    starts with it, then every word exact, then the last word as a prefix, then typos; ties newest first."""
    apply(engine, [_lot(20, code="AAA-20", soum_names=["Jinsk"], listed_at=1.0),
                   _lot(21, code="AAA-21", soum_names=["Jinst"], listed_at=900.0),
                   _lot(22, code="AAA-22", soum_names=["Dzhinsk", "Jinsk"], listed_at=800.0),
                   _lot(23, code="AAA-23", soum_names=["Jinskaya"], listed_at=950.0)], [])
    found = codes(engine, text="jinsk")
    # AAA-20 equals; JINSK-5 starts with it ("jinsk жинск", and its code); AAA-22 has the word exactly;
    # AAA-23 as a prefix; then the typo matches, newest first (AAA-21 at 900 s, then LOT-004 … LOT-001).
    assert found[:5] == ["AAA-20", "JINSK-5", "AAA-22", "AAA-23", "AAA-21"]
    paged = [h["code"] for page in range(1, 8) for h in engine.search(
        LOTS, SearchQuery(text="jinsk", page=page, per_page=2)).hits]
    assert paged == found


WHITE = {"LOT-001", "LOT-003", "JINSK-5"}


@pytest.mark.parametrize(("typed", "expected"), [
    ("white 15 micron", {"LOT-001", "JINSK-5"}),
    ("15µm", {"LOT-001", "LOT-004", "JINSK-5"}),
    ("15 µm", {"LOT-001", "LOT-004", "JINSK-5"}),
    ("15 μm", {"LOT-001", "LOT-004", "JINSK-5"}),  # Greek mu, not the micro sign
    ("15mic", {"LOT-001", "LOT-004", "JINSK-5"}),
    ("15 microns", {"LOT-001", "LOT-004", "JINSK-5"}),
    ("15", {"LOT-001", "LOT-004", "JINSK-5"}),
    ("15-16 µm", {"LOT-001", "LOT-003", "LOT-004", "JINSK-5"}),
    ("15–16", {"LOT-001", "LOT-003", "LOT-004", "JINSK-5"}),
    ("≤16", {"LOT-001", "LOT-002", "LOT-004", "JINSK-5"}),
    ("<=15", {"LOT-002"}),
    ("<15.5", {"LOT-002", "LOT-004"}),
    (">16", {"LOT-003"}),
    ("≥15.5 white", {"LOT-001", "LOT-003", "JINSK-5"}),
    ("16.4", {"LOT-003"}),
    ("16,4", {"LOT-003"}),
    ("14.6 brown", {"LOT-002"}),
    ("16.3", set()),
    ("bayankhongor brown 14", {"LOT-002"}),
    ("38 mm", {"LOT-001", "LOT-002", "LOT-003", "LOT-004", "JINSK-5"}),
    ("40mm", set()),
    ("цагаан", WHITE),
    ("бор", {"LOT-002"}),
    ("Цагаан 15мкм", {"LOT-001", "JINSK-5"}),
    ("саарал", {"LOT-004"}),
    ("түүхий", {"LOT-003"}),
    ("blanc", WHITE),
    ("Weiß", WHITE),
    ("bianco", WHITE),
    ("白色", WHITE),
    ("白色 15微米", {"LOT-001", "JINSK-5"}),
    ("LOT-002", {"LOT-002"}),
])
def test_typed_numbers_units_and_colour_words(reader: SearchEngine, typed: str, expected: set[str]) -> None:
    """The lot search reads the box (marketplace.lots.query) before any engine: each engine answers the same."""
    from marketplace.lots.query import parse_text

    parsed = parse_text(typed)
    assert set(codes(reader, text=parsed.text, ranges=parsed.ranges)) == expected, parsed
