from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from marketplace.access import public
from marketplace.accounts.models import Role
from tests.conftest import make_app
from tests.helpers import sign_in, text


def test_home_shows_live_figures_and_demo_label(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/"))
    assert "Certified Mongolian cashmere" in html
    assert "fictional demo data" in html
    assert "Newly listed lots" in html
    assert 'href="#main"' in html  # skip link
    assert '<main id="main"' in html  # landmark
    assert 'src="/static/vendor/htmx.min.js?v=' in html  # fingerprinted: marketplace/static_files.py
    assert 'hreflang="mn"' in html


def test_lot_list_and_filters(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/lots"))
    assert "39 lots" in html  # 46 demo lots, 2 of them drafts, 5 under the suspended SC-2024-UVO-002
    white = text(demo_client.get("/lots?colour=white&state=dehaired&sort=price"))
    assert "lots" in white
    rows = white.count('<th scope="row"')
    assert 0 < rows < 20
    assert "Light grey" not in white.split("<tbody>")[1]


def test_lot_list_micron_range(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/lots?micron_min=14.5&micron_max=15.0"))
    body = html.split("<tbody>")[1] if "<tbody>" in html else ""
    for cell in body.split('<td class="num">')[1::4]:
        value = float(cell.split("<")[0].replace(",", ""))
        assert 14.5 <= value <= 15.0


def test_htmx_request_gets_the_fragment_with_vary(demo_client: FlaskClient) -> None:
    response = demo_client.get("/lots?colour=brown", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" not in text(response)
    assert "lots" in text(response)


def test_bad_filter_values_get_a_clear_400_and_all_lots(demo_client: FlaskClient) -> None:
    for query in ("micron_min=abc", "micron_min=16&micron_max=15", "colour=purple", "page=0",
                  "page=999999999999999999999", "sort=drop+table"):
        response = demo_client.get(f"/lots?{query}")
        assert response.status_code == 400, query
        assert "Some filters are not valid" in text(response), query


def test_lot_detail_shows_every_group_of_fields(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/lots/USCC-2025-BKH-001"))
    for expected in ("Jinst Golden Fleece Cooperative", "Bayankhongor", "Combing season", "Mean fibre diameter",
                     "16.7\u00a0µm", "Dehairing yield", "Clean-equivalent price", "Sustainability premium",
                     "CPT Milan Malpensa", "SC-2025-BKH-001", "S3C external control", "Identity preserved",
                     "IWTO-8"):
        assert expected in html, expected


def test_suspended_certificate_is_flagged_on_the_lot(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/lots/USCC-2025-UVO-009"))
    assert "Status today: Suspended" in html


def test_unknown_lot_gets_a_404_in_the_site_layout(demo_client: FlaskClient) -> None:
    for code in ("NOPE", "USCC-2025-BKH-011", "x" * 300, "'; DROP TABLE lot; --"):
        response = demo_client.get(f"/lots/{code}")
        assert response.status_code == 404, code
        assert "Page not found" in text(response) or "no listed lot" in text(response)
        assert "Traceback" not in text(response)
    assert "Sign in" in text(demo_client.get("/lots/NOPE"))  # the site's own layout
    assert demo_client.get("/no/such/page").status_code == 404


def test_content_pages_render_markdown(demo_client: FlaskClient) -> None:
    about = text(demo_client.get("/about"))
    assert "<h2" in about
    assert "fictional" in about
    certification = text(demo_client.get("/certification"))
    assert "The 25 criteria of Sustainable Cashmere" in certification
    assert "SC-6." in certification
    assert demo_client.get("/how-to-read-a-passport").status_code == 200


def test_untranslated_content_page_falls_back_to_english_visibly(app: Flask, tmp_path: Path) -> None:
    pages = tmp_path / "content" / "pages"
    pages.mkdir(parents=True)
    (pages / "about.en.md").write_text("# About\n\nOnly in English so far.\n", encoding="utf-8")
    app.config["CONTENT_DIR"] = str(tmp_path / "content")
    html = text(app.test_client().get("/about?lang=en"))
    assert "Only in English so far." in html
    assert "not yet translated" not in html
    html = text(app.test_client().get("/about?lang=de"))
    assert '<html lang="de">' in html
    assert '<article class="prose" lang="en">' in html  # the English text is marked as English
    assert "Only in English so far." in html
    assert 'class="notice"' in html  # and the reader is told, in German


def test_language_switcher_keeps_the_page_and_filters(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/lots?colour=white&sort=price"))
    assert 'href="/lots?colour=white&amp;sort=price&amp;lang=mn"' in html
    response = demo_client.get("/lots?lang=fr")
    assert '<html lang="fr">' in text(response)
    assert '<html lang="fr">' in text(demo_client.get("/"))  # remembered in a cookie


def test_accept_language_is_followed(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}))
    assert '<html lang="zh">' in html


def test_cooperative_profile(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/organisations/guchin-us-gobi"))
    assert "Pasture-user groups" in html
    assert "Over capacity" in html
    assert "Suspended" in html
    assert demo_client.get("/organisations/nope").status_code == 404


def test_each_role_dashboard_shows_its_own_data(demo_client: FlaskClient) -> None:
    expectations = {
        ("buyer@demo.example", "demo-buyer-2026"): ["Maison Lune", "orders"],
        ("coop@demo.example", "demo-coop-2026"): ["Jinst Golden Fleece Cooperative", "USCC-2025-BKH-001"],
        ("msme@demo.example", "demo-msme-2026"): ["Khangai Knitwear LLC", "products"],
        ("certifier@demo.example", "demo-certifier-2026"): ["SC-2025-BKH-001", "Certificates you issued"],
        ("staff@demo.example", "demo-staff-2026"): ["Stock of listed lots", "Products awaiting approval"],
        ("admin@demo.example", "demo-admin-2026"): ["buyer@demo.example", "Users"],
    }
    for (email, password), needles in expectations.items():
        client = demo_client.application.test_client()
        assert sign_in(client, email, password).status_code == 302
        html = text(client.get("/dashboard"))
        for needle in needles:
            assert needle in html, (email, needle)


def test_healthz_reports_the_database(demo_client: FlaskClient) -> None:
    response = demo_client.get("/healthz")
    assert response.status_code == 200
    found = response.get_json()
    assert (found["status"], found["database"], found["search"]["status"]) == ("ok", "ok", "ok")
    assert found["search"]["engine"] == "embedded"
    lots = found["search"]["documents"]["lots"]
    assert lots["index"] == lots["database"] > 0


def test_healthz_says_when_the_index_differs_from_the_database(demo_app: Flask) -> None:
    with demo_app.app_context():
        from marketplace.lots.search import LOTS
        from marketplace.search import services as search_services

        search_services.engine().apply(LOTS, [], ["1"])
    found = demo_app.test_client().get("/healthz").get_json()
    assert found["status"] == "degraded"
    assert found["search"]["status"] == "degraded"
    assert "reindex" in found["search"]["action"]


def test_healthz_with_the_database_unreachable(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path}/missing-dir/db.sqlite3", tmp_path)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    found = response.get_json()
    assert (found["status"], found["database"]) == ("error", "error")
    assert found["search"] == found["jobs"] == {"status": "unknown"}  # they live in the database
    assert found["storage"]["status"] == "ok"


def test_unexpected_errors_show_a_friendly_page_without_traceback(app: Flask) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/_boom")
    @public
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/_boom")
    assert response.status_code == 500
    assert "Something went wrong" in text(response)
    assert "secret internals" not in text(response)


def test_undeclared_route_is_refused(app: Flask) -> None:
    @app.get("/_open")
    def open_route() -> str:
        return "should not be reachable"

    response = app.test_client().get("/_open")
    assert response.status_code == 403
    assert Role.admin  # the rule applies to everybody, whatever the role


def test_nul_bytes_in_urls_and_forms_get_a_400(demo_client: FlaskClient) -> None:
    for url in ("/lots/%00", "/lots?colour=%00", "/organisations/a%00b"):
        response = demo_client.get(url)
        assert response.status_code == 400, url
        assert "NUL character" in text(response)
    response = demo_client.post("/signin", data={"email": "a\x00@b.example", "password": "x"})
    assert response.status_code == 400
