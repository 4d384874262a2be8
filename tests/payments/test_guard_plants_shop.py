"""Consumer-shop guards that the shop's own tests did not catch one at a time (issue 21, for issue 17's rules).

Each test fails when the one guard it names is removed (see tests/MUTATIONS.md): a size's stock is taken and
given back once per order whatever calls it; a shipping rate in another currency than the goods is refused;
a zone that lists the country wins over the maker's rest-of-the-world zone.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.payments import shop
from marketplace.payments.models import ConsumerOrder
from tests import factories
from tests.helpers import ADDRESS, csrf_token, text


def _form_id(client: FlaskClient) -> str:
    return text(client.get("/cart")).split('name="form_id" type="hidden" value="')[1].split('"')[0]


def _cart(app: Flask, product_id: int, variant_id: int | None = None, quantity: int = 1) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = csrf_token(client)
    data = {"csrf_token": token, "product_id": product_id, "quantity": quantity}
    if variant_id is not None:
        data["variant_id"] = variant_id
    assert client.post("/cart/add", data=data).status_code == 302
    return client, token


def _checkout(client: FlaskClient, token: str, **address: str):  # type: ignore[no-untyped-def]
    return client.post("/cart/checkout", data={"csrf_token": token, "form_id": _form_id(client),
                                               "email": "shopper@example.com", **ADDRESS, **address})


def _counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count(m.ConsumerOrder.id))) or 0,
                db.session.scalar(select(func.count(m.Payment.id))) or 0)


def test_an_orders_sizes_are_taken_and_given_back_once_whoever_asks_twice(app: Flask) -> None:
    """``take_stock`` and ``give_back_stock`` keep to the order's ``stock_held`` flag: a second call (a webhook
    and a scheduled release both acting on one order) neither takes nor gives back the sizes again."""
    product = factories.product_for_sale(price_minor=29000)
    (s,) = factories.variants_for(product, {"S": 5})
    client, token = _cart(app, product.id, s.id, 2)
    assert _checkout(client, token).status_code == 302

    def stock() -> int:
        with app.app_context():
            return db.session.get(m.ProductVariant, s.id).stock

    assert stock() == 3
    with app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        shop.take_stock(order)
        db.session.commit()
    assert stock() == 3  # taken once
    for _ in range(2):
        with app.app_context():
            shop.give_back_stock(db.session.scalar(select(ConsumerOrder)))
            db.session.commit()
        assert stock() == 5  # given back once


def test_a_shipping_rate_in_another_currency_is_refused_and_nothing_is_written(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    with app.app_context():
        zone = db.session.scalar(select(m.ShippingZone).filter_by(organisation_id=product.organisation_id))
        zone.currency, zone.rate_minor = "USD", 1500
        db.session.commit()
    client, token = _cart(app, product.id)
    before = _counts(app)
    response = _checkout(client, token)
    assert response.status_code == 422
    assert "shipping rate is in another currency" in text(response)
    assert _counts(app) == before


def test_a_zone_that_lists_the_country_wins_over_the_rest_of_the_world(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    with app.app_context():
        everywhere = db.session.scalar(select(m.ShippingZone).filter_by(organisation_id=product.organisation_id))
        everywhere.rate_minor = 4000
        db.session.add(m.ShippingZone(organisation_id=product.organisation_id, name="Germany", countries=["DE"],
                                      rest_of_world=False, rate_minor=900, currency=everywhere.currency))
        db.session.commit()
    client, token = _cart(app, product.id)
    assert _checkout(client, token).status_code == 302
    client2, token2 = _cart(app, product.id)
    assert _checkout(client2, token2, country="FR", postcode="75001", city="Paris").status_code == 302
    with app.app_context():
        orders = db.session.scalars(select(ConsumerOrder).order_by(ConsumerOrder.id)).all()
        assert [(o.ship_country, o.shipping_minor, o.total_minor) for o in orders] == [
            ("DE", 900, 29900), ("FR", 4000, 33000)]
