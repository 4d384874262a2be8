"""The quick reading of the lot API's query string (``api.lot_params``) against the form it stands in for.

On generated query strings, plain and hostile: whatever ``read`` accepts, the form accepts too and reads
as the same search; whatever the form refuses goes to the form (so its messages stay the API's).
"""

from __future__ import annotations

import random
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask, request

from marketplace.api import lot_params
from marketplace.api.routes import ALWAYS_ALLOWED, lot_search_asked, lot_search_by_form
from marketplace.lots.services import LotSearch
from tests.conftest import make_app

VALUES: dict[str, list[str]] = {
    "q": ["", " ", "bayanhongr", "white 15", "  Баянхонгор ", "a" * 512, "a" * 513, " " * 600, "\u00a0x", "1e3"],
    "colour": ["white", "brown", "light_grey", "White", "pink", "", " white", "x" * 81],
    "state": ["greasy", "dehaired", "scoured", "wet", "", "GREASY"],
    "aimag": ["BKH", "UVO", "", "x" * 80, "x" * 81, "Ж"],
    "cooperative": ["altai", ""], "scheme": ["SFA", ""], "tier": ["Advanced", "advanced"], "season": ["2025", "x"],
    "micron_min": ["14.5", "15", "10", "9.9", "25", "25.01", "015.0", "+15", "1e1", " 15", "15 ", "NaN", "-1", "",
                   "15.1234", "١٥", "15_0", "0x10", "inf"],
    "micron_max": ["16", "14", "25", "26", "15.5", "15.50", "1e400", ""],
    "length_min": ["0", "30", "200", "201", "-0", "0.0"],
    "length_max": ["45", "29.9", "200.0"],
    "price_min": ["0", "10.5", "1000000", "1000001", "10.123", "999999999"],
    "price_max": ["12", "9", "1000000.00"],
    "available_min": ["500", "0", "10000000", "10000001", "5.5"],
    "sort": ["", "price", "-price", "newest", "micron", " ", "Price", "-newest", "bogus"],
    "page": ["1", "2", "50", "10000", "10001", "0", "-1", "+2", " 2", "2.0", "", "00", "99999999999999999999", "٢"],
    "include_invalid": ["0", "1", "", "true", "false", "yes", "no", "on", "off", "y", "TRUE", "2", " 1"],
    "lang": ["fr", "xx"],
    "bogus": ["1"],
}
SINGLE = {"q", "micron_min", "micron_max", "length_min", "length_max", "price_min", "price_max", "available_min",
          "sort", "page", "include_invalid"}


def _query(rng: random.Random) -> list[tuple[str, str]]:
    names = rng.sample(sorted(VALUES), rng.randint(0, 6))
    pairs = []
    for name in names:
        if name == "bogus" and rng.random() < 0.7:
            continue
        times = rng.choice((1, 1, 1, 2, 3)) if name not in SINGLE or rng.random() < 0.05 else 1
        pairs += [(name, rng.choice(VALUES[name])) for _ in range(times)]
    if rng.random() < 0.02:
        pairs += [("colour", "white")] * 31
    return pairs


@pytest.fixture
def reading_app(tmp_path: Path) -> Flask:
    """The app over an empty SQLite file: reading a query string opens no database (a query would fail, for want
    of tables), so these tests do not need one, and the PostgreSQL pass leaves them to the SQLite pass."""
    return make_app(f"sqlite:///{tmp_path}/no-tables.sqlite3", tmp_path)


def test_the_quick_reading_never_accepts_what_the_form_refuses_and_reads_the_same(reading_app: Flask) -> None:
    app = reading_app
    rng = random.Random(25)  # noqa: S311 (reproducible cases, not secrets)
    quick = refused = 0
    for _ in range(4000):
        query = urlencode(_query(rng))
        with app.test_request_context(f"/api/v1/lots?{query}"):
            fast = lot_params.read(request.args, ALWAYS_ALLOWED)
            slow = lot_search_by_form()
            if fast is not None:
                quick += 1
                assert isinstance(slow, LotSearch), f"{query}: read quickly, but the form refuses it"
                assert fast == slow, f"{query}: {fast} against the form's {slow}"
            refused += not isinstance(slow, LotSearch)
            both = lot_search_asked()
            assert type(both) is type(slow)
            if isinstance(slow, LotSearch):
                assert both == slow
            else:  # the same 400 answer
                assert both[0].get_json() == slow[0].get_json()
    print(f"read quickly: {quick}, refused by the form: {refused}")  # noqa: T201 (shown with -s)
    assert quick > 1000  # both ways taken often
    assert refused > 1000


def test_plain_api_searches_are_read_without_the_form(reading_app: Flask) -> None:
    app = reading_app
    for query in ("", "q=bayanhongr&colour=white", "colour=white&state=dehaired&micron_min=14.5&micron_max=16.2",
                  "q=Bayanhongor&aimag=BKH&sort=-price&available_min=500", "sort=newest&page=37",
                  "q=bayan&season=2025&season=2026&tier=Advanced&lang=fr", "include_invalid=1&price_max=12.50"):
        with app.test_request_context(f"/api/v1/lots?{query}"):
            assert lot_params.read(request.args, ALWAYS_ALLOWED) is not None, query


def test_bad_input_keeps_the_forms_messages(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.get("/api/v1/lots?micron_min=20&micron_max=15").get_json()
    assert answer["fields"] == {"micron_max": ["The upper micron limit is below the lower one."]}
    assert client.get("/api/v1/lots?colour=pink").get_json()["fields"]["colour"]
    assert client.get("/api/v1/lots?page=0").get_json()["fields"]["page"]
    assert client.get("/api/v1/lots?bogus=1").get_json()["error"] == "Unknown parameter: bogus"
