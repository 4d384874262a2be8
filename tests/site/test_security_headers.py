"""Security headers: the CSP (no inline script; Stripe.js only on the pay pages), framing, sniffing,
referrer, permissions, HSTS in production, and no-store on every signed-in page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from marketplace.accounts.models import Role
from tests import factories
from tests.core.test_hosts import production_app
from tests.helpers import csrf_token, sign_in

ROOT = Path(__file__).resolve().parent.parent.parent


def csp(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The Content-Security-Policy header as directive → sources."""
    policy: dict[str, list[str]] = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        policy[name] = sources
    return policy


def test_a_public_page_carries_every_security_header(client: FlaskClient) -> None:
    response = client.get("/about")
    assert response.status_code == 200
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no Stripe
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in permissions
    assert "no-store" not in response.headers.get("Cache-Control", "")  # anonymous pages may be cached
    assert "Strict-Transport-Security" not in client.get("/about", base_url="https://localhost").headers


def test_api_and_error_responses_carry_them_too(client: FlaskClient) -> None:
    for path in ("/api/v1/openapi.json", "/no-such-page"):
        response = client.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_stripe_js_is_allowed_only_on_the_pay_pages(client: FlaskClient) -> None:
    pay = client.get("/cart/payment")
    assert pay.status_code == 200
    policy = csp(pay)
    assert "https://js.stripe.com" in policy["script-src"]
    assert "https://js.stripe.com" in policy["frame-src"]
    assert "https://api.stripe.com" in policy["connect-src"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert 'payment=(self "https://js.stripe.com")' in pay.headers["Permissions-Policy"]
    for path in ("/", "/cart", "/lots", "/signin", "/about"):
        header = client.get(path).headers["Content-Security-Policy"]
        assert "stripe" not in header, path


def test_the_stripe_policy_is_declared_on_exactly_the_views_that_load_stripe_js(app: Flask) -> None:
    """Every template that loads Stripe.js is rendered only by views that allow it, and no other view does."""
    loaders = {path.relative_to(ROOT / "templates").as_posix() for path in (ROOT / "templates").rglob("*.html")
               if "js.stripe.com" in path.read_text(encoding="utf-8")}
    assert loaders == {"payments/_card_element.html"}
    allowed = {endpoint for endpoint, view in app.view_functions.items()
               if "stripe" in str(getattr(view, "talisman_view_options", {}).get("content_security_policy", ""))}
    assert allowed == {"payments.purchase", "orders.pay_deposit", "orders.pay_balance"}


def test_every_signed_in_response_is_no_store(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email="buyer@example.com")
    client = app.test_client()
    assert sign_in(client, "buyer@example.com").status_code == 302
    for path in ("/dashboard", "/about", "/lots", "/api/v1/openapi.json", "/no-such-page"):
        response = client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
    with client.get("/static/css/site.css") as static:
        assert "no-store" not in static.headers.get("Cache-Control", "")  # the same for everyone


def test_hsts_only_in_production_and_over_https(tmp_path: Path) -> None:
    client = production_app(tmp_path).test_client()
    with client.get("/static/css/site.css", base_url="https://market.example.org") as secure:
        assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
        assert secure.headers["X-Frame-Options"] == "DENY"
    with client.get("/static/css/site.css", base_url="http://market.example.org") as plain:
        assert "Strict-Transport-Security" not in plain.headers


# A JSON-LD block (schema.org data for search engines) is data the browser never runs, so CSP has no say.
INLINE_SCRIPT = re.compile(r'<script(?![^>]*\bsrc=)(?![^>]*\btype="application/ld\+json")[^>]*>', re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)


# E-mail bodies (templates/email/) are never served by the site, so its CSP does not reach them, and mail
# clients drop <style> and stylesheets: their HTML needs inline styles.
TEMPLATES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*.html")
                   if not p.relative_to(ROOT / "templates").as_posix().startswith("email/"))


@pytest.mark.parametrize("template", TEMPLATES)
def test_templates_hold_no_inline_script_handler_or_style(template: str) -> None:
    source = (ROOT / template).read_text(encoding="utf-8")
    assert not INLINE_SCRIPT.search(source)
    assert not EVENT_HANDLER.search(source)
    assert not INLINE_STYLE.search(source)


def test_a_browser_with_only_the_remember_cookie_gets_no_store_on_its_first_request(app: Flask) -> None:
    """Anonymous requests skip loading the user (``i18n.may_be_signed_in``); a remember cookie alone still
    counts as a sign-in, so the very response that signs it in is personal."""
    factories.user_with_role(Role.brand_buyer, email="buyer@example.com")
    client = app.test_client()
    response = client.post("/signin", data={"email": "buyer@example.com", "password": factories.PASSWORD,
                                            "remember": "y", "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    remember = client.get_cookie("remember_token")
    assert remember is not None
    for path in ("/api/v1/openapi.json", "/about"):
        browser = app.test_client()  # a new browser session: no session cookie, only the remember one
        browser.set_cookie("remember_token", remember.value)
        assert browser.get(path).headers.get("Cache-Control") == "no-store", path
        remember = browser.get_cookie("remember_token")  # rotated at each use
        assert remember is not None
    assert "no-store" not in app.test_client().get("/api/v1/openapi.json").headers.get("Cache-Control", "")


def test_each_endpoint_keeps_its_own_security_headers_request_after_request(client: FlaskClient) -> None:
    """The header values are worked out once per endpoint: a pay page's Stripe policy never leaks into
    another page's, nor the other way round, whatever the order."""
    for _ in range(2):
        for path, stripe in (("/about", False), ("/cart/payment", True), ("/api/v1/openapi.json", False),
                             ("/no-such-page", False), ("/cart/payment", True)):
            response = client.get(path)
            assert ("https://js.stripe.com" in csp(response)["script-src"]) is stripe, path
            assert ('payment=(self "https://js.stripe.com")' in response.headers["Permissions-Policy"]) is stripe
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize("production", [False, True])
def test_the_per_endpoint_header_cache_gives_what_stock_talisman_gives(app: Flask, tmp_path: Path,
                                                                      production: bool) -> None:
    """``security._Talisman`` overrides two private methods of flask-talisman to keep each endpoint's options
    and headers: for every kind of endpoint, twice (worked out, then cached), its headers equal those stock
    Talisman works out afresh with neither override; in production over https too (HSTS, set between the
    cached headers)."""
    from unittest import mock

    from flask import Response
    from flask_talisman import Talisman

    from marketplace.security import talisman

    checked = production_app(tmp_path) if production else app
    base_url = "https://market.example.org" if production else "http://localhost"
    for path in ("/about", "/cart/payment", "/api/v1/openapi.json", "/static/css/site.css", "/no-such-page"):
        for _ in range(2):
            with checked.test_request_context(path, base_url=base_url):
                ours = talisman._set_response_headers(Response())
                options = Talisman._get_local_options(talisman)  # worked out afresh, not cached
                with mock.patch.object(talisman, "_get_local_options", return_value=options):
                    stock = Talisman._set_response_headers(talisman, Response())
                assert list(ours.headers.items()) == list(stock.headers.items()), path
                assert "Content-Security-Policy" in ours.headers
                assert ("Strict-Transport-Security" in ours.headers) is production
