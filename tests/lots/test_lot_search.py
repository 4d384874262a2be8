"""The lot browser and the search API, over the demo content (46 lots, 44 listed; 39 of them under
a certificate valid today: the five lots under the suspended SC-2024-UVO-002 are left out unless
``include_invalid=1``)."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient

from tests.helpers import text


def _api(client: FlaskClient, query: str) -> dict:
    response = client.get(f"/api/v1/lots?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_typo_and_place_spelling_and_micron_word(demo_client: FlaskClient) -> None:
    exact = _api(demo_client, "q=bayanhongor+white+15")
    typo = _api(demo_client, "q=bayanhongr+whte+15")  # "whte" is too short for a typo: no match
    assert typo["total"] == 0
    typo = _api(demo_client, "q=bayanhongr+white+15")
    assert typo["total"] == exact["total"] > 0
    for hit in typo["hits"]:
        assert hit["aimag"] == "BKH"
        assert hit["colour"] == "white"
        assert 15 <= hit["micron"] < 16
    assert set(typo) >= {"hits", "facets", "total", "page", "query_ms"}


@pytest.mark.parametrize("spelling", ["Bayankhongor", "Bayan-Khongor", "Баянхонгор", "bayan khongor"])
def test_every_spelling_of_an_aimag_finds_its_lots(demo_client: FlaskClient, spelling: str) -> None:
    found = _api(demo_client, f"q={spelling}")
    assert found["total"] == 16
    assert {h["aimag"] for h in found["hits"]} == {"BKH"}


def test_facets_count_each_facet_without_its_own_selection(demo_client: FlaskClient) -> None:
    everything = _api(demo_client, "")
    assert everything["total"] == 39
    assert sum(everything["facets"]["colour"].values()) == 39
    white = _api(demo_client, "colour=white")
    assert white["total"] == everything["facets"]["colour"]["white"]
    assert white["facets"]["colour"] == everything["facets"]["colour"]  # still offers the other colours
    assert sum(white["facets"]["state"].values()) == white["total"]
    both = _api(demo_client, "colour=white&colour=brown&aimag=BKH")
    assert {h["colour"] for h in both["hits"]} <= {"white", "brown"}
    for name in ("colour", "state", "aimag", "cooperative", "scheme", "tier", "season"):
        assert everything["facets"][name], name


def test_ranges_sort_and_pages(demo_client: FlaskClient) -> None:
    ranged = _api(demo_client, "micron_min=15&micron_max=16&length_min=36&price_max=150&available_min=500&sort=price")
    assert ranged["total"] > 0
    prices = [h["price_eur_clean"] for h in ranged["hits"]]  # one basis: EUR per clean kg
    assert prices == sorted(prices)
    assert max(prices) <= 150
    for hit in ranged["hits"]:
        assert 15 <= hit["micron"] <= 16
        assert hit["length_mm"] >= 36
        assert hit["available_kg"] >= 500
    finest = _api(demo_client, "sort=micron")["hits"]
    assert [h["micron"] for h in finest] == sorted(h["micron"] for h in finest)
    dear = _api(demo_client, "sort=-price")["hits"]
    assert [h["price_eur_clean"] for h in dear] == sorted((h["price_eur_clean"] for h in dear), reverse=True)
    newest = _api(demo_client, "sort=newest")["hits"]
    assert [h["listed_at"] for h in newest] == sorted((h["listed_at"] for h in newest), reverse=True)
    page1, page2 = _api(demo_client, "page=1"), _api(demo_client, "page=2")
    assert len(page1["hits"]) == 20
    assert len(page2["hits"]) == 19
    assert not {h["code"] for h in page1["hits"]} & {h["code"] for h in page2["hits"]}


def test_the_page_keeps_its_state_in_the_url(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/lots?q=white&colour=white&micron_min=14.5&scheme=SC&sort=price&page=1"))
    assert 'value="white"' in html
    assert 'name="colour" value="white" checked' in html
    assert 'name="scheme" value="SC" checked' in html
    assert 'value="14.5"' in html
    assert '<option selected value="price">' in html
    assert "Sustainable Cashmere" in html  # facet values carry their names
    assert "/lots/export.csv?q=white" in html


def test_htmx_fragment_updates_the_facets_out_of_band(demo_client: FlaskClient) -> None:
    response = demo_client.get("/lots?colour=white", headers={"HX-Request": "true"})
    assert "HX-Request" in response.headers["Vary"]
    body = text(response)
    assert "<html" not in body
    assert 'id="lot-facets" hx-swap-oob="true"' in body
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    restore = demo_client.get("/lots?colour=white", headers=headers)
    assert "<html" in text(restore)  # the back button asks htmx for the whole page


def test_empty_results_suggest_which_filter_to_relax(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/lots?q=bayankhongor&aimag=UVO&colour=white"))
    assert "0 lots" in html
    assert "Try relaxing one filter" in html
    assert "Remove Aimag" in html or "Remove the search words" in html
    assert "lots?q=bayankhongor&amp;colour=white" in html  # drops the aimag, keeps the rest


def test_compare_up_to_four_lots(demo_client: FlaskClient) -> None:
    codes = ["USCC-2025-BKH-001", "USCC-2025-BKH-002", "USCC-2025-UVO-007", "USCC-2025-BKH-006"]
    html = text(demo_client.get("/lots/compare?" + "&".join(f"code={c}" for c in codes)))
    for code in codes:
        assert code in html
    assert "4 lots side by side" in html
    assert "Clean-equivalent price per kg" in html
    too_many = demo_client.get("/lots/compare?" + "&".join(f"code={c}" for c in [*codes, "USCC-2025-BKH-003"]))
    assert too_many.status_code == 400
    assert "up to 4 lots" in text(too_many)
    none = demo_client.get("/lots/compare?code=NOPE&code=" + "x" * 300)
    assert none.status_code == 200
    assert "Choose lots to compare" in text(none)
    listing = text(demo_client.get("/lots"))
    assert 'form="compare-form"' in listing


def test_csv_export_of_the_current_results_with_units(demo_client: FlaskClient) -> None:
    response = demo_client.get("/lots/export.csv?colour=white&sort=micron")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(text(response))))
    header = rows[0]
    assert "Mean fibre diameter (µm)" in header
    assert "Available (kg)" in header
    assert "Price (currency per kg)" in header
    assert len(rows) - 1 == _api(demo_client, "colour=white")["total"]
    colour = header.index("Colour")
    assert {r[colour] for r in rows[1:]} == {"white"}
    microns = [float(r[header.index("Mean fibre diameter (µm)")]) for r in rows[1:]]
    assert microns == sorted(microns)
    assert demo_client.get("/lots/export.csv?micron_min=oops").status_code == 400


@pytest.mark.parametrize("query", [
    "q=" + "a" * 513,
    "micron_min=16&micron_max=15",
    "length_min=40&length_max=30",
    "price_min=200&price_max=100",
    "micron_min=NaN",
    "price_min=Infinity",
    "available_min=-5",
    "colour=purple",
    "sort=drop+table",
    "page=0",
    "aimag=" + "A" * 81,
])
def test_bad_input_gets_a_clear_400(demo_client: FlaskClient, query: str) -> None:
    page = demo_client.get(f"/lots?{query}")
    assert page.status_code == 400, query
    assert "Some filters are not valid" in text(page)
    api = demo_client.get(f"/api/v1/lots?{query}")
    assert api.status_code == 400, query
    assert api.get_json()["fields"]


@pytest.mark.parametrize("query", [
    "q=%22white%22+(brown)+%5Bgrey%5D+AND+OR+NOT+-x+*",
    "scheme=SC%22+OR+scheme+%3D+%22x",
    "cooperative=%5B%27a%27%2C+%27b%27%5D",
    "tier=Entry%27%29+OR+1%3D1--",
    "aimag=NOPE",
    "season=2024+TO+2030",
    "q=%FF%FE%FA",
    "colour=white&q=%C3%28",
    "q=" + "a" * 512,
])
def test_odd_values_get_a_normal_response(demo_client: FlaskClient, query: str) -> None:
    page = demo_client.get(f"/lots?{query}")
    assert page.status_code == 200, query
    assert "Traceback" not in text(page)
    assert demo_client.get(f"/api/v1/lots?{query}").status_code == 200, query


def test_filter_values_with_operators_match_nothing(demo_client: FlaskClient) -> None:
    assert _api(demo_client, "scheme=SC%22+OR+scheme+%3D+%22x")["total"] == 0
    assert _api(demo_client, "scheme=SC")["total"] == 39


def test_api_refuses_unknown_parameters(demo_client: FlaskClient) -> None:
    response = demo_client.get("/api/v1/lots?shape=round")
    assert response.status_code == 400
    assert "Unknown parameter: shape" in response.get_json()["error"]
    assert demo_client.get("/api/v1/products?colour=white").status_code == 400


def test_products_api(demo_client: FlaskClient) -> None:
    found = demo_client.get("/api/v1/products?q=sweater&sort=price").get_json()
    assert found["total"] >= 1  # the demo's published sweaters
    assert set(found) >= {"hits", "facets", "total", "page", "query_ms"}
    assert demo_client.get("/api/v1/products?price_min=5&price_max=1").status_code == 400


def test_openapi_describes_the_api(demo_client: FlaskClient) -> None:
    spec = demo_client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    lots = spec["paths"]["/api/v1/lots"]["get"]
    names = {p["name"] for p in lots["parameters"]}
    assert names >= {"q", "colour", "state", "aimag", "cooperative", "scheme", "tier", "season", "micron_min",
                     "micron_max", "length_min", "length_max", "price_min", "price_max", "available_min", "sort",
                     "page"}
    assert "/api/v1/products" in spec["paths"]
    assert set(spec["components"]["schemas"]["LotResults"]["required"]) == {"hits", "facets", "total", "page",
                                                                             "query_ms"}


def test_price_is_sorted_on_one_basis_eur_per_clean_kg(demo_client: FlaskClient) -> None:
    """Greasy and clean prices in EUR and USD sort together once each is EUR per kg of clean fibre."""
    from decimal import Decimal

    rates = {code: Decimal(rate) for code, rate in demo_client.application.config["FX_MNT_PER_UNIT"].items()}
    hits = _api(demo_client, "sort=price&include_invalid=1&page=1")["hits"] + \
        _api(demo_client, "sort=price&include_invalid=1&page=2")["hits"] + \
        _api(demo_client, "sort=price&include_invalid=1&page=3")["hits"]
    assert {h["currency"] for h in hits} == {"EUR", "USD"}
    assert {h["price_basis"] for h in hits} == {"greasy", "clean"}
    for hit in hits:
        expected = (Decimal(hit["clean_price_minor"]) * rates[hit["currency"]] / rates["EUR"]).quantize(Decimal(1))
        assert abs(hit["price_eur_clean_minor"] - expected) <= 1, hit["code"]
    comparable = [h["price_eur_clean_minor"] for h in hits]
    assert comparable == sorted(comparable)
    assert [h["price_per_kg"] for h in hits] != sorted(h["price_per_kg"] for h in hits)  # the listed prices mix
    html = text(demo_client.get("/lots?sort=price"))
    assert "Price per clean kg" in html
    assert "Listed:" in html


def test_each_lot_links_to_its_passport_qr_and_json(demo_client: FlaskClient) -> None:
    import re

    rows = text(demo_client.get("/lots"))
    passports = re.findall(r'href="(/passports/[0-9a-f]+)" aria-label="Passport of lot ([^"]+)"', rows)
    assert len(passports) == 20  # one per row of the first page
    path, code = passports[0]
    page = text(demo_client.get(f"/lots/{code}"))
    assert f'href="{path}"' in page
    for suffix, kind in (("/qr.svg", "image/svg+xml"), ("/qr.png", "image/png"), (".json", "json")):
        assert f'href="{path}{suffix}"' in page
        response = demo_client.get(path + suffix)
        assert response.status_code == 200
        assert kind in response.content_type
    assert demo_client.get(path).status_code == 200


@pytest.mark.parametrize(("typed", "check"), [
    ("white 15 micron", lambda h: h["colour"] == "white" and 15 <= h["micron"] < 16),
    ("15µm", lambda h: 15 <= h["micron"] < 16),
    ("15-16 µm", lambda h: 15 <= h["micron"] < 17),
    ("≤16", lambda h: h["micron"] <= 16),
    ("16.3", lambda h: h["micron"] == 16.3),
    ("цагаан", lambda h: h["colour"] == "white"),
    ("бор", lambda h: h["colour"] == "brown"),
    ("gris clair 15", lambda h: h["colour"] == "light_grey" and 15 <= h["micron"] < 16),
])
def test_the_search_box_reads_numbers_units_and_colour_words(demo_client: FlaskClient, typed: str, check) -> None:
    from urllib.parse import quote

    found = _api(demo_client, f"q={quote(typed)}&include_invalid=1")
    assert found["total"] > 0, typed
    assert all(check(hit) for hit in found["hits"]), typed
    page = text(demo_client.get(f"/lots?q={quote(typed)}"))
    assert "No lot matches these filters." not in page


def test_the_way_back_from_compare_keeps_the_filters_and_ticks(demo_client: FlaskClient) -> None:
    import html as entities
    import re

    page = text(demo_client.get("/lots?q=bayankhongor&colour=light_grey&sort=price"))
    form = page[page.index('<form id="compare-form"'):page.index("</form>", page.index('<form id="compare-form"'))]
    assert '<input type="hidden" name="q" value="bayankhongor">' in form
    assert '<input type="hidden" name="colour" value="light_grey">' in form
    compare = text(demo_client.get("/lots/compare?q=bayankhongor&colour=light_grey&sort=price&endpoint=x&_external=1"
                                   "&code=USCC-2025-BKH-001&code=USCC-2025-BKH-006"))
    back = entities.unescape(compare.split("Back to the lots, with your filters and ticks")[0].rsplit('href="', 1)[1])
    assert back == ("/lots?q=bayankhongor&colour=light_grey&sort=price&code=USCC-2025-BKH-001&code=USCC-2025-BKH-006"
                    '">')
    again = text(demo_client.get(back.removesuffix('">')))
    assert re.search(r'value="USCC-2025-BKH-001" form="compare-form" id="compare-\d+" checked>', again)
    assert not re.search(r'value="USCC-2025-BKH-00[2-5]" form="compare-form" id="compare-\d+" checked>', again)


def test_a_text_read_again_comes_from_the_kept_reading_and_a_changed_reading_does_not_leak() -> None:
    from marketplace.lots.query import _parse_text, parse_text

    first = parse_text("white 15 µm under 40 mm")
    assert first.text == "white"
    assert set(first.ranges) == {"micron", "length_mm"}
    read = dict(first.ranges)
    hits = _parse_text.cache_info().hits
    first.ranges["micron"] = (0.0, 1.0)  # a caller narrowing its copy
    first.ranges.clear()
    again = parse_text("white 15 µm under 40 mm")
    assert _parse_text.cache_info().hits == hits + 1
    assert again.ranges == read
    assert again.text == "white"
