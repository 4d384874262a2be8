"""The Meilisearch adapter's pure parts: index settings and filter expressions (no server needed)."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.lots.search import LOTS
from marketplace.products.search import PRODUCTS
from marketplace.search.meili import (
    TIMEOUT_S,
    MeilisearchEngine,
    filter_expression,
    index_settings,
    quote,
    search_params,
)
from marketplace.search.port import SearchQuery
from marketplace.search.schema import place_synonyms

REFERENCE = str(Path(__file__).resolve().parent.parent.parent / "content" / "reference")
# A Meilisearch double-quoted string: no bare quote inside, backslashes only as escapes.
_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def _unquote(literal: str) -> str:
    assert _LITERAL.fullmatch(literal), literal
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


class _Quiet(http.server.BaseHTTPRequestHandler):
    """A stand-in server's handler: HTTP/1.1 (keeps connections), no log lines."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return None


@contextlib.contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 answering with ``handler``; its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_settings_come_from_the_spec() -> None:
    settings = index_settings(LOTS, place_synonyms(REFERENCE))
    assert settings["searchableAttributes"][0] == "code"
    assert set(settings["filterableAttributes"]) == {*LOTS.facets, *LOTS.numbers, "id"}
    assert settings["sortableAttributes"] == ["micron", "price_per_kg", "price_eur_clean", "listed_at", "available_kg",
                                              "tie"]
    assert settings["rankingRules"][:4] == ["words", "typo", "exactness", "sort"]  # the stated order (port)
    assert settings["rankingRules"].index("typo") < settings["rankingRules"].index("sort")
    assert settings["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}
    assert settings["faceting"]["maxValuesPerFacet"] >= 100
    assert index_settings(PRODUCTS, ())["filterableAttributes"][:2] == ["msme", "recycled"]


def test_synonyms_join_latin_variants_and_cyrillic() -> None:
    synonyms = index_settings(LOTS, place_synonyms(REFERENCE))["synonyms"]
    assert {"bayanhongor", "bayan-khongor", "bayan khongor", "баянхонгор"} <= set(synonyms["bayankhongor"])
    assert "bayankhongor" in synonyms["баянхонгор"]
    assert {"uvurkhangai", "өвөрхангай"} <= set(synonyms["ovorkhangai"])
    assert "жинст" in synonyms["jinst"]


def test_filter_values_are_quoted_and_escaped() -> None:
    query = SearchQuery(filters={"colour": ('white" OR colour = "brown', "a\\b"), "shape": ("x",)},
                        ranges={"micron": (14.5, None), "price_per_kg": (None, 100.0), "evil": (1.0, 2.0)})
    parts = filter_expression(LOTS, query)
    assert parts == [
        'colour IN ["white\\" OR colour = \\"brown", "a\\\\b"]',
        "micron >= 14.5",
        "price_per_kg <= 100.0",
    ]


def test_non_finite_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        filter_expression(LOTS, SearchQuery(ranges={"micron": (float("nan"), None)}))


@given(st.text(max_size=60))
def test_any_value_round_trips_through_quoting(value: str) -> None:
    assert _unquote(quote(value)) == value


def test_search_params() -> None:
    params = search_params(LOTS, SearchQuery(text="x", sort="-price_per_kg", page=3, per_page=20))
    assert params["sort"] == ["price_per_kg:desc", "tie:desc"]  # the sort, then one tie-break number
    assert params["page"] == 3
    assert params["hitsPerPage"] == 20
    assert params["facets"] == list(LOTS.facets)
    assert search_params(LOTS, SearchQuery(sort="code"))["sort"] == ["tie:desc"]  # not sortable
    # Newest first is the tie-break's own order: one sort level.
    assert search_params(LOTS, SearchQuery(sort="-listed_at"))["sort"] == ["tie:desc"]
    assert search_params(LOTS, SearchQuery(sort="listed_at"))["sort"] == ["listed_at:asc", "tie:desc"]


def test_the_client_has_a_timeout() -> None:
    engine = MeilisearchEngine("http://127.0.0.1:9", None, ())
    assert engine.client.config.timeout == TIMEOUT_S


def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    from marketplace.search.port import SearchUnavailable

    engine = MeilisearchEngine("http://127.0.0.1:9", None, ())  # nothing listens on the discard port
    with pytest.raises(SearchUnavailable):
        engine.search(LOTS, SearchQuery(text="white"))
    with pytest.raises(SearchUnavailable):
        engine.apply(LOTS, [{"id": "1"}], [])


def test_a_deep_page_is_asked_for_as_ids_and_its_documents_put_back_in_order() -> None:
    from marketplace.search.meili_query import DEEP_OFFSET, deep_pages, fetch_by_id, fill

    per_page = 20
    deep = DEEP_OFFSET // per_page + 1  # the first page that starts at DEEP_OFFSET
    queries = [SearchQuery(page=deep - 1), SearchQuery(page=deep), SearchQuery(page=deep, per_page=0)]
    assert deep_pages(queries) == [1]  # a count (per_page 0) has no page to fetch
    fetch = fetch_by_id("lots", [{"id": "7"}, {"id": 'a"b'}])
    assert fetch["filter"] == ['id IN ["7", "a\\"b"]']
    assert fetch["limit"] == 2
    docs = [{"id": "2", "x": 2}, {"id": "3", "x": 3}, {"id": "1", "x": 1}]
    assert fill([{"id": "1"}, {"id": "9"}, {"id": "2"}, {"id": "3"}], docs) == [docs[2], docs[0], docs[1]]


def test_a_search_connection_closed_by_the_server_while_idle_is_replaced_once() -> None:
    """The server closes idle kept-alive connections; the next search goes out again on a new one."""
    from marketplace.search.meili_http import RefusedRequest, SearchLine

    class Closing(_Quiet):
        def do_POST(self) -> None:
            size = int(self.headers["Content-Length"])
            sent = json.loads(self.rfile.read(size))
            body = json.dumps({"echo": sent, "auth": self.headers.get("Authorization")}).encode()
            self.send_response(200 if sent.get("ok", True) else 403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()  # no "Connection: close": the client keeps the connection ...
            self.wfile.write(body)
            self.close_connection = True  # ... which the server then closes, as an idle one would be

    with _serving(Closing) as url:
        line = SearchLine(url, "k", timeout=5)
        for n in range(3):  # the 2nd and 3rd find their kept connection closed
            assert line.post("/multi-search", {"n": n}) == {"echo": {"n": n}, "auth": "Bearer k"}
        with pytest.raises(RefusedRequest):
            line.post("/multi-search", {"ok": False})


@pytest.mark.parametrize("style", ["length", "chunked", "close", "http/1.0 without a length"])
def test_a_search_answer_is_read_whatever_way_the_server_frames_it(style: str) -> None:
    """The search line reads the answer straight from the socket: by its length, chunked, or up to the
    close; the request goes out whole (its body by its length), and a closed connection is replaced."""
    from marketplace.search.meili_http import SearchLine

    class Answering(_Quiet):
        protocol_version = "HTTP/1.0" if style.startswith("http/1.0") else "HTTP/1.1"

        def do_POST(self) -> None:
            sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps({"echo": sent, "path": self.path, "host": self.headers["Host"],
                               "type": self.headers["Content-Type"]}, ensure_ascii=False).encode()
            self.send_response(200)
            if style == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(body), 7):
                    part = body[start:start + 7]
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
                return
            if style == "close":
                self.send_header("Connection", "close")
            if not style.startswith("http/1.0"):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with _serving(Answering) as url:
        line = SearchLine(f"{url}/root/", None, timeout=5)
        for n in range(3):
            sent = {"n": n, "q": "Баянхонгор \"white\" " * (n * 50)}
            assert line.post("/multi-search", sent) == {"echo": sent, "path": "/root/multi-search",
                                                        "host": url.removeprefix("http://"),
                                                        "type": "application/json"}


@pytest.mark.parametrize(("status", "body"), [
    (200, b"<html>Bad gateway</html>"), (200, b'{"results": ['), (200, b'{"message": "f\xfcr"}'), (200, b"[" * 10_000),
    (200, b"null"), (200, b'{"results": [1]}'), (200, b'{"results": []}'),
    (502, b"<html>Bad gateway</html>"), (400, b'["not", "an", "object"]'), (502, b'{"message": "Zugriff f\xfcr"}'),
])
def test_an_answer_that_is_not_meilisearch_json_is_an_unavailable_search_not_a_crash(status: int, body: bytes) -> None:
    """A proxy's error page or a cut answer in place of Meilisearch's JSON: the search is unavailable (the
    page says so), never a 500, and the engine fails fast for a while only when the answer came with a 2xx."""
    from marketplace.search.port import SearchUnavailable

    class Garbled(_Quiet):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with _serving(Garbled) as url:
        engine = MeilisearchEngine(url, None, ())
        expected = "not a JSON object|one result with hits per query" if status < 400 else str(status)
        with pytest.raises(SearchUnavailable, match=expected):
            engine.search(LOTS, SearchQuery(text="white"))
        assert (engine._down_until > 0) == (status < 400)  # a garbled 2xx trips the breaker: not the server


def test_a_search_line_collected_as_a_reference_cycle_closes_its_socket_first() -> None:
    """An app (and its engine) is collected as a cycle; its kept connection is closed by the line's own
    finalizer, never left to the socket's (which warns: pytest fails a later test on that warning)."""
    import gc
    import sys

    from marketplace.search.meili_http import SearchLine

    class Answering(_Quiet):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    unraisable: list[object] = []
    with _serving(Answering) as url:
        hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
        try:
            for _ in range(20):
                line = SearchLine(url, None, timeout=5)
                assert line.post("/multi-search", {}) == {}
                line.cycle = line  # type: ignore[attr-defined]  # garbage that only a cycle collection finds
                del line
            gc.collect()  # one full collection finds the 20 cycles (each one walks the worker's whole heap)
        finally:
            sys.unraisablehook = hook
    assert unraisable == []
