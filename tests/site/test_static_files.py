"""Static files' URLs carry their content's fingerprint, and only the current fingerprint is cached for a year."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from flask import Flask, url_for
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent.parent


def _url(app: Flask, filename: str) -> str:
    with app.test_request_context("/"):
        return url_for("static", filename=filename)


def test_pages_link_the_stylesheet_and_htmx_by_their_content(client: FlaskClient) -> None:
    html = client.get("/about").get_data(as_text=True)
    for filename in ("css/site.css", "vendor/htmx.min.js"):
        digest = hashlib.sha256((ROOT / "static" / filename).read_bytes()).hexdigest()[:12]
        assert f"/static/{filename}?v={digest}" in html


def test_only_the_current_fingerprint_is_cached_for_a_year(app: Flask, client: FlaskClient) -> None:
    with client.get(_url(app, "css/site.css")) as current:
        assert current.status_code == 200
        assert current.cache_control.immutable
        assert current.cache_control.max_age == 365 * 24 * 3600
        assert current.cache_control.public
        assert not current.cache_control.no_cache
    for stale in ("/static/css/site.css?v=000000000000", "/static/css/site.css"):
        with client.get(stale) as response:
            assert response.status_code == 200
            assert not response.cache_control.immutable
            assert response.cache_control.max_age is None
    with client.get("/static/css/no-such-file.css?v=000000000000") as missing:
        assert missing.status_code == 404


def test_a_changed_file_gets_a_new_url_and_the_old_one_is_no_longer_kept(app: Flask, client: FlaskClient,
                                                                         tmp_path: Path) -> None:
    app.static_folder = str(tmp_path)
    style = tmp_path / "style.css"
    style.write_text("body { color: black; }")
    before = _url(app, "style.css")
    style.write_text("body { color: navy; }")
    os.utime(style, ns=(1, 1))  # a different modification time, whatever the clock's precision
    after = _url(app, "style.css")
    assert re.fullmatch(r"/static/style\.css\?v=[0-9a-f]{12}", after)
    assert before != after
    with client.get(before) as old:
        assert not old.cache_control.immutable
    with client.get(after) as new:
        assert new.cache_control.immutable
        assert new.get_data(as_text=True) == "body { color: navy; }"


def test_a_name_outside_the_static_folder_gets_no_fingerprint(app: Flask) -> None:
    assert _url(app, "../pyproject.toml") == "/static/../pyproject.toml"
    assert _url(app, "css") == "/static/css"  # a folder
    assert _url(app, "no-such-file.css") == "/static/no-such-file.css"
    assert _url(app, "x\x00.css") == "/static/x%00.css"  # a NUL byte (os.stat raises ValueError)


def test_a_static_address_with_a_nul_byte_gets_the_sites_400_page(client: FlaskClient, caplog) -> None:  # type: ignore[no-untyped-def]
    for path in ("/static/x%00", "/static/css/site.css?x=%00"):
        caplog.clear()
        response = client.get(path)
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert '<main id="main"' in html  # the site's own error page, not the bare fallback
        assert "?v=" not in html.split("hreflang", 1)[1].split(">", 1)[0]  # the language links lead home
        assert not [r for r in caplog.records if r.levelname == "ERROR"], path


def test_only_a_public_immutable_response_counts_as_the_same_for_everyone() -> None:
    from flask import Response

    from marketplace.flask_app import same_for_everyone

    answers = {value: same_for_everyone(Response(headers={"Cache-Control": value} if value else {}))
               for value in ("", "no-store", "public, max-age=31536000", "private, max-age=31536000, immutable",
                             "public, max-age=31536000, immutable", "max-age=60, immutable, public")}
    assert [value for value, same in answers.items() if same] == ["public, max-age=31536000, immutable",
                                                                  "max-age=60, immutable, public"]


def _vary(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {name.strip().lower() for name in response.headers.get("Vary", "").split(",") if name.strip()}


def test_a_fingerprinted_file_is_the_same_for_every_reader_and_a_page_is_not(app: Flask, client: FlaskClient) -> None:
    """A page depends on the reader's language (and sign-in): it varies by Accept-Language and Cookie. A fingerprinted
    file is the same bytes for everyone: without ``Vary: Cookie`` a browser keeps using it after a language switch or
    a refreshed session cookie, instead of fetching it again on every page."""
    with client.get("/about?lang=mn") as page:
        assert {"accept-language", "cookie"} <= _vary(page)
        assert "lang=mn" in page.headers["Set-Cookie"]  # the choice is still remembered
    with client.get(_url(app, "css/site.css") + "&lang=mn") as current:
        assert current.cache_control.immutable
        assert not {"accept-language", "cookie"} & _vary(current)
    with client.get("/static/css/site.css?v=000000000000") as stale:  # revalidated: no promise to share it
        assert {"accept-language", "cookie"} <= _vary(stale)


def test_a_response_in_the_readers_language_still_varies_however_it_is_cached(app: Flask) -> None:
    """No view of ours sends translated text as public and immutable; one that did would still say that it varies by
    language, so that no cache hands one reader's language to another."""
    from flask_babel import gettext

    from marketplace.access import public

    @public
    def greeting() -> tuple[str, dict[str, str]]:
        return gettext("Sign in"), {"Cache-Control": "public, max-age=31536000, immutable"}

    app.add_url_rule("/_test/greeting", "test_greeting", greeting)
    with app.test_client().get("/_test/greeting", headers={"Accept-Language": "fr"}) as response:
        assert response.status_code == 200
        assert response.cache_control.immutable
        assert {"accept-language", "cookie"} <= _vary(response)  # the language may come from its cookie
