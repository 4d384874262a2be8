"""``passports verify`` at scale (issue 26, point 3): every version's quick checks (``version_checks``: columns,
not objects; signatures in worker processes) catch each tamper, in the calling process and in 2 forked
workers, and the version is then named in the same words as the full check (``_version_problems``).

Each tamper is committed (the workers read the database on connections of their own), checked both ways,
and undone before the next one.
"""

from __future__ import annotations

import base64
import copy
import gc
import hashlib
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import select, update

from marketplace.extensions import db
from marketplace.passports import publishing, services, verification, version_checks
from marketplace.passports.models import Passport, PassportVersion
from marketplace.passports.signing import canonical_json, get_signer

VERSION = PassportVersion.__table__
PASSPORT = Passport.__table__


def _last() -> PassportVersion:
    version = db.session.scalar(select(PassportVersion).order_by(PassportVersion.id.desc()).limit(1))
    assert version is not None
    return version


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _label(version: PassportVersion) -> str:
    return f"passport {version.passport.public_id} version {version.number}"


def _backdated(form: dict) -> dict:
    changed = copy.deepcopy(form)
    changed["validFrom"] = "2000-01-01T00:00:00Z"
    return changed


def _served_credential_changed() -> list[str]:
    """Only the stored credential (what the version's URLs serve) changed: signature and hash as signed."""
    version = _last()
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(
        credential=_backdated(version.credential)))
    return [f"{_label(version)}: content does not match its hash",
            f"{_label(version)}: the signature covers different content"]


def _number_written_otherwise(form: dict) -> dict:
    """The form with its first whole float (the demo's weight, 500.0) stored as an integer (500): the same
    value to Python (``500 == 500.0``), another document to JSON, its hash and its signature."""
    changed = copy.deepcopy(form)
    stack: list = [changed]
    while stack:
        node = stack.pop()
        for key, value in (node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(value, float) and value.is_integer():
                node[key] = int(value)
                return changed
            if isinstance(value, dict | list):
                stack.append(value)
    raise AssertionError("no whole float in the form")


def _served_number_written_otherwise() -> list[str]:
    version = _last()
    changed = _number_written_otherwise(version.credential)
    assert changed == version.credential  # equal values: only the bytes tell them apart
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(credential=changed))
    return [f"{_label(version)}: content does not match its hash"]


def _credential_changed_and_resigned() -> list[str]:
    """Changed and re-signed with the Union's own key: only the stored hash gives it away."""
    version = _last()
    changed = _backdated(version.credential)
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(
        credential=changed, signature=get_signer().sign(changed)))
    return [f"{_label(version)}: content does not match its hash"]


def _signed_under_another_algorithm() -> list[str]:
    """The same content signed with the Union's key, but under ``EdDSA``: not the algorithm the site accepts."""
    version = _last()
    header = json.dumps({"alg": "EdDSA", "kid": get_signer().key_id}).encode()
    signing_input = f"{_b64(header)}.{_b64(canonical_json(version.credential))}"
    token = f"{signing_input}.{_b64(get_signer().key.private_key.sign(signing_input.encode()))}"
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(signature=token))
    return [f"{_label(version)}: the signature does not verify"]


ORDER = 2**252 + 27742317777372353535851937790883648493  # of Ed25519's base point (RFC 8032)


def _signature_scalar_plus_the_order() -> list[str]:
    """The signature's ``S`` replaced with ``S + L``: the same point equation, a non-canonical encoding that
    RFC 8032 refuses (a malleable copy of a valid signature)."""
    version = _last()
    signing_input, _, signature = version.signature.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    scalar = int.from_bytes(raw[32:], "little") + ORDER
    token = f"{signing_input}.{_b64(raw[:32] + scalar.to_bytes(32, 'little'))}"
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(signature=token))
    return [f"{_label(version)}: the signature does not verify"]


def _070_form_changed() -> list[str]:
    version = _last()
    assert version.credential_070 is not None
    db.session.execute(update(VERSION).where(VERSION.c.id == version.id).values(
        credential_070=_backdated(version.credential_070)))
    return [f"{_label(version)}: its UNTP 0.7.0 form does not match its hash",
            f"{_label(version)} (UNTP 0.7.0): the signature covers different content"]


def _status_index_moved() -> list[str]:
    version = _last()
    labels = [f"passport {version.passport.public_id} version {v.number}" for v in version.passport.versions]
    db.session.execute(update(PASSPORT).where(PASSPORT.c.id == version.passport_id).values(status_index=99_999))
    return [f"{label}: status entries do not point at the passport's status index" for label in labels]


TAMPERS: dict[str, Callable[[], list[str]]] = {
    "served credential changed": _served_credential_changed,
    "credential changed and re-signed": _credential_changed_and_resigned,
    "signed under another algorithm": _signed_under_another_algorithm,
    "signature with S + L": _signature_scalar_plus_the_order,
    "a stored number written otherwise (500 for 500.0)": _served_number_written_otherwise,
    "0.7.0 form changed": _070_form_changed,
    "status index moved": _status_index_moved,
}


def test_each_tamper_is_caught_in_the_process_and_in_two_workers(demo_app: Flask) -> None:
    wrong = {}
    with demo_app.app_context():
        version = _last()
        saved_version = {column: getattr(version, column) for column in
                         ("credential", "signature", "credential_070", "signature_070")}
        saved_index = version.passport.status_index
        version_id, passport_id = version.id, version.passport_id
        assert services.verify_all(workers=2) == []
        for name, tamper in TAMPERS.items():
            expected = tamper()
            db.session.commit()
            db.session.expire_all()
            checks = verification.start_checks(workers=2)
            assert checks.checks.pool is not None  # forked workers, not the calling process
            in_workers = checks.problems()
            in_process = services.verify_all(workers=0)
            if in_workers != expected or in_process != expected:
                wrong[name] = (expected, in_workers, in_process)
            db.session.execute(update(VERSION).where(VERSION.c.id == version_id).values(**saved_version))
            db.session.execute(update(PASSPORT).where(PASSPORT.c.id == passport_id).values(status_index=saved_index))
            db.session.commit()
            db.session.expire_all()
        assert services.verify_all(workers=2) == []
    assert wrong == {}


def test_the_incremental_verify_checks_the_versions_it_is_given_in_workers(demo_app: Flask) -> None:
    with demo_app.app_context():
        expected = _credential_changed_and_resigned()
        db.session.commit()
        ids = list(db.session.scalars(select(PassportVersion.id).order_by(PassportVersion.id)))
        assert services.verify_all(ids[-3:], workers=2) == expected
        assert services.verify_all(ids[:-1], workers=2) == []


@pytest.mark.usefixtures("nothing_frozen")
def test_starting_workers_leaves_what_someone_else_froze_frozen(demo_app: Flask) -> None:
    """The workers start with the parent's objects frozen; objects frozen before (a test process freezes its
    own between tests) stay frozen afterwards (some may have been freed meanwhile), and when nothing was
    frozen, nothing stays frozen."""
    with demo_app.app_context():
        gc.freeze()
        frozen = gc.get_freeze_count()
        assert services.verify_all(workers=2) == []
        assert 0 < gc.get_freeze_count() <= frozen
        gc.unfreeze()
        assert services.verify_all(workers=2) == []
        assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(("url", "count", "workers"), [
    ("sqlite://", 10_000, 0),  # an in-memory database: no other process can open it
    ("sqlite:////tmp/file.sqlite3", version_checks.PARALLEL_FROM - 1, 0),  # too few to start workers
    ("sqlite:////tmp/file.sqlite3", version_checks.PARALLEL_FROM, 2),
])
def test_workers_start_only_for_a_large_set_on_a_database_they_can_open(url: str, count: int, workers: int) -> None:
    from sqlalchemy.engine import make_url

    assert version_checks.workers_for(make_url(url), count, cpus=8) == workers


@pytest.mark.usefixtures("nothing_frozen")
def test_publishing_leaves_what_someone_else_froze_frozen(demo_app: Flask) -> None:
    """Publishing freezes what the process held while it runs (its collections walk only what it makes), and
    leaves objects frozen before it frozen without freezing more (the test's app would stay frozen after the
    test), as starting the verify workers does."""
    with demo_app.app_context():
        gc.freeze()
        frozen = gc.get_freeze_count()
        publishing.publish_all()
        assert 0 < gc.get_freeze_count() <= frozen
        gc.unfreeze()
        publishing.publish_all()
        assert gc.get_freeze_count() == 0


def test_the_quick_check_reads_published_forms_without_decoding_the_payload(demo_app: Flask) -> None:
    """Written back with sorted keys (msgspec), every stored form of the demo gives the exact bytes that were
    signed: the quick check passes them by comparing bytes (a form where the two writers differed would be
    sent to the full check every time)."""
    with demo_app.app_context():
        versions = db.session.scalars(select(PassportVersion)).all()
        assert len(versions) >= 50
        forms = [form for version in versions for form in (version.credential, version.credential_070) if form]
        differ = [form["id"] for form in forms if version_checks._canonical(form) != canonical_json(form)]
        assert differ == []
        assert version_checks._canonical({"b": [1.5, "é\u2028\x1f"], "a": None}) == canonical_json(
            {"b": [1.5, "é\u2028\x1f"], "a": None})


IDENTITY = b"\x01" + bytes(31)  # the neutral point's encoding: a small-order (order 1) Ed25519 "key"


def _token(payload: bytes, sign: Callable[[bytes], bytes]) -> tuple[str, str]:
    """(compact JWS of ``payload`` under an Ed25519 header, signed by ``sign``; the payload's SHA-256)."""
    signing_input = f"{_b64(json.dumps({'alg': 'Ed25519'}).encode())}.{_b64(payload)}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}", hashlib.sha256(payload).hexdigest()


def test_the_quick_check_refuses_what_openssl_accepts_for_a_small_order_key() -> None:
    """For the identity as the key, ``R = sB`` satisfies the verification equation for any message: OpenSSL
    (``cryptography``, behind ``Signer.verify``) accepts such a signature, libsodium refuses small-order keys.
    The quick check must be the stricter one, or it could pass what the full check refuses."""
    scalar = (12345).to_bytes(32, "little")
    signature = crypto_scalarmult_ed25519_base_noclamp(scalar) + scalar
    token, content_hash = _token(canonical_json({"a": 1}), lambda _signing_input: signature)
    signing_input = token.rpartition(".")[0]
    Ed25519PublicKey.from_public_bytes(IDENTITY).verify(signature, signing_input.encode())  # OpenSSL: valid
    assert version_checks.form_served('{"a": 1}', content_hash, token, {None: VerifyKey(IDENTITY)}) is None


def test_the_quick_check_passes_a_form_as_published_and_refuses_equal_values_written_otherwise() -> None:
    key = SigningKey(bytes(range(32)))
    token, content_hash = _token(canonical_json({"weight": 500.0, "ok": True}),
                                 lambda signing_input: key.sign(signing_input).signature)
    keys = {None: key.verify_key}
    assert version_checks.form_served('{"weight": 500.0, "ok": true}', content_hash, token, keys) == {
        "weight": 500.0, "ok": True}
    for stored in ('{"weight": 500, "ok": true}', '{"weight": 500.0, "ok": 1}', "[" * 100_000):
        assert version_checks.form_served(stored, content_hash, token, keys) is None
