"""Passports: versions, UNTP schemas, signatures, status lists, log, GS1 resolver, QR, verification."""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from joserfc import jws
from joserfc.jwk import OKPKey
from PIL import Image
from sqlalchemy import select
from sqlalchemy import text as sql

from marketplace.accounts.models import Role
from marketplace.certification.models import CertificateStatus
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.lots.models import Lot, LotStatus
from marketplace.passports import log as merkle_log
from marketplace.passports import services, untp
from marketplace.passports import status as status_list
from marketplace.passports.gs1 import gtin_check_digit
from marketplace.passports.models import Passport, PassportVersion
from marketplace.passports.signing import canonical_json
from marketplace.products.models import DataBasis, Product, ProductStatus, StepKind
from tests import factories
from tests.helpers import csrf_token, sign_in, statements_run, text

SHARED = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "untp"
GTIN = "0952012345678" + str(gtin_check_digit("0952012345678"))


def _schema(name: str) -> Any:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the UNTP schema tests need ../shared")
    from jsonschema import Draft202012Validator

    schema = json.loads((SHARED / name).read_text())
    # The 0.6.1 schemas (from spec-untp main) pin the moving ``…/working/`` context URL; the credentials
    # cite the frozen 0.6.1 release of the same context instead, so the schema is asked for that one.
    contexts = schema["properties"]["@context"]
    folder = name.split("/", maxsplit=1)[0]
    versioned = next(url for url, where in untp.CONTEXTS_061.items() if where == folder)
    assert contexts["prefixItems"][1]["const"].endswith("/working/")
    contexts["prefixItems"][1]["const"] = versioned
    return Draft202012Validator(schema)


def _errors(validator: Any, document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _lot_passport(app: Flask) -> Passport:
    with app.app_context():
        return db.session.scalar(select(Passport).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))


def _published_product(app: Flask) -> int:
    """A knitted product made from two demo lots, with steps, published, and its passport."""
    session = factories.current_session()
    lots = session.scalars(select(Lot).where(Lot.code.in_(["USCC-2025-BKH-001", "USCC-2026-BKH-POOL-01"]))).all()
    msme = factories.MsmeFactory(slug="khangai-test", name="Khangai Test Knitwear")
    product = factories.ProductFactory(
        line__organisation=msme, organisation=msme, gtin=GTIN, batch_code="B2026-07", sku="KH-CREW-01",
        name={"en": "Undyed crew-neck sweater", "mn": "Будаагүй ноолууран цамц"}, recycled_pct=Decimal("0"),
        care_codes=["hand_wash_30", "no_bleach"], circular_services={"repair": "Free repairs for 5 years"},
        status=ProductStatus.published, production_date=dt.date(2026, 8, 20), price_minor=32000,
    )
    factories.ProductSourceFactory(product=product, lot=lots[0], kg=Decimal("40"))
    factories.ProductSourceFactory(product=product, lot=lots[1], kg=Decimal("10"))
    facility = factories.MsmeFactory(slug="spinner-test", name="Test Spinner")
    for kind, day, kg_in, kg_out, basis in [
        (StepKind.dehairing, 1, "40", "20", DataBasis.measured),
        (StepKind.spinning, 5, "30", "27", DataBasis.declared),
        (StepKind.knitting, 12, "27", "25.2", DataBasis.estimated),
    ]:
        factories.ProcessingStepFactory(
            product=product, kind=kind, facility=facility, performed_on=dt.date(2026, 7, day),
            kg_in=Decimal(kg_in), kg_out=Decimal(kg_out), energy_kwh=Decimal("120.5"), energy_basis=basis,
            water_l=Decimal("800"), water_basis=basis, co2e_kg=Decimal("60.2"), co2e_basis=basis,
        )
    with app.app_context():
        stored = db.session.get(Product, product.id)
        passport = services.passport_for(product=stored)
        services.publish(passport)
        db.session.commit()
        return passport.id


def test_every_listed_lot_has_a_signed_logged_passport(demo_app: Flask) -> None:
    with demo_app.app_context():
        listed = db.session.scalars(select(Lot).where(Lot.status == LotStatus.listed)).all()
        passports = {p.lot_id: p for p in db.session.scalars(select(Passport))}
        assert {lot.id for lot in listed} <= set(passports)
        assert all(passports[lot.id].current is not None for lot in listed)
        assert services.verify_all() == []
        published = db.session.scalars(select(Product).where(Product.status == ProductStatus.published)).all()
        assert published  # the demo's products have passports too
        product_ids = set(db.session.scalars(select(Passport.product_id).where(Passport.product_id.is_not(None))))
        assert product_ids == {p.id for p in published}
        # One log entry per version; products published before the demo's premium was paid have a
        # second version that shows the ledger.
        versions = db.session.scalars(select(PassportVersion)).all()
        assert len(versions) >= len(listed) + len(published)
        assert merkle_log.verify_log(services.status_indexes()) == []  # every version in the Merkle log


def test_a_change_makes_a_new_version_and_the_old_one_stays(demo_app: Flask) -> None:
    with demo_app.app_context():
        passport = db.session.scalar(select(Passport).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        first = passport.current
        first_hash, first_subject = first.content_hash, json.dumps(first.credential, sort_keys=True)
        assert services.publish(passport) is None  # unchanged content: no new version
        passport.lot.herder_price_minor += 100_00
        second = services.publish(passport)
        db.session.commit()
        assert second is not None
        assert second.number == 2
        again = db.session.get(PassportVersion, first.id)
        assert again.content_hash == first_hash
        assert json.dumps(again.credential, sort_keys=True) == first_subject
        assert services.verify_all() == []


def test_lot_passport_validates_against_the_untp_dpp_schema(demo_app: Flask) -> None:
    validator = _schema("untp-dpp/untp-dpp-schema.json")
    passport = _lot_passport(demo_app)
    response = demo_app.test_client().get(f"/passports/{passport.public_id}.json?untp=0.6.1")
    assert response.mimetype == "application/ld+json"
    document = response.get_json(force=True)
    assert _errors(validator, document) == []
    subject = document["credentialSubject"]
    assert subject["granularityLevel"] == "batch"
    assert subject["product"]["characteristics"]["meanFibreDiameter"]["value"] == 16.7
    assert subject["cashmere"]["fairPricing"]["premiumToHerders"] > 0


def test_product_passport_validates_and_shows_the_whole_journey(demo_app: Flask) -> None:
    validator = _schema("untp-dpp/untp-dpp-schema.json")
    passport_id = _published_product(demo_app)
    with demo_app.app_context():
        passport = db.session.get(Passport, passport_id)
        document = passport.current.credential
        public_id = passport.public_id
    assert _errors(validator, document) == []
    cm = document["credentialSubject"]["cashmere"]
    assert [s["step"] for s in cm["steps"]] == ["dehairing", "spinning", "knitting"]
    assert cm["overallYield"]["outputKg"]["value"] == 25.2
    assert cm["overallYield"]["greasyKg"]["basis"] == "estimated"  # one source lot was bought dehaired
    assert cm["itemsInBatch"] == 90  # 25.2 kg / 0.28 kg
    assert cm["impactPerItem"]["co2eKg"]["basis"] == "estimated"
    assert 0 < cm["fairPricing"]["herderShareOfPrice"]["value"] < 100
    assert document["credentialSubject"]["emissionsScorecard"]["declaredUnit"] == "H87"
    html = text(demo_app.test_client().get(f"/passports/{public_id}"))
    for needle in ("Undyed crew-neck sweater", "Khangai Test Knitwear", "Dehairing", "Overall yield",
                   "Herders' share of the retail price", "Free repairs for 5 years", "estimated", "measured",
                   "Jinst (Жинст)", "Ikh Bogd PUG"):
        assert needle in html, needle


def test_certificates_and_steps_validate_as_dcc_and_dte(demo_app: Flask) -> None:
    dcc = _schema("untp-dcc/untp-dcc-schema.json")
    dte = _schema("untp-dte/untp-dte-schema.json")
    _published_product(demo_app)
    client = demo_app.test_client()
    certificate = client.get("/certificates/SC-2025-BKH-001.json?untp=0.6.1").get_json(force=True)
    assert _errors(dcc, certificate) == []
    with demo_app.app_context():
        from marketplace.products.models import ProcessingStep

        step_ids = db.session.scalars(
            select(ProcessingStep.id).join(Product).where(Product.published_number.is_not(None))
        ).all()
        hidden = db.session.scalars(
            select(ProcessingStep.id).join(Product).where(
                Product.published_number.is_(None),
                Product.id.not_in(select(Passport.product_id).where(Passport.product_id.is_not(None))))
        ).all()
    assert hidden
    for step_id in hidden:  # steps no published passport links to stay private
        assert client.get(f"/events/steps/{step_id}.json").status_code == 404
    for step_id in step_ids:
        event = client.get(f"/events/steps/{step_id}.json?untp=0.6.1").get_json(force=True)
        assert _errors(dte, event) == []
        assert event["credentialSubject"][0]["inputQuantityList"][0]["uom"] == "KGM"


def test_our_context_defines_every_term_and_no_vocab(demo_app: Flask) -> None:
    context = demo_app.test_client().get("/contexts/cashmere/v1.jsonld").get_json(force=True)["@context"]
    assert "@vocab" not in context
    passport_id = _published_product(demo_app)
    with demo_app.app_context():
        document = db.session.get(Passport, passport_id).current.credential
    used: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            used.update(node)
            for key, value in node.items():
                if key not in untp.LANGUAGE_MAPS:  # a language map's keys are language tags, not terms
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["credentialSubject"]["cashmere"])
    with demo_app.app_context():
        lot_document = services.get_passport(_lot_passport(demo_app).public_id).current.credential
    walk({k: v for k, v in lot_document["credentialSubject"]["product"]["characteristics"].items() if k != "type"})
    # The rest are defined (and protected) by the W3C VC 2.0 context (digestMultibase of the access tiers' links)
    # or UNTP's Party context; we never
    # redefine them (test_passport_jsonld.py expands every credential with all the contexts).
    assert used - set(context) == {"id", "type", "name", "registeredId", "idScheme", "digestMultibase"}
    assert not {"id", "type", "name", "description", "registeredId", "idScheme"} & set(context)


def test_signature_verifies_with_the_published_did_key(demo_app: Flask) -> None:
    client = demo_app.test_client()
    passport = _lot_passport(demo_app)
    did = client.get("/.well-known/did.json").get_json(force=True)
    key = OKPKey.import_key(did["verificationMethod"][0]["publicKeyJwk"])
    token = client.get(f"/passports/{passport.public_id}.jwt").get_data(as_text=True)
    result = jws.deserialize_compact(token, key, algorithms=["Ed25519"])
    assert json.loads(result.payload) == client.get(f"/passports/{passport.public_id}.json").get_json(force=True)
    assert result.headers()["kid"] == did["assertionMethod"][0]
    assert did["id"].startswith("did:web:")


def test_suspension_shows_at_once_in_the_page_and_the_status_list(demo_app: Flask) -> None:
    client = demo_app.test_client()
    passport = _lot_passport(demo_app)
    url = f"/passports/{passport.public_id}"
    first = client.get(url)
    assert "Valid." in text(first)
    etag = first.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304

    certifier = demo_app.test_client()
    sign_in(certifier, "certifier@demo.example", "demo-certifier-2026")
    token = csrf_token(certifier, "/certificates/SC-2025-BKH-001/manage")
    response = certifier.post("/certificates/SC-2025-BKH-001/manage", data={
        "status": "suspended", "reason": "Herd census above the adjustment plan.", "csrf_token": token})
    assert response.status_code == 302

    after = client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200  # the ETag changed with the status
    assert "Suspended." in text(after)
    assert "Herd census above the adjustment plan." in text(after)
    assert "Version 1" in text(after)  # the issue date and version stay visible
    with demo_app.app_context():
        jobs.run_pending()  # the status job the suspension enqueued re-issues the lists
    listing = client.get("/passports/status/suspension").get_json()
    bits = status_list.decode(listing["credentialSubject"]["encodedList"])
    assert status_list.is_set(bits, passport.status_index)
    revocation = status_list.decode(client.get("/passports/status/revocation").get_json()
                                    ["credentialSubject"]["encodedList"])
    assert not status_list.is_set(revocation, passport.status_index)


def _suspend_from_another_process(app: Flask, number: str, reason: str) -> None:
    """Change a certificate the way another web worker would: a separate process, its own connection."""
    with app.app_context():
        url = db.engine.url
    update = "UPDATE certificate SET status = 'suspended', status_reason = {p} WHERE number = {p}"
    if url.get_backend_name() == "sqlite":
        script = ("import sqlite3, sys\n"
                  "with sqlite3.connect(sys.argv[1]) as c:\n"
                  f"    c.execute({update.format(p='?')!r}, (sys.argv[3], sys.argv[2]))\n")
        target = str(url.database)
    else:
        script = ("import psycopg, sys\n"
                  "with psycopg.connect(sys.argv[1]) as c:\n"
                  f"    c.execute({update.format(p='%s')!r}, (sys.argv[3], sys.argv[2]))\n")
        target = url.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script, target, number, reason], check=True, timeout=60)


def test_cached_page_keys_see_a_commit_from_another_process(demo_app: Flask) -> None:
    client = demo_app.test_client()
    passport = _lot_passport(demo_app)
    url = f"/passports/{passport.public_id}"
    etag = client.get(url).headers["ETag"]
    with demo_app.app_context():
        keys = services._stamped_keys()  # SQLite file or PostgreSQL: both keep page keys
        assert keys is not None
        assert passport.public_id in keys.keys
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304  # answered from the cache

    _suspend_from_another_process(demo_app, "SC-2025-BKH-001", "Suspended by another worker.")
    after = client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200  # the very next request
    assert "Suspended." in text(after)
    assert "Suspended by another worker." in text(after)
    assert after.headers["ETag"] != etag
    assert client.get(url, headers={"If-None-Match": after.headers["ETag"]}).status_code == 304


def test_page_keys_read_through_the_pool_while_the_cache_is_busy_or_its_connection_is_lost(demo_app: Flask) -> None:
    client = demo_app.test_client()
    url = f"/passports/{_lot_passport(demo_app).public_id}"
    etag = client.get(url).headers["ETag"]
    with demo_app.app_context():
        keys = services._stamped_keys()
        assert keys is not None
    if isinstance(keys, services._PostgresSnapshotKeys):
        with keys.lock:  # another thread holds the cache's connection: this request uses the pool
            assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        with demo_app.app_context():  # the server ends the cache's session (a restart, a failover)
            pid = keys.held[1].info.backend_pid
            db.session.execute(sql("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            db.session.commit()
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304  # reconnected
        assert keys.held[1].info.backend_pid != pid
        keys.SNAPSHOT = b"SELECT no_such_function()"  # as on a server without pg_current_snapshot()
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert keys.unsupported  # from now on every key is read from the database
    _suspend_from_another_process(demo_app, "SC-2025-BKH-001", "Suspended after a reconnection.")
    after = client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert "Suspended after a reconnection." in text(after)


def test_page_keys_are_not_cached_in_wal_mode(demo_app: Flask) -> None:
    with demo_app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("journal modes are SQLite's")
        database = db.engine.url.database
        keys = services._stamped_keys()
        assert keys is not None
        assert keys.stamp() is not None
    with sqlite3.connect(database) as connection:  # WAL does not keep the header's change counter
        assert connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    assert keys.stamp() is None
    client = demo_app.test_client()
    url = f"/passports/{_lot_passport(demo_app).public_id}"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    _suspend_from_another_process(demo_app, "SC-2025-BKH-001", "Suspended while in WAL mode.")
    after = client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert "Suspended while in WAL mode." in text(after)


def test_certifier_acts_only_on_their_own_certificates(demo_app: Flask) -> None:
    other = factories.CertifierFactory(slug="other-certifier")
    factories.user_with_role(Role.certifier, organisation=other, email="other@cert.example")
    client = demo_app.test_client()
    sign_in(client, "other@cert.example")
    assert client.get("/certificates/SC-2025-BKH-001/manage").status_code == 404
    buyer = demo_app.test_client()
    sign_in(buyer, "buyer@demo.example", "demo-buyer-2026")
    assert buyer.get("/certificates/SC-2025-BKH-001/manage").status_code == 403


def test_bad_status_changes_are_refused_and_change_nothing(demo_app: Flask) -> None:
    client = demo_app.test_client()
    sign_in(client, "certifier@demo.example", "demo-certifier-2026")
    path = "/certificates/SC-2025-BKH-001/manage"
    for data in ({"status": "suspended", "reason": "short"}, {"status": "exploded", "reason": "A long enough reason"},
                 {"status": "active", "reason": "Already active, so this is refused."}):
        response = client.post(path, data={**data, "csrf_token": csrf_token(client, path)})
        assert response.status_code == 422, data
    with demo_app.app_context():
        from marketplace.certification.models import Certificate

        cert = db.session.scalar(select(Certificate).where(Certificate.number == "SC-2025-BKH-001"))
        assert cert.status is CertificateStatus.active


def test_gs1_digital_link_resolves_and_answers_linksets(demo_app: Flask) -> None:
    _published_product(demo_app)
    client = demo_app.test_client()
    for path in (f"/01/{GTIN}", f"/01/{GTIN}/10/B2026-07", f"/01/{GTIN}/10/B2026-07/21/000123"):
        response = client.get(path)
        assert response.status_code == 307, path
        assert response.headers["Location"].startswith("/passports/")
    linkset = client.get(f"/01/{GTIN}?linkType=all")
    assert linkset.mimetype == "application/linkset+json"
    body = linkset.get_json(force=True)
    assert body["linkset"][0]["anchor"].endswith(f"/01/{GTIN}")
    assert "https://gs1.org/voc/pip" in body["linkset"][0]
    assert client.get(f"/01/{GTIN}", headers={"Accept": "application/linkset+json"}).mimetype == \
        "application/linkset+json"


@pytest.mark.parametrize(("path", "problem"), [
    (f"/01/{GTIN[:-1]}{(int(GTIN[-1]) + 1) % 10}", "check digit"),
    (f"/01/{GTIN}/21/1/10/B2026-07", "wrong order"),
    ("/01/95201234X6788", "digits only"),
    ("/01/123", "8, 12, 13 or 14 digits"),
    (f"/01/{GTIN}/99/x", "Unknown or unsupported"),
    (f"/01/{GTIN}/10", "followed by a value"),
])
def test_malformed_gs1_paths_get_a_400_naming_the_problem(demo_app: Flask, path: str, problem: str) -> None:
    response = demo_app.test_client().get(path)
    assert response.status_code == 400
    assert problem in text(response)


def test_unknown_gtin_and_passport_get_helpful_404s(demo_app: Flask) -> None:
    client = demo_app.test_client()
    response = client.get("/01/09520123456788")
    assert response.status_code == 404
    assert "No published product has this GTIN" in text(response)
    response = client.get("/passports/does-not-exist")
    assert response.status_code == 404
    assert "Check the code printed on the label" in text(response)


def test_qr_codes_and_hang_tags(demo_app: Flask) -> None:
    client = demo_app.test_client()
    passport = _lot_passport(demo_app)
    png = client.get(f"/passports/{passport.public_id}/qr.png")
    image = Image.open(io.BytesIO(png.data))
    image.verify()
    assert png.mimetype == "image/png"
    svg = client.get(f"/passports/{passport.public_id}/qr.svg")
    assert svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data
    labels = text(client.get(f"/passports/{passport.public_id}/labels"))
    assert labels.count("<svg") == 8
    assert "/static/css/labels.css" in labels  # the A4 layout; no inline style under the CSP
    with client.get("/static/css/labels.css") as stylesheet:
        assert b"size: A4" in stylesheet.data
    assert "Монгол ноолуур" in labels


def test_content_negotiation_and_conditional_get(demo_app: Flask) -> None:
    client = demo_app.test_client()
    passport = _lot_passport(demo_app)
    url = f"/passports/{passport.public_id}"
    assert client.get(url, headers={"Accept": "application/ld+json"}).mimetype == "application/ld+json"
    assert client.get(url, headers={"Accept": "application/vc+jwt"}).mimetype == "application/vc+jwt"
    page = client.get(url)
    assert page.headers["Cache-Control"] == "public, no-cache"
    assert "Accept" in page.headers["Vary"]
    assert client.get(url, headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
    french = client.get(url + "?lang=fr", headers={"If-None-Match": page.headers["ETag"]})
    assert french.status_code == 200  # the language is part of the ETag


def _verify(client: Any, document: str) -> str:
    token = csrf_token(client, "/passports/verify")
    response = client.post("/passports/verify", data={"document": document, "csrf_token": token})
    assert response.status_code in (200, 422)
    return text(response)


def test_verification_page(demo_app: Flask) -> None:
    client = demo_app.test_client()
    passport = _lot_passport(demo_app)
    credential = client.get(f"/passports/{passport.public_id}.json").get_data(as_text=True)
    token = client.get(f"/passports/{passport.public_id}.jwt").get_data(as_text=True)
    assert "Authentic and current" in _verify(client, credential)
    assert "Authentic and current" in _verify(client, token)

    tampered = json.loads(credential)
    tampered["credentialSubject"]["cashmere"]["origins"][0]["kg"] *= 2
    assert "Not authentic" in _verify(client, json.dumps(tampered))

    header, payload, signature = token.split(".")
    assert "Not authentic" in _verify(client, f"{header}.{payload[:-4]}AAAA.{signature}")

    stranger = OKPKey.generate_key("Ed25519", private=True)
    forged = jws.serialize_compact({"alg": "Ed25519"}, canonical_json(json.loads(credential)), stranger,
                                   algorithms=["Ed25519"])
    page = _verify(client, forged)
    assert "Not authentic" in page
    assert "signed by someone else" in page

    for junk in ("not a passport", "{", "[1, 2]", "eyJ.abc.def", "\u00ff" * 50):
        assert "Not authentic" in _verify(client, junk)
    assert "Paste a passport or choose a file" in _verify(client, "")

    with demo_app.app_context():
        stored = db.session.get(Passport, passport.id)
        stored.lot.certificate.status = CertificateStatus.revoked
        stored.lot.certificate.status_reason = "Fraudulent bag labels."
        db.session.commit()
    page = _verify(client, credential)
    assert "Authentic, but revoked" in page
    assert "Fraudulent bag labels." in page


def test_verification_by_file_upload(demo_app: Flask) -> None:
    client = demo_app.test_client()
    passport = _lot_passport(demo_app)
    token = client.get(f"/passports/{passport.public_id}.jwt").get_data()
    response = client.post("/passports/verify", data={
        "file": (io.BytesIO(token), "passport.jwt"), "csrf_token": csrf_token(client, "/passports/verify"),
    }, content_type="multipart/form-data")
    assert "Authentic and current" in text(response)


def test_verify_cli_checks_signatures_statuses_and_the_log(demo_app: Flask) -> None:
    runner = demo_app.test_cli_runner()
    result = runner.invoke(args=["passports", "verify"])
    assert result.exit_code == 0, result.output
    assert "every version's hash, signature and status entry verifies" in result.output
    passport = _lot_passport(demo_app)
    with demo_app.app_context():
        # Tamper behind the application's back, as an attacker with database access would.
        db.session.execute(sql("UPDATE passport_log_leaf SET leaf_hash = :h WHERE leaf_index = 3"), {"h": "f" * 64})
        db.session.execute(sql("UPDATE passport SET status_index = 99999 WHERE id = :id"), {"id": passport.id})
        db.session.commit()
    result = runner.invoke(args=["passports", "verify"])
    assert result.exit_code == 1
    assert "Merkle log entry 3" in result.output
    assert "status entries" in result.output


def test_public_log_describes_the_merkle_log_without_listing_it(demo_app: Flask) -> None:
    log = demo_app.test_client().get("/passports/log").get_json()
    assert "entries" not in log
    with demo_app.app_context():
        assert log["treeSize"] == merkle_log.size() > 0
    assert log["merkle"]["entries"].endswith("/passports/log/entries")


def test_status_list_encoding_round_trip() -> None:
    encoded = status_list.encode({0, 7, 8, 131_071})
    bits = status_list.decode(encoded)
    assert len(bits) == 131_072 // 8
    assert [status_list.is_set(bits, i) for i in (0, 1, 7, 8, 9, 131_071)] == [True, False, True, True, False, True]
    with pytest.raises(ValueError, match="outside"):
        status_list.encode({131_072})


def test_untp_helpers_are_deterministic() -> None:
    assert untp.sha256({"b": 1, "a": [1, 2]}) == untp.sha256({"a": [1, 2], "b": 1})


def test_product_page_links_to_its_passport_and_the_cart(demo_app: Flask) -> None:
    with demo_app.app_context():
        product = db.session.scalar(select(Product).where(Product.status == ProductStatus.published))
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product.id))
    html = text(demo_app.test_client().get(f"/products/{product.id}"))
    assert f'href="/passports/{public_id}"' in html
    assert "Add to cart" in html
    passport = text(demo_app.test_client().get(f"/passports/{public_id}"))
    assert product.name["en"] in passport


def test_consumer_catalogue_searches_with_the_search_port(demo_app: Flask) -> None:
    client = demo_app.test_client()
    everything = text(client.get("/products"))
    found = client.get("/products?q=scarf")
    assert found.status_code == 200
    html = text(found)
    assert "scarf" in html.lower()
    assert html.count('class="result-count"') == 1
    assert html != everything
    typo = text(client.get("/products?q=swaeter"))  # a typo still finds the sweaters
    assert "sweater" in typo.lower()
    nothing = text(client.get("/products?q=zzzzzzzz"))
    assert "0 products" in nothing
    too_long = client.get("/products?q=" + "x" * 600)
    assert too_long.status_code == 200  # ignored with a message, not a 500
    assert "Field cannot be longer than 512 characters" in text(too_long)


def test_verify_reads_each_key_once_however_many_documents_it_signed(demo_app: Flask) -> None:
    """``passports verify`` checks both signatures of every issued document; an issuer's few keys are each read
    once (``keys.public_key`` inside the check's ``memo.batch``), not once a signature."""
    from sqlalchemy import func

    from marketplace.passports import verification
    from marketplace.passports.models import IssuedDocument

    with demo_app.app_context():
        with statements_run(db.engine) as ran:
            problems = verification.verify_all()
        reads = [statement for statement, _ in ran
                 if statement.lstrip().upper().startswith("SELECT") and "organisation_key" in statement]
        signatures = 2 * db.session.scalar(select(func.count(IssuedDocument.id)))
        key_ids = {jws.extract_compact(token.encode()).protected["kid"]
                   for document in db.session.scalars(select(IssuedDocument))
                   for token in (document.jwt, document.jwt_061)}
    assert problems == []
    assert signatures > 4 * len(key_ids), (signatures, key_ids)  # many signatures, few keys
    assert len(reads) <= len(key_ids), (len(reads), len(key_ids), signatures)
