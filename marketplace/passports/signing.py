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
class RetiredKey:
    """A key the issuer no longer signs with; what it signed before ``retired`` stays verifiable."""

    kid: str
    public_jwk: dict[str, Any]
    retired: str  # ISO 8601 UTC


@dataclass(frozen=True)
class Signer:
    """One issuer's signing key: the Union's (``get_signer``) or an organisation's (``passports.keys``).
    ``kid`` names the key's verification method in the issuer's DID document; ``retired`` are the Union's
    earlier keys, which still verify what they signed."""

    key: OKPKey
    did: str
    kid: str = "key-1"
    retired: tuple[RetiredKey, ...] = ()

    @property
    def key_id(self) -> str:
        return f"{self.did}#{self.kid}"

    def public_jwk(self) -> dict[str, Any]:
        return {k: v for k, v in self.key.as_dict(private=False).items() if k != "kid"}

    def sign(self, document: dict[str, Any]) -> str:
        return self.sign_canonical(canonical_json(document))

    def sign_canonical(self, payload: bytes) -> str:
        """Sign a document already serialised by ``canonical_json`` (its hash is taken of the same bytes)."""
        header = {"alg": ALGORITHM, "kid": self.key_id, "typ": "vc+jwt", "cty": "vc"}
        return jws.serialize_compact(header, payload, self.key, algorithms=[ALGORITHM])

    def _public_for(self, token: str) -> OKPKey:
        """The key the token's ``kid`` names among the retired ones; otherwise the current key."""
        if self.retired:
            try:
                kid = str(jws.extract_compact(token.strip().encode()).protected.get("kid") or "")
            except (JoseError, ValueError, TypeError) as error:
                raise SignatureInvalidError(str(error) or type(error).__name__) from error
            for old in self.retired:
                if kid == f"{self.did}#{old.kid}":
                    return OKPKey.import_key(old.public_jwk)
        return OKPKey.import_key(self.public_jwk())

    def verify(self, token: str) -> dict[str, Any]:
        """The signed document, or SignatureInvalidError (a token naming a retired key is checked with it)."""
        public = self._public_for(token)
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


def history_path(key_path: Path) -> Path:
    """Where the Union's retired keys are kept: beside its key file (``<key>.history.json``)."""
    return key_path.with_name(key_path.name + ".history.json")


def read_history(key_path: Path) -> tuple[RetiredKey, ...]:
    path = history_path(key_path)
    if not path.exists():
        return ()
    try:
        return tuple(RetiredKey(str(k["kid"]), dict(k["publicKeyJwk"]), str(k["retired"]))
                     for k in json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise SigningKeyError(f"{path} is not a list of retired keys") from error


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def rotate_key_file(key_path: Path, retired_at: str) -> str:
    """Retire the key in ``key_path`` (its public half appended to the history first, so what it signed stays
    verifiable even if the next step fails) and write a new one; the new key's kid (key-<n+1>)."""
    old = load_or_create_key(key_path, create=False)
    old_kid = str(old.as_dict(private=True).get("kid") or "key-1")
    history = [k for k in read_history(key_path) if k.kid != old_kid]
    history.append(RetiredKey(old_kid, {k: v for k, v in old.as_dict(private=False).items() if k != "kid"},
                              retired_at))
    _write_atomically(history_path(key_path), json.dumps(
        [{"kid": k.kid, "publicKeyJwk": k.public_jwk, "retired": k.retired} for k in history], indent=2))
    numbers = [int(k.kid[4:]) for k in history if k.kid.startswith("key-") and k.kid[4:].isdigit()]
    new_kid = f"key-{max(numbers, default=0) + 1}"
    new = OKPKey.generate_key("Ed25519", parameters={"kid": new_kid}, private=True)
    _write_atomically(key_path, json.dumps(new.as_dict(private=True)))
    return new_kid


def get_signer() -> Signer:
    """The app's signer: the key file's key (its ``kid`` member names it, key-1 when absent) with the retired
    keys kept beside it. Read once per process and again whenever the file changes (a rotation)."""
    app = current_app
    path = app.config.get("PASSPORT_SIGNING_KEY")
    if not path:
        raise SigningKeyError("PASSPORT_SIGNING_KEY is not set")
    key_path = Path(path)
    try:
        stamp = (key_path.stat().st_mtime_ns, history_path(key_path).stat().st_mtime_ns
                 if history_path(key_path).exists() else 0)
    except FileNotFoundError:
        stamp = None
    cached = app.extensions.get("passport_signer")
    if cached is not None and stamp is not None and app.extensions.get("passport_signer_stamp") == stamp:
        return cached
    key = load_or_create_key(key_path, create=app.config["ENV"] != "production")
    kid = str(key.as_dict(private=True).get("kid") or "key-1")
    signer = Signer(key=key, did=did_for(app.config["PUBLIC_BASE_URL"]), kid=kid, retired=read_history(key_path))
    if stamp is None:
        stamp = (key_path.stat().st_mtime_ns, 0)
    app.extensions["passport_signer"] = signer
    app.extensions["passport_signer_stamp"] = stamp
    return signer


def org_did(base_url: str, slug: str, *, union: bool = False) -> str:
    """did:web of an issuing organisation, served on this site at ``/orgs/<slug>/did.json``; the Union
    is the site itself (``/.well-known/did.json``)."""
    return did_for(base_url) if union else f"{did_for(base_url)}:orgs:{slug}"
