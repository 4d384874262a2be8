"""Structured circular services per product (issues 17 and 23): repair, take-back and resale, each offered or
not, with its conditions per language and its price; entered by the MSME, shown on the passport and the product
page in the reader's language (the English fallback marked), and carried in the DPP credential as a language
map with the price and the link to request it."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.passports.models import Passport
from marketplace.products.rules import circular_terms
from tests.helpers import text
from tests.products_helpers import product_form, signed_in, token, workshop


def test_one_rule_reads_the_old_free_text_and_the_structured_form() -> None:
    assert circular_terms({"repair": "Free repairs for 5 years", "take_back": ""}) == {
        "repair": {"conditions": {"en": "Free repairs for 5 years"}, "price_minor": None, "currency": "EUR"},
        "take_back": {"conditions": {}, "price_minor": None, "currency": "EUR"},
    }
    structured = {"resale": {"conditions": {"fr": " Revente ", "xx": "?", "de": 5}, "price_minor": 1500,
                             "currency": "EUR"}, "laundry": "not a service"}
    assert circular_terms(structured) == {
        "resale": {"conditions": {"fr": "Revente"}, "price_minor": 1500, "currency": "EUR"}}
    credential = {"repair": {"conditions": {"en": "Mended"}, "price": {"amount": 900, "currency": "EUR"},
                             "freeOfCharge": False, "requestLink": "https://example.org/shop/services/1"}}
    assert circular_terms(credential)["repair"]["price_minor"] == 900
    assert circular_terms({"repair": {"price_minor": -5}})["repair"]["price_minor"] is None
    assert circular_terms(None) == {}


def test_the_msme_enters_each_service_with_conditions_per_language_and_a_price(app: Flask) -> None:
    w = workshop()
    client = signed_in(app.test_client(), w.editor)
    form = product_form(w.line.id, service_repair_conditions_en="Seams and holes mended at our workshop.",
                        service_repair_conditions_fr="Coutures et trous reprisés dans notre atelier.",
                        service_repair_price_eur="15.00", service_resale="y",
                        service_resale_conditions_de="Wir kaufen ihn zurück.")
    for bad in ({"service_repair_price_eur": "-1"}, {"service_repair_price_eur": "1.234"},
                {"service_repair_price_eur": "abc"}, {"service_repair_conditions_fr": "x" * 1001}):
        response = client.post("/workspace/products/new", data={**form, **bad, "csrf_token": token(client)})
        assert response.status_code == 422, bad
        with app.app_context():
            assert db.session.scalar(select(func.count(m.Product.id))) == 0, bad
    response = client.post("/workspace/products/new", data={**form, "csrf_token": token(client)})
    assert response.status_code == 302, text(response)
    with app.app_context():
        product = db.session.scalar(select(m.Product).filter_by(sku="TEST-CREW-1"))
        assert product.circular_services == {
            "repair": {"conditions": {"en": "Seams and holes mended at our workshop.",
                                      "fr": "Coutures et trous reprisés dans notre atelier."},
                       "price_minor": 1500, "currency": "EUR"},
            "resale": {"conditions": {"de": "Wir kaufen ihn zurück."}, "price_minor": None, "currency": "EUR"},
        }
        product_id = product.id
    page = text(client.get(f"/workspace/products/{product_id}"))  # the form shows what was saved
    assert 'name="service_repair_price_eur" type="text" value="15.00"' in page or 'value="15.00"' in page
    assert "Coutures et trous reprisés dans notre atelier." in page


def test_the_passport_shows_the_services_in_the_readers_language_and_the_credential_carries_every_language(
        demo_app: Flask) -> None:
    with demo_app.app_context():
        sweater = db.session.scalar(select(m.Product).filter_by(sku="KK-UE-CREW-LG"))
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == sweater.id))
        sweater_id = sweater.id
    client = demo_app.test_client()
    french = text(client.get(f"/passports/{public_id}?lang=fr"))
    section = french[french.index('id="circ-h"'):]
    assert "Services circulaires proposés par le fabricant" in section
    assert "Réparation gratuite des trous et des coutures" in section
    assert "Renvoyez-le quand vous n&#39;en voulez plus" in section or "Renvoyez-le quand vous n'en voulez plus" in \
        section
    assert "Gratuit" in section or "gratuit" in section
    assert f"/shop/services/{sweater_id}" in section
    italian = text(client.get(f"/passports/{public_id}?lang=it"))
    section = italian[italian.index('id="circ-h"'):]
    assert "Riparazione gratuita di buchi e cuciture" in section
    # No Italian take-back text: the English one, marked as such.
    assert '<span lang="en">Return it when you are done' in section
    assert "(in inglese)" in section or "(in English)" in section
    credential = json.loads(client.get(f"/passports/{public_id}", headers={"Accept": "application/ld+json"}).data)
    services = json.dumps(credential)
    assert "Riparazione gratuita di buchi e cuciture" in services
    assert "Free repair of holes and seams" in services
    assert f"/shop/services/{sweater_id}" in services
    context = client.get("/contexts/cashmere/v1.jsonld").get_json()["@context"]
    assert context["conditions"]["@container"] == "@language"
    product_page = text(client.get(f"/products/{sweater_id}?lang=de"))
    assert "Kostenlose Reparatur von Löchern und Nähten" in product_page
