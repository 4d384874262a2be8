"""UNTP 0.7.0 is the published form; 0.6.1 stays available with ``?untp=0.6.1``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlalchemy import select
from sqlalchemy import update as sql_update

from marketplace.certification.models import Certificate
from marketplace.extensions import db
from marketplace.passports import services, untp070
from marketplace.passports.models import Passport, PassportVersion
from tests.helpers import text

SHARED = Path(__file__).resolve().parent.parent.parent.parent / "shared"


def _public_ids(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Passport.public_id).order_by(Passport.id)))


def _engine() -> Any:
    from dppvalidator import ValidationEngine

    return ValidationEngine(schema_version="0.7.0", layers=["schema", "model", "semantic"], load_plugins=False)


def test_every_demo_passport_is_published_as_a_valid_untp_070_dpp(demo_app: Flask) -> None:
    engine = _engine()
    client = demo_app.test_client()
    schema_file = SHARED / "untp-0.7" / "DigitalProductPassport-schema-0.7.0.json"
    schema = None
    if schema_file.is_file():
        from jsonschema import Draft202012Validator

        schema = Draft202012Validator(json.loads(schema_file.read_text()))
    ids = _public_ids(demo_app)
    invalid: list[str] = []
    for public_id in ids:
        document = client.get(f"/passports/{public_id}.json").get_json(force=True)
        assert document["@context"][:2] == ["https://www.w3.org/ns/credentials/v2", untp070.CONTEXT]
        assert "working" not in json.dumps(document["@context"])
        result = engine.validate(document)
        problems = [f"{e.path}: {e.code} {e.message}" for e in result.errors]
        if schema is not None:
            problems += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in schema.iter_errors(document)]
        if not result.valid or problems:
            invalid.append(f"{public_id}: {problems[:5]}")
    print(f"\ndppvalidator 0.7.0 (schema, model, semantic): {len(ids) - len(invalid)} valid / {len(ids)}")  # noqa: T201
    assert len(ids) >= 60
    assert invalid == []


def test_the_validator_catches_a_broken_passport(demo_app: Flask) -> None:
    document = demo_app.test_client().get(f"/passports/{_public_ids(demo_app)[-1]}.json").get_json(force=True)
    assert _engine().validate(document).valid
    del document["credentialSubject"]["producedAtFacility"]
    assert not _engine().validate(document).valid


def test_both_forms_by_content_negotiation_and_signed(demo_app: Flask) -> None:
    client = demo_app.test_client()
    public_id = _public_ids(demo_app)[-1]
    url = f"/passports/{public_id}"
    current = client.get(f"{url}.json").get_json(force=True)
    legacy = client.get(f"{url}.json?untp=0.6.1").get_json(force=True)
    assert current["credentialSubject"]["type"] == ["Product"]
    assert legacy["credentialSubject"]["type"] == ["ProductPassport"]
    assert client.get(url, headers={"Accept": "application/ld+json"}).get_json(force=True) == current
    assert client.get(f"{url}?untp=0.6.1", headers={"Accept": "application/ld+json"}).get_json(force=True) == legacy
    assert client.get(f"{url}/versions/1?untp=0.6.1").get_json(force=True)["id"] == legacy["id"]
    did = client.get("/.well-known/did.json").get_json(force=True)
    key = OKPKey.import_key(did["verificationMethod"][0]["publicKeyJwk"])
    for query, expected in (("", current), ("?untp=0.6.1", legacy)):
        token = client.get(f"{url}.jwt{query}").get_data(as_text=True)
        assert json.loads(jws.deserialize_compact(token, key, algorithms=["Ed25519"]).payload) == expected
    assert "untp=0.6.1" in client.get(f"{url}.json").headers["Link"]
    with demo_app.app_context():  # a verifier pasting either form finds the version
        for document in (current, legacy):
            verdict = services.verify_document(json.dumps(document))
            assert verdict.authentic, verdict.reasons
            assert verdict.current, verdict.reasons
        assert services.verify_all() == []


@pytest.mark.parametrize("path", ["/passports/{id}.json", "/passports/{id}.jwt", "/passports/{id}/versions/1",
                                  "/certificates/{cert}.json", "/events/steps/1.json"])
def test_an_unknown_untp_version_is_a_clear_400(demo_app: Flask, path: str) -> None:
    with demo_app.app_context():
        cert = db.session.scalar(select(Certificate.number).limit(1))
    client = demo_app.test_client()
    response = client.get(path.format(id=_public_ids(demo_app)[0], cert=cert) + "?untp=0.5")
    assert response.status_code == 400
    assert "there is no version 0.5" in text(response)
    response = client.get(f"/passports/{_public_ids(demo_app)[0]}?untp=working",
                          headers={"Accept": "application/ld+json"})
    assert response.status_code == 400


def test_certificates_in_070_and_linked_by_digest(demo_app: Flask) -> None:
    client = demo_app.test_client()
    found = 0
    for public_id in _public_ids(demo_app):
        document = client.get(f"/passports/{public_id}.json").get_json(force=True)
        for claim in document["credentialSubject"]["performanceClaim"]:
            for evidence in claim.get("evidence", []):
                path = evidence["linkURL"].split("//", 1)[1].split("/", 1)[1]
                dcc = client.get("/" + path).get_json(force=True)
                assert evidence["digestMultibase"] == untp070.digest_multibase(dcc)
                assert dcc["type"] == ["DigitalConformityCredential", "VerifiableCredential"]
                assert dcc["@context"] == ["https://www.w3.org/ns/credentials/v2", untp070.CONTEXT]
                subject = dcc["credentialSubject"]
                assert subject["type"] == ["ConformityAttestation"]
                assert {"assessorLevel", "assessmentLevel", "attestationType", "issuedToParty", "referenceScheme",
                        "conformityAssessment"} <= set(subject)
                found += 1
    assert found > 0


def test_digest_multibase_is_a_sha256_multihash_in_base58btc() -> None:
    digest = untp070.digest_multibase({"a": 1})
    assert digest.startswith("zQm")
    assert len(digest) == 47  # "z" + the 46 characters of a base58 SHA-256 multihash (as in an IPFS CIDv0)


def test_parties_facilities_and_the_issuer_carry_register_identifiers(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        from marketplace.products.models import Product, ProductStatus

        product_id = db.session.scalar(select(Product.id).where(Product.status == ProductStatus.published).limit(1))
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product_id))
    current = client.get(f"/passports/{public_id}.json").get_json(force=True)
    legacy = client.get(f"/passports/{public_id}.json?untp=0.6.1").get_json(force=True)
    subject = current["credentialSubject"]
    maker = subject["relatedParty"][0]["party"]
    assert maker["registeredId"].isdigit()
    assert len(maker["registeredId"]) == 7  # the Mongolian state registration number
    assert maker["idScheme"]["id"] == "https://burtgel.gov.mn/"
    assert legacy["credentialSubject"]["product"]["producedByParty"]["registeredId"] == maker["registeredId"]
    facility = subject["producedAtFacility"]
    assert facility["type"] == ["Facility"]
    assert facility["registeredId"].endswith("/site-1")
    assert facility["idScheme"]["name"].endswith("register of processing facilities")
    union = current["issuer"]["issuerAlsoKnownAs"][0]
    assert union["registeredId"].isdigit()
    assert union["idScheme"]["id"] == "https://burtgel.gov.mn/"
    for origin in legacy["credentialSubject"]["cashmere"]["origins"]:  # cooperatives behind the fibre
        for coop in origin["cooperative"]:
            assert "registeredId" not in coop or coop["registeredId"].isdigit()
    assert subject["productCategory"][0]["schemeName"] == "Harmonized System"  # the HS code of the product


def test_a_version_published_before_070_is_republished_with_it(demo_app: Flask) -> None:
    public_id = _public_ids(demo_app)[0]
    with demo_app.app_context():
        passport = services.get_passport(public_id)
        current = passport.current
        number = current.number
        # As a version published before migration 0015 is (the ORM refuses to change a version).
        db.session.execute(sql_update(PassportVersion).where(PassportVersion.id == current.id).values(
            credential_070=None, content_hash_070=None, signature_070=None))
        db.session.commit()
        db.session.expire_all()
        assert demo_app.test_client().get(f"/passports/{public_id}.json").get_json(force=True)["credentialSubject"][
            "type"] == ["ProductPassport"]  # only the 0.6.1 form until then
        version = services.publish(services.get_passport(public_id))
        assert version is not None
        assert version.number == number + 1
        assert version.credential_070 is not None
        assert services.publish(services.get_passport(public_id)) is None  # and then nothing more
        db.session.commit()


def test_traceability_events_in_070_are_make_events_linked_by_digest(demo_app: Flask) -> None:
    client = demo_app.test_client()
    found = 0
    for public_id in _public_ids(demo_app):
        document = client.get(f"/passports/{public_id}.json").get_json(force=True)
        for link in document["credentialSubject"].get("relatedDocument", []):
            if not link["linkType"].endswith("/dte"):
                continue
            path = "/" + link["linkURL"].split("//", 1)[1].split("/", 1)[1]
            event = client.get(path).get_json(force=True)
            assert link["digestMultibase"] == untp070.digest_multibase(event)
            assert event["@context"] == ["https://www.w3.org/ns/credentials/v2", untp070.CONTEXT]
            subject = event["credentialSubject"][0]
            assert subject["type"] == ["MakeEvent", "LifecycleEvent"]
            assert subject["inputProduct"][0]["product"]["idGranularity"] == "batch"
            assert subject["madeAtFacility"]["type"] == ["Facility"]
            assert subject["outputProduct"][0]["quantity"]["unit"] == "KGM"
            assert subject["relatedParty"][0]["role"] == "processor"
            legacy = client.get(path + "?untp=0.6.1").get_json(force=True)
            assert legacy["credentialSubject"][0]["type"] == ["TransformationEvent", "Event"]
            found += 1
    assert found > 0
