"""The API's answers are the JSON ``jsonify`` writes (keys sorted, compact, a newline at the end), whoever
encodes them."""

from __future__ import annotations

import json

import pytest
from flask import Flask, jsonify

CYRILLIC = "/api/v1/lots?q=%D0%91%D0%B0%D1%8F%D0%BD%D1%85%D0%BE%D0%BD%D0%B3%D0%BE%D1%80"  # Баянхонгор


@pytest.mark.parametrize("url", ["/api/v1/lots?colour=white", CYRILLIC, "/api/v1/lots?q=nothing-matches-this",
                                 "/api/v1/products", "/api/v1/products?q=scarf"])
def test_a_search_answer_is_the_json_jsonify_would_write(demo_app: Flask, url: str) -> None:
    answer = demo_app.test_client().get(url)
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    payload = json.loads(answer.data)
    assert set(payload) == {"hits", "facets", "total", "page", "pages", "per_page", "query_ms"}
    # The same bytes as Flask's own encoder, but for non-ASCII text, written as UTF-8 rather than \u escapes.
    expected = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    assert answer.get_data(as_text=True) == expected
    with demo_app.test_request_context():
        assert json.loads(jsonify(payload).get_data()) == payload


def test_in_debug_mode_the_answer_is_indented_as_jsonify_does(demo_app: Flask) -> None:
    demo_app.debug = True
    try:
        answer = demo_app.test_client().get("/api/v1/lots?colour=white")
    finally:
        demo_app.debug = False
    assert answer.status_code == 200
    assert answer.get_data(as_text=True).startswith('{\n  "facets": {')


def test_a_payload_msgspec_refuses_is_answered_by_jsonify_not_a_500(app: Flask) -> None:
    from decimal import Decimal

    from marketplace.api.answers import json_answer

    with app.test_request_context():
        lone = json_answer({"hits": [{"title": "\ud800"}]})  # a lone surrogate: no UTF-8 for it
        assert lone.status_code == 200
        assert json.loads(lone.get_data()) == {"hits": [{"title": "\ud800"}]}
        assert json.loads(json_answer({"n": Decimal("1.50")}).get_data()) == {"n": "1.50"}
