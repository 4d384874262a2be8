"""One source of the circular service terms a consumer is offered (issue 17 point 5, issue 23 point 3).

The product says which services it offers (and may add its own conditions and a price that overrides the
MSME's cost); the MSME's ``ServiceOffer`` says what, where, cost and time. ``payments.circular.consumer_terms``
combines them, and every entry point reads it: the passport page, the product page, the service request page,
the DPP credential and the request validation. The walk below fails if any of them shows other terms; the
scan fails if any code or template reads the terms another way."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.passports.models import Passport
from tests.helpers import csrf_token, sign_in, text

ROOT = Path(__file__).resolve().parent.parent.parent


def _save_repair_terms(app: Flask, **changes: str) -> None:
    maker = app.test_client()
    sign_in(maker, "msme@demo.example", "demo-msme-2026")
    data = {"csrf_token": csrf_token(maker, "/workspace/services/terms/repair"),
            "what_en": "Holes and seams mended by hand", "where_en": "Our Ulaanbaatar workshop",
            "where_fr": "Notre atelier d'Oulan-Bator", "cost_eur": "30.00", "days": "14", **changes}
    assert maker.post("/workspace/services/terms/repair", data=data).status_code == 303
    with app.app_context():
        jobs.run_pending()  # the worker republishes the MSME's passports with the new terms


def _section(page: str, start: str, end: str) -> str:
    rest = page[page.index(start):]
    return rest[:rest.index(end)] if end in rest else rest


def test_every_entry_point_shows_the_same_terms_the_product_offers_with_the_msmes_what_where_cost_and_time(
        demo_app: Flask) -> None:
    with demo_app.app_context():
        sweater = db.session.scalar(select(m.Product).filter_by(sku="KK-UE-CREW-LG"))  # repair and take-back
        beanie = db.session.scalar(select(m.Product).filter_by(sku="KK-UE-BEANIE-BR"))  # take-back only
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == sweater.id))
        sweater_id, beanie_id = sweater.id, beanie.id
    _save_repair_terms(demo_app)
    with demo_app.test_request_context():
        from marketplace.payments.circular import consumer_terms

        terms = consumer_terms(sweater_id)
        assert set(terms) == {"repair", "take_back"}  # the product says which services
        assert terms["repair"]["price_minor"] == 3000
        assert terms["repair"]["days"] == 14
        assert terms["repair"]["where"] == {"en": "Our Ulaanbaatar workshop", "fr": "Notre atelier d'Oulan-Bator"}
        assert terms["repair"]["conditions"]["en"].startswith("Free repair of holes")  # the product's own words
        # A product-specific price overrides the MSME's cost; where and time stay the MSME's.
        override = consumer_terms(sweater_id, offered={"repair": {"conditions": {}, "price_minor": 1500}})
        assert override["repair"]["price_minor"] == 1500
        assert override["repair"]["days"] == 14
        assert "repair" not in consumer_terms(beanie_id)
    client = demo_app.test_client()
    pages = {
        "passport": _section(text(client.get(f"/passports/{public_id}")), 'id="circ-h"', "</details>"),
        "product": _section(text(client.get(f"/products/{sweater_id}")), 'id="circular-h"', "</section>"),
        "request": _section(text(client.get(f"/shop/services/{sweater_id}")), "<h1>", "<form"),
    }
    for where, page in pages.items():
        repair = _section(page, 'id="repair"' if where != "request" else "Repair", "Take-back")
        assert "€30.00" in repair, where
        assert "14 days" in repair, where
        assert "Our Ulaanbaatar workshop" in repair, where
        assert "Holes and seams mended by hand" in repair, where
        assert "Free of charge" not in repair, where  # the old "repair is free" on the passport
    credential = json.loads(client.get(f"/passports/{public_id}", headers={"Accept": "application/ld+json"}).data)
    repair = credential["credentialSubject"]["cashmere"]["circularity"]["services"]["repair"]
    assert repair["price"] == {"amount": 3000, "currency": "EUR"}
    assert repair["freeOfCharge"] is False
    assert repair["durationDays"] == 14
    assert repair["where"]["fr"] == "Notre atelier d'Oulan-Bator"
    context = client.get("/contexts/cashmere/v1.jsonld").get_json()["@context"]
    assert context["where"]["@container"] == "@language"
    # Where and time on the passport in the reader's language; an English fallback is marked as such.
    french = _section(text(client.get(f"/passports/{public_id}?lang=fr")), 'id="circ-h"', "</details>")
    assert "Notre atelier d&#39;Oulan-Bator" in french or "Notre atelier d'Oulan-Bator" in french
    assert "14 jours" in french
    german = _section(text(client.get(f"/passports/{public_id}?lang=de")), 'id="circ-h"', "</details>")
    assert '<span lang="en">Our Ulaanbaatar workshop</span>' in german
    assert "(auf Englisch)" in german or "(in English)" in german
    assert "14 Tage" in german
    # The request validation reads the same terms: a service the product doesn't offer is refused, nothing saved.
    with demo_app.app_context():
        before = db.session.scalar(select(func.count(m.ServiceRequest.id)))
    token = csrf_token(client, f"/shop/services/{beanie_id}")
    refused = client.post(f"/shop/services/{beanie_id}", data={"csrf_token": token, "kind": "repair",
                                                               "email": "a@example.com", "message": "Hole"})
    assert refused.status_code == 422
    with demo_app.test_request_context():  # the service's own rule, whatever the entry point's form offers
        from marketplace.orders.services import OrderError
        from marketplace.payments.circular import request_service

        with pytest.raises(OrderError) as refused_here:
            request_service(beanie_id, "repair", email="a@example.com", message="", locale="en")
        assert refused_here.value.status == 422
        db.session.rollback()
    assert client.post(f"/shop/services/{sweater_id}", data={"csrf_token": token, "kind": "repair",
                                                             "email": "a@example.com"}).status_code == 303
    with demo_app.app_context():
        assert db.session.scalar(select(func.count(m.ServiceRequest.id))) == before + 1


# Where the raw parts of the terms may be read: the one function, the product's own editing and publishing
# (what the MSME entered, not what a consumer is shown), the MSME's own terms form and the credential (which
# hands the version being published to the one function).
ALLOWED = {
    "circular_terms(": {"marketplace/products/rules.py", "marketplace/payments/circular.py",
                        "marketplace/products/editing.py", "marketplace/products/workspace.py"},
    "circular_services": {"marketplace/payments/circular.py", "marketplace/products/models.py",
                          "marketplace/products/demo.py", "marketplace/products/editing.py",
                          "marketplace/products/forms.py", "marketplace/products/workflow.py",
                          "marketplace/products/workspace.py", "marketplace/passports/untp/dpp_product.py"},
    "offers_for(": {"marketplace/payments/circular.py", "marketplace/payments/routes/circular.py"},
    "offer_of(": {"marketplace/payments/circular.py"},
    "circularity.services": set(),
    "ServiceOffer": {"marketplace/payments/circular.py", "marketplace/payments/models.py",
                     "marketplace/models.py"},
}


def test_no_entry_point_reads_the_terms_another_way() -> None:
    found: dict[str, set[str]] = {name: set() for name in ALLOWED}
    files = [*ROOT.joinpath("marketplace").rglob("*.py"), *ROOT.joinpath("templates").rglob("*.html")]
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        source = path.read_text(encoding="utf-8")
        code = re.sub(r'"""[\s\S]*?"""', "", source)  # docstrings may name the parts
        for name in ALLOWED:
            if re.search(r"(?<!\w)" + re.escape(name), code):  # not "_circular_services.html"
                found[name].add(relative)
    for name, allowed in ALLOWED.items():
        assert found[name] <= allowed, f"{name} read outside the one source: {sorted(found[name] - allowed)}"
    untp = ROOT.joinpath("marketplace/passports/untp/dpp_product.py").read_text(encoding="utf-8")
    assert untp.count("circular_services") == 1
    assert "consumer_terms(product, offered=product.circular_services)" in untp
    routes = ROOT.joinpath("marketplace/payments/routes/circular.py").read_text(encoding="utf-8")
    assert routes.count("offers_for(") == 1  # the MSME's own terms form, filled with what it saved
