"""The Signer port: the Union signs passport versions as VC 2.0 secured with JOSE (Ed25519 JWS).

The key is a private OKP JWK in a file (``PASSPORT_SIGNING_KEY``). In dev and tests it is
generated on first use under instance/ or a temp dir; in production it must exist.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

ALGORITHM = "Ed25519"  # RFC 9864 fully-specified EdDSA algorithm
MEDIA_TYPE = "application/vc+jwt"


class SigningKeyError(RuntimeError):
    pass


class SignatureInvalidError(ValueError):
    """The JWS does not verify: malformed, wrong algorithm or signed by another key."""


def did_for(base_url: str) -> str:
    """did:web for the site's origin (a port is percent-encoded, as the did:web spec says)."""
    netloc = urlsplit(base_url).netloc
    return "did:web:" + quote(netloc, safe="")


def canonical_json(document: Any) -> bytes:
    """Deterministic JSON (sorted keys, no spaces, UTF-8): what is hashed and signed."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Signer:
    """One issuer's signing key: the Union's (``get_signer``) or an organisation's (``passports.keys``).
    ``kid`` names the key's verification method in the issuer's DID document."""

    key: OKPKey
    did: str
    kid: str = "key-1"

    @property
    def key_id(self) -> str:
        return f"{self.did}#{self.kid}"

    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    def sign(self, document: dict[str, Any]) -> str:
        header = {"alg": ALGORITHM, "kid": self.key_id, "typ": "vc+jwt", "cty": "vc"}
        return jws.serialize_compact(header, canonical_json(document), self.key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> dict[str, Any]:
        """The signed document, or SignatureInvalidError."""
        public = OKPKey.import_key(self.public_jwk())
        try:
            result = jws.deserialize_compact(token.strip(), public, algorithms=[ALGORITHM])
            payload = json.loads(result.payload)
        except (JoseError, ValueError, TypeError) as error:
            raise SignatureInvalidError(str(error) or type(error).__name__) from error
        if not isinstance(payload, dict):
            raise SignatureInvalidError("the payload is not a JSON object")
        return payload


def load_or_create_key(path: Path, *, create: bool) -> OKPKey:
    if path.exists():
        try:
            return OKPKey.import_key(json.loads(path.read_text()))
        except (ValueError, JoseError) as error:
            raise SigningKeyError(f"PASSPORT_SIGNING_KEY {path} is not an Ed25519 private JWK") from error
    if not create:
        raise SigningKeyError(f"PASSPORT_SIGNING_KEY {path} does not exist")
    key = OKPKey.generate_key("Ed25519", private=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(key.as_dict(private=True), handle)
    return key


def get_signer() -> Signer:
    """The app's signer (the key is read once per process and cached on the app)."""
    app = current_app
    signer = app.extensions.get("passport_signer")
    if signer is None:
        path = app.config.get("PASSPORT_SIGNING_KEY")
        if not path:
            raise SigningKeyError("PASSPORT_SIGNING_KEY is not set")
        key = load_or_create_key(Path(path), create=app.config["ENV"] != "production")
        signer = Signer(key=key, did=did_for(app.config["PUBLIC_BASE_URL"]))
        app.extensions["passport_signer"] = signer
    return signer


def org_did(base_url: str, slug: str, *, union: bool = False) -> str:
    """did:web of an issuing organisation, served on this site at ``/orgs/<slug>/did.json``; the Union
    is the site itself (``/.well-known/did.json``)."""
    return did_for(base_url) if union else f"{did_for(base_url)}:orgs:{slug}"
