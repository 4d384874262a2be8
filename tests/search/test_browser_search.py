"""A buyer searches, filters, opens a lot and comes back, in Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.search.browser_steps import search_to_one_white_bayankhongor_lot

pytestmark = pytest.mark.browser


def test_buyer_searches_with_a_typo_filters_opens_a_lot_and_goes_back(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.url + "/lots")
    expect(page.get_by_text("39 lots")).to_be_visible()

    row = search_to_one_white_bayankhongor_lot(page)
    filtered_url = page.url

    row.locator("th a").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Lot USCC-"))

    page.go_back()
    expect(page).to_have_url(filtered_url)
    expect(page.get_by_label("Search lots")).to_have_value("bayanhongr white 15")
    expect(page.get_by_label("Micron from")).to_have_value("15")
    expect(page.get_by_label("Micron to")).to_have_value("15.2")
    expect(page.get_by_role("group", name="Certification tier").get_by_label("Advanced")).to_be_checked()
    expect(page.locator("#lot-results")).to_contain_text("1 lot")
    expect(page.locator("table.lots tbody tr")).to_have_count(1)


AXE = Path(__file__).resolve().parent.parent.parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("path", [
    "/lots?q=bayankhongor&colour=white&micron_min=14",
    "/lots?q=bayankhongor&aimag=UVO",
    "/lots/compare?code=USCC-2025-BKH-001&code=USCC-2025-BKH-006",
])
def test_the_lot_search_pages_pass_axe(live_server: LiveServer, page: Page, path: str) -> None:
    page.goto(live_server.url + path)
    page.evaluate(AXE.read_text())  # not a <script> tag: the CSP refuses inline scripts
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
    )
    assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]] == []
