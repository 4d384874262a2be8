"""Passport guards, each on its own (issue 21): one tamper per check of ``passports verify``, the
revocation and suspension bits of lot and product passports, and the verdict of ``/passports/verify``.

``passports verify`` used to be tested with one tamper that tripped several checks at once, so any
single check could be removed unnoticed. Here every tamper is shaped so that exactly one check
fires (hashes recomputed), and the test asserts the whole list of problems (the Merkle log's
tamper classes are in test_passport_log.py).
Tampers go behind the application's back (plain SQL, as an attacker with database access would)
and are rolled back after each check.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlalchemy import select, update

from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.lots.models import Lot
from marketplace.passports import log as merkle_log
from marketplace.passports import services, subscribers
from marketplace.passports import status as status_list
from marketplace.passports.models import Passport, PassportVersion
from marketplace.passports.signing import canonical_json, get_signer
from tests.helpers import csrf_token, text
from tests.passports.test_passports import _published_product

VERSION = PassportVersion.__table__
PASSPORT = Passport.__table__


@pytest.fixture
def ctx(demo_app: Flask) -> Iterator[Flask]:
    with demo_app.app_context():
        assert services.verify_all() == []
        yield demo_app
        db.session.rollback()


def _label(version_id: int) -> str:
    version = db.session.get(PassportVersion, version_id)
    assert version is not None
    return f"passport {version.passport.public_id} version {version.number}"


def _version_of_last() -> PassportVersion:
    version = db.session.scalar(select(PassportVersion).order_by(PassportVersion.id.desc()).limit(1))
    assert version is not None
    return version


def _tamper_credential_resigned() -> str:
    """The credential changed and re-signed with the Union's own key: only the content hash gives it away."""
    version = _version_of_last()
    changed = copy.deepcopy(version.credential)
    changed["validFrom"] = "2000-01-01T00:00:00Z"
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(
        credential=changed, signature=get_signer().sign(changed)))
    return f"{_label(version.id)}: content does not match its hash"


def _tamper_signature_of_other_content() -> str:
    version = _version_of_last()
    other = copy.deepcopy(version.credential)
    other["validFrom"] = "2000-01-01T00:00:00Z"
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(signature=get_signer().sign(other)))
    return f"{_label(version.id)}: the signature covers different content"


def _tamper_signature_by_a_stranger() -> str:
    version = _version_of_last()
    stranger = OKPKey.generate_key("Ed25519", private=True)
    forged = jws.serialize_compact({"alg": "Ed25519"}, canonical_json(version.credential), stranger,
                                   algorithms=["Ed25519"])
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(signature=forged))
    return f"{_label(version.id)}: the signature does not verify"


TAMPERS: dict[str, Callable[[], str]] = {
    "credential changed and re-signed": _tamper_credential_resigned,
    "signature of other content": _tamper_signature_of_other_content,
    "signature by a stranger": _tamper_signature_by_a_stranger,
}


def test_each_check_of_passports_verify_catches_its_own_tamper(ctx: Flask) -> None:
    """One demo database, each tamper rolled back before the next (loading the demo is the slow part)."""
    wrong = {}
    for name, tamper in TAMPERS.items():
        expected = tamper()
        db.session.expire_all()
        found = services.verify_all()
        if found != [expected]:
            wrong[name] = (expected, found)
        db.session.rollback()
        assert services.verify_all() == []
    assert wrong == {}


def test_a_status_index_moved_away_from_the_credential_is_reported_through_the_cli(demo_app: Flask) -> None:
    with demo_app.app_context():
        passport = db.session.scalar(select(Passport).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        labels = [f"passport {passport.public_id} version {v.number}" for v in passport.versions]
        db.session.execute(update(PASSPORT).where(PASSPORT.c.id == passport.id).values(status_index=99_999))
        db.session.commit()
    result = demo_app.test_cli_runner().invoke(args=["passports", "verify"])
    assert result.exit_code == 1
    expected = {f"FAIL {label}: status entries do not point at the passport's status index" for label in labels}
    assert set(result.output.strip().splitlines()) == expected


# Status bits ------------------------------------------------------------------------------


def _bits(client: Any, purpose: str) -> bytes:
    _status_job(client.application)
    listing = client.get(f"/passports/status/{purpose}").get_json()
    assert listing["credentialSubject"]["statusPurpose"] == purpose
    return status_list.decode(listing["credentialSubject"]["encodedList"])


def _status_job(app: Flask) -> None:
    """What the worker does after a status change, and on its schedule (a certificate expires by date, or
    was changed behind the application's back): log the changes, re-issue the status lists."""
    with app.app_context():
        jobs.run_pending()
        subscribers.refresh_status()
        db.session.commit()


def _flags(client: Any, index: int) -> tuple[bool, bool]:
    revocation, suspension = _bits(client, "revocation"), _bits(client, "suspension")
    return status_list.is_set(revocation, index), status_list.is_set(suspension, index)


def _verify(client: Any, document: str) -> str:
    response = client.post("/passports/verify", data={
        "document": document, "csrf_token": csrf_token(client, "/passports/verify")})
    assert response.status_code in (200, 422)
    return text(response)


def test_a_passport_revoked_by_the_union_sets_its_revocation_bit_only(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        passport = db.session.scalar(select(Passport).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        index, public_id = passport.status_index, passport.public_id
        other = db.session.scalar(select(Passport.status_index).join(Lot).where(Lot.code != "USCC-2025-BKH-001"))
    credential = client.get(f"/passports/{public_id}.json").get_data(as_text=True)
    assert _flags(client, index) == (False, False)
    with demo_app.app_context():
        db.session.execute(update(PASSPORT).where(PASSPORT.c.id == passport.id)
                           .values(revoked_reason="Withdrawn by the Union: bag labels were swapped."))
        db.session.commit()
    assert _flags(client, index) == (True, False)
    assert _flags(client, other) == (False, False)
    page = text(client.get(f"/passports/{public_id}"))
    assert "Withdrawn by the Union: bag labels were swapped." in page
    verdict = _verify(client, credential)
    assert "Authentic, but revoked" in verdict
    assert "Authentic and current" not in verdict
    assert 'class="verdict status status-revoked"' in verdict  # never styled as current


def test_a_product_passport_carries_the_status_of_its_lots_certificates(demo_app: Flask) -> None:
    passport_id = _published_product(demo_app)
    client = demo_app.test_client()
    with demo_app.app_context():
        passport = db.session.get(Passport, passport_id)
        index, public_id = passport.status_index, passport.public_id
        cert = passport.product.sources[0].lot.certificate
        assert cert is not None
        cert_id = cert.id
    credential = client.get(f"/passports/{public_id}.json").get_data(as_text=True)
    assert "Authentic and current" in _verify(client, credential)
    assert _flags(client, index) == (False, False)

    table = type(cert).__table__
    with demo_app.app_context():
        db.session.execute(update(table).where(table.c.id == cert_id)
                           .values(status="suspended", status_reason="Census above plan."))
        db.session.commit()
    assert _flags(client, index) == (False, True)
    verdict = _verify(client, credential)
    assert "Census above plan." in verdict
    assert "Authentic and current" not in verdict

    with demo_app.app_context():
        db.session.execute(update(table).where(table.c.id == cert_id)
                           .values(status="revoked", status_reason="Fraudulent bag labels."))
        db.session.commit()
    assert _flags(client, index) == (True, False)
    assert "Authentic, but revoked" in _verify(client, credential)


def test_the_status_list_bit_order_matches_the_spec() -> None:
    """W3C Bitstring Status List: index 0 is the left-most bit of the first byte."""
    bits = status_list.decode(status_list.encode({0, 9}))
    assert bits[0] == 0x80
    assert bits[1] == 0x40


# Verdicts -----------------------------------------------------------------------------------


def test_an_older_version_is_authentic_but_not_current(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        passport = db.session.scalar(select(Passport).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        public_id = passport.public_id
    old = client.get(f"/passports/{public_id}.json").get_data(as_text=True)
    with demo_app.app_context():
        passport = db.session.scalar(select(Passport).where(Passport.public_id == public_id))
        passport.lot.herder_price_minor += 100_00
        assert services.publish(passport) is not None
        db.session.commit()
        newest = passport.current.number
    verdict = _verify(client, old)
    assert "Authentic and current" not in verdict
    assert f"A newer version ({newest}) has been published since this one." in verdict


def test_a_token_with_a_replaced_signature_is_not_authentic(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
    token = client.get(f"/passports/{public_id}.jwt").get_data(as_text=True)
    header, payload, _signature = token.split(".")
    stranger = OKPKey.generate_key("Ed25519", private=True)
    other = jws.serialize_compact({"alg": "Ed25519"}, b"{}", stranger, algorithms=["Ed25519"]).split(".")[2]
    page = _verify(client, f"{header}.{payload}.{other}")
    assert "Not authentic" in page
    assert "signed by someone else" in page


def test_republishing_unchanged_content_adds_no_version(demo_app: Flask) -> None:
    runner = demo_app.test_cli_runner()
    with demo_app.app_context():
        before = merkle_log.size()
    result = runner.invoke(args=["passports", "publish"])
    assert result.exit_code == 0, result.output
    assert "0 new versions published" in result.output
    with demo_app.app_context():
        assert merkle_log.size() == before
        assert json.loads(json.dumps(services.verify_all())) == []


def test_a_log_no_signed_checkpoint_covers_is_reported(demo_app: Flask) -> None:
    """``log.verify_log``: entries with every signed checkpoint deleted are named, not passed as proven."""
    from sqlalchemy import delete

    from marketplace.passports.log_models import PassportCheckpoint

    with demo_app.app_context():
        assert db.session.execute(delete(PassportCheckpoint)).rowcount > 0  # type: ignore[attr-defined]
        db.session.commit()
    result = demo_app.test_cli_runner().invoke(args=["passports", "verify"])
    assert result.exit_code == 1, result.output
    assert "Merkle log: no signed checkpoint covers it" in result.output
