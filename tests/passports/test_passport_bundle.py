"""Offline bundles (``/passports/<id>/bundle``, ``flask passports bundle``) checked by the standalone verifier
in ``verifier/`` (imported by path, as ``python -m passport_verify`` runs from that folder): every demo
passport's bundle verifies; a changed byte in any member, a missing member, a wrong key, a stale status
snapshot, a forged or replayed checkpoint are each reported, naming the member."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlalchemy import select

from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.certification.services import change_status
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.lots.models import Lot
from marketplace.passports.models import Passport
from marketplace.passports.signing import get_signer

VERIFIER = Path(__file__).resolve().parent.parent.parent / "verifier"
sys.path.insert(0, str(VERIFIER))
from passport_verify import verify_bundle  # noqa: E402


def _bundle(app: Flask, public_id: str) -> bytes:
    response = app.test_client().get(f"/passports/{public_id}/bundle")
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/zip"
    return response.get_data()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes], *, rehash: bool = True) -> bytes:
    """A bundle from members; with ``rehash`` the manifest's hashes are brought up to date (as a forger would)."""
    members = dict(members)
    if rehash:
        manifest = json.loads(members["manifest.json"])
        for name in manifest["members"]:
            if name in members:
                manifest["members"][name]["sha256"] = hashlib.sha256(members[name]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _check(tmp_path: Path, data: bytes, **options):  # type: ignore[no-untyped-def]
    path = tmp_path / f"bundle-{hashlib.sha256(data).hexdigest()[:12]}.zip"
    path.write_bytes(data)
    return verify_bundle(path, **options)


def _failed(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each failed member and its reasons, one per line."""
    failed: dict[str, str] = {}
    for member, reason in report.failures:
        failed[member] = f"{failed[member]}\n{reason}" if member in failed else reason
    return failed


@pytest.fixture
def lot_passport(demo_app: Flask) -> str:
    with demo_app.app_context():
        return db.session.scalar(select(Passport.public_id).join(Lot, Lot.id == Passport.lot_id)
                                 .where(Lot.code == "USCC-2025-BKH-001"))


def test_every_demo_passport_bundle_verifies_offline(demo_app: Flask, tmp_path: Path) -> None:
    with demo_app.app_context():
        ids = list(db.session.scalars(select(Passport.public_id).order_by(Passport.id)))
    verified = 0
    for public_id in ids:
        report = _check(tmp_path, _bundle(demo_app, public_id))
        assert report.valid or report.status in ("suspended", "revoked"), (public_id, report.lines())
        assert not report.failures, (public_id, report.lines())
        verified += 1
    assert verified == len(ids) > 10


def test_bundle_contents_and_the_command_line(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    members = _members(_bundle(demo_app, lot_passport))
    manifest = json.loads(members["manifest.json"])
    assert {"passport/credential.json", "passport/credential.jwt", "passport/inclusion.json",
            "log/checkpoint.json", "manifest.jwt"} <= set(members)
    assert any(name.startswith("credentials/") for name in members)  # the conformity credential
    assert any(name.startswith("did/") for name in members)
    assert all("fetchedAt" in entry for entry in manifest["statusLists"].values())
    assert any(url.endswith("/passports/status/revocation") for url in manifest["statusLists"])
    assert any(url.endswith("/contexts/cashmere/v2.jsonld") for url in manifest["contexts"])
    assert "https://www.w3.org/ns/credentials/v2" in manifest["contexts"]
    # The CLI writes the same bundle; the verifier's own command line checks it with sockets disabled.
    result = demo_app.test_cli_runner().invoke(args=["passports", "bundle", lot_passport, str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = next(tmp_path.glob(f"passport-{lot_passport}-v*.zip"))
    offline = ("import socket, sys, runpy\n"
               "def refuse(*a, **k): raise OSError('network blocked')\n"
               "socket.socket = refuse; socket.create_connection = refuse\n"
               "sys.argv = ['passport_verify', sys.argv[1]]\n"
               "try:\n    runpy.run_module('passport_verify', run_name='__main__')\n"
               "finally:\n    assert not [m for m in sys.modules if m.startswith('marketplace')]\n")
    run = subprocess.run([  # noqa: S603 (our own interpreter and files)
        sys.executable, "-c", offline, str(written)], cwd=VERIFIER, capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"VALID: passport {lot_passport}" in run.stdout
    assert demo_app.test_client().get("/passports/0000000000000000/bundle").status_code == 404


def test_a_changed_byte_in_any_member_is_named(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    members = _members(_bundle(demo_app, lot_passport))
    for name in members:
        changed = dict(members)
        data = bytearray(changed[name])
        data[len(data) // 2] ^= 0x01
        changed[name] = bytes(data)
        report = _check(tmp_path, _zip(changed, rehash=False))
        assert not report.valid, name
        failed = _failed(report)
        expected = "manifest.jwt" if name == "manifest.json" else name
        assert expected in failed or name in failed, (name, report.lines())
        if name not in ("manifest.json", "manifest.jwt"):
            assert "changed: its SHA-256 differs from the manifest" in failed[name].splitlines()


def test_a_changed_member_with_a_rewritten_manifest_is_still_named(demo_app: Flask, lot_passport: str,
                                                                   tmp_path: Path) -> None:
    """A forger who also updates the manifest's hashes: the signatures and digests still tell."""
    members = _members(_bundle(demo_app, lot_passport))
    credential = json.loads(members["passport/credential.json"])
    credential["name"] = "Something else"
    link = next(name for name in members if name.startswith("credentials/"))
    forged_link = json.loads(members[link])
    forged_link["validUntil"] = "2099-01-01T00:00:00Z"
    report = _check(tmp_path, _zip({**members, "passport/credential.json": json.dumps(credential).encode(),
                                    link: json.dumps(forged_link).encode()}))
    failed = _failed(report)
    assert "the signed manifest differs from manifest.json" in failed["manifest.jwt"].splitlines()
    assert ("differs from the signed credential (passport/credential.jwt)"
            in failed["passport/credential.json"].splitlines())
    assert "does not match the digestMultibase the signed passport gives" in failed[link]


def test_a_missing_member_is_named(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    members = _members(_bundle(demo_app, lot_passport))
    for name in members:
        report = _check(tmp_path, _zip({k: v for k, v in members.items() if k != name}, rehash=False))
        assert not report.valid, name
        assert "missing from the bundle" in _failed(report).get(name, "").splitlines(), (name, report.lines())


def _resign(token: bytes, key: OKPKey, kid: str, change=None) -> bytes:  # type: ignore[no-untyped-def]
    payload = json.loads(base64.urlsafe_b64decode(token.decode().split(".")[1] + "=="))
    if change:
        change(payload)
    header = {"alg": "Ed25519", "kid": kid, "typ": "vc+jwt"}
    return jws.serialize_compact(header, json.dumps(payload, sort_keys=True, separators=(",", ":")), key,
                                 algorithms=["Ed25519"]).encode()


def test_a_wrong_key_is_named(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    members = _members(_bundle(demo_app, lot_passport))
    manifest = json.loads(members["manifest.json"])
    did_member = manifest["dids"][manifest["issuer"]]
    real_did = tmp_path / "union-did.json"
    real_did.write_bytes(members[did_member])
    attacker = OKPKey.generate_key("Ed25519", private=True)
    document = json.loads(members[did_member])
    for method in document["verificationMethod"]:
        method["publicKeyJwk"] = dict(attacker.as_dict(private=False))
    swapped = {**members, did_member: json.dumps(document).encode()}
    report = _check(tmp_path, _zip(swapped))
    assert "its signature does not verify with the key" in _failed(report)["passport/credential.jwt"]
    # Everything re-signed with the attacker's key: consistent in itself, refused against the key known before.
    kid = document["verificationMethod"][0]["id"]
    for name in [n for n in swapped if n.endswith(".jwt")]:
        swapped[name] = _resign(swapped[name], attacker, kid)
    checkpoint = json.loads(swapped["log/checkpoint.json"])
    checkpoint["jws"] = _resign(checkpoint["jws"].encode(), attacker, kid).decode()
    swapped["log/checkpoint.json"] = json.dumps(checkpoint).encode()
    rebuilt = _zip(swapped)
    manifest = json.loads(_members(rebuilt)["manifest.json"])
    forged = _members(rebuilt)
    forged["manifest.jwt"] = _resign(forged["manifest.jwt"], attacker, kid,
                                     lambda payload: payload.update(members=manifest["members"]))
    report = _check(tmp_path, _zip(forged, rehash=False), trusted=[str(real_did)])
    assert ("its keys differ from the trusted DID document (swapped key)"
            in _failed(report)[did_member].splitlines())
    assert not report.valid


def test_a_stale_status_snapshot_reads_status_unknown(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    data = _bundle(demo_app, lot_passport)
    fetched = json.loads(_members(data)["manifest.json"])["statusLists"]
    since = min(entry["fetchedAt"] for entry in fetched.values())
    later = dt.datetime.fromisoformat(since) + dt.timedelta(hours=25)
    report = _check(tmp_path, data, now=later)
    assert not report.valid
    assert report.status.startswith("status unknown since ")
    assert since[:19] in report.status
    assert not [line for line in report.lines() if line.startswith("VALID")]
    path = tmp_path / "stale.zip"
    path.write_bytes(data)
    run = subprocess.run([  # noqa: S603 (our own interpreter and files)
        sys.executable, "-m", "passport_verify", str(path), "--max-status-age", "0"],
                         cwd=VERIFIER, capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert "status unknown since" in run.stderr
    assert "INVALID" in run.stderr


def test_a_revoked_passport_is_not_valid(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    with demo_app.app_context():
        cert = db.session.scalar(select(Certificate).join(Lot, Lot.certificate_id == Certificate.id)
                                 .where(Lot.code == "USCC-2025-BKH-001"))
        change_status(cert, CertificateStatus.revoked, "Fraud")
        db.session.commit()
        jobs.run_pending()  # the status job re-issues the lists
    report = _check(tmp_path, _bundle(demo_app, lot_passport))
    assert report.status == "revoked"
    assert not report.valid


def test_a_forged_checkpoint_is_named(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    members = _members(_bundle(demo_app, lot_passport))
    checkpoint = json.loads(members["log/checkpoint.json"])
    checkpoint["checkpoint"]["rootHash"] = "11" * 32
    report = _check(tmp_path, _zip({**members, "log/checkpoint.json": json.dumps(checkpoint).encode()}))
    failed = _failed(report)
    assert ("differs from what its signature covers (forged checkpoint)"
            in failed["log/checkpoint.json"].splitlines())
    assert "the proof does not lead from entry" in failed["passport/inclusion.json"]


def test_a_replayed_checkpoint_is_named(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    old = _members(_bundle(demo_app, lot_passport))
    with demo_app.app_context():  # the log grows: a status change of a certificate this passport does not claim
        own = select(Lot.certificate_id).where(Lot.code == "USCC-2025-BKH-001").scalar_subquery()
        cert = db.session.scalar(select(Certificate).join(Lot, Lot.certificate_id == Certificate.id)
                                 .where(Certificate.id != own,
                                        Certificate.status == CertificateStatus.active).limit(1))
        change_status(cert, CertificateStatus.suspended, "Audit")
        db.session.commit()
        jobs.run_pending()  # the status job logs the change
    new = _members(_bundle(demo_app, lot_passport))
    assert json.loads(new["log/checkpoint.json"]) != json.loads(old["log/checkpoint.json"])
    replayed = {**new, "log/checkpoint.json": old["log/checkpoint.json"],
                "passport/inclusion.json": old["passport/inclusion.json"]}
    report = _check(tmp_path, _zip(replayed))
    assert ("is not the checkpoint the bundle was made with (replayed or swapped)"
            in _failed(report)["log/checkpoint.json"].splitlines())
    # An old bundle, whole and genuine, against a checkpoint seen since: a replay.
    known = tmp_path / "known-checkpoint.json"
    known.write_bytes(new["log/checkpoint.json"])
    report = _check(tmp_path, _zip(old, rehash=False), known_checkpoint=str(known))
    assert "is older than a checkpoint already seen" in _failed(report)["log/checkpoint.json"]
    assert _check(tmp_path, _zip(new, rehash=False), known_checkpoint=str(known)).failures == []


def test_a_suspended_passport_reads_suspended_offline(demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    """The 0.7.0 form names the revocation list only; the signed 0.6.1 form of the same version in the
    bundle names the suspension list, so a suspension shows offline too."""
    with demo_app.app_context():
        cert = db.session.scalar(select(Certificate).join(Lot, Lot.certificate_id == Certificate.id)
                                 .where(Lot.code == "USCC-2025-BKH-001"))
        change_status(cert, CertificateStatus.suspended, "Audit pending")
        db.session.commit()
        jobs.run_pending()  # the status job re-issues the lists
    members = _members(_bundle(demo_app, lot_passport))
    assert "passport/credential-0.6.1.jwt" in members
    report = _check(tmp_path, _zip(members, rehash=False))
    assert report.status == "suspended", report.lines()
    assert not report.valid
    # The 0.6.1 form of another passport, passed off as this one's: refused.
    with demo_app.app_context():
        other = db.session.scalar(select(Passport.public_id).where(Passport.public_id != lot_passport).limit(1))
    foreign = _members(_bundle(demo_app, other))["passport/credential-0.6.1.jwt"]
    report = _check(tmp_path, _zip({**members, "passport/credential-0.6.1.jwt": foreign}))
    assert "is not a form of the same passport version" in _failed(report)["passport/credential-0.6.1.jwt"]


def _status_list(members: dict[str, bytes]) -> tuple[dt.datetime, dt.datetime]:
    """(fetch time, validUntil) of the first status list snapshot in a bundle."""
    url, snapshot = next(iter(json.loads(members["manifest.json"])["statusLists"].items()))
    token = members[snapshot["member"]].decode()
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["id"] == url
    return (dt.datetime.fromisoformat(snapshot["fetchedAt"]),
            dt.datetime.fromisoformat(payload["validUntil"].replace("Z", "+00:00")))


def test_each_staleness_rule_reads_status_unknown_on_its_own(demo_app: Flask, lot_passport: str,
                                                            tmp_path: Path) -> None:
    """A snapshot older than the verifier accepts, and a status list past its own validUntil: each alone
    reads "status unknown since <fetch time>", never "valid"."""
    data = _bundle(demo_app, lot_passport)
    fetched, valid_until = _status_list(_members(data))
    assert valid_until > fetched
    window = valid_until - fetched
    middle = fetched + window / 2
    assert _check(tmp_path, data, now=middle, max_status_age_hours=10_000).status == "valid"
    by_age = _check(tmp_path, data, now=middle, max_status_age_hours=window.total_seconds() / 3600 / 4)
    past_valid_until = _check(tmp_path, data, now=valid_until + dt.timedelta(minutes=1), max_status_age_hours=10_000)
    for report in (by_age, past_valid_until):
        assert report.status.startswith("status unknown since "), report.lines()
        assert not report.valid


def test_a_forked_checkpoint_and_one_older_than_its_version_are_named(demo_app: Flask, lot_passport: str,
                                                                      tmp_path: Path) -> None:
    members = _members(_bundle(demo_app, lot_passport))
    checkpoint = json.loads(members["log/checkpoint.json"])
    # A checkpoint seen elsewhere with the same size but another root: the log forked.
    known = tmp_path / "seen.json"
    known.write_text(json.dumps({"checkpoint": {**checkpoint["checkpoint"], "rootHash": "22" * 32}}))
    report = _check(tmp_path, _zip(members, rehash=False), known_checkpoint=str(known))
    assert ("has another root than the checkpoint already seen at the same size: the log forked"
            in _failed(report)["log/checkpoint.json"].splitlines())
    # Signed by the Union's own key, with a time before the version it includes: a replayed checkpoint.
    with demo_app.app_context():
        early = {**checkpoint["checkpoint"], "timestamp": "2000-01-01T00:00:00Z"}
        signer = get_signer()
        forged = _members(_zip({**members, "log/checkpoint.json": json.dumps(
            {"checkpoint": early, "jws": signer.sign(early)}).encode()}))
        hashes = json.loads(forged["manifest.json"])["members"]
        forged["manifest.jwt"] = _resign(forged["manifest.jwt"], signer.key, signer.key_id,
                                         lambda payload: payload.update(members=hashes))
    report = _check(tmp_path, _zip(forged, rehash=False))
    assert _failed(report) == {"log/checkpoint.json": "is older than the version it claims to include (replayed)"}


def test_the_verifier_recomputes_inclusion_from_the_tiles_and_names_a_changed_tile(
        demo_app: Flask, lot_passport: str, tmp_path: Path) -> None:
    members = _members(_bundle(demo_app, lot_passport))
    manifest = json.loads(members["manifest.json"])
    index, size = manifest["tlog"]["leafIndex"], manifest["tlog"]["treeSize"]
    assert members["log/checkpoint"].decode().split("\n")[1] == str(size)
    tile_names = sorted(name for name in members if name.startswith("log/tile/"))
    assert any(name.startswith("log/tile/entries/") for name in tile_names)
    hash_tile = next(name for name in tile_names if name.startswith("log/tile/0/"))
    assert len(tile_names) <= 2 + 2 * (size.bit_length() // 8 + 1)  # O(log n) tiles, never the whole log
    # One hash beside the entry's path changed (the manifest rehashed, as a forger would): named.
    other = 0 if index != 0 else 1
    tile = bytearray(members[hash_tile])
    tile[other * 32] ^= 0xFF
    report = _check(tmp_path, _zip({**members, hash_tile: bytes(tile)}))
    assert (f"the tiles do not lead from entry {index} to the root of the signed checkpoint of size {size} "
            "(a changed tile)") in _failed(report)["log/checkpoint"]
    # A tile left out, and a note whose signature no longer verifies, are named too.
    report = _check(tmp_path, _zip({name: data for name, data in members.items() if name != hash_tile}))
    assert "is missing or short" in _failed(report)["log/checkpoint"]
    note = members["log/checkpoint"].decode().split("\n")
    note[2] = base64.b64encode(b"\x11" * 32).decode()
    report = _check(tmp_path, _zip({**members, "log/checkpoint": "\n".join(note).encode()}))
    assert "its signature does not verify with the issuer's key (forged note)" in _failed(report)["log/checkpoint"]
