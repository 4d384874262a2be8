"""An MSME editor imports products and their sizes from a spreadsheet with a zip of pictures, in the browser,
without JavaScript, at phone and desktop width (issue 22, point 2)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from marketplace.lots.sheets import column_letter
from tests.conftest import LiveServer
from tests.helpers import page_width
from tests.products.test_product_import import HEADER, _row, _xlsx, _zip
from tests.products_helpers import jpeg_bytes

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_msme_imports_products_with_pictures(live_server: LiveServer, chromium, width: int) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(java_script_enabled=False, locale="en-GB",
                                   viewport={"width": width, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    url = live_server.url
    page.goto(f"{url}/signin")
    page.get_by_label("E-mail").fill("msme@demo.example")
    page.get_by_label("Password").fill("demo-msme-2026")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    page.goto(f"{url}/workspace/products")
    page.get_by_role("link", name="Import from a spreadsheet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import products from a spreadsheet")
    expect(page.get_by_role("link", name="Template (.xlsx, in this language)")).to_be_visible()
    sku = f"BR-{width}"
    workbook = _xlsx([_row(sku=sku, images="front.jpg"),
                      _row(sku=sku, size="L", colour="brown", composition="cashmere: 90", images="")])
    page.get_by_label("Spreadsheet (.xlsx or .csv, at most 5 MB and 2,000 rows)").set_input_files(
        files=[{"name": "products.xlsx", "mimeType": "application/octet-stream", "buffer": workbook}])
    page.get_by_label(re.compile(r"^Pictures \(optional")).set_input_files(
        files=[{"name": "pictures.zip", "mimeType": "application/zip",
                "buffer": _zip({"front.jpg": jpeg_bytes()})}])
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Check the import")
    main = page.locator("main")
    expect(main).to_contain_text("New products ready to import: 1")
    expect(main).to_contain_text("Rows with errors: 1")
    expect(page.locator("#row-3")).to_contain_text("Differs from row 2")
    assert page_width(page) <= width  # the table scrolls, not the page

    column = column_letter(HEADER.index("composition"))
    page.get_by_label(re.compile(rf"Row 3, column {column}\b")).fill("")
    page.get_by_role("button", name="Check again with my fixes").click()
    expect(main).to_contain_text("New sizes ready to import: 2")
    page.get_by_role("button", name="Import 2 sizes").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Import finished")
    expect(page.get_by_role("status")).to_contain_text("1 new products and 2 new sizes from products.xlsx")
    expect(main).to_contain_text("(1 pictures)")
    assert page_width(page) <= width
    page.locator(".imported-products a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Imported scarf")
    context.close()
