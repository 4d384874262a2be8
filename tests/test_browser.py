"""A newcomer's first visit, in Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_newcomer_browses_lots_and_signs_in_as_the_demo_buyer(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Certified Mongolian cashmere")
    expect(page.get_by_role("note")).to_contain_text("fictional demo data")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lots").click()
    expect(page).to_have_url(re.compile(r"/lots$"))
    expect(page.get_by_text("44 lots")).to_be_visible()

    # Filter by colour: htmx swaps the results in without a page load and pushes the URL.
    page.get_by_role("group", name="Colour").get_by_label("White").check()
    expect(page).to_have_url(re.compile(r"colour=white"))
    expect(page.locator("#lot-results")).not_to_contain_text("44 lots")

    first = page.locator("table.lots tbody tr th a").first
    code = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Lot {code}")
    expect(page.get_by_role("heading", name="Lab results")).to_be_visible()
    expect(page.get_by_text("White").first).to_be_visible()

    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("E-mail").fill("buyer@demo.example")
    page.get_by_label("Password").fill("demo-buyer-2026")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("heading", level=2)).to_contain_text("Brand buyer · Maison Lune (demo)")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_the_lot_filters_work_without_javascript(live_server: LiveServer, chromium) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/lots")
    page.get_by_role("group", name="State").get_by_label("Dehaired").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"state=dehaired"))
    expect(page.locator("table.lots tbody tr").first).to_contain_text("Dehaired")
    context.close()
