"""Content negotiation on the passport and resolver URLs (issue 18 review): a client asking for JSON or
JSON-LD gets the JSON-LD credential, whatever media-type parameters its Accept header carries (a JSON-LD
``profile``, a ``charset``), from the passport URL directly and from the GS1 Digital Link after the 307."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports import resolver
from marketplace.passports.models import Passport

JSON_ACCEPTS = [
    "application/json",
    "application/ld+json",
    "application/json; charset=utf-8",
    'application/ld+json; profile="https://www.w3.org/ns/credentials/v2"',
    "application/ld+json;profile=https://www.w3.org/ns/json-ld#expanded, application/json;q=0.9",
    "application/json, text/plain, */*",  # axios' default
    "APPLICATION/LD+JSON",
]


def _ids(app: Flask) -> tuple[str, str, str]:
    with app.app_context():
        passports = db.session.scalars(select(Passport).order_by(Passport.id)).all()
        product = next(p for p in passports if p.product_id and p.product.gtin and p.current)
        lot = next(p for p in passports if p.lot_id and p.current)
        return product.public_id, product.product.gtin, lot.public_id


@pytest.mark.parametrize("accept", JSON_ACCEPTS)
def test_json_asked_for_gets_the_json_ld_credential(demo_app: Flask, accept: str) -> None:
    client = demo_app.test_client()
    product, gtin, lot = _ids(demo_app)
    for public_id in (product, lot):
        expected = client.get(f"/passports/{public_id}.json").get_json(force=True)
        response = client.get(f"/passports/{public_id}", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.mimetype == "application/ld+json", (public_id, accept)
        assert response.get_json(force=True) == expected
        assert "Accept" in response.headers["Vary"]
    resolved = client.get(f"/01/{gtin}", headers={"Accept": accept})
    assert resolved.status_code == 307, resolved.status_code
    followed = client.get(resolved.headers["Location"], headers={"Accept": accept})
    assert followed.mimetype == "application/ld+json"
    assert followed.get_json(force=True) == client.get(f"/passports/{product}.json").get_json(force=True)
    head = client.head(f"/passports/{product}", headers={"Accept": accept})
    assert head.mimetype == "application/ld+json"


@pytest.mark.parametrize("accept", [
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "*/*", "text/html; charset=utf-8", ""])
def test_browsers_and_curl_still_get_the_page(demo_app: Flask, accept: str) -> None:
    product, _gtin, _lot = _ids(demo_app)
    response = demo_app.test_client().get(f"/passports/{product}", headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    assert response.mimetype == "text/html"


def test_the_accept_parser_drops_media_type_parameters_only() -> None:
    parsed = resolver.parse_accept('application/ld+json; profile="x", text/html;level=1;q=0.5')
    assert parsed.best_match(["text/html", "application/ld+json"]) == "application/ld+json"
    assert parsed.quality("text/html") == 0.5
    assert not resolver.parse_accept("").provided  # no header: as werkzeug parses a request without one
