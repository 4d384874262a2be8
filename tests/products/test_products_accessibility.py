"""axe-core finds no serious or critical accessibility problem on the product pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.conftest import LiveServer
from tests.products.test_products_browser import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.presentation]
AXE = Path(__file__).resolve().parent.parent.parent / "node_modules" / "axe-core" / "axe.min.js"


def _violations(page: Page) -> list[dict]:
    page.evaluate(AXE.read_text())  # not a <script> tag: the CSP refuses inline scripts
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]}
        for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]


def test_product_pages_have_no_serious_accessibility_violations(live_server: LiveServer, page: Page) -> None:
    page.set_content("<html lang='en'><title>t</title><main><img src='x.png'></main></html>")
    assert _violations(page), "axe must report a picture without alt text"  # the check itself works
    public = ["/products", "/products?recycled=y", "/products/1"]
    found = {}
    for path in public:
        page.goto(live_server.url + path)
        found[path] = _violations(page)
    _sign_in(page, live_server.url, "msme@demo.example", "demo-msme-2026")
    for path in ["/workspace/products", "/workspace/products/new", "/workspace/lines/new", "/workspace/products/1"]:
        page.goto(live_server.url + path)
        found[path] = _violations(page)
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, live_server.url, "staff@demo.example", "demo-staff-2026")
    for path in ["/union/products", "/union/products/1"]:
        page.goto(live_server.url + path)
        found[path] = _violations(page)
    assert {path: v for path, v in found.items() if v} == {}
