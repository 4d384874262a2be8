"""A cooperative manager imports lots from a lab spreadsheet in the browser, without JavaScript, at phone and
desktop width (issue 22)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from marketplace.lots import sheets
from tests.conftest import LiveServer
from tests.helpers import page_width
from tests.lots.test_lot_import import HEADER, _row, _xlsx

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_manager_imports_a_lab_spreadsheet(live_server: LiveServer, chromium, width: int) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(java_script_enabled=False, locale="en-GB",
                                   viewport={"width": width, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    url = live_server.url
    page.goto(f"{url}/signin")
    page.get_by_label("E-mail").fill("coop@demo.example")
    page.get_by_label("Password").fill("demo-coop-2026")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    page.get_by_role("link", name="Import lots from a spreadsheet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import lots from a spreadsheet")
    expect(page.get_by_role("link", name="Template (.xlsx, in this language)")).to_be_visible()
    workbook = _xlsx([_row(lab_report_number=f"BR-{width}-1"),
                      _row(lab_report_number=f"BR-{width}-2", mean_diameter_um="24.5")])
    page.get_by_label("Spreadsheet (.xlsx or .csv, at most 5 MB and 2,000 rows)").set_input_files(
        files=[{"name": "lab.xlsx", "mimeType": "application/octet-stream", "buffer": workbook}])
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Check the import")
    main = page.locator("main")
    expect(main).to_contain_text("New lots ready to import: 1")
    expect(main).to_contain_text("Rows with errors: 1")
    expect(page.locator("#row-3")).to_contain_text("Cashmere is 10 to 19 µm; check the lab report.")
    assert page_width(page) <= width  # the table scrolls, not the page

    # Fix the diameter in place, check again, then import both.
    column = sheets.column_letter(HEADER.index("mean_diameter_um"))
    page.get_by_label(re.compile(rf"Row 3, column {column}\b")).fill("16.2 µm")
    page.get_by_role("button", name="Check again with my fixes").click()
    expect(main).to_contain_text("New lots ready to import: 2")
    page.get_by_role("button", name="Import 2 lots").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Import finished")
    expect(page.get_by_role("status")).to_contain_text("2 lots from lab.xlsx are listed")
    assert page_width(page) <= width
    page.locator(".imported-lots a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lot USCC-2025-BKH-")
    context.close()
