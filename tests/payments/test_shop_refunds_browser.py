"""Shop refunds in Chromium (issue 17): a consumer buys a size and pays through localstripe; the MSME ships,
marks it delivered and accepts its return, which refunds the parcel through Stripe; the MSME, the Union and
the consumer (reading in French) each see the refunded amount and the parcel's status. At 390 px and 1280 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.orders.test_orders_browser import _fits, _reload_until, _sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_a_returned_parcel_is_refunded_and_everyone_sees_it(live_server: LiveServer, page: Page, chromium,  # type: ignore[no-untyped-def]
                                                            mailbox, width: int) -> None:
    from marketplace.extensions import db
    from marketplace.notifications import services as mail
    from marketplace.payments.models import ConsumerOrder
    from marketplace.products.models import Product

    url = live_server.url
    app = live_server.app
    app.config["PUBLIC_BASE_URL"] = url  # localstripe's webhook and the e-mail links go to this server
    with app.app_context():
        product_id = db.session.scalar(select(Product.id).filter_by(sku="KK-UE-CREW-LG"))
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})

    reference = buy_and_pay(page, url, product_id, "L")
    with app.app_context():
        total = db.session.scalar(select(ConsumerOrder.total_minor).filter_by(reference=reference))
    amount = f"€{total / 100:,.2f}"

    # The MSME ships, marks it delivered, and accepts the return: the parcel is refunded, once.
    desk = chromium.new_context(viewport={"width": width, "height": 900})
    msme = desk.new_page()
    _sign_in(msme, url, "msme@demo.example", "demo-msme-2026")
    msme.goto(f"{url}/workspace/orders")
    parcel = msme.locator("section.shipment", has_text=reference)
    parcel.get_by_label("Carrier").fill("DHL Express")
    parcel.get_by_label("Tracking number").fill("JD014600006281")
    parcel.get_by_role("button", name="Mark shipped").click()
    msme.locator("section.shipment", has_text=reference).get_by_role("button", name="Mark delivered").click()
    accept = msme.locator("section.shipment", has_text=reference).get_by_role(
        "button", name=f"Accept the return and refund {amount}")
    expect(accept).to_have_count(1)
    _fits(msme, width)
    accept.click()
    expect(msme.locator(".flashes")).to_contain_text(
        f"Parcel for order {reference}: Returned; {amount} refunded to the consumer's card.")
    parcel = msme.locator("section.shipment", has_text=reference)
    expect(parcel).to_contain_text(f"Refunded: {amount}")
    expect(parcel).to_contain_text("Refund status: Succeeded")
    expect(parcel.get_by_role("button")).to_have_count(0)  # nothing more to do, nothing more to refund
    _fits(msme, width)
    desk.close()

    # Union staff see the parcel returned and refunded.
    office = chromium.new_context(viewport={"width": width, "height": 900})
    staff = office.new_page()
    _sign_in(staff, url, "staff@demo.example", "demo-staff-2026")
    staff.goto(f"{url}/union/shop-orders")
    row = staff.locator("section.shipment", has_text=reference)
    expect(row).to_contain_text("Returned")
    expect(row).to_contain_text(f"Refunded: {amount}")
    expect(row).to_contain_text("Order status: Refunded")
    _fits(staff, width)
    office.close()

    # The consumer is e-mailed, and reads the order page in French.
    with app.app_context():
        mail.deliver(limit=100)
    refund = next(m for m in mailbox.messages if m["X-Notification-Kind"] == "consumer_refunded")
    body = refund.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/shop/orders/\S+", body)
    assert link is not None
    page.goto(link.group(0).rstrip(".") + "?lang=fr")
    main = page.locator("main")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(main).to_contain_text("Remboursé :")
    expect(main).to_contain_text("Renvoyé")
    expect(main).to_contain_text(f"{total / 100:.2f}".replace(".", ","))  # one parcel, under €1,000
    expect(main).to_contain_text("Payé, moins les remboursements")
    _fits(page, width)


def fill_guest_address(page: Page, postcode: str = "10115") -> None:
    """The cart's guest checkout: a receipt address and a shipping address in Berlin."""
    page.get_by_label("E-mail for the receipt").fill("shopper@example.com")
    page.get_by_label("Full name").fill("Erika Mustermann")
    page.get_by_label("Street and number").fill("Hauptstraße 5")
    page.get_by_label("Town or city").fill("Berlin")
    page.get_by_label("Postcode").fill(postcode)
    page.get_by_label("Country", exact=True).select_option("DE")


def buy_and_pay(page: Page, url: str, product_id: int, size: str, quantity: int = 1) -> str:
    """A guest buys ``quantity`` of one size, ships to Berlin and pays with localstripe's test card; the order's
    reference once the page says it is paid."""
    page.goto(f"{url}/products/{product_id}")
    page.get_by_label("Size").select_option(label=size)
    if quantity != 1:
        page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    fill_guest_address(page)
    page.get_by_role("button", name="Go to payment").click()
    reference = page.locator(".order-number").inner_text()
    page.get_by_role("button", name=re.compile("with the test card")).click()
    _reload_until(page, "Paid. Thank you.")
    return reference
