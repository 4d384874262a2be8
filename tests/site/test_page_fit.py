"""Every page fits its screen: nothing scrolls sideways at 390 px or 1280 px, in English and Mongolian, as any role.

The pages are every GET route of the role × route matrix (tests/site/test_access.py: each rule with the demo's
sample objects), as a visitor and as each demo role that may open it, and the Union's view of every demo order.
Each page type (endpoint) that answers with an HTML page is measured once, by the first role that opens it; the
dashboard once per role.

The routes come from the app's URL map, not from a crawl: a crawl as every role requested each page and every
link's example (PDFs too) only to pick one URL per endpoint, a third of this test's time, and it reached fewer
endpoints (69 against 71 on the demo, 2026-12-01: it never found the quote and deposit pages; 76 page types in
all with each role's dashboard and each order's Union view).
"""

from __future__ import annotations

import sys

import pytest
from flask import Flask
from playwright.sync_api import Browser

from marketplace.accounts.models import Role
from tests.conftest import LiveServer
from tests.crawl import sign_in_demo
from tests.site.test_access import _get_routes, may_open

pytestmark = [pytest.mark.browser, pytest.mark.presentation]

ROLES = [None, "brand_buyer", "cooperative_manager", "msme_editor", "union_staff", "certifier", "admin"]
PER_ROLE = {"dashboard.index"}  # one page whose content depends on the role
# A print sheet of labels, sized in millimetres for paper; static files; the sign-out routes (they end the session).
NOT_PAGES = {"passports.labels", "static", "accounts.signout", "accounts.signout_everywhere"}
WIDTHS = (1280, 390)
LANGUAGES = ("en", "mn")

OVERFLOW = """() => {
  const root = document.documentElement;
  const limit = root.clientWidth;
  if (root.scrollWidth <= limit) return null;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.right > limit + 1 && box.width > 0) {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                (typeof el.className === 'string' && el.className ? '.' + el.className.trim() : '') +
                ' ' + Math.round(box.right));
    }
  }
  return {scrollWidth: root.scrollWidth, clientWidth: limit, widest: wide.slice(-4)};
}"""


def _extra(app: Flask, role: str | None) -> list[tuple[str, str]]:
    """(endpoint, URL) of the pages the matrix's sample objects do not show: the Union's view of each order. (No
    demo passport has an authority tier page: each answers 404, and none is linked, so no sweep measures one.)"""
    if role != "union_staff":
        return []
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.orders.models import Order

    with app.app_context():
        return [("union.order", f"/union/orders/{ref}")
                for ref in db.session.scalars(select(Order.reference).order_by(Order.id))]


def _pages(app: Flask) -> tuple[list[tuple[str | None, str]], dict[str | None, str]]:
    """(role, URL) of each HTML page type, as the first role that may open it; each role's session cookie."""
    chosen: dict[str, tuple[str | None, str]] = {}
    cookies: dict[str | None, str] = {}
    routes = _get_routes(app)
    for role in ROLES:
        client = sign_in_demo(app, role) if role else app.test_client()
        if role:
            cookies[role] = client.get_cookie("session").value  # type: ignore[union-attr]
        candidates = [(endpoint, path) for endpoint, path in [*routes, *_extra(app, role)]
                      if endpoint not in NOT_PAGES and may_open(app, endpoint, Role(role) if role else None)]
        for endpoint, url in candidates:
            key = f"{endpoint}:{role}" if endpoint in PER_ROLE else endpoint
            if endpoint == "union.order":
                key = url  # every order: their allocation tables differ in size
            if key in chosen:
                continue
            response = client.get(url)
            if response.status_code == 200 and response.mimetype.startswith("text/html"):
                chosen[key] = (role, url)
            response.close()
    return sorted(chosen.values(), key=lambda p: (ROLES.index(p[0]), p[1])), cookies


def _with_lang(url: str, lang: str) -> str:
    return url + ("&" if "?" in url else "?") + f"lang={lang}"


def test_no_page_scrolls_sideways(live_server: LiveServer, chromium: Browser) -> None:
    app = live_server.app
    pages, cookies = _pages(app)
    assert len(pages) >= 74, len(pages)  # the routes answered as pages (76 on the demo), not a login wall
    problems: list[str] = []
    measured = 0
    contexts = {}
    for role, url in pages:
        if role not in contexts:
            context = chromium.new_context(locale="en-GB", viewport={"width": WIDTHS[0], "height": 900})
            context.set_default_timeout(15_000)
            # No request is intercepted (Playwright's routing turns the browser's cache off): the stylesheet and
            # the script are fetched once per role, as a visitor's browser does, not on every page (461 requests
            # for static files before, 22 after, 2026-12-01). Pictures load as they do for people: kept by a
            # visitor's browser, fetched again by a signed-in one (signed-in responses are ``no-store``).
            page = context.new_page()
            if role:  # signed in once while listing the pages (signing in again would meet the rate limit)
                context.add_cookies([{"name": "session", "value": cookies[role], "url": live_server.url}])
            contexts[role] = (context, page)
        _context, page = contexts[role]
        for lang in LANGUAGES:
            page.set_viewport_size({"width": WIDTHS[0], "height": 900})
            page.goto(live_server.url + _with_lang(url, lang))
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                found = page.evaluate(OVERFLOW)
                measured += 1
                if found:
                    problems.append(f"{role or 'visitor'} {url} {lang} {width}px: {found}")
    for context, _page in contexts.values():
        context.close()
    sys.stdout.write(f"\n{len(pages)} page types, {measured} measurements (2 widths × 2 languages), "
                     f"{len(problems)} overflowing\n")  # shown with -s
    assert problems == [], "\n".join(problems)
