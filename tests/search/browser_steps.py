"""Browser steps shared by the search journeys (the embedded engine's, in test_browser_search.py, and
Meilisearch's, in test_search_server.py)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect


def search_to_one_white_bayankhongor_lot(page: Page) -> Locator:
    """The buyer's search steps on /lots (either engine): words with a typo, a micron range, a certification tier;
    each step's count as the buyer reads it. Returns the one row left."""
    # Results appear as the buyer types (debounced htmx), despite the typo in the aimag.
    page.get_by_label("Search lots").press_sequentially("bayanhongr white 15", delay=20)
    expect(page).to_have_url(re.compile(r"/lots\?q=bayanhongr(\+|%20)white(\+|%20)15$"))  # no empty fields
    results = page.locator("#lot-results")
    expect(results).to_contain_text("2 lots")
    expect(page.locator("table.lots tbody tr")).to_have_count(2)

    # A micron range, applied when the field is left.
    page.get_by_label("Micron from").fill("15")
    page.get_by_label("Micron to").fill("15.2")
    page.get_by_label("Micron to").press("Tab")
    expect(page).to_have_url(re.compile(r"micron_max=15.2"))
    expect(results).to_contain_text("1 lot")

    # A certification filter, from the facet list with its count.
    tier = page.get_by_role("group", name="Certification tier").get_by_label("Advanced")
    expect(tier).to_be_visible()
    tier.check()
    expect(page).to_have_url(re.compile(r"tier=Advanced"))
    expect(results).to_contain_text("1 lot")
    row = page.locator("table.lots tbody tr").first
    expect(row).to_contain_text("White")
    expect(row).to_contain_text("Bayankhongor")
    return row
