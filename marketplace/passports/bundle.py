"""The offline bundle of one passport (issue 19, point 5): a zip of the exact bytes the site serves.

Members: the passport (0.7.0 JSON-LD from its versioned URL and its signed JWT), every credential it links
to (checked offline against the ``digestMultibase`` of the link), the DID documents of every issuer, the
signed status lists with the time they were fetched, the JSON-LD contexts and JSON schemas available
without a network, the log checkpoint and the version's inclusion proof, and ``manifest.json`` (the
SHA-256 of every member) with ``manifest.jwt``, the manifest signed by the Union.

Every member is fetched through the application itself (its own routes, as an anonymous visitor), so the
bundle holds what a visitor would have downloaded. ``passport_verify`` (in ``verifier/``) checks it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from flask import current_app

from marketplace.db import utcnow
from marketplace.passports import tiles
from marketplace.passports.models import Passport
from marketplace.passports.signing import get_signer
from marketplace.urls import public_base_url

FORMAT = "untp-passport-bundle/1"
VCJWT = "application/vc+jwt"
FIXED_TIME = (2026, 1, 1, 0, 0, 0)  # zip entry times: the bundle's bytes depend only on its content


class BundleError(RuntimeError):
    """A member the bundle needs could not be fetched from the site."""


def did_web_path(did: str) -> str | None:
    """The path of a did:web document on this site (did:web spec: ``:`` → ``/``, default ``/.well-known``)."""
    if not did.startswith("did:web:"):
        return None
    host, *segments = did.removeprefix("did:web:").split("#", 1)[0].split(":")
    if unquote(host) != urlsplit(public_base_url()).netloc:
        return None
    return "/" + "/".join(segments) + "/did.json" if segments else "/.well-known/did.json"


def _offline_documents() -> dict[str, bytes]:
    """Contexts and schemas shipped with installed packages (pyld's frozen loader, dppvalidator's schemas)."""
    found: dict[str, bytes] = {}
    if importlib.util.find_spec("pyld") is not None:
        bundled = importlib.import_module("pyld.documentloader.frozen").BUNDLED_CONTEXTS
        for url, path in bundled.items():
            if isinstance(path, Path) and path.is_file():
                found[url] = path.read_bytes()
    spec = importlib.util.find_spec("dppvalidator")
    if spec is not None and spec.origin:
        schema = Path(spec.origin).parent / "schemas" / "data" / "untp-dpp-schema-0.7.0.json"
        if schema.is_file():
            found["urn:untp:dpp:schema:0.7.0"] = schema.read_bytes()
    return found


def _walk(document: Any) -> list[dict[str, Any]]:
    """Every object inside a JSON document, depth first."""
    out: list[dict[str, Any]] = []
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            out.append(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return out


def _issuer(document: Any) -> str | None:
    issuer = document.get("issuer") if isinstance(document, dict) else None
    issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
    return issuer if isinstance(issuer, str) else None


def _contexts(document: Any) -> list[str]:
    contexts = document.get("@context", []) if isinstance(document, dict) else []
    contexts = contexts if isinstance(contexts, list) else [contexts]
    return [c for c in contexts if isinstance(c, str)]


def _jwt_payload(token: bytes) -> Any:
    try:
        part = token.decode().strip().split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


@dataclass
class _Builder:
    base: str
    members: dict[str, bytes] = field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = current_app.test_client()

    def fetch(self, url: str, accept: str | None = None) -> tuple[bytes, str] | None:
        if not url.startswith(self.base + "/"):
            return None
        # A fresh application context per request: one pushed inside the current request would share its
        # ``g`` (locale, signed-in user) and database session.
        with current_app.app_context():
            response = self.client.get(url.removeprefix(self.base), base_url=self.base,
                                       headers={"Accept": accept} if accept else {})
        if response.status_code != 200:
            return None
        return response.get_data(), response.mimetype

    def add(self, name: str, data: bytes, media_type: str, url: str | None = None, **extra: Any) -> None:
        self.members[name] = data
        self.entries[name] = {"sha256": hashlib.sha256(data).hexdigest(), "mediaType": media_type,
                              **({"url": url} if url else {}), **extra}

    def need(self, url: str, accept: str | None = None) -> tuple[bytes, str]:
        got = self.fetch(url, accept)
        if got is None:
            raise BundleError(f"{url} could not be fetched")
        return got


def build(passport: Passport) -> tuple[str, bytes]:
    """(file name, zip bytes) of the bundle of the passport's current version."""
    version = passport.current
    if version is None:
        raise BundleError("the passport has no published version")
    base = public_base_url()
    b = _Builder(base)
    url = f"{base}/passports/{passport.public_id}"
    credential_bytes, media = b.need(f"{url}/versions/{version.number}")
    b.add("passport/credential.json", credential_bytes, media, f"{url}/versions/{version.number}")
    token, _media = b.need(f"{url}.jwt")
    b.add("passport/credential.jwt", token, VCJWT, f"{url}.jwt")
    inclusion_bytes, _media = b.need(f"{url}/versions/{version.number}/inclusion")
    b.add("passport/inclusion.json", inclusion_bytes, "application/json",
          f"{url}/versions/{version.number}/inclusion")
    inclusion = json.loads(inclusion_bytes)
    checkpoint = {"checkpoint": inclusion["checkpoint"], "jws": inclusion["jws"]}
    b.add("log/checkpoint.json", json.dumps(checkpoint, indent=2).encode(), "application/json",
          f"{base}/passports/log/checkpoint")
    tlog = _add_tiles(b, int(inclusion["leafIndex"]), int(inclusion["treeSize"]))

    documents: list[Any] = [json.loads(credential_bytes)]
    links = _add_links(b, documents)
    if version.credential_070 is not None:
        # The signed 0.6.1 form of the same version points at both status lists (the 0.7.0 form at the
        # revocation list only): the verifier reads the passport's status from both.
        token_061, _media = b.need(f"{url}.jwt?untp=0.6.1")
        b.add("passport/credential-0.6.1.jwt", token_061, VCJWT, f"{url}.jwt?untp=0.6.1")
        documents.append(_jwt_payload(token_061))
    statuses = _add_status_lists(b, documents)
    dids = _add_dids(b, documents)
    contexts, schemas, external = _add_contexts(b, documents)
    signer = get_signer()
    manifest = {
        "format": FORMAT, "passport": passport.public_id, "version": version.number, "url": url,
        "createdAt": utcnow().replace(microsecond=0).isoformat(), "issuer": signer.did,
        "checkpoint": {"treeSize": checkpoint["checkpoint"]["treeSize"],
                       "rootHash": checkpoint["checkpoint"]["rootHash"]},
        "tlog": tlog, "links": links, "statusLists": statuses, "dids": dids, "contexts": contexts, "schemas": schemas,
        "notIncluded": external, "members": b.entries,
    }
    manifest_bytes = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [("manifest.json", manifest_bytes), ("manifest.jwt", signer.sign(manifest).encode()),
                           *sorted(b.members.items())]:
            archive.writestr(zipfile.ZipInfo(name, FIXED_TIME), data)
    return f"passport-{passport.public_id}-v{version.number}.zip", buffer.getvalue()


def _add_tiles(b: _Builder, index: int, size: int) -> dict[str, Any]:
    """The signed-note checkpoint and the tlog tiles from which the version's inclusion is recomputed offline:
    its entry bundle and the hash tiles holding the O(log n) subtree hashes beside its path."""
    note, _media = b.need(f"{b.base}/passports/tlog/checkpoint")
    if note.split(b"\n")[1:2] != [str(size).encode()]:
        raise BundleError("the log grew while the bundle was made; ask again")
    b.add("log/checkpoint", note, "text/plain", f"{b.base}/passports/tlog/checkpoint")
    for level, number, width in proof_tiles(index, size):
        path = tiles.tile_path(level, number, width)
        data, _media = b.need(f"{b.base}/passports/tlog/{path}")
        b.add(f"log/{path}", data, "application/octet-stream", f"{b.base}/passports/tlog/{path}")
    return {"checkpoint": "log/checkpoint", "leafIndex": index, "treeSize": size}


def proof_tiles(index: int, size: int) -> list[tuple[int | str, int, int]]:
    """(level or "entries", tile index, width; 0 = full) of the tiles an offline inclusion check reads: the
    entry's bundle, and for each perfect subtree beside the entry's path (RFC 9162 split), the tile holding it
    (a height-h subtree is one hash of level h // 8's tile, or 2^(h % 8) hashes of it)."""
    wanted: set[tuple[int | str, int]] = {("entries", index // tiles.WIDTH)}
    pending = [(0, size)]
    while pending:
        start, end = pending.pop()
        count = end - start
        if count == 1 and start == index:
            continue
        if not start <= index < end and count & (count - 1) == 0:
            height = count.bit_length() - 1
            level, rest = divmod(height, tiles.HEIGHT)
            wanted.add((level, ((start >> height) << rest) // tiles.WIDTH))
            continue
        split = 1 << ((count - 1).bit_length() - 1)
        pending += [(start, start + split), (start + split, end)]
    found = []
    for level, number in sorted(wanted, key=str):
        items = size if level == "entries" else size >> (tiles.HEIGHT * int(level))
        width = min(tiles.WIDTH, items - number * tiles.WIDTH)
        found.append((level, number, 0 if width == tiles.WIDTH else width))
    return found


def _add_links(b: _Builder, documents: list[Any]) -> list[dict[str, Any]]:
    """Every credential the passport links to with a digest, as served at the link's URL."""
    links = []
    for number, link in enumerate(o for o in _walk(documents[0]) if "linkURL" in o and "digestMultibase" in o):
        got = b.fetch(link["linkURL"])
        name = f"credentials/{number + 1:03d}.json" if got else None
        if got and name:
            b.add(name, got[0], got[1], link["linkURL"])
            documents.append(json.loads(got[0]))
        links.append({"url": link["linkURL"], "digestMultibase": link["digestMultibase"], "member": name})
    return links


def _add_status_lists(b: _Builder, documents: list[Any]) -> dict[str, dict[str, Any]]:
    """Every status list a credential points at, signed (vc+jwt), with the time it was fetched."""
    statuses: dict[str, dict[str, Any]] = {}
    for document in list(documents):
        for entry in _walk(document.get("credentialStatus", []) if isinstance(document, dict) else []):
            list_url = entry.get("statusListCredential")
            if not isinstance(list_url, str) or list_url in statuses:
                continue
            fetched_at = utcnow().replace(microsecond=0).isoformat()
            got = b.fetch(list_url, VCJWT)
            if got is None:
                continue
            name = f"status/{len(statuses) + 1:03d}.jwt"
            b.add(name, got[0], VCJWT, list_url, fetchedAt=fetched_at)
            statuses[list_url] = {"member": name, "fetchedAt": fetched_at}
            documents.append(_jwt_payload(got[0]))
    return statuses


def _add_dids(b: _Builder, documents: list[Any]) -> dict[str, str]:
    """The DID document of every issuer (did:web on this site)."""
    dids: dict[str, str] = {}
    for document in list(documents):
        did = _issuer(document)
        path = did_web_path(did) if did else None
        if did is None or did in dids or path is None:
            continue
        got = b.fetch(b.base + path)
        if got is not None:
            name = f"did/{quote(did, safe='')}.json"
            b.add(name, got[0], "application/did+json", b.base + path)
            dids[did] = name
            documents.append(json.loads(got[0]))
    return dids


def _add_contexts(b: _Builder, documents: list[Any]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The JSON-LD contexts the documents cite (the site's own, and those shipped with installed packages)
    and the UNTP JSON schema; the contexts not available offline are listed."""
    offline = _offline_documents()
    contexts: dict[str, str] = {}
    external: list[str] = []
    for context_url in sorted({c for document in documents for c in _contexts(document)}):
        got = b.fetch(context_url)
        data = got[0] if got else offline.get(context_url)
        if data is None:
            external.append(context_url)
            continue
        name = f"contexts/{len(contexts) + 1:03d}.jsonld"
        b.add(name, data, "application/ld+json", context_url)
        contexts[context_url] = name
    schemas = {}
    if "urn:untp:dpp:schema:0.7.0" in offline:
        b.add("schemas/untp-dpp-0.7.0.json", offline["urn:untp:dpp:schema:0.7.0"], "application/schema+json")
        schemas["DigitalProductPassport 0.7.0"] = "schemas/untp-dpp-0.7.0.json"
    return contexts, schemas, external
