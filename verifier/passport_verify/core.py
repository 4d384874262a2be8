"""The checks, each reported on its own with the bundle member it concerns."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from passport_verify import tiles
from passport_verify.encoding import b64url, canonical, digest_multibase
from passport_verify.merkle import leaf_hash, verify_inclusion
from passport_verify.status import check_status, status_entries

SIGNED_BY_MANIFEST = ("manifest.json", "manifest.jwt")


@dataclass
class Report:
    failures: list[tuple[str, str]] = field(default_factory=list)
    status: str = "not checked"
    summary: str = ""

    @property
    def valid(self) -> bool:
        return not self.failures and self.status == "valid"

    def fail(self, member: str, reason: str) -> None:
        self.failures.append((member, reason))

    def lines(self) -> list[str]:
        out = [f"FAIL {member}: {reason}" for member, reason in self.failures]
        status = self.status if self.status.startswith("status") else f"status {self.status}"
        if self.status != "valid":
            out.append(status)
        out.append(f"VALID: {self.summary}" if self.valid else
                   f"INVALID: {len(self.failures)} check(s) failed; {status}")
        return out


def _walk(document: Any) -> list[dict[str, Any]]:
    out, pending = [], [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            out.append(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return out


def _keys(did_document: Any) -> dict[str, Ed25519PublicKey]:
    """Ed25519 keys of a DID document by verification method id (relative ids made absolute)."""
    keys: dict[str, Ed25519PublicKey] = {}
    if not isinstance(did_document, dict):
        return keys
    did = str(did_document.get("id", ""))
    for method in did_document.get("verificationMethod", []) or []:
        jwk = method.get("publicKeyJwk") if isinstance(method, dict) else None
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        kid = str(method.get("id", ""))
        kid = did + kid if kid.startswith("#") else kid
        try:
            keys[kid] = Ed25519PublicKey.from_public_bytes(b64url(str(jwk.get("x", ""))))
        except ValueError:
            continue
    return keys


class _Bundle:
    def __init__(self, archive: zipfile.ZipFile, report: Report) -> None:
        self.archive = archive
        self.report = report
        self.names = set(archive.namelist())
        self.keys: dict[str, Ed25519PublicKey] = {}

    def read(self, name: str) -> bytes | None:
        return self.archive.read(name) if name in self.names else None

    def json(self, name: str) -> Any:
        data = self.read(name)
        if data is None:
            self.report.fail(name, "missing from the bundle")
            return None
        try:
            return json.loads(data)
        except ValueError:
            self.report.fail(name, "is not JSON")
            return None

    def jws(self, name: str, token: bytes | None = None,  # noqa: PLR0911 (one return per named failure)
            issuer: str | None = None) -> tuple[Any, bytes] | None:
        """(payload, payload bytes) of a verified compact JWS; None (and a failure named) otherwise."""
        token = self.read(name) if token is None else token
        if token is None:
            self.report.fail(name, "missing from the bundle")
            return None
        try:
            header_b64, payload_b64, signature_b64 = token.decode().strip().split(".")
            header = json.loads(b64url(header_b64))
            payload_bytes = b64url(payload_b64)
            signature = b64url(signature_b64)
        except (ValueError, UnicodeDecodeError):
            self.report.fail(name, "is not a compact JWS")
            return None
        if header.get("alg") not in ("Ed25519", "EdDSA"):
            self.report.fail(name, f"uses the algorithm {header.get('alg')!r}, not Ed25519")
            return None
        kid = str(header.get("kid", ""))
        if issuer is not None and kid.split("#", 1)[0] != issuer:
            self.report.fail(name, f"is signed by {kid}, not by {issuer}")
            return None
        key = self.keys.get(kid)
        if key is None:
            self.report.fail(name, f"is signed with {kid}, a key no DID document in the bundle holds")
            return None
        try:
            key.verify(signature, f"{header_b64}.{payload_b64}".encode())
        except InvalidSignature:
            self.report.fail(name, f"its signature does not verify with the key {kid} (wrong key or changed)")
            return None
        try:
            return json.loads(payload_bytes), payload_bytes
        except ValueError:
            self.report.fail(name, "its signed payload is not JSON")
            return None


def verify_bundle(path: str | Path, trusted: list[str] | None = None, known_checkpoint: str | None = None,
                  max_status_age_hours: float = 24.0, now: dt.datetime | None = None) -> Report:
    report = Report()
    now = now or dt.datetime.now(dt.UTC)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile):
        report.fail(str(path), "is not a readable zip archive")
        return report
    with archive:
        bundle = _Bundle(archive, report)
        manifest = bundle.json("manifest.json")
        if not isinstance(manifest, dict):
            return report
        _check_members(bundle, manifest)
        _load_keys(bundle, manifest, trusted or [])
        signed_manifest = bundle.jws("manifest.jwt", issuer=manifest.get("issuer"))
        if signed_manifest is not None and signed_manifest[0] != manifest:
            report.fail("manifest.jwt", "the signed manifest differs from manifest.json")
        signed = bundle.jws("passport/credential.jwt")
        if signed is None:
            return report
        credential, payload_bytes = signed
        if bundle.json("passport/credential.json") != credential:
            report.fail("passport/credential.json", "differs from the signed credential (passport/credential.jwt)")
        _check_links(bundle, manifest, credential)
        checkpoint = _check_log(bundle, manifest, payload_bytes, known_checkpoint)
        check_status(bundle, manifest, status_entries(bundle, credential), now, max_status_age_hours)
        if report.valid:
            issuer = credential.get("issuer")
            issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
            report.summary = (f"passport {manifest.get('passport')} version {manifest.get('version')}, signed by "
                              f"{issuer}, in the log (checkpoint of size {checkpoint.get('treeSize')} at "
                              f"{checkpoint.get('timestamp')}); status valid")
    return report


def _check_members(bundle: _Bundle, manifest: dict[str, Any]) -> None:
    members = manifest.get("members")
    if not isinstance(members, dict):
        bundle.report.fail("manifest.json", "lists no members")
        return
    for name, entry in sorted(members.items()):
        data = bundle.read(name)
        if data is None:
            bundle.report.fail(name, "missing from the bundle")
        elif not isinstance(entry, dict) or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            bundle.report.fail(name, "changed: its SHA-256 differs from the manifest")
    for name in sorted(bundle.names - set(members) - set(SIGNED_BY_MANIFEST)):
        bundle.report.fail(name, "is not listed in the manifest")


def _load_keys(bundle: _Bundle, manifest: dict[str, Any], trusted: list[str]) -> None:
    pinned: dict[str, dict[str, Ed25519PublicKey]] = {}
    for path in trusted:
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            bundle.report.fail(path, "the trusted DID document cannot be read")
            continue
        pinned[str(document.get("id"))] = _keys(document)
    for did, member in (manifest.get("dids") or {}).items():
        document = bundle.json(member)
        if document is None:
            continue
        if document.get("id") != did:
            bundle.report.fail(member, f"is the DID document of {document.get('id')}, not of {did}")
            continue
        keys = _keys(document)
        if did in pinned:
            public = {kid: key.public_bytes_raw() for kid, key in keys.items()}
            if public != {kid: key.public_bytes_raw() for kid, key in pinned[did].items()}:
                bundle.report.fail(member, "its keys differ from the trusted DID document (swapped key)")
            keys = pinned[did]
        bundle.keys.update(keys)


def _check_links(bundle: _Bundle, manifest: dict[str, Any], credential: Any) -> None:
    """Each link of the signed passport that carries a digest has its document in the bundle, matching."""
    signed_links = {o["linkURL"]: o["digestMultibase"] for o in _walk(credential)
                    if isinstance(o.get("linkURL"), str) and isinstance(o.get("digestMultibase"), str)}
    members = {link.get("url"): link.get("member") for link in manifest.get("links") or [] if isinstance(link, dict)}
    for url, digest in sorted(signed_links.items()):
        member = members.get(url)
        data = bundle.read(member) if isinstance(member, str) else None
        if data is None:
            bundle.report.fail(member or url, f"the credential linked at {url} is missing from the bundle")
            continue
        candidates = {digest_multibase(data)}
        with contextlib.suppress(ValueError):
            candidates.add(digest_multibase(canonical(json.loads(data))))
        if digest not in candidates:
            bundle.report.fail(member, f"does not match the digestMultibase the signed passport gives for {url}")


def _check_log(bundle: _Bundle, manifest: dict[str, Any], payload_bytes: bytes,
               known_checkpoint: str | None) -> dict[str, Any]:
    report = bundle.report
    document = bundle.json("log/checkpoint.json")
    if not isinstance(document, dict):
        return {}
    checkpoint = document.get("checkpoint") or {}
    signed = bundle.jws("log/checkpoint.json", str(document.get("jws", "")).encode(), manifest.get("issuer"))
    if signed is not None and signed[0] != checkpoint:
        report.fail("log/checkpoint.json", "differs from what its signature covers (forged checkpoint)")
    expected = manifest.get("checkpoint") or {}
    if (checkpoint.get("treeSize"), checkpoint.get("rootHash")) != (expected.get("treeSize"), expected.get("rootHash")):
        report.fail("log/checkpoint.json", "is not the checkpoint the bundle was made with (replayed or swapped)")
    if known_checkpoint:
        _check_known(report, checkpoint, known_checkpoint)
    inclusion = bundle.json("passport/inclusion.json")
    if not isinstance(inclusion, dict):
        return checkpoint
    try:
        leaf = json.loads(inclusion["leafData"])
        proof = [bytes.fromhex(p) for p in inclusion["proof"]]
        root = bytes.fromhex(str(checkpoint.get("rootHash")))
        index, size = int(inclusion["leafIndex"]), int(checkpoint.get("treeSize"))
    except (KeyError, TypeError, ValueError):
        report.fail("passport/inclusion.json", "is not an inclusion proof")
        return checkpoint
    if (leaf.get("passport"), leaf.get("version")) != (manifest.get("passport"), manifest.get("version")) or \
            leaf.get("contentHash") != hashlib.sha256(payload_bytes).hexdigest():
        report.fail("passport/inclusion.json", "its log entry is not this passport version's")
    if not verify_inclusion(leaf_hash(str(inclusion["leafData"]).encode()), index, size, proof, root):
        report.fail("passport/inclusion.json", f"the proof does not lead from entry {index} to the root of the "
                                               f"checkpoint of size {size}")
    if str(checkpoint.get("timestamp", "")) < str(leaf.get("issuedAt", "")):
        report.fail("log/checkpoint.json", "is older than the version it claims to include (replayed)")
    _check_tiles(bundle, manifest, payload_bytes, checkpoint)
    return checkpoint


def _check_tiles(bundle: _Bundle, manifest: dict[str, Any], payload_bytes: bytes, checkpoint: dict[str, Any]) -> None:
    """The version's inclusion again, from the tlog tiles and the signed-note checkpoint alone."""
    tlog = manifest.get("tlog")
    if not isinstance(tlog, dict) or not isinstance(tlog.get("leafIndex"), int):
        bundle.report.fail("manifest.json", "names no tlog-tiles checkpoint and entry")
        return
    name, index = str(tlog.get("checkpoint")), int(tlog["leafIndex"])
    note = bundle.read(name)
    if note is None:
        bundle.report.fail(name, "missing from the bundle")
        return
    issuer = str(manifest.get("issuer"))
    keys = [key for kid, key in bundle.keys.items() if kid.split("#", 1)[0] == issuer]
    found = tiles.index_tiles(sorted(bundle.names))
    try:
        _origin, size, root = tiles.read_note(note.decode("utf-8", "replace"), keys)
        data = tiles.entry(bundle.read, found, index)
        computed = tiles.root_from_tiles(bundle.read, found, index, size, data)
    except tiles.TileError as error:
        bundle.report.fail(name, str(error))
        return
    if (size, root.hex()) != (checkpoint.get("treeSize"), checkpoint.get("rootHash")):
        bundle.report.fail(name, "names another tree than log/checkpoint.json (swapped checkpoint)")
    try:
        leaf = json.loads(data)
    except ValueError:
        leaf = {}
    if not isinstance(leaf, dict) or (leaf.get("passport"), leaf.get("version")) != (
            manifest.get("passport"), manifest.get("version")) or \
            leaf.get("contentHash") != hashlib.sha256(payload_bytes).hexdigest():
        bundle.report.fail(name, f"entry {index} of the tiles is not this passport version's")
    if computed != root:
        bundle.report.fail(name, f"the tiles do not lead from entry {index} to the root of the signed checkpoint "
                                 f"of size {size} (a changed tile)")


def _check_known(report: Report, checkpoint: dict[str, Any], known_path: str) -> None:
    try:
        known = json.loads(Path(known_path).read_text())
    except (OSError, ValueError):
        report.fail(known_path, "the known checkpoint cannot be read")
        return
    known = known.get("checkpoint", known)
    size, known_size = checkpoint.get("treeSize"), known.get("treeSize")
    if isinstance(size, int) and isinstance(known_size, int):
        if size < known_size:
            report.fail("log/checkpoint.json", f"is older than a checkpoint already seen (size {known_size}): "
                                               "replayed")
        elif size == known_size and checkpoint.get("rootHash") != known.get("rootHash"):
            report.fail("log/checkpoint.json", "has another root than the checkpoint already seen at the same "
                                               "size: the log forked")
