"""The consumer shop in Chromium (issue 17's closing note): scan the QR's URL → passport → buy a size → pay
through localstripe (its signed webhook reaches the live server) → receipt e-mail with the order's link →
the MSME ships with a tracking number → the consumer sees it on the order page. At 390 px and 1280 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.orders.test_orders_browser import _fits, _reload_until, _sign_in
from tests.payments.test_shop_refunds_browser import fill_guest_address

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_scan_buy_a_size_pay_receipt_ship_and_track(live_server: LiveServer, page: Page, chromium, mailbox,  # type: ignore[no-untyped-def]
                                                    width: int) -> None:
    from marketplace.extensions import db
    from marketplace.notifications import services as mail
    from marketplace.passports.models import Passport
    from marketplace.products.models import Product

    url = live_server.url
    app = live_server.app
    app.config["PUBLIC_BASE_URL"] = url  # localstripe's webhook and the e-mail links go to this server
    with app.app_context():
        product = db.session.scalar(select(Product).filter_by(sku="KK-UE-CREW-LG"))
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product.id))
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})

    # The QR code encodes the passport's URL; the phone opens it and follows "Buy this product".
    page.goto(f"{url}/passports/{public_id}")
    page.get_by_role("link", name="Buy this product").click()
    page.get_by_label("Size").select_option(label="M")
    page.get_by_role("spinbutton", name="Quantity").fill("1")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator(".flashes")).to_contain_text("Added to your cart.")
    expect(page.locator("main")).to_contain_text("size M")
    _fits(page, width)
    # Change the quantity, then back to one; a second size added by mistake is removed.
    row = page.locator("tr", has_text="size M")
    row.get_by_role("spinbutton", name="Quantity").fill("2")
    row.get_by_role("button", name="Update").click()
    expect(page.locator(".flashes")).to_contain_text("Your cart is updated.")
    expect(page.locator("tr", has_text="size M")).to_contain_text("€490.00")  # 2 × €245.00
    page.locator("tr", has_text="size M").get_by_role("spinbutton", name="Quantity").fill("1")
    page.locator("tr", has_text="size M").get_by_role("button", name="Update").click()
    expect(page.locator("tr", has_text="size M")).not_to_contain_text("€490.00")
    page.goto(f"{url}/products/{product.id}")
    page.get_by_label("Size").select_option(label="S")
    page.get_by_role("button", name="Add to cart").click()
    page.locator("tr", has_text="size S").get_by_role("button", name="Remove").click()
    expect(page.locator(".flashes")).to_contain_text("Removed from your cart.")
    expect(page.locator("tr", has_text="size S")).to_have_count(0)
    expect(page.locator("tr", has_text="size M")).to_have_count(1)

    # Guest checkout: an e-mail and a German address (its postcode checked by Germany's rules).
    fill_guest_address(page, postcode="101")
    page.get_by_role("button", name="Go to payment").click()
    expect(page.get_by_role("alert")).to_contain_text("This is not a postcode of the country chosen.")
    page.get_by_label("Postcode").fill("10115")
    page.get_by_role("button", name="Go to payment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your purchase")
    main = page.locator("main")
    expect(main).to_contain_text("Parcel from Khangai Knitwear")
    expect(main).to_contain_text("import VAT")
    reference = page.locator(".order-number").inner_text()
    assert re.fullmatch(r"CO-\d{4}-[A-Z0-9]{6}", reference)
    _fits(page, width)
    page.get_by_role("button", name=re.compile("with the test card")).click()
    _reload_until(page, "Paid. Thank you.")

    # The receipt e-mail carries the order's signed link; the consumer opens it.
    with app.app_context():
        mail.deliver(limit=100)
    receipt = next(m for m in mailbox.messages if m["X-Notification-Kind"] == "consumer_receipt")
    link = re.search(r"https?://\S+/shop/orders/\S+", receipt.get_body(preferencelist=("plain",)).get_content())
    assert link is not None
    order_url = link.group(0).rstrip(".")
    page.goto(order_url)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {reference}")
    expect(page.locator("main")).to_contain_text("To pack")
    _fits(page, width)

    # The MSME packs and ships it with a tracking number.
    desk = chromium.new_context(viewport={"width": width, "height": 900})
    msme = desk.new_page()
    _sign_in(msme, url, "msme@demo.example", "demo-msme-2026")
    msme.goto(f"{url}/workspace/orders")
    parcel = msme.locator("section.shipment", has_text=reference)
    expect(parcel).to_contain_text("Erika Mustermann")
    parcel.get_by_label("Carrier").fill("DHL Express")
    parcel.get_by_label("Tracking number").fill("JD014600006281")
    parcel.get_by_role("button", name="Mark shipped").click()
    expect(msme.locator(".flashes")).to_contain_text(f"Parcel for order {reference}: Shipped.")
    _fits(msme, width)
    desk.close()

    # The consumer is told, and sees the tracking number on the order page.
    with app.app_context():
        mail.deliver(limit=100)
    shipped = next(m for m in mailbox.messages if m["X-Notification-Kind"] == "consumer_shipped")
    assert "JD014600006281" in shipped.get_body(preferencelist=("plain",)).get_content()
    page.goto(order_url)
    expect(page.locator("main")).to_contain_text("Sent with DHL Express, tracking number JD014600006281")
    expect(page.get_by_role("button", name="Cancel this order and refund me")).to_have_count(0)
