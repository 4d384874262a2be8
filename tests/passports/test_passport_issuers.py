"""Issue 19, points 1-3: each issuer signs its own credentials with its own key (did:web on this site, keys
encrypted at rest, rotation keeping history); every link carries the digest of the exact bytes served at an
immutable URL; every certificate a passport relies on drives its status."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from marketplace.certification import services as cert_services
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.lots.models import Lot
from marketplace.organisations.models import Organisation
from marketplace.passports import documents, keys, page_cache, services, signing, standing, subscribers, untp070
from marketplace.passports import status as status_list
from marketplace.passports.models import IssuedDocument, OrganisationKey, Passport, StatusListVersion
from marketplace.passports.signing import SigningKeyError
from marketplace.products.models import ProcessingStep
from tests import factories
from tests.helpers import csrf_token, page_width, text

LOT_CERT = "SC-2025-BKH-001"
COP = "COP-2025-001"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _did_path(did: str) -> str:
    """Where did:web resolves a DID of this site (did:web:<host> or did:web:<host>:orgs:<slug>)."""
    segments = did.split(":")[2:]
    return "/.well-known/did.json" if len(segments) == 1 else "/" + "/".join(unquote(s) for s in segments[1:]) \
        + "/did.json"


def _verify_with_did(client: FlaskClient, token: str) -> tuple[dict[str, Any], str]:
    """Verify a JWS the way an outside verifier does: resolve the kid's did:web through HTTP, take that key."""
    header = jws.extract_compact(token.encode()).headers()
    did = header["kid"].split("#")[0]
    document = client.get(_did_path(did)).get_json(force=True)
    assert document["id"] == did
    assert header["kid"] in document["assertionMethod"]
    method = next(m for m in document["verificationMethod"] if m["id"] == header["kid"])
    payload = json.loads(jws.deserialize_compact(token, OKPKey.import_key(method["publicKeyJwk"]),
                                                 algorithms=["Ed25519"]).payload)
    return payload, did


def _links(document: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if "linkURL" in node:
                found.append(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def _public_ids(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Passport.public_id).order_by(Passport.id)))


def test_every_credential_is_signed_by_its_real_issuer(demo_app: Flask) -> None:
    """Passports by the Union; conformity credentials by their certifier; events by who performed the step;
    an identity anchor by the Union for every issuer. Checked with keys resolved from the did:web documents."""
    client = demo_app.test_client()
    with demo_app.app_context():
        certifiers = {c.number: keys.did_of(c.issuer) for c in db.session.scalars(select(Certificate))}
        union_did = keys.did_of(documents.union())
    real = total = 0
    issuers: set[str] = set()
    for public_id in _public_ids(demo_app):
        token = client.get(f"/passports/{public_id}.jwt").get_data(as_text=True)
        payload, did = _verify_with_did(client, token)
        total += 1
        real += did == union_did == payload["issuer"]["id"]
        for link in _links(payload):
            if not link["linkType"].endswith(("/dcc", "/dte")):
                continue
            url = _path(link["linkURL"])
            assert "/versions/" in url
            served = client.get(url).get_json(force=True)
            signed, did = _verify_with_did(client, client.get(url[: -len(".json")] + ".jwt").get_data(as_text=True))
            assert signed == served
            if link["linkType"].endswith("/dcc"):
                expected = certifiers[url.split("/")[2]]
            else:
                with demo_app.app_context():
                    step = db.session.get(ProcessingStep, int(url.split("/")[3]))
                    expected = keys.did_of(step.facility)
            total += 1
            real += did == expected == served["issuer"]["id"]
            if did != union_did:  # the Union issues its own scheme's certificates (the Code of Practice)
                issuers.add(did)
    # The Union's identity anchor for every issuer a passport links to.
    for did in issuers:
        slug = did.rsplit(":", 1)[1]
        token = client.get(f"/orgs/{slug}/identity.json").get_data(as_text=True)
        anchor = client.get(f"/orgs/{slug}/identity.json").get_json(force=True)
        version = _path(anchor["id"])
        signed, signer = _verify_with_did(client, client.get(version[: -len(".json")] + ".jwt").get_data(as_text=True))
        assert token
        assert signed == anchor
        assert anchor["type"] == ["DigitalIdentityAnchor", "VerifiableCredential"]
        assert anchor["credentialSubject"]["id"] == did
        total += 1
        real += signer == union_did == anchor["issuer"]["id"]
    print(f"\ncredentials signed by their real issuer: {real} / {total}; issuers with an identity anchor: "  # noqa: T201
          f"{len(issuers)}")
    assert len(issuers) >= 3
    assert real == total


def test_link_digests_match_the_bytes_served_at_immutable_urls(demo_app: Flask) -> None:
    client = demo_app.test_client()
    matches = total = 0
    for public_id in _public_ids(demo_app):
        document = client.get(f"/passports/{public_id}.json").get_json(force=True)
        for link in _links(document):
            if link["mediaType"] != untp070.JSONLD:
                continue  # a web page (repair service, take-back), not a credential
            total += 1
            response = client.get(_path(link["linkURL"]))
            assert response.status_code == 200
            assert "immutable" in response.headers["Cache-Control"]
            matches += link.get("digestMultibase") == untp070.multibase_sha256(response.get_data())
    print(f"\nlink digests matching the served bytes: {matches} / {total}")  # noqa: T201
    assert total > 100
    assert matches == total


def test_the_061_form_hashes_the_bytes_its_links_serve(demo_app: Flask) -> None:
    """The 0.6.1 form (on request) names each linked version's immutable URL (?untp=0.6.1), never the moving
    current one; its hashDigest is over the exact bytes that URL serves."""
    client = demo_app.test_client()
    matches = total = 0
    for public_id in _public_ids(demo_app):
        document = client.get(f"/passports/{public_id}.json?untp=0.6.1").get_json(force=True)
        for link in _links(document):
            if "hashDigest" not in link:
                continue
            total += 1
            assert "/versions/" in link["linkURL"]
            assert link["linkURL"].endswith("?untp=0.6.1")
            response = client.get(_path(link["linkURL"]))
            assert "immutable" in response.headers["Cache-Control"]
            matches += link["hashDigest"] == hashlib.sha256(response.get_data()).hexdigest()
    print(f"\n0.6.1 link hashes matching the served bytes: {matches} / {total}")  # noqa: T201
    assert total > 100
    assert matches == total


def _first_link(app: Flask, kind: str) -> str:
    for public_id in _public_ids(app):
        document = app.test_client().get(f"/passports/{public_id}.json").get_json(force=True)
        for link in _links(document):
            if link["linkType"].endswith(kind):
                return _path(link["linkURL"])
    raise AssertionError(f"no {kind} link")


def test_a_status_change_changes_no_document(demo_app: Flask) -> None:
    """Suspending, then revoking, a certificate changes the status lists, never the credential bytes."""
    client = demo_app.test_client()
    with demo_app.app_context():
        passport = db.session.scalar(select(Passport).join(Lot).where(Lot.code
                                                                               == "USCC-2025-BKH-001"))
        url = _path(next(link["linkURL"] for link in _links(passport.current.credential_070)
                         if LOT_CERT in link["linkURL"]))
    before = client.get(url).get_data()
    latest = client.get(f"/certificates/{LOT_CERT}.json").get_data()
    for status in (CertificateStatus.suspended, CertificateStatus.revoked):
        with demo_app.app_context():
            cert_services.change_status(cert_services.get_certificate(LOT_CERT), status, "Audit finding.")
            services.publish_all()
            db.session.commit()
        assert client.get(url).get_data() == before
        assert client.get(f"/certificates/{LOT_CERT}.json").get_data() == latest
    with demo_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IssuedDocument).where(
            IssuedDocument.kind == "dcc", IssuedDocument.subject == LOT_CERT)) == 1


def test_a_changed_certificate_is_a_new_version_and_the_old_one_stays(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        cert = cert_services.get_certificate(LOT_CERT)
        first = documents.latest("dcc", LOT_CERT)
        old_bytes = first.body.encode()
        db.session.execute(sql_update(Certificate).where(Certificate.id == cert.id).values(
            valid_to=cert.valid_to + dt.timedelta(days=365)))
        db.session.expire_all()
        second = documents.issue_conformity(cert_services.get_certificate(LOT_CERT))
        db.session.commit()
        assert second.number == first.number + 1
        assert documents.issue_conformity(cert_services.get_certificate(LOT_CERT)).id == second.id  # idempotent
        paths = [documents.document_path("dcc", LOT_CERT, n) for n in (first.number, second.number)]
    assert client.get(paths[0]).get_data() == old_bytes
    assert client.get(paths[1]).get_data() != old_bytes
    with demo_app.app_context():
        stored = db.session.get(IssuedDocument, second.id)
        stored.body = "{}"
        with pytest.raises(Exception, match="cannot change"):
            db.session.flush()
        db.session.rollback()


def test_key_rotation_keeps_what_the_old_key_signed_verifiable(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        cert = cert_services.get_certificate(LOT_CERT)
        slug = cert.issuer.slug
        old = documents.latest("dcc", LOT_CERT)
        old_token, old_path = old.jwt, documents.document_path("dcc", LOT_CERT, old.number)
        keys.rotate(cert.issuer)
        db.session.execute(sql_update(Certificate).where(Certificate.id == cert.id).values(tier="advanced"))
        db.session.expire_all()
        new = documents.issue_conformity(cert_services.get_certificate(LOT_CERT))
        db.session.commit()
        new_token = new.jwt
        assert services.verify_all() == []
    did = client.get(f"/orgs/{slug}/did.json").get_json(force=True)
    assert [m["id"].rsplit("#", 1)[1] for m in did["verificationMethod"]] == ["key-2", "key-1"]
    assert "expires" in did["verificationMethod"][1]
    assert "expires" not in did["verificationMethod"][0]
    assert len(did["assertionMethod"]) == 2
    payload, _did = _verify_with_did(client, old_token)
    assert payload == client.get(old_path).get_json(force=True)
    assert jws.extract_compact(old_token.encode()).headers()["kid"].endswith("#key-1")
    assert jws.extract_compact(new_token.encode()).headers()["kid"].endswith("#key-2")
    _verify_with_did(client, new_token)


def test_rotating_the_unions_key_keeps_what_it_signed_verifiable(demo_app: Flask, tmp_path: Path) -> None:
    """``flask passports rotate-key <the Union's slug>``: the site's did.json keeps the retired key (with when it
    stopped signing), a passport signed before still verifies, and the next one is signed with the new key."""
    # The test session shares one key file: rotate a copy of it.
    own_key = tmp_path / "union-key.jwk"
    shutil.copyfile(demo_app.config["PASSPORT_SIGNING_KEY"], own_key)
    demo_app.config["PASSPORT_SIGNING_KEY"] = str(own_key)
    client = demo_app.test_client()
    with demo_app.app_context():
        union_slug = documents.union().slug
        passport = db.session.scalar(select(Passport).where(Passport.lot_id.is_not(None)).order_by(Passport.id))
        public_id = passport.public_id
    old_token = client.get(f"/passports/{public_id}.jwt").get_data(as_text=True)
    assert jws.extract_compact(old_token.encode()).headers()["kid"].endswith("#key-1")
    result = demo_app.test_cli_runner().invoke(args=["passports", "rotate-key", union_slug])
    assert result.exit_code == 0, result.output
    assert "#key-2" in result.output
    did = client.get("/.well-known/did.json").get_json(force=True)
    assert [m["id"].rsplit("#", 1)[1] for m in did["verificationMethod"]] == ["key-2", "key-1"]
    assert "expires" in did["verificationMethod"][1]
    assert "expires" not in did["verificationMethod"][0]
    assert did["assertionMethod"] == [m["id"] for m in did["verificationMethod"]]
    payload, _did = _verify_with_did(client, old_token)  # an outside verifier, through did:web
    assert payload == client.get(f"/passports/{public_id}.json").get_json(force=True)
    assert "Authentic and current" in _verify_page(client, old_token)
    with demo_app.app_context():
        assert services.verify_all() == []  # every version signed before the rotation still verifies
        passport = services.get_passport(public_id)
        passport.lot.bags += 1  # a change of content: the next version
        version = services.publish(passport)
        assert version is not None
        db.session.commit()
    new_token = client.get(f"/passports/{public_id}.jwt").get_data(as_text=True)
    assert jws.extract_compact(new_token.encode()).headers()["kid"].endswith("#key-2")
    _verify_with_did(client, new_token)
    with demo_app.app_context():
        assert services.verify_all() == []
    # A second rotation keeps both earlier keys.
    assert demo_app.test_cli_runner().invoke(args=["passports", "rotate-key", union_slug]).exit_code == 0
    did = client.get("/.well-known/did.json").get_json(force=True)
    assert [m["id"].rsplit("#", 1)[1] for m in did["verificationMethod"]] == ["key-3", "key-2", "key-1"]
    _verify_with_did(client, old_token)
    _verify_with_did(client, new_token)


def test_keys_retired_within_one_second_are_listed_newest_first(demo_app: Flask, tmp_path: Path) -> None:
    """The retirement stamp has one-second precision: two rotations in one second still list key-2 before
    key-1 (the CI run of stop 30 saw ['key-3', 'key-1', 'key-2'] when the second rotation shared a second)."""
    own_key = tmp_path / "union-key.jwk"
    shutil.copyfile(demo_app.config["PASSPORT_SIGNING_KEY"], own_key)
    demo_app.config["PASSPORT_SIGNING_KEY"] = str(own_key)
    same_second = "2026-11-29T02:14:43Z"
    assert signing.rotate_key_file(own_key, same_second) == "key-2"
    assert signing.rotate_key_file(own_key, same_second) == "key-3"
    did = demo_app.test_client().get("/.well-known/did.json").get_json(force=True)
    assert [m["id"].rsplit("#", 1)[1] for m in did["verificationMethod"]] == ["key-3", "key-2", "key-1"]
    assert [m.get("expires") for m in did["verificationMethod"]] == [None, same_second, same_second]


def _verify_page(client: FlaskClient, document: str) -> str:
    token = csrf_token(client, "/passports/verify")
    return text(client.post("/passports/verify", data={"csrf_token": token, "document": document}))


def test_private_keys_are_encrypted_at_rest_with_the_configured_secret(demo_app: Flask) -> None:
    with demo_app.app_context():
        stored = db.session.scalars(select(OrganisationKey)).first()
        assert stored is not None
        private = keys.decrypt_private(stored).as_dict(private=True)
        assert private["d"] not in stored.private_encrypted
        assert "\"d\"" not in stored.private_encrypted
        assert stored.public_jwk == {k: v for k, v in private.items() if k != "d"}
        demo_app.extensions.pop("org_keys", None)
        demo_app.extensions["org_keys_fernet"] = keys.MultiFernet([keys.Fernet(keys.Fernet.generate_key())])
        with pytest.raises(SigningKeyError, match="cannot be decrypted"):
            keys.decrypt_private(stored)


def test_a_new_issuer_gets_a_key_a_did_document_and_an_identity_anchor(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        org = factories.MsmeFactory(slug="new-issuer", name="New Issuer LLC")
        slug = org.slug
        org = db.session.get(Organisation, org.id)
        assert client.get(f"/orgs/{slug}/did.json").status_code == 404  # no key yet
        signer = keys.signer_for(org)
        documents.issue_identity(org)
        db.session.commit()
        assert signer.did.endswith(f":orgs:{slug}")
    did = client.get(f"/orgs/{slug}/did.json")
    assert did.status_code == 200
    assert did.headers["Access-Control-Allow-Origin"] == "*"
    assert did.get_json(force=True)["id"] == signer.did
    assert client.get(f"/orgs/{slug}/identity.json").get_json(force=True)["credentialSubject"]["id"] == signer.did
    for path in ("/orgs/no-such-org/did.json", "/orgs/no-such-org/identity.json", "/events/steps/1/versions/99.json",
                 f"/certificates/{LOT_CERT}/versions/99.jwt", f"/orgs/{'x' * 300}/did.json"):
        assert client.get(path).status_code == 404, path
    with demo_app.app_context():
        assert client.get(f"/orgs/{documents.union().slug}/did.json").status_code == 404


def test_a_tampered_stored_credential_is_reported(demo_app: Flask) -> None:
    with demo_app.app_context():
        document = documents.latest("dcc", LOT_CERT)
        db.session.execute(sql_update(IssuedDocument).where(IssuedDocument.id == document.id).values(
            body=document.body.replace("Z", "Y", 1)))
        db.session.commit()
        problems = services.verify_all()
    assert any(p.startswith(f"dcc {LOT_CERT} version 1: its bytes do not match") for p in problems), problems
    assert any(p.startswith(f"dcc {LOT_CERT} version 1: the signature covers different content") for p in problems)


# ---- status ---------------------------------------------------------------------------------------

def _product_with_cop(app: Flask) -> tuple[str, str, int]:
    """(public id, a lot certificate behind it, status index) of a demo product passport claiming COP."""
    with app.app_context():
        for passport in db.session.scalars(select(Passport).where(Passport.product_id.is_not(None))
                                           .order_by(Passport.id)):
            certs = services.passport_certificates(passport)
            lot_certs = [c.number for c in services.claimed_certificates(passport)]
            if COP in [c.number for c in certs] and lot_certs and all(
                    c.valid_on(services.today()) for c in certs):
                return passport.public_id, lot_certs[0], passport.status_index
    raise AssertionError("no demo product passport claims the Code of Practice")


def _lot(app: Flask) -> tuple[str, str, int]:
    with app.app_context():
        passport = db.session.scalar(select(Passport).join(Lot).where(
            Lot.code == "USCC-2025-BKH-001"))
        return passport.public_id, LOT_CERT, passport.status_index


def _bits(client: FlaskClient, purpose: str, index: int) -> bool:
    _status_job(client.application)
    listing = client.get(f"/passports/status/{purpose}").get_json()
    return status_list.is_set(status_list.decode(listing["credentialSubject"]["encodedList"]), index)


def _status_job(app: Flask) -> None:
    """What the worker does after a status change, and on its schedule (a certificate expires by date, or
    was changed behind the application's back): log the changes, re-issue the status lists."""
    with app.app_context():
        jobs.run_pending()
        subscribers.refresh_status()
        db.session.commit()


CASES = [(source, change, kind) for kind in ("lot", "product") for source in ("scheme", "cop", "union")
         for change in ("suspended", "revoked", "expired")
         if not (kind == "lot" and source == "cop") and not (source == "union" and change != "revoked")]


@pytest.mark.parametrize(("source", "change", "kind"), CASES, ids=["-".join(c) for c in CASES])
def test_every_status_source_drives_each_kind_of_passport(demo_app: Flask, monkeypatch: pytest.MonkeyPatch,
                                                          source: str, change: str, kind: str) -> None:
    public_id, lot_cert, index = _lot(demo_app) if kind == "lot" else _product_with_cop(demo_app)
    number = COP if source == "cop" else lot_cert
    client = demo_app.test_client()
    url = f"/passports/{public_id}"
    first = client.get(url)
    assert "Valid." in text(first)
    etag = first.headers["ETag"]
    with demo_app.app_context():
        cert = cert_services.get_certificate(number)
        if change == "expired":
            # The certificate ends today: the credential says so, and tomorrow the passport reads expired.
            db.session.execute(sql_update(Certificate).where(Certificate.id == cert.id).values(
                valid_to=services.today()))
            db.session.expire_all()
            services.publish(services.get_passport(public_id))
            db.session.commit()
            credential = client.get(f"{url}.json").get_json(force=True)
            end = services.today() + dt.timedelta(days=1)
            assert credential["validUntil"] == f"{end.isoformat()}T00:00:00Z"
            legacy = client.get(f"{url}.json?untp=0.6.1").get_json(force=True)
            assert legacy["validUntil"] == credential["validUntil"]
            assert "Valid." in text(client.get(url))
            tomorrow = services.today() + dt.timedelta(days=1)
            for module in (services, standing, page_cache):  # each module that reads the date
                monkeypatch.setattr(module, "today", lambda: tomorrow)
        elif source == "union":
            passport = services.get_passport(public_id)
            passport.revoked_reason = "Withdrawn by the Union: labelling error."
            db.session.commit()
        else:
            cert_services.change_status(cert, CertificateStatus(change), "Audit finding: over-grazing.")
            db.session.commit()
    after = client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200  # the ETag changed with the status
    shown = {"suspended": "Suspended.", "revoked": "Revoked.", "expired": "Expired."}[change]
    assert shown in text(after)
    assert "Valid." not in text(after)
    if source != "union":
        assert number in text(after)
    assert _bits(client, "revocation", index) is (change == "revoked")
    assert _bits(client, "suspension", index) is (change == "suspended")
    with demo_app.app_context():
        state = services.live_status(services.get_passport(public_id))
        assert (state.revoked, state.suspended, state.expired) == (
            change == "revoked", change == "suspended", change == "expired")


def test_no_passport_drops_out_of_the_status_lists(demo_app: Flask) -> None:
    """Suspend every certificate: every passport relying on one has its suspension bit; revoke them all: every
    such passport has its revocation bit (lot and product passports alike)."""
    client = demo_app.test_client()
    with demo_app.app_context():
        relying = {p.status_index: p.lot_id is not None for p in db.session.scalars(select(Passport))
                   if services.passport_certificates(p)}
        for status in ("suspended", "revoked"):
            db.session.execute(sql_update(Certificate).values(status=CertificateStatus(status)))
            db.session.commit()
            _status_job(demo_app)
            listing = client.get(f"/passports/status/{'suspension' if status == 'suspended' else 'revocation'}")
            bits = status_list.decode(listing.get_json()["credentialSubject"]["encodedList"])
            flagged = [index for index in relying if status_list.is_set(bits, index)]
            print(f"\n{status}: {len(flagged)} / {len(relying)} passports flagged "  # noqa: T201
                  f"({sum(not relying[i] for i in flagged)} product passports)")
            assert len(flagged) == len(relying)
    assert any(not is_lot for is_lot in relying.values())


def test_status_lists_are_short_lived_and_signed(demo_app: Flask) -> None:
    client = demo_app.test_client()
    listing = client.get("/passports/status/suspension").get_json()
    start = dt.datetime.fromisoformat(listing["validFrom"])
    end = dt.datetime.fromisoformat(listing["validUntil"])
    assert end - start == dt.timedelta(seconds=demo_app.config["STATUS_LIST_VALIDITY"])
    token = client.get("/passports/status/suspension", headers={"Accept": "application/vc+jwt"}).get_data(as_text=True)
    payload, _did = _verify_with_did(client, token)
    assert payload["credentialSubject"] == listing["credentialSubject"]
    assert payload["validUntil"] > payload["validFrom"]


def test_status_lists_are_reissued_on_change_and_on_expiry_and_every_issue_stays(
        demo_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = demo_app.test_client()
    first = client.get("/passports/status/suspension").get_data()
    assert client.get("/passports/status/suspension").get_data() == first  # unchanged and valid: the same issue
    with demo_app.app_context():
        number = services.latest_status_list("suspension").number
        cert_services.change_status(cert_services.get_certificate(LOT_CERT), CertificateStatus.suspended,
                                    "Audit finding.")
        db.session.commit()
        jobs.run_pending()  # the status job the change enqueued
    changed = client.get("/passports/status/suspension").get_data()
    assert changed != first
    with demo_app.app_context():
        assert services.latest_status_list("suspension").number == number + 1
    old = client.get(f"/passports/status/suspension/versions/{number}")
    assert old.get_data() == first
    assert "immutable" in old.headers["Cache-Control"]
    token = client.get(f"/passports/status/suspension/versions/{number}",
                       headers={"Accept": "application/vc+jwt"}).get_data(as_text=True)
    assert _verify_with_did(client, token)[0] == json.loads(first)
    # Past its validUntil, the same list is issued again with a new validity.
    later = services.utcnow() + dt.timedelta(seconds=demo_app.config["STATUS_LIST_VALIDITY"] + 1)
    monkeypatch.setattr(standing, "utcnow", lambda: later)
    _status_job(demo_app)  # the worker's scheduled run
    renewed = client.get("/passports/status/suspension").get_json()
    assert renewed["credentialSubject"] == json.loads(changed)["credentialSubject"]
    assert renewed["validFrom"] >= json.loads(changed)["validUntil"]
    assert client.get("/passports/status/suspension/versions/999").status_code == 404
    assert client.get("/passports/status/nothing/versions/1").status_code == 404


@pytest.mark.parametrize("width", [390, 1280])
def test_a_consumer_sees_that_the_makers_certificate_expired(live_server: Any, chromium: Any, width: int) -> None:
    """The journey of issue 19's status point: the maker's Code of Practice certificate has expired, and the
    consumer scanning the product's passport is told so, naming the certificate, on a phone and a desktop."""
    from playwright.sync_api import expect

    app = live_server.app
    public_id, _lot_cert, _index = _product_with_cop(app)
    with app.app_context():
        db.session.execute(sql_update(Certificate).where(Certificate.number == COP).values(
            valid_to=services.today() - dt.timedelta(days=1)))
        db.session.commit()
    context = chromium.new_context(viewport={"width": width, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/passports/{public_id}")
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("Expired.")
    expect(banner).to_contain_text(f"Certificate {COP} expired on")
    expect(page.get_by_text("Valid.", exact=False)).to_have_count(0)
    assert page_width(page) <= width
    context.close()


def test_key_rotation_from_the_command_line(demo_app: Flask) -> None:
    runner = demo_app.test_cli_runner()
    with demo_app.app_context():
        slug = cert_services.get_certificate(LOT_CERT).issuer.slug
        union_slug = documents.union().slug
    result = runner.invoke(args=["passports", "rotate-key", slug])
    assert result.exit_code == 0, result.output
    assert "#key-2" in result.output
    assert "1 earlier key(s) kept" in result.output
    did = demo_app.test_client().get(f"/orgs/{slug}/did.json").get_json(force=True)
    assert len(did["verificationMethod"]) == 2
    # The Union's own key rotates too (test_rotating_the_unions_key_keeps_what_it_signed_verifiable, on a copy
    # of the key file); an organisation that does not exist is a clear refusal.
    refused = runner.invoke(args=["passports", "rotate-key", union_slug + "-nobody"])
    assert refused.exit_code == 1
    assert "There is no organisation" in refused.output
    unknown = runner.invoke(args=["passports", "rotate-key", "no-such-org"])
    assert unknown.exit_code == 1
    assert "There is no organisation 'no-such-org'" in unknown.output
    with demo_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OrganisationKey).join(
            Organisation, Organisation.id == OrganisationKey.organisation_id).where(Organisation.slug == slug)) == 2
        assert services.verify_all() == []


def test_the_factories_make_valid_rows(app: Flask) -> None:
    key = factories.OrganisationKeyFactory()
    document = factories.IssuedDocumentFactory()
    issue = factories.StatusListVersionFactory()
    with app.app_context():
        assert db.session.get(OrganisationKey, key.id) is not None
        assert db.session.get(IssuedDocument, document.id).kind == "dcc"
        assert StatusListVersion is not None
        assert db.session.get(StatusListVersion, issue.id).purpose == "revocation"
