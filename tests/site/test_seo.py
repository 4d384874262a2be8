"""What search engines read: a description, absolute hreflang alternates and schema.org Product/Offer data."""

from __future__ import annotations

import json
import re

from flask.testing import FlaskClient
from sqlalchemy import select

from tests.helpers import text


def _structured(html: str) -> dict:
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert len(found) == 1
    return json.loads(found[0])


def test_every_page_has_a_description_and_absolute_language_alternates(demo_client: FlaskClient) -> None:
    origin = demo_client.application.config["PUBLIC_BASE_URL"].rstrip("/")
    for path in ("/", "/lots", "/lots/USCC-2025-BKH-001", "/products"):
        html = text(demo_client.get(path))
        description = re.search(r'<meta name="description" content="([^"]+)">', html)
        assert description is not None
        assert 50 <= len(description.group(1)) <= 320, path
        alternates = re.findall(r'<link rel="alternate" hreflang="([a-z]+)" href="([^"]+)">', html)
        assert [code for code, _ in alternates] == ["en", "mn", "fr", "de", "it", "zh"]
        assert all(href.startswith(origin + "/") for _, href in alternates), alternates


def test_lot_and_product_pages_carry_schema_org_product_and_offer(demo_client: FlaskClient) -> None:
    from marketplace.extensions import db
    from marketplace.products.models import Product

    lot = _structured(text(demo_client.get("/lots/USCC-2025-BKH-001")))
    assert lot["@context"] == "https://schema.org"
    assert lot["@type"] == "Product"
    assert lot["sku"] == "USCC-2025-BKH-001"
    offer = lot["offers"]
    assert offer["@type"] == "Offer"
    assert offer["priceCurrency"] in ("EUR", "USD")
    assert float(offer["price"]) > 0
    assert offer["priceSpecification"]["unitCode"] == "KGM"
    with demo_client.application.app_context():
        product_id = db.session.scalar(select(Product.id).where(Product.sku == "KK-UE-CREW-LG"))
    html = text(demo_client.get(f"/products/{product_id}?lang=mn"))
    product = _structured(html)
    assert product["@type"] == "Product"
    assert product["sku"] == "KK-UE-CREW-LG"
    assert product["name"] in html  # in the page's language
    assert product["offers"]["url"].endswith(f"/products/{product_id}")
    assert re.fullmatch(r"\d+\.\d{2}", product["offers"]["price"])
    assert product["image"]
    assert all(url.startswith("http") for url in product["image"])
