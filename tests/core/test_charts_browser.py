"""Charts in the browser (issue 22, point 4): staff open the charts page and a cooperative's profile at phone and
desktop width, without JavaScript; each chart is an image named by its title with its numbers one click away."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import LiveServer
from tests.helpers import page_width

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_staff_look_at_stock_sales_and_premiums(live_server: LiveServer, chromium, width: int) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(java_script_enabled=False, locale="en-GB", viewport={"width": width, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)  # e.g. a CSP refusal
    page.goto(f"{live_server.url}/signin")
    page.get_by_label("E-mail").fill("staff@demo.example")
    page.get_by_label("Password").fill("demo-staff-2026")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    page.get_by_role("link", name="Stock, sales and premiums in charts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stock, sales and premiums in charts")
    page.wait_for_load_state()  # its stylesheet too: the sizes below are the styled page's
    stock = page.get_by_role("img", name="Stock available by fineness and state")
    expect(stock).to_be_visible()
    box = stock.bounding_box()
    assert box is not None
    assert box["width"] <= width  # it fits
    assert box["height"] > 150  # and it is drawn
    expect(page.get_by_role("img", name=re.compile(r"Premium due and paid per cooperative \(EUR\)"))).to_be_visible()
    # The bars are coloured by the site's stylesheet (pygal's own inline style is dropped for the CSP). The click
    # returns once the new page is committed, maybe before its stylesheet is applied: the check waits for it.
    expect(page.locator(".chart .series.color-0 rect").first).to_have_css("fill", "rgb(27, 94, 32)")
    first = page.locator("figure.chart").first
    first.get_by_text("The numbers in a table").click()
    expect(first.get_by_role("table")).to_be_visible()
    expect(first.get_by_role("columnheader", name="Mean fibre diameter")).to_be_visible()
    expect(first).to_contain_text("Figures as of")
    assert page_width(page) <= width

    # A cooperative's public profile: stocking against carrying capacity, in charts.
    page.goto(f"{live_server.url}/organisations/guchin-us-gobi")
    expect(page.get_by_role("heading", name="In charts")).to_be_visible()
    chart = page.get_by_role("img", name="Stocking against carrying capacity")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["width"] <= width  # type: ignore[index]
    assert page_width(page) <= width
    context.close()
    assert not problems, problems


@pytest.mark.parametrize("width", [390, 1280])
def test_a_consumer_sees_where_the_retail_price_goes_on_a_passport(live_server: LiveServer, chromium,  # type: ignore[no-untyped-def]
                                                                  width: int) -> None:
    context = chromium.new_context(java_script_enabled=False, locale="en-GB", viewport={"width": width, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/products/1")
    page.locator("a[href^='/passports/']").first.click()
    page.wait_for_load_state()  # the passport's stylesheet too: the bar is measured below
    page.get_by_role("heading", name="What the herders were paid").click()  # the section opens (no JavaScript)
    bar = page.get_by_role("img", name=re.compile("Where the retail price goes"))
    expect(bar).to_be_visible()
    assert bar.bounding_box()["width"] <= width  # type: ignore[index]
    figure = page.locator("figure.chart", has=bar)
    figure.get_by_text("The numbers in a table").click()
    table = figure.get_by_role("table")
    for part in ("Paid to the herders for the fibre", "Premium to the herders", "Premium to the cooperative's funds",
                 "Processing, the MSME and the shop"):
        expect(table.get_by_role("columnheader", name=part)).to_be_visible()
    expect(table).to_contain_text("%")
    assert page_width(page) <= width
    context.close()
