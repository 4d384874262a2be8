"""The passport's circular services in Chromium (issues 17 and 23): the maker states its repair terms; a consumer
reading in French sees each service's conditions, where, time and cost in French, in Italian the untranslated
texts in English, marked as such, and the request page and the product page show the very same terms (one
source, ``consumer_terms``); the MSME's product form holds the conditions per language and the price. At 390 px
and 1280 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.orders.test_orders_browser import _fits, _sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_the_circularity_section_in_the_readers_language(live_server: LiveServer, page: Page, chromium,  # type: ignore[no-untyped-def]
                                                         width: int) -> None:
    from marketplace.extensions import db
    from marketplace.passports.models import Passport
    from marketplace.products.models import Product

    url = live_server.url
    app = live_server.app
    with app.app_context():
        product = db.session.scalar(select(Product).filter_by(sku="KK-UE-CREW-LG"))
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product.id))
        product_id = product.id
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})

    # The maker states its repair terms (what, where, cost, time); the product adds its own conditions.
    desk = chromium.new_context(viewport={"width": width, "height": 900})
    msme = desk.new_page()
    _sign_in(msme, url, "msme@demo.example", "demo-msme-2026")
    msme.goto(f"{url}/workspace/services/terms/repair")
    msme.get_by_label("What is offered (English)").fill("Holes and seams mended by hand")
    msme.get_by_label("Where it is done (English)").fill("Our Ulaanbaatar workshop")
    msme.get_by_label("Where it is done (French)").fill("Notre atelier d'Oulan-Bator")
    msme.get_by_label("Cost to the customer in EUR (leave empty if free)").fill("30")
    msme.get_by_label("Time it takes, in days").fill("14")
    msme.get_by_role("button", name="Save the terms").click()
    expect(msme.locator(".flashes")).to_contain_text("are saved")
    with app.app_context():
        from marketplace.jobs import services as jobs

        jobs.run_pending()  # the worker republishes the maker's passports with the new terms

    page.goto(f"{url}/passports/{public_id}?lang=fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.locator("#circ-h").click()  # the section opens without JavaScript (details/summary)
    expect(page.get_by_role("heading", name="Services circulaires proposés par le fabricant")).to_be_visible()
    repair = page.locator("section.circular-service").nth(0)
    expect(repair.get_by_role("heading")).to_have_text("Réparation")
    expect(repair).to_contain_text("Réparation gratuite des trous et des coutures")  # the product's conditions
    expect(repair).to_contain_text("Notre atelier d'Oulan-Bator")  # where, in French
    expect(repair).to_contain_text("14 jours")
    expect(repair).to_contain_text(re.compile(r"30,00\s?€"))  # the maker's cost, the same everywhere
    take_back = page.locator("section.circular-service").nth(1)
    expect(take_back.get_by_role("heading")).to_have_text("Reprise")
    expect(take_back).to_contain_text("nous offrons un bon de 15 %")
    expect(take_back).to_contain_text("Gratuit")
    _fits(page, width)

    page.goto(f"{url}/passports/{public_id}?lang=it")
    page.locator("#circ-h").click()
    take_back = page.locator("section.circular-service").nth(1)
    expect(take_back.locator('span[lang="en"]').last).to_have_text(
        "Return it when you are done: we give a 15% voucher and re-knit the fibre.")
    expect(take_back).to_contain_text("(in inglese)")
    repair = page.locator("section.circular-service").nth(0)
    expect(repair).to_contain_text("Riparazione gratuita")
    expect(repair.locator('span[lang="en"]', has_text="Our Ulaanbaatar workshop")).to_be_visible()  # fallback
    expect(repair).to_contain_text("14 giorni")
    repair.get_by_role("link").click()
    expect(page).to_have_url(f"{url}/shop/services/{product_id}")
    request = page.locator("main section.card").nth(0)  # the request page: the very same terms
    expect(request).to_contain_text("Riparazione gratuita")
    expect(request).to_contain_text("14 giorni")
    expect(request).to_contain_text(re.compile(r"30,00\s?€|€\s?30,00"))
    _fits(page, width)

    page.goto(f"{url}/products/{product_id}?lang=en")  # and the product page, in English
    section = page.locator("section[aria-labelledby='circular-h']")
    expect(section).to_contain_text("€30.00")
    expect(section).to_contain_text("14 days")
    expect(section).to_contain_text("Our Ulaanbaatar workshop")
    _fits(page, width)

    # The MSME's product form holds each service's conditions per language and its own price (none here).
    msme.goto(f"{url}/workspace/products/{product_id}")
    expect(msme.get_by_label("Offers Repair")).to_be_checked()
    expect(msme.get_by_label("Repair conditions (French)")).to_have_value(
        "Réparation gratuite des trous et des coutures pendant toute la vie du pull dans notre atelier "
        "d'Oulan-Bator ; port payé par nous.")
    expect(msme.get_by_label("Repair price for this product in EUR (leave empty for the cost in your service terms, "
                             "or free)")).to_have_value("")
    expect(msme.get_by_label("Offers Resale")).not_to_be_checked()
    _fits(msme, width)
    desk.close()
