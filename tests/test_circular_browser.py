"""The passport's circular services in Chromium (issues 17 and 23): a consumer reading in French sees each
service's conditions in French, whether it costs anything and a link to ask for it; in German the untranslated
take-back text shows in English, marked as such; the MSME's product form holds the conditions per language and
the price. At 390 px and 1280 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.test_orders_browser import _fits, _sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_the_circularity_section_in_the_readers_language(live_server: LiveServer, page: Page, chromium,  # type: ignore[no-untyped-def]
                                                         width: int) -> None:
    from marketplace.extensions import db
    from marketplace.passports.models import Passport
    from marketplace.products.models import Product

    url = live_server.url
    app = live_server.server.app
    with app.app_context():
        product = db.session.scalar(select(Product).filter_by(sku="KK-UE-CREW-LG"))
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product.id))
        product_id = product.id
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})

    page.goto(f"{url}/passports/{public_id}?lang=fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.locator("#circ-h").click()  # the section opens without JavaScript (details/summary)
    services = page.locator("dl.circular-services")
    expect(page.get_by_role("heading", name="Services circulaires proposés par le fabricant")).to_be_visible()
    repair = services.locator("dd").nth(0)
    expect(services.locator("dt").nth(0)).to_have_text("Réparation")
    expect(repair).to_contain_text("Réparation gratuite des trous et des coutures")
    expect(repair).to_contain_text("Gratuit")
    expect(services.locator("dt").nth(1)).to_have_text("Reprise")
    expect(services.locator("dd").nth(1)).to_contain_text("nous offrons un bon de 15 %")
    _fits(page, width)

    page.goto(f"{url}/passports/{public_id}?lang=it")
    page.locator("#circ-h").click()
    take_back = page.locator("dl.circular-services dd").nth(1)
    expect(take_back.locator('span[lang="en"]')).to_have_text(
        "Return it when you are done: we give a 15% voucher and re-knit the fibre.")
    expect(take_back).to_contain_text("(in inglese)")
    expect(page.locator("dl.circular-services dd").nth(0)).to_contain_text("Riparazione gratuita")
    page.locator("dl.circular-services dd").nth(0).get_by_role("link").click()
    expect(page).to_have_url(f"{url}/shop/services/{product_id}")
    _fits(page, width)

    # The MSME's form holds each service's conditions per language and its price.
    desk = chromium.new_context(viewport={"width": width, "height": 900})
    msme = desk.new_page()
    _sign_in(msme, url, "msme@demo.example", "demo-msme-2026")
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
