"""An MSME editor publishes a product end to end, in Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from marketplace.jobs import services as jobs
from tests.conftest import LiveServer
from tests.helpers import page_width
from tests.products_helpers import jpeg_bytes

pytestmark = pytest.mark.browser


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/signin")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_msme_creates_product_union_approves_consumer_sees_it(demo_app, live_server: LiveServer, page: Page,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    picture = tmp_path / "sweater.jpg"
    picture.write_bytes(jpeg_bytes((1400, 1000), (150, 120, 90)))

    _sign_in(page, live_server.url, "msme@demo.example", "demo-msme-2026")
    page.get_by_role("link", name="Open the products workspace").click()
    page.get_by_role("link", name="New product", exact=True).click()
    page.get_by_label("SKU").fill("KK-BROWSER-01")
    page.get_by_label("Name (English)").fill("Browser-made pullover")
    page.get_by_label("Fibre composition (%)").fill("cashmere: 100")
    page.get_by_label("Weight (g)").fill("300")
    page.get_by_label("Consumer price (EUR)").fill("199.00")
    page.get_by_label("Production date").fill("2026-10-15")
    page.get_by_label("Hand wash only, at most 40 °C").check()
    page.get_by_label("Offers Repair").check()
    page.get_by_role("button", name="Create the draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Browser-made pullover")

    page.get_by_label("Picture (JPEG, PNG or WebP, at most 10 MB)").set_input_files(str(picture))
    page.get_by_label("Description of the picture for people who cannot see it (English)").fill(
        "A brown pullover laid flat")
    page.get_by_role("button", name="Upload the picture").click()
    # The upload stored the picture; its sizes are made by the job worker: until then, its description.
    waiting = page.locator(".picture-pending", has_text="A brown pullover laid flat")
    expect(waiting).to_contain_text("(the picture is being prepared)")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(waiting).to_be_visible()
    assert page_width(page) <= 390
    page.set_viewport_size({"width": 1280, "height": 800})
    with demo_app.app_context():
        jobs.run_pending()  # the worker (./dev run starts one beside the site)
    page.reload()
    expect(page.get_by_role("img", name="A brown pullover laid flat")).to_be_visible()
    expect(page.locator(".picture-pending")).to_have_count(0)

    lot = page.get_by_label("Certified lot")
    lot.select_option(label=next(o for o in lot.locator("option").all_inner_texts() if "USCC-2025-ARK-015" in o))
    page.get_by_label("Quantity used (kg)").fill("5")
    page.get_by_role("button", name="Link the lot").click()
    expect(page.get_by_role("button", name="Unlink USCC-2025-ARK-015")).to_be_visible()

    for kind, date, kg_in, kg_out in (("Spinning", "2026-09-01", "5", "4.7"), ("Knitting", "2026-10-01", "4.7", "4.5")):
        page.get_by_label("Step", exact=True).select_option(label=kind)
        facility = page.get_by_label("Facility")
        facility.select_option(label=next(o for o in facility.locator("option").all_inner_texts() if "Khangai" in o))
        page.get_by_label("Date", exact=True).fill(date)
        page.get_by_label("Kg in").fill(kg_in)
        page.get_by_label("Kg out").fill(kg_out)
        page.get_by_label("Energy (kWh)").fill("30")
        page.get_by_label("Energy figure is").select_option(label="Measured")
        page.get_by_role("button", name="Record the step").click()
        expect(page.get_by_role("button", name=f"Remove the {kind} step")).to_be_visible()

    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_text("Status: Submitted")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    _sign_in(page, live_server.url, "staff@demo.example", "demo-staff-2026")
    page.get_by_role("link", name="Open the approval queue").click()
    page.get_by_role("link", name="KK-BROWSER-01").click()
    valid = re.compile("Certificate SC-2025-ARK-001 is valid on 2026-10-15")
    expect(page.get_by_role("cell", name=valid)).to_be_visible()
    page.get_by_role("button", name="Approve and publish").click()
    expect(page.get_by_text("Approved and published as version 1.")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Products").click()
    page.get_by_role("group", name="Circular features").get_by_label("Repair service").check()
    expect(page).to_have_url(re.compile(r"repairable=y"))
    page.get_by_role("link", name="Browser-made pullover").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser-made pullover")
    expect(page.get_by_role("img", name="A brown pullover laid flat")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("USCC-2025-ARK-015"))).to_be_visible()
    # The price in tugriks at the Union's one reference rate (fx.py: 3,900 MNT per EUR, as the passport).
    expect(page.get_by_text(re.compile(r"about .*776,100"))).to_be_visible()
    page.screenshot(path=str(tmp_path / "product.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_text(re.compile(r"about .*776,100"))).to_be_visible()
    assert page_width(page) <= 390
    page.set_viewport_size({"width": 1280, "height": 800})

    # ...and in search, at once (the approval's commit sends the change to the index; no worker needed):
    # the consumer types part of its name, with a typo, in the catalogue's search box.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Products").click()
    page.get_by_label("Search products").fill("browser-made pulover")
    page.get_by_label("Search products").press("Enter")
    expect(page).to_have_url(re.compile(r"q=browser-made"))
    expect(page.get_by_role("link", name="Browser-made pullover")).to_be_visible()
