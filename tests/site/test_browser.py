"""A newcomer's first visit, in Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.helpers import page_width

pytestmark = pytest.mark.browser


def test_newcomer_browses_lots_and_signs_in_as_the_demo_buyer(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Certified Mongolian cashmere")
    expect(page.get_by_role("note")).to_contain_text("fictional demo data")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lots").click()
    expect(page).to_have_url(re.compile(r"/lots$"))
    expect(page.get_by_text("39 lots")).to_be_visible()

    # Filter by colour: htmx swaps the results in without a page load and pushes the URL.
    page.get_by_role("group", name="Colour").get_by_label("White").check()
    expect(page).to_have_url(re.compile(r"colour=white"))
    expect(page.locator("#lot-results")).not_to_contain_text("39 lots")

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
    page.locator("#filter-panel > summary").click()  # the filters wait behind one control (a <details>)
    page.get_by_role("group", name="State").get_by_label("Dehaired").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"state=dehaired"))
    expect(page.locator("table.lots tbody tr").first).to_contain_text("Dehaired")
    context.close()


def test_consumer_reads_a_passport_on_a_phone_and_sees_a_suspension(live_server: LiveServer, chromium) -> None:  # type: ignore[no-untyped-def]
    from marketplace.extensions import db
    from marketplace.lots.models import Lot
    from marketplace.passports.models import Passport

    app = live_server.app
    with app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        qr_target = f"{app.config['PUBLIC_BASE_URL']}/passports/{public_id}"
    phone = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                 locale="en-GB")
    page = phone.new_page()
    # The QR code encodes the passport's stable URL; the phone opens the same path on this server.
    page.goto(live_server.url + qr_target.removeprefix(app.config["PUBLIC_BASE_URL"]))
    expect(page.get_by_role("heading", level=1)).to_contain_text("lot USCC-2025-BKH-001")
    expect(page.get_by_text("Valid.")).to_be_visible()
    expect(page.get_by_role("img", name="Map of Mongolia")).to_be_visible()
    assert page_width(page) <= 390  # no sideways scrolling
    # The version's time names its zone.
    expect(page.get_by_text(re.compile(r"^Version \d+, issued"))).to_contain_text("(Ulaanbaatar")

    page.get_by_role("navigation", name="Language").get_by_role("link", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_text(re.compile(r"^Version \d+, ausgestellt"))).to_contain_text("(Ulaanbaatar")
    expect(page).to_have_url(re.compile(rf"/passports/{public_id}\?lang=de$"))

    certifier = chromium.new_context()
    desk = certifier.new_page()
    desk.goto(live_server.url + "/signin")
    desk.get_by_label("E-mail").fill("certifier@demo.example")
    desk.get_by_label("Password").fill("demo-certifier-2026")
    desk.get_by_role("button", name="Sign in").click()
    desk.get_by_role("link", name="SC-2025-BKH-001").click()
    desk.get_by_label("Suspend").check()
    desk.get_by_label("Reason, shown on every affected passport").fill("Stocking above the agreed plan in 2026.")
    desk.get_by_role("button", name="Save the status").click()
    expect(desk.get_by_role("status")).to_contain_text("is now suspended")
    certifier.close()

    page.reload()  # still in German: the reason is the certifier's own words
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("alert")).to_contain_text("Stocking above the agreed plan in 2026.")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("alert")).to_contain_text("Suspended.")
    expect(page.get_by_text("Version 1, issued")).to_be_visible()
    phone.close()
