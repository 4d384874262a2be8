"""The lot browser in Chromium: facet changes are never lost, and the layout at 390 px and 1280 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.helpers import page_width

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
    for attempt in range(10):  # each word both ways (click; Enter then check); both passes: 20
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


@pytest.mark.parametrize("width", [390, 1280])
def test_the_lot_list_reads_at_a_glance_on_a_phone_and_a_laptop(live_server: LiveServer, chromium, width: int) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.goto(live_server.url + "/lots")
    first = page.locator("table.lots tbody tr").first
    expect(first).to_be_visible()
    expect(first.locator(".status")).to_have_text(re.compile("Valid"))
    expect(first.get_by_role("link", name=re.compile("^Passport of lot"))).to_be_visible()
    expect(first).to_contain_text("Listed:")
    panel = page.locator("#filter-panel")
    state = page.get_by_role("group", name="State")
    if width == 390:
        # Results first: the first card starts on the first screen, the filters wait behind one control.
        assert first.bounding_box()["y"] < 900  # type: ignore[index]
        expect(state).to_be_hidden()
        panel.locator("summary").click()
        expect(state).to_be_visible()
    else:
        # A sidebar of filters beside a table that fits: price and certification in view, no sideways scroll.
        expect(state).to_be_visible()
        for heading in ("Price per clean kg", "Certification"):
            box = page.get_by_role("columnheader", name=heading).bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= width
    assert page_width(page) <= width
    first.get_by_role("link", name=re.compile("^Passport of lot")).click()
    expect(page).to_have_url(re.compile(r"/passports/[0-9a-f]+$"))
    expect(page.locator(".passport-summary h1")).to_contain_text("lot USCC-")
    context.close()
