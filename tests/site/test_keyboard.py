"""Keyboard-only walkthroughs: buyer search, the passport page and the MSME product form.

Only Tab, Shift+Tab, Enter, Space and typing are used; every focused control must show a
visible focus outline.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const label = el.labels && el.labels.length ? el.labels[0].innerText : '';
  return {tag: el.tagName, id: el.id, name: el.getAttribute('name'), type: el.getAttribute('type'),
          value: el.value || '', text: (el.innerText || '').trim(), label: label.trim(),
          href: el.getAttribute('href') || '', outline: style.outlineStyle, outlineWidth: style.outlineWidth,
          boxShadow: style.boxShadow};
}"""


def tab_to(page: Page, wanted: Callable[[dict], bool], limit: int = 250) -> dict:
    """Press Tab until ``wanted`` matches the focused element; check each stop shows focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused["tag"] != "BODY":
            visible = (focused["outline"] != "none" and focused["outlineWidth"] != "0px") or \
                focused["boxShadow"] != "none"
            assert visible, f"no visible focus on {focused}"
        if wanted(focused):
            return focused
    raise AssertionError("not reachable with the Tab key")


def test_buyer_searches_lots_with_the_keyboard(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.url + "/lots")
    first = tab_to(page, lambda f: True)
    assert first["text"] == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    tab_to(page, lambda f: f["id"] == "q")
    page.keyboard.type("bayanhongor white")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"q=bayanhongor\+white"))
    tab_to(page, lambda f: f["type"] == "checkbox" and f["value"] == "dehaired")
    page.keyboard.press("Space")
    expect(page).to_have_url(re.compile(r"state=dehaired"))
    link = tab_to(page, lambda f: f["tag"] == "A" and f["href"].startswith("/lots/USCC-"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(link["href"]) + "$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(link["text"])


def test_consumer_reads_a_passport_with_the_keyboard(live_server: LiveServer, page: Page) -> None:
    from marketplace.extensions import db
    from marketplace.lots.models import Lot
    from marketplace.passports.models import Passport

    with live_server.app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
    page.goto(f"{live_server.url}/passports/{public_id}")
    tab_to(page, lambda f: f["text"] == "Deutsch")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"lang=de$"))
    tab_to(page, lambda f: f["href"].endswith(".json"))
    tab_to(page, lambda f: f["href"] == "/passports/verify")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/passports/verify$"))


def test_msme_fills_the_product_form_with_the_keyboard(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.url + "/signin")
    tab_to(page, lambda f: f["id"] == "email")
    page.keyboard.type("msme@demo.example")
    page.keyboard.press("Tab")
    page.keyboard.type("demo-msme-2026")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    page.goto(live_server.url + "/workspace/products/new")
    tab_to(page, lambda f: f["label"].startswith("SKU"))
    page.keyboard.type("KK-KEYBOARD-01")
    tab_to(page, lambda f: f["label"].startswith("Name (English)"))
    page.keyboard.type("Keyboard-made scarf")
    tab_to(page, lambda f: f["label"].startswith("Fibre composition"))
    page.keyboard.type("cashmere: 90, silk: 5")  # adds up to 95: the form must say so
    tab_to(page, lambda f: f["label"].startswith("Weight"))
    page.keyboard.type("120")
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["type"] == "submit")
    page.keyboard.press("Enter")
    summary = page.get_by_role("alert").first
    expect(summary).to_be_visible()
    expect(page.locator("body")).to_contain_text("100")
    tab_to(page, lambda f: f["tag"] == "A" and f["href"].startswith("#") and f["href"] != "#main")  # error summary
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") in ("INPUT", "TEXTAREA", "SELECT")
