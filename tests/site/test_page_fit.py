"""Nothing scrolls sideways at 390 px or 1280 px (WCAG 2.1 AA, 1.4.10 Reflow): how a page is measured.

Every page is measured in the accessibility sweep (tests/site/test_accessibility.py): every page type as every
role whose view of it differs, in English and Mongolian, plus the Union's view of every demo order, each right
after axe has checked it, in the same page load. Before 2026-12-01 this file loaded every page type a second
time for its own sweep (152 more page loads, and a listing of the pages as every role through the test client).
Alone on the 2-core machine, the two sweeps took 187.4 s (313 CPU-seconds); the one sweep takes 163.0 s (283).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser
WIDTHS = (1280, 390)  # the laptop's width (the page is loaded at it), then the phone's
HEIGHT = 900

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


def overflowing(page: Page) -> list[str]:
    """What scrolls sideways on the loaded page at each width (none: an empty list). The page is loaded at the
    first width and left at it."""
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        wide = page.evaluate(OVERFLOW)
        if wide:
            found.append(f"{width}px: {wide}")
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    return found


def test_the_measurement_finds_what_scrolls_sideways_at_either_width(page: Page) -> None:
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    fits = "<html lang='en'><title>t</title><body><main><p>Short text</p></main></body></html>"
    page.set_content(fits)
    assert overflowing(page) == []
    page.set_content(fits.replace("<p>", "<p style='min-width: 500px'>"))  # wider than a phone only
    found = overflowing(page)
    assert len(found) == 1, found
    assert found[0].startswith("390px: {'scrollWidth': 5"), found
    assert "p 5" in found[0]  # names the element that sticks out and where it ends
    page.set_content(fits.replace("<p>", "<p style='width: 1400px'>"))  # wider than the laptop too
    assert [problem.split(":")[0] for problem in overflowing(page)] == ["1280px", "390px"]
    assert page.viewport_size == {"width": WIDTHS[0], "height": HEIGHT}  # left at the width pages load at
