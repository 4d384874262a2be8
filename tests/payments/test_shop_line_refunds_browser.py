"""A partial return and a failed refund tried again, in Chromium (issue 17), at 390 px and 1280 px.

A consumer buys two sweaters in size L and pays through localstripe. The MSME ships the parcel, marks it delivered
and, when one sweater comes back, refunds that one from its inbox (and puts it back in stock). Stripe then reports
that refund failed: Union staff see it on their list and press "Retry refund", which refunds it again. The consumer
(reading in French) sees which item was refunded and for how much, and the failed refund beside the new one.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.orders.test_orders_browser import _fits, _sign_in
from tests.payments.test_payments import _event, _signed
from tests.payments.test_shop_refunds_browser import buy_and_pay

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_one_sweater_returned_is_refunded_and_a_failed_refund_is_retried(  # type: ignore[no-untyped-def]
        live_server: LiveServer, page: Page, chromium, mailbox, width: int) -> None:
    from marketplace.extensions import db
    from marketplace.payments.models import ConsumerOrder, ConsumerRefund, Payment
    from marketplace.products.models import Product, ProductVariant

    url = live_server.url
    app = live_server.app
    app.config["PUBLIC_BASE_URL"] = url  # localstripe's webhook and the e-mail links go to this server
    with app.app_context():
        product = db.session.scalar(select(Product).filter_by(sku="KK-UE-CREW-LG"))
        product_id, price = product.id, product.price_minor
        size_l = next(v for v in product.variants if v.label == "L").id
        stock_before = db.session.get(ProductVariant, size_l).stock
    one = f"€{price / 100:,.2f}"
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})

    reference = buy_and_pay(page, url, product_id, "L", quantity=2)

    # The MSME ships, marks delivered, and refunds the one sweater that came back.
    desk = chromium.new_context(viewport={"width": width, "height": 900})
    msme = desk.new_page()
    _sign_in(msme, url, "msme@demo.example", "demo-msme-2026")
    msme.goto(f"{url}/workspace/orders")
    parcel = msme.locator("section.shipment", has_text=reference)
    parcel.get_by_label("Carrier").fill("DHL Express")
    parcel.get_by_label("Tracking number").fill("JD014600006281")
    parcel.get_by_role("button", name="Mark shipped").click()
    msme.locator("section.shipment", has_text=reference).get_by_role("button", name="Mark delivered").click()
    parcel = msme.locator("section.shipment", has_text=reference)
    expect(parcel).to_contain_text(f"{one} each, 2 of 2 not refunded")
    _fits(msme, width)
    parcel.locator("input[name^='qty-']").fill("1")
    parcel.locator(".refund-lines-form").get_by_label(re.compile("Put the returned items back in stock")).check()
    parcel.get_by_role("button", name="Refund the returned items").click()
    expect(msme.locator(".flashes")).to_contain_text(
        f"Order {reference}: {one} refunded to the consumer's card for the items returned.")
    parcel = msme.locator("section.shipment", has_text=reference)
    expect(parcel).to_contain_text("1 refunded")
    expect(parcel).to_contain_text(f"Refunded: {one}")
    expect(parcel).to_contain_text("1 of 2 not refunded")
    _fits(msme, width)
    with app.app_context():
        assert db.session.get(ProductVariant, size_l).stock == stock_before - 1  # two sold, one back
        refund = db.session.scalar(select(ConsumerRefund).join(Payment, Payment.id == ConsumerRefund.payment_id)
                                   .join(ConsumerOrder).where(ConsumerOrder.reference == reference))
        refund_ref = refund.payment.provider_ref

    # Stripe reports the refund failed (the card was closed, say).
    failed = {"id": refund_ref, "object": "refund", "status": "failed", "amount": price, "currency": "eur"}
    payload, headers = _signed(_event(f"evt_failed_{refund_ref}", "refund.updated", failed))
    assert requests.post(f"{url}/payments/stripe/webhook", data=payload, headers=headers, timeout=10
                         ).json()["outcome"] == "applied:refund_failed"
    msme.reload()
    parcel = msme.locator("section.shipment", has_text=reference)
    expect(parcel).to_contain_text(f"Refund failed: {one} was not paid back to the card.")
    expect(parcel.get_by_role("button", name=f"Retry refund of {one}")).to_have_count(1)
    desk.close()

    # Union staff retry it from their list.
    office = chromium.new_context(viewport={"width": width, "height": 900})
    staff = office.new_page()
    _sign_in(staff, url, "staff@demo.example", "demo-staff-2026")
    staff.goto(f"{url}/union/shop-orders")
    row = staff.locator("section.shipment", has_text=reference)
    expect(row).to_contain_text(f"Refund failed: {one}")
    _fits(staff, width)
    row.get_by_role("button", name=f"Retry refund of {one}").click()
    expect(staff.locator(".flashes")).to_contain_text(
        f"Order {reference}: the refund of {one} was sent to Stripe again")
    row = staff.locator("section.shipment", has_text=reference)
    expect(row).to_contain_text("sent again after a failed refund")
    expect(row.get_by_role("button", name=re.compile("Retry refund"))).to_have_count(0)
    _fits(staff, width)
    office.close()

    # The consumer reads the order page in French: which item was refunded, for how much, and the failed try.
    with app.app_context():
        from marketplace.payments.services import order_token

        order = db.session.scalar(select(ConsumerOrder).filter_by(reference=reference))
        with app.test_request_context():
            token = order_token(order)
    page.goto(f"{url}/shop/orders/{token}?lang=fr")
    main = page.locator("main")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    amount_fr = f"{price / 100:.2f}".replace(".", ",")
    expect(main).to_contain_text("1 sur 2 renvoyé(s) et remboursé(s)")
    expect(main).to_contain_text("Remboursé :")
    expect(main).to_contain_text(amount_fr)
    expect(main.locator(".refund-failed")).to_have_count(1)
    expect(main.get_by_role("button", name=re.compile("Relancer"))).to_have_count(0)
    _fits(page, width)
