"""The consumer shop (issue 17): sizes with stock, the cart, addresses by country, shipments per maker,
the order page by signed link, cancellation with refund, and checkouts racing for the last items."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.payments.models import ConsumerOrder, ConsumerOrderStatus, PaymentStatus
from marketplace.payments.services import order_token
from tests import factories
from tests.helpers import ADDRESS, csrf_token, text
from tests.payments.test_payments import _event, _post


def _form_id(client: FlaskClient) -> str:
    return text(client.get("/cart")).split('name="form_id" type="hidden" value="')[1].split('"')[0]


def _add(client: FlaskClient, token: str, product_id: int, variant_id: int | None = None, quantity: object = 1):  # type: ignore[no-untyped-def]
    data = {"csrf_token": token, "product_id": product_id, "quantity": quantity}
    if variant_id is not None:
        data["variant_id"] = variant_id
    return client.post("/cart/add", data=data)


def _counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count(m.ConsumerOrder.id))),
                db.session.scalar(select(func.count(m.Payment.id))),
                db.session.scalar(select(func.sum(m.ProductVariant.stock))) or 0)


def _stock(app: Flask, variant_id: int) -> int:
    with app.app_context():
        return db.session.get(m.ProductVariant, variant_id).stock


def test_sizes_are_offered_as_variant_id_and_bad_choices_change_nothing(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    xs, s, sold_out = factories.variants_for(product, {"XS": 1, "S": 5, "M": 0})
    other = factories.product_for_sale(price_minor=15000)
    (foreign,) = factories.variants_for(other, {"L": 4})
    client = app.test_client()
    token = csrf_token(client)
    cases = {
        "no size": (None, 1, "Choose a size."),
        "another product's size": (foreign.id, 1, "That size is not offered for this product."),
        "sold out": (sold_out.id, 1, "Size M is sold out."),
        "more than in stock": (xs.id, 2, "Only 1 left in size XS."),
        "zero": (s.id, 0, "Choose between 1 and 20 items."),
        "negative": (s.id, -3, "Choose between 1 and 20 items."),
        "huge": (s.id, 10**30, "Choose between 1 and 20 items."),
    }
    for name, (variant, quantity, message) in cases.items():
        response = _add(client, token, product.id, variant, quantity)
        assert response.status_code == 303, name
        page = text(client.get("/cart"))  # the message is flashed on the next page shown
        assert message in page, name
        assert "Your cart is empty." in page, name
    assert _add(client, token, product.id, s.id, 2).status_code == 302
    cart = text(client.get("/cart"))
    assert "size S" in cart
    assert "€580.00" in cart


def test_demo_products_offer_sizes_xs_to_xl_with_stock(demo_app: Flask) -> None:
    with demo_app.app_context():
        crew = db.session.scalar(select(m.Product).filter_by(sku="KK-UE-CREW-LG"))
        assert [(v.size, v.stock > 0) for v in crew.variants] == [(s, True) for s in ("XS", "S", "M", "L", "XL")]
        product_id = crew.id
    page = text(demo_app.test_client().get(f"/products/{product_id}"))
    assert 'name="variant_id"' in page
    assert ">XL" in page


def test_the_cart_changes_quantities_and_removes_items(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=10000)
    (m_size,) = factories.variants_for(product, {"M": 3})
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id, m_size.id, 1)
    key = f"{product.id}:{m_size.id}"
    assert client.post("/cart/update", data={"csrf_token": token, "key": key, "quantity": 3}).status_code == 303
    assert "€300.00" in text(client.get("/cart"))
    refused = client.post("/cart/update", data={"csrf_token": token, "key": key, "quantity": 4})
    assert "Only 3 left in size M." in text(client.get(refused.location))
    for bad in ("0", "-1", "abc", "99999999999999999999999"):
        client.post("/cart/update", data={"csrf_token": token, "key": key, "quantity": bad})
        assert "€300.00" in text(client.get("/cart")), bad
    assert "no longer in your cart" in text(client.get(client.post(
        "/cart/update", data={"csrf_token": token, "key": "999:1", "quantity": 1}).location))
    client.post("/cart/update", data={"csrf_token": token, "key": key, "remove": "1"})
    assert "Your cart is empty." in text(client.get("/cart"))


def test_addresses_are_checked_by_their_country_and_nothing_is_written(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    (s,) = factories.variants_for(product, {"S": 2})
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id, s.id, 1)
    before = _counts(app)
    cases = {
        "German postcode of four digits": ({"postcode": "1234"}, "This is not a postcode of the country chosen."),
        "British address without postcode": ({"country": "GB", "postcode": ""}, "This country needs a postcode."),
        "US address without state": ({"country": "US", "postcode": "10001", "area": ""},
                                     "This country needs a state, province or region."),
        "no street": ({"street": ""}, "Enter the street and number."),
        "no such country": ({"country": "XX"}, "Not a valid choice"),
        "no name": ({"name": ""}, "This field is required."),
    }
    for name, (change, message) in cases.items():
        response = client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                                       "email": "a@example.com", **ADDRESS, **change})
        assert response.status_code == 422, name
        assert message in text(response), name
        assert _counts(app) == before, name


def test_a_country_the_maker_does_not_ship_to_is_refused(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    with app.app_context():
        zone = db.session.scalar(select(m.ShippingZone).filter_by(organisation_id=product.organisation_id))
        zone.rest_of_world, zone.countries = False, ["MN"]
        db.session.commit()
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id)
    before = _counts(app)
    response = client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                                   "email": "a@example.com", **ADDRESS})
    assert response.status_code == 422
    assert "does not ship to this country" in text(response)
    assert _counts(app) == before


def test_two_makers_make_two_shipments_at_their_rates_and_a_tampered_price_is_ignored(app: Flask) -> None:
    first = factories.product_for_sale(price_minor=29000)
    second = factories.product_for_sale(price_minor=10000)
    with app.app_context():
        for product, rate in ((first, 1800), (second, 900)):
            zone = db.session.scalar(select(m.ShippingZone).filter_by(organisation_id=product.organisation_id))
            zone.rate_minor = rate
        db.session.commit()
    assert first.organisation_id != second.organisation_id
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, first.id)
    _add(client, token, second.id, quantity=2)
    response = client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                                   "email": "a@example.com", "price_minor": "1",
                                                   "total_minor": "1", **ADDRESS})
    assert response.status_code == 302
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert [s.shipping_minor for s in order.shipments] == [1800, 900]
        assert (order.goods_minor, order.shipping_minor, order.total_minor) == (49000, 2700, 51700)
        assert order.payments[0].amount_minor == 51700
        assert order.reference.startswith("CO-")
    page = text(client.get("/cart/payment"))
    assert "€517.00" in page
    assert "import VAT" in page


def test_stock_is_taken_at_checkout_given_back_on_cancel_and_the_order_page_needs_its_signed_link(
        app: Flask, mailbox) -> None:  # type: ignore[no-untyped-def]
    product = factories.product_for_sale(price_minor=29000)
    (s,) = factories.variants_for(product, {"S": 2})
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id, s.id, 2)
    assert client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                               "email": "shopper@example.com", **ADDRESS}).status_code == 302
    assert _stock(app, s.id) == 0
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        intent, signed = order.payments[0].provider_ref, None
        with app.test_request_context():
            signed = order_token(order)
    assert client.post("/cart/payment", data={"csrf_token": token}).status_code == 302
    assert _post(client, _event("evt_paid", "payment_intent.succeeded", {"id": intent, "amount": 58000})
                 ).json["outcome"] == "applied:succeeded"
    # The same event again, and another "succeeded" for the paid order, change nothing.
    assert _post(client, _event("evt_paid", "payment_intent.succeeded", {"id": intent, "amount": 58000})
                 ).json["outcome"] == "duplicate"
    assert _post(client, _event("evt_again", "payment_intent.succeeded", {"id": intent, "amount": 58000})
                 ).json["outcome"] == "stale"
    assert client.get("/shop/orders/forged-token").status_code == 404
    assert client.get(f"/shop/orders/{signed}x").status_code == 404
    page = text(client.get(f"/shop/orders/{signed}"))
    assert "Paid" in page
    assert "size S" in page
    assert "Cancel this order" in page
    cancelled = client.post(f"/shop/orders/{signed}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    assert "refunded" in text(client.get(cancelled.location))
    assert _stock(app, s.id) == 2
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert order.status is ConsumerOrderStatus.refunded
        assert order.payments[0].status is PaymentStatus.refunded
    again = client.post(f"/shop/orders/{signed}/cancel", data={"csrf_token": token})
    assert "Only a paid order can be cancelled." in text(client.get(again.location))
    assert _stock(app, s.id) == 2


def test_a_cancelled_payment_gives_the_stock_back(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    (s,) = factories.variants_for(product, {"S": 1})
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id, s.id, 1)
    client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                        "email": "a@example.com", **ADDRESS})
    assert _stock(app, s.id) == 0
    with app.app_context():
        intent = db.session.scalar(select(m.Payment)).provider_ref
    _post(client, _event("evt_cancel", "payment_intent.canceled", {"id": intent}))
    assert _stock(app, s.id) == 1
    with app.app_context():
        assert db.session.scalar(select(ConsumerOrder)).status is ConsumerOrderStatus.cancelled


BUYERS = 8
STOCK = 3


def test_concurrent_checkouts_never_oversell_a_size(app: Flask) -> None:
    """Eight shoppers each hold the last items of one size in their carts and check out at once."""
    product = factories.product_for_sale(price_minor=29000)
    (s,) = factories.variants_for(product, {"S": STOCK})
    clients = []
    for _ in range(BUYERS):
        client = app.test_client()
        token = csrf_token(client)
        assert _add(client, token, product.id, s.id, 1).status_code == 302
        clients.append((client, {"csrf_token": token, "form_id": _form_id(client), "email": "a@example.com",
                                 **ADDRESS}))
    barrier = threading.Barrier(BUYERS)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def go(client: FlaskClient, data: dict) -> None:
        try:
            barrier.wait(timeout=60)
            status = client.post("/cart/checkout", data=data).status_code
            with lock:
                statuses.append(status)
        except BaseException as error:  # reported, never swallowed
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=go, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(statuses) == [302] * STOCK + [409] * (BUYERS - STOCK)
    assert _stock(app, s.id) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(ConsumerOrder.id))) == STOCK
        assert db.session.scalar(select(func.count(m.Payment.id))) == STOCK


def test_the_msme_ships_from_its_inbox_and_the_consumer_is_told_with_the_tracking_number(
        app: Flask, mailbox) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import sign_in

    product = factories.product_for_sale(price_minor=29000)
    factories.user_with_role(m.Role.msme_editor, product.organisation, email="maker@example.com")
    stranger = factories.MsmeFactory()
    factories.user_with_role(m.Role.msme_editor, stranger, email="other@example.com")
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id)
    client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                        "email": "shopper@example.com", **ADDRESS})
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        intent, shipment_id = order.payments[0].provider_ref, order.shipments[0].id
        with app.test_request_context():
            signed = order_token(order)
    _post(client, _event("evt_pay", "payment_intent.succeeded", {"id": intent, "amount": 29000}))
    other = app.test_client()
    sign_in(other, "other@example.com")
    other_token = csrf_token(other, "/workspace/orders")
    assert "No paid orders yet." in text(other.get("/workspace/orders"))
    assert other.post(f"/workspace/orders/{shipment_id}", data={
        "csrf_token": other_token, "action": "ship", "carrier": "DHL", "tracking": "JD1"}).status_code == 404
    maker = app.test_client()
    sign_in(maker, "maker@example.com")
    maker_token = csrf_token(maker, "/workspace/orders")
    inbox = text(maker.get("/workspace/orders"))
    assert "Erika Mustermann" in inbox
    assert "To pack" in inbox
    assert "Give the carrier and the tracking number." in text(maker.get(maker.post(
        f"/workspace/orders/{shipment_id}", data={"csrf_token": maker_token, "action": "ship"}).location))
    assert maker.post(f"/workspace/orders/{shipment_id}", data={
        "csrf_token": maker_token, "action": "ship", "carrier": "DHL", "tracking": "JD014600006"}).status_code == 303
    csv = text(maker.get("/workspace/orders.csv"))
    assert "JD014600006" in csv
    assert "shipped" in csv
    page = text(client.get(f"/shop/orders/{signed}"))
    assert "tracking number JD014600006" in page
    assert "Cancel this order" not in page  # shipped: no more cancelling …
    refused = client.post(f"/shop/orders/{signed}/cancel", data={"csrf_token": token})  # … not even by a crafted form
    assert "already shipped" in text(client.get(refused.location))
    with app.app_context():
        assert db.session.scalar(select(ConsumerOrder)).status is ConsumerOrderStatus.paid
    assert maker.post(f"/workspace/orders/{shipment_id}", data={
        "csrf_token": maker_token, "action": "deliver"}).status_code == 303
    with app.app_context():
        assert db.session.get(m.ConsumerShipment, shipment_id).status.value == "delivered"
        mails = {mail.kind: mail for mail in db.session.scalars(select(m.OutgoingMail).filter_by(
            to_address="shopper@example.com"))}
        assert f"/shop/orders/{signed}" in mails["consumer_receipt"].text_body
        assert "JD014600006" in mails["consumer_shipped"].text_body
        assert "DHL" in mails["consumer_shipped"].text_body


def test_service_requests_from_the_passport_reach_the_maker_and_a_closed_one_is_a_new_passport_version(
        demo_app: Flask) -> None:
    from marketplace.passports.models import Passport, PassportVersion
    from tests.helpers import sign_in

    with demo_app.app_context():
        sweater = db.session.scalar(select(m.Product).filter_by(sku="KK-UE-CREW-LG"))  # repair and take-back
        beanie = db.session.scalar(select(m.Product).filter_by(sku="KK-UE-BEANIE-BR"))  # take-back only
        passport = db.session.scalar(select(Passport).where(Passport.product_id == sweater.id))
        versions_before = db.session.scalar(select(func.count(PassportVersion.id)).where(
            PassportVersion.passport_id == passport.id))
        sweater_id, beanie_id, public_id = sweater.id, beanie.id, passport.public_id
    client = demo_app.test_client()
    assert f"/shop/services/{sweater_id}" in text(client.get(f"/passports/{public_id}"))
    token = csrf_token(client, f"/shop/services/{sweater_id}")
    before = demo_app.app_context
    with before():
        requests_before = db.session.scalar(select(func.count(m.ServiceRequest.id)))
    refused = client.post(f"/shop/services/{beanie_id}", data={"csrf_token": token, "kind": "repair",
                                                               "email": "a@example.com", "message": "Hole"})
    assert refused.status_code == 422  # the beanie offers no repair: not even a tampered form gets one
    assert client.post("/shop/services/999999", data={"csrf_token": token, "kind": "repair",
                                                      "email": "a@example.com"}).status_code == 404
    with demo_app.test_request_context():  # the service's own rule, whatever the entry point's form offers
        from marketplace.orders.services import OrderError
        from marketplace.payments import services as payments

        with pytest.raises(OrderError) as refused_here:
            payments.request_service(beanie_id, "repair", email="a@example.com", message="", locale="en")
        assert refused_here.value.status == 422
        db.session.rollback()
    with before():
        assert db.session.scalar(select(func.count(m.ServiceRequest.id))) == requests_before
    made = client.post(f"/shop/services/{sweater_id}", data={"csrf_token": token, "kind": "repair",
                                                             "email": "a@example.com", "message": "Hole in a sleeve"})
    assert made.status_code == 303
    assert "has reached the maker" in text(client.get(made.location))
    with before():
        request = db.session.scalar(select(m.ServiceRequest).order_by(m.ServiceRequest.id.desc()))
        request_id = request.id
        assert db.session.scalar(select(m.OutgoingMail.kind).where(m.OutgoingMail.kind == "repair_request"))
    maker = demo_app.test_client()
    sign_in(maker, "msme@demo.example", "demo-msme-2026")
    maker_token = csrf_token(maker, "/workspace/services")
    assert "Hole in a sleeve" in text(maker.get("/workspace/services"))
    step = f"/workspace/services/{request_id}"
    assert "that step is not possible now" in text(maker.get(maker.post(step, data={
        "csrf_token": maker_token, "action": "close", "outcome": "Mended"}).location))
    maker.post(step, data={"csrf_token": maker_token, "action": "accept"})
    maker.post(step, data={"csrf_token": maker_token, "action": "schedule", "on": "2026-12-03"})
    assert "Say what was done" in text(maker.get(maker.post(step, data={
        "csrf_token": maker_token, "action": "close", "outcome": " "}).location))
    maker.post(step, data={"csrf_token": maker_token, "action": "close", "outcome": "Sleeve mended by hand"})
    with before():
        assert db.session.get(m.ServiceRequest, request_id).status.value == "closed"
        assert db.session.scalar(select(func.count(PassportVersion.id)).where(
            PassportVersion.passport_id == db.session.scalar(select(Passport.id).where(
                Passport.public_id == public_id)))) == versions_before + 1
    page = text(client.get(f"/passports/{public_id}"))
    assert "Service history" in page
    assert "Sleeve mended by hand" in page


def test_service_terms_are_structured_and_shown_per_language_with_the_fallback_marked(demo_app: Flask) -> None:
    from tests.helpers import sign_in

    with demo_app.app_context():
        sweater_id = db.session.scalar(select(m.Product.id).filter_by(sku="KK-UE-CREW-LG"))
    maker = demo_app.test_client()
    sign_in(maker, "msme@demo.example", "demo-msme-2026")
    token = csrf_token(maker, "/workspace/services/terms/repair")
    good = {"csrf_token": token, "what_en": "Holes and seams mended by hand", "what_fr": "Trous et coutures reprisés",
            "where_en": "Our Ulaanbaatar workshop", "where_fr": "Notre atelier d'Oulan-Bator", "cost_eur": "",
            "days": "10"}
    for bad in ({"days": "0"}, {"days": "9999"}, {"cost_eur": "-5"}, {"cost_eur": "1.234"}, {"where_en": ""}):
        assert maker.post("/workspace/services/terms/repair", data={**good, **bad}).status_code == 422, bad
        with demo_app.app_context():
            assert db.session.scalar(select(func.count(m.ServiceOffer.id))) == 0, bad
    assert maker.get("/workspace/services/terms/nonsense").status_code == 404
    assert maker.post("/workspace/services/terms/repair", data=good).status_code == 303
    consumer = demo_app.test_client()
    french = text(consumer.get(f"/shop/services/{sweater_id}?lang=fr"))
    assert "Trous et coutures reprisés" in french
    assert "(in English)" not in french.split("Trous et coutures")[0][-300:]
    german = text(consumer.get(f"/shop/services/{sweater_id}?lang=de"))
    assert "Holes and seams mended by hand" in german
    assert '<span lang="en">Holes and seams mended by hand</span>' in german  # the fallback is marked


def test_union_staff_see_consumer_sales_by_maker_and_month(app: Flask) -> None:
    from tests.helpers import sign_in

    product = factories.product_for_sale(price_minor=29000)
    union = factories.OrganisationFactory(kind="union", slug="union-test")
    factories.user_with_role(m.Role.union_staff, union, email="staff@example.com")
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id, quantity=2)
    client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                        "email": "a@example.com", **ADDRESS})
    staff = app.test_client()
    sign_in(staff, "staff@example.com")
    assert "No paid consumer order yet." in text(staff.get("/union/sales"))  # pending: not a sale
    with app.app_context():
        intent = db.session.scalar(select(m.Payment)).provider_ref
    _post(client, _event("evt_sale", "payment_intent.succeeded", {"id": intent, "amount": 58000}))
    page = text(staff.get("/union/sales"))
    row = page[page.index('id="consumer-sales-caption"'):]
    assert product.organisation.name in row
    assert "€580.00" in row


def test_the_msme_keeps_sizes_stock_and_gtins_and_bad_values_change_nothing(demo_app: Flask) -> None:
    from tests.helpers import sign_in

    with demo_app.app_context():
        crew = db.session.scalar(select(m.Product).filter_by(sku="KK-UE-CREW-LG"))
        product_id, medium = crew.id, next(v for v in crew.variants if v.size == "M")
        medium_id, medium_stock = medium.id, medium.stock
    maker = demo_app.test_client()
    sign_in(maker, "msme@demo.example", "demo-msme-2026")
    path = f"/workspace/products/{product_id}/stock"
    token = csrf_token(maker, path)
    base = {"csrf_token": token, "variant_id": medium_id, "size": "M", "colour": "", "stock": "7", "gtin": ""}
    for bad in ({"stock": "-1"}, {"stock": "1000001"}, {"stock": "x"}, {"gtin": "4006381333932"},
                {"size": ""}, {"size": "L"}, {"variant_id": "999999"}):
        assert maker.post(path, data={**base, **bad}).status_code == 422, bad
        assert _stock(demo_app, medium_id) == medium_stock, bad
    assert maker.post(path, data={**base, "gtin": "4006381333931"}).status_code == 303
    assert _stock(demo_app, medium_id) == 7
    added = maker.post(path, data={**base, "variant_id": "", "size": "XXL", "stock": "2", "gtin": ""})
    assert added.status_code == 303
    with demo_app.app_context():
        sizes = [v.size for v in db.session.get(m.Product, product_id).variants]
        assert sizes == ["XS", "S", "M", "L", "XL", "XXL"]
        assert db.session.get(m.ProductVariant, medium_id).gtin == "04006381333931"


def test_an_order_left_unpaid_is_cancelled_at_stripe_and_its_stock_returns(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from marketplace.payments.gateway import gateway

    product = factories.product_for_sale(price_minor=29000)
    (s,) = factories.variants_for(product, {"S": 1})
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id, s.id, 1)
    client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                        "email": "a@example.com", **ADDRESS})
    assert _stock(app, s.id) == 0
    result = runner.invoke(args=["shop", "release-stale", "--minutes", "60"])
    assert "0 unpaid order(s) released." in result.output  # too recent
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        order.created_at = order.created_at - dt.timedelta(hours=2)
        db.session.commit()
    result = runner.invoke(args=["shop", "release-stale", "--minutes", "60"])
    assert "1 unpaid order(s) released." in result.output, result.output
    assert _stock(app, s.id) == 1
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert order.status is ConsumerOrderStatus.cancelled
        assert gateway().retrieve_intent(order.payments[0].provider_ref).status == "canceled"
    # Stripe never pays a cancelled intent; a "succeeded" event for it anyway leaves the order cancelled.
    late = _post(client, _event("evt_late", "payment_intent.succeeded",
                                {"id": order.payments[0].provider_ref, "amount": 29000}))
    assert late.json["outcome"] == "order_cancelled"
    with app.app_context():
        assert db.session.scalar(select(ConsumerOrder)).status is ConsumerOrderStatus.cancelled


def test_the_worker_releases_unpaid_orders_on_its_schedule(app: Flask) -> None:
    """The same release as the CLI, as the job worker's scheduled job (no cron needed)."""
    import datetime as dt

    from marketplace.jobs import services as jobs
    from marketplace.payments.subscribers import RELEASE_JOB

    assert jobs.SCHEDULES[RELEASE_JOB].kind == RELEASE_JOB
    product = factories.product_for_sale(price_minor=29000)
    (s,) = factories.variants_for(product, {"S": 1})
    client = app.test_client()
    token = csrf_token(client)
    _add(client, token, product.id, s.id, 1)
    client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                        "email": "a@example.com", **ADDRESS})
    assert _stock(app, s.id) == 0
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        order.created_at = order.created_at - dt.timedelta(hours=2)
        jobs.enqueue(RELEASE_JOB)
        db.session.commit()
        jobs.run_pending()
    assert _stock(app, s.id) == 1
    with app.app_context():
        assert db.session.scalar(select(ConsumerOrder)).status is ConsumerOrderStatus.cancelled


def test_the_msme_sets_its_shipping_zones_and_bad_zones_change_nothing(demo_app: Flask) -> None:
    from tests.helpers import sign_in

    maker = demo_app.test_client()
    sign_in(maker, "msme@demo.example", "demo-msme-2026")
    token = csrf_token(maker, "/workspace/shipping")

    def zones() -> list[tuple[str, list[str], bool, int]]:
        with demo_app.app_context():
            org = db.session.scalar(select(m.Organisation.id).filter_by(slug="khangai-knitwear"))
            return [(z.name, z.countries, z.rest_of_world, z.rate_minor) for z in db.session.scalars(
                select(m.ShippingZone).filter_by(organisation_id=org).order_by(m.ShippingZone.id))]

    before = zones()
    new = {"csrf_token": token, "name": "Japan", "countries": "jp", "rate_eur": "25.00", "days_min": "5",
           "days_max": "12"}
    for bad in ({"countries": "JP, XX"}, {"countries": "DE"}, {"countries": "", "rest_of_world": "y"},
                {"countries": ""}, {"rate_eur": "-1"}, {"days_min": "9", "days_max": "3"}, {"name": ""},
                {"zone_id": "999999"}):
        assert maker.post("/workspace/shipping", data={**new, **bad}).status_code in (404, 422), bad
        assert zones() == before, bad
    assert maker.post("/workspace/shipping", data=new).status_code == 303
    assert zones()[-1] == ("Japan", ["JP"], False, 2500)
