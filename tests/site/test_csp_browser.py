"""The Content-Security-Policy holds in Chromium: key pages, with htmx at work, as a visitor and as
signed-in users, log no CSP violation (an inline script, handler or style would)."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page
from sqlalchemy import select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.passports.models import Passport
from tests.conftest import LiveServer
from tests.site.test_access import DEMO_PASSWORDS, DEMO_USERS

pytestmark = [pytest.mark.browser, pytest.mark.presentation]


def _violations(page: Page) -> list[str]:
    found: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            found.append(f"{page.url}: {message.text}")

    page.on("console", listen)
    return found


def _sign_in(page: Page, url: str, role: Role) -> None:
    page.goto(url + "/signin")
    page.locator("#email").fill(DEMO_USERS[role])
    page.locator("#password").fill(DEMO_PASSWORDS[role])
    page.locator("form[action='/signin'] button[type=submit]").click()
    page.wait_for_url("**/dashboard")


def test_the_browser_reports_a_planted_inline_script(live_server: LiveServer, page: Page) -> None:
    """The listener works: an inline script on one of our pages is refused and reported."""
    violations = _violations(page)
    page.goto(live_server.url + "/about")
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = '1'; "
                  "document.body.append(s); }")
    page.wait_for_timeout(200)
    assert violations


def test_key_pages_log_no_csp_violation(live_server: LiveServer, page: Page) -> None:
    url = live_server.url
    app = live_server.app
    with app.app_context():
        lot_passport = db.session.scalar(select(Passport.public_id).where(Passport.lot_id.is_not(None)))
        product_passport = db.session.scalar(select(Passport.public_id).where(Passport.product_id.is_not(None)))
    violations = _violations(page)
    for path in ("/", "/about", "/lots/USCC-2025-BKH-001", f"/passports/{lot_passport}",
                 f"/passports/{product_passport}", f"/passports/{product_passport}/labels", "/passports/verify",
                 "/cart", "/cart/payment", "/signin", "/signup"):
        response = page.goto(url + path)
        assert response is not None
        assert response.ok, path
        page.wait_for_load_state("networkidle")
    # htmx at work: the lot filter swaps its results in as the visitor types.
    page.goto(url + "/lots")
    page.locator("#q").fill("white")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    page.goto(url + "/products")
    page.locator("#q").fill("sweater")
    page.wait_for_timeout(500)
    page.wait_for_load_state("networkidle")
    _sign_in(page, url, Role.brand_buyer)
    for path in ("/dashboard", "/lots/USCC-2025-BKH-001", "/cart", "/about"):
        response = page.goto(url + path)
        assert response is not None
        assert response.ok, path
        page.wait_for_load_state("networkidle")
    assert violations == []
