"""CORS (read-only, no credentials) and ``Vary: Accept`` on every machine-readable endpoint."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.certification.models import Certificate
from marketplace.extensions import db
from marketplace.passports.models import IssuedDocument, Passport
from marketplace.passports.routes import CORS_ENDPOINTS
from marketplace.products.models import ProcessingStep, Product, ProductStatus

ORIGIN = "https://verifier.example"


def _urls(app: Flask) -> dict[str, str]:
    with app.app_context():
        passport = db.session.scalars(select(Passport).where(Passport.product_id.is_not(None))
                                      .order_by(Passport.id)).first()
        gtin = db.session.scalar(select(Product.gtin).where(Product.id == passport.product_id))
        step = db.session.scalar(select(ProcessingStep.id).join(Product).where(
            Product.status == ProductStatus.published, Product.published_number.is_not(None)).limit(1))
        number = db.session.scalar(select(Certificate.number).limit(1))
        public_id = passport.public_id
        issued = {kind: db.session.scalars(select(IssuedDocument).where(IssuedDocument.kind == kind)).first()
                  for kind in ("dcc", "dte", "dia")}
    return {
        "certification.conformity_credential_version":
            f"/certificates/{issued['dcc'].subject}/versions/{issued['dcc'].number}.json",
        "passports.traceability_event_version":
            f"/events/steps/{issued['dte'].subject}/versions/{issued['dte'].number}.jwt",
        "passports.org_did_document": f"/orgs/{issued['dia'].subject}/did.json",
        "passports.org_identity": f"/orgs/{issued['dia'].subject}/identity.json",
        "passports.org_identity_version": f"/orgs/{issued['dia'].subject}/identity/versions/1.json",
        "passports.did_document": "/.well-known/did.json",
        "passports.context": "/contexts/cashmere/v1.jsonld",
        "passports.context_v2": "/contexts/cashmere/v2.jsonld",
        "passports.page": f"/passports/{public_id}",
        "passports.credential_json": f"/passports/{public_id}.json",
        "passports.credential_jwt": f"/passports/{public_id}.jwt",
        "passports.version_json": f"/passports/{public_id}/versions/1",
        "passports.status": "/passports/status/revocation",
        "passports.log": "/passports/log",
        "passports.log_checkpoint": "/passports/log/checkpoint",
        "passports.log_entries": "/passports/log/entries",
        "passports.tlog_checkpoint": "/passports/tlog/checkpoint",
        "passports.tlog_tile": "/passports/tlog/tile/0/000.p/1",
        "passports.log_consistency": "/passports/log/consistency?first=1&second=2",
        "passports.version_inclusion": f"/passports/{public_id}/versions/1/inclusion",
        "passports.bundle": f"/passports/{public_id}/bundle",
        "passports.digital_link": f"/01/{gtin}",
        "passports.gs1_resolver_description": "/.well-known/gs1resolver",
        "passports.traceability_event": f"/events/steps/{step}.json",
        "certification.conformity_credential": f"/certificates/{number}.json",
        "passports.traceability_event_id": f"/events/steps/{step}",  # identifiers: on to their JSON-LD (303)
        "certification.certificate": f"/certificates/{number}",
        "passports.status_version": "/passports/status/revocation/versions/1",  # issued by the list above
    }


def test_every_machine_readable_endpoint_is_listed_and_answers_cross_origin(demo_app: Flask) -> None:
    urls = _urls(demo_app)
    assert set(urls) == set(CORS_ENDPOINTS)
    client = demo_app.test_client()
    for endpoint, url in urls.items():
        for method in ("GET", "HEAD"):
            response = client.open(url, method=method, headers={"Origin": ORIGIN, "Accept": "application/ld+json"})
            assert response.status_code in (200, 303, 307), (endpoint, method, response.status_code)
            assert response.headers.get("Access-Control-Allow-Origin") == "*", (endpoint, method)
            assert "Access-Control-Allow-Credentials" not in response.headers, endpoint
            assert "accept" in {v.strip().lower() for v in response.headers["Vary"].split(",")}, endpoint
        preflight = client.options(url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                                                 "Access-Control-Request-Headers": "accept"})
        assert preflight.status_code == 200, endpoint
        assert preflight.headers["Access-Control-Allow-Origin"] == "*", endpoint
        assert "GET" in preflight.headers["Access-Control-Allow-Methods"], endpoint
        assert "POST" not in preflight.headers["Access-Control-Allow-Methods"], endpoint
    # The resolver's Link and Location headers are readable by the script that made the request.
    exposed = client.get(urls["passports.digital_link"], headers={"Origin": ORIGIN})
    assert {"Link", "Location"} <= {h.strip() for h in exposed.headers["Access-Control-Expose-Headers"].split(",")}


def test_errors_of_those_endpoints_are_readable_too(demo_app: Flask) -> None:
    client = demo_app.test_client()
    for url in ("/passports/nope.json", "/01/123", "/01/08650001000015?linkType=gs1:nothing"):
        response = client.get(url, headers={"Origin": ORIGIN})
        assert 400 <= response.status_code < 500
        assert response.headers["Access-Control-Allow-Origin"] == "*", url


@pytest.mark.parametrize("url", ["/lots", "/passports/verify", "/signin", "/products"])
def test_pages_for_people_and_forms_get_no_cors(demo_app: Flask, url: str) -> None:
    client = demo_app.test_client()
    assert "Access-Control-Allow-Origin" not in client.get(url, headers={"Origin": ORIGIN}).headers
    posted = client.post("/passports/verify", headers={"Origin": ORIGIN}, data={})
    assert "Access-Control-Allow-Origin" not in posted.headers
