"""A repair request from a passport through to its closed state shown on the passport (issue 17's closing
note), at 390 px and 1280 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.orders.test_orders_browser import _fits, _sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_a_repair_request_from_the_passport_to_its_closed_state_on_the_passport(
        live_server: LiveServer, page: Page, chromium, width: int) -> None:  # type: ignore[no-untyped-def]
    from marketplace.extensions import db
    from marketplace.passports.models import Passport
    from marketplace.products.models import Product

    url = live_server.url
    app = live_server.app
    with app.app_context():
        product = db.session.scalar(select(Product).filter_by(sku="KK-UE-CREW-LG"))
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product.id))
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})

    # The maker writes its repair terms in English and French.
    desk = chromium.new_context(viewport={"width": width, "height": 900})
    msme = desk.new_page()
    _sign_in(msme, url, "msme@demo.example", "demo-msme-2026")
    msme.goto(f"{url}/workspace/services")
    msme.get_by_role("link", name="Repair").click()
    msme.get_by_label("What is offered (English)").fill("Holes and seams mended by hand")
    msme.get_by_label("What is offered (French)").fill("Trous et coutures reprisés à la main")
    msme.get_by_label("Where it is done (English)").fill("Our Ulaanbaatar workshop; postage paid both ways")
    msme.get_by_label("Time it takes, in days").fill("10")
    _fits(msme, width)
    msme.get_by_role("button", name="Save the terms").click()
    expect(msme.locator(".flashes")).to_contain_text("are saved")

    page.goto(f"{url}/passports/{public_id}")
    version_before = page.locator("header.passport-summary .muted").last.inner_text()
    page.get_by_role("link", name="Repair, take-back and resale").click()
    expect(page.locator("main")).to_contain_text("Holes and seams mended by hand")
    expect(page.locator("main")).to_contain_text("10 days")
    expect(page.locator("main")).to_contain_text("Free of charge")
    page.get_by_label("Service").select_option("repair")
    page.get_by_label("Your e-mail").fill("owner@example.com")
    page.get_by_label("What needs doing").fill("A hole in the left elbow")
    _fits(page, width)
    page.get_by_role("button", name="Send the request to the maker").click()
    expect(page.locator(".flashes")).to_contain_text("has reached the maker")

    msme.goto(f"{url}/workspace/services")
    card = msme.locator("section.service", has_text="A hole in the left elbow")
    card.get_by_role("button", name="Accept").click()
    expect(msme.locator(".flashes")).to_contain_text("Accepted")
    card = msme.locator("section.service", has_text="A hole in the left elbow")
    card.get_by_label("Date").fill("2026-12-03")
    card.get_by_role("button", name="Schedule").click()
    expect(msme.locator(".flashes")).to_contain_text("Scheduled")
    card = msme.locator("section.service", has_text="A hole in the left elbow")
    card.get_by_label("What was done").fill("Elbow darned with yarn from the same lot")
    card.get_by_role("button", name="Close the request").click()
    expect(msme.locator(".flashes")).to_contain_text("Closed")
    _fits(msme, width)
    desk.close()

    page.goto(f"{url}/passports/{public_id}")
    page.locator("#circ-h").click()  # open the circularity section
    expect(page.locator(".service-history")).to_contain_text("Elbow darned with yarn from the same lot")
    assert page.locator("header.passport-summary .muted").last.inner_text() != version_before  # a new version
    _fits(page, width)
