"""Every page fits its screen: nothing scrolls sideways at 390 px or 1280 px, in English and Mongolian, as any role.

The pages are found as a visitor finds them (tests/crawl.py: every rule without arguments, and example
URLs of the others from the links of those pages), for a visitor and each demo role. Each page type
(endpoint) is measured once, by the first role that reaches it; the dashboard once per role.
"""

from __future__ import annotations

import sys

import pytest
from flask import Flask
from playwright.sync_api import Browser

from tests.conftest import LiveServer
from tests.crawl import crawl, endpoint_of, sign_in_demo

pytestmark = [pytest.mark.browser, pytest.mark.presentation]

ROLES = [None, "brand_buyer", "cooperative_manager", "msme_editor", "union_staff", "certifier", "admin"]
PER_ROLE = {"dashboard.index"}  # one page whose content depends on the role
NOT_PAGES = {"passports.labels"}  # a print sheet of labels, sized in millimetres for paper
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


def _extra(app: Flask, role: str | None) -> list[str]:
    """Pages that no link of the crawl leads to: the Union's view of each order."""
    if role != "union_staff":
        return []
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.orders.models import Order

    with app.app_context():
        return [f"/union/orders/{ref}" for ref in db.session.scalars(select(Order.reference).order_by(Order.id))]


def _pages(app: Flask) -> tuple[list[tuple[str | None, str]], dict[str | None, str]]:
    """(role, URL) of each HTML page type, as each role finds them; each role's session cookie."""
    chosen: dict[str, tuple[str | None, str]] = {}
    cookies: dict[str | None, str] = {}
    for role in ROLES:
        client = sign_in_demo(app, role) if role else app.test_client()
        if role:
            cookies[role] = client.get_cookie("session").value  # type: ignore[union-attr]
        found = crawl(app, client).pages
        found.update({url: client.get(url).status_code for url in _extra(app, role)})
        for url, status in found.items():
            endpoint = endpoint_of(app, url)
            if status != 200 or endpoint is None or endpoint in NOT_PAGES:
                continue
            key = f"{endpoint}:{role}" if endpoint in PER_ROLE else endpoint
            if endpoint == "union.order":
                key = url  # every order: their allocation tables differ in size
            if key in chosen or not client.get(url).mimetype.startswith("text/html"):
                continue
            chosen[key] = (role, url)
    return sorted(chosen.values(), key=lambda p: (ROLES.index(p[0]), p[1])), cookies


def _with_lang(url: str, lang: str) -> str:
    return url + ("&" if "?" in url else "?") + f"lang={lang}"


def test_no_page_scrolls_sideways(live_server: LiveServer, chromium: Browser) -> None:
    app = live_server.app
    pages, cookies = _pages(app)
    assert len(pages) >= 45, len(pages)  # the crawl found the site, not a login wall
    problems: list[str] = []
    measured = 0
    contexts = {}
    for role, url in pages:
        if role not in contexts:
            context = chromium.new_context(locale="en-GB", viewport={"width": WIDTHS[0], "height": 900})
            context.set_default_timeout(15_000)
            # Pictures keep their reserved size (width and height attributes) without being fetched.
            context.route("**/media/**", lambda route: route.abort())
            page = context.new_page()
            if role:  # signed in once by the crawl (signing in again would meet the rate limit)
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
