"""The lot browser in Chromium: facet changes are never lost, and the layout at 390 px and 1280 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

SETTLED = "() => !document.querySelector('.htmx-request')"


def _settle(page: Page) -> None:
    """Wait past the search box's debounce (300 ms), then until no htmx request is in flight."""
    page.wait_for_timeout(450)
    page.wait_for_function(SETTLED)
    page.wait_for_timeout(100)
    page.wait_for_function(SETTLED)


def test_ticking_a_facet_right_after_typing_never_loses_the_tick(live_server: LiveServer, page: Page) -> None:
    """Typing starts searches (on each pause and when the box loses focus); a tick at once must win."""
    page.goto(live_server.url + "/lots")
    box = page.get_by_label("Search lots")
    words = ["white", "bayankhongor", "brown", "grey", "15"]
    for attempt in range(20):
        word = words[attempt % len(words)]
        box.fill("")
        _settle(page)
        box.press_sequentially(word, delay=15)
        state = page.get_by_role("group", name="State").locator("input[value=dehaired]")
        if attempt % 2:
            state.click()
        else:
            box.press("Enter")
            state.check()
        _settle(page)
        expect(state).to_be_checked()
        expect(page).to_have_url(re.compile(rf"q={word}(&|.*&)state=dehaired"))
        shown = page.locator(".result-count").inner_text()
        # What the page shows is what its URL gives on a fresh load.
        fresh = page.context.new_page()
        fresh.goto(page.url)
        assert fresh.locator(".result-count").inner_text() == shown, (attempt, word)
        fresh.close()
        state.uncheck()
        _settle(page)
        expect(state).not_to_be_checked()
        expect(page).not_to_have_url(re.compile("state="))
