"""Per-organisation signing keys and did:web documents.

Each issuing organisation (a certifier, a cooperative, an MSME) signs with its own Ed25519 key, generated
on first use. The private key is stored encrypted (Fernet, with ``ORG_KEYS_SECRET``: one or more keys,
comma-separated, the first encrypts and every one decrypts, so the secret itself can be rotated). A key
rotation retires the current key and adds the next; every key stays in the DID document, marked with when
it was retired, so that what it signed still verifies. The Union signs with the site's key
(``signing.get_signer``), published at ``/.well-known/did.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from marketplace import memo
from marketplace.db import as_utc, utcnow
from marketplace.extensions import db
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.passports.models import OrganisationKey
from marketplace.passports.signing import (
    ALGORITHM,
    SignatureInvalidError,
    Signer,
    SigningKeyError,
    did_for,
    get_signer,
    org_did,
    rotate_key_file,
)
from marketplace.urls import public_base_url

DID_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1"]


class KeyRotationError(ValueError):
    """The key cannot be rotated here (the Union's key is the deployment's PASSPORT_SIGNING_KEY)."""


def _fernet() -> MultiFernet:
    app = current_app
    fernet = app.extensions.get("org_keys_fernet")
    if fernet is not None:
        return fernet
    secret = app.config.get("ORG_KEYS_SECRET")
    if not secret:
        if app.config["ENV"] == "production":
            raise SigningKeyError("ORG_KEYS_SECRET is not set: the organisations' keys cannot be decrypted")
        if not app.config.get("PASSPORT_SIGNING_KEY"):
            raise SigningKeyError("PASSPORT_SIGNING_KEY is not set")
        path = Path(app.config["PASSPORT_SIGNING_KEY"]).with_name("org_keys.secret")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(Fernet.generate_key().decode())
        secret = path.read_text().strip()
    try:
        fernet = MultiFernet([Fernet(part.strip()) for part in str(secret).split(",") if part.strip()])
    except ValueError as error:
        raise SigningKeyError("ORG_KEYS_SECRET must be Fernet keys (32 url-safe base64 bytes each)") from error
    app.extensions["org_keys_fernet"] = fernet
    return fernet


def encrypt_private(key: OKPKey) -> str:
    return _fernet().encrypt(json.dumps(key.as_dict(private=True)).encode()).decode()


def decrypt_private(stored: OrganisationKey) -> OKPKey:
    cache: dict[int, OKPKey] = current_app.extensions.setdefault("org_keys", {})
    key = cache.get(stored.id)
    if key is None:
        try:
            key = OKPKey.import_key(json.loads(_fernet().decrypt(stored.private_encrypted.encode())))
        except (InvalidToken, ValueError, JoseError) as error:
            raise SigningKeyError(f"the key {stored.number} of organisation {stored.organisation_id} cannot be "
                                  "decrypted with ORG_KEYS_SECRET") from error
        cache[stored.id] = key
    return key


def did_of(org: Organisation) -> str:
    return org_did(public_base_url(), org.slug, union=org.kind is OrgKind.union)


def current_key(org: Organisation) -> OrganisationKey | None:
    return db.session.scalar(select(OrganisationKey).where(
        OrganisationKey.organisation_id == org.id, OrganisationKey.retired_at.is_(None)
    ).order_by(OrganisationKey.number.desc()).limit(1))


def _new_key(org: Organisation) -> OrganisationKey:
    number = (db.session.scalar(select(func.max(OrganisationKey.number)).where(
        OrganisationKey.organisation_id == org.id)) or 0) + 1
    private = OKPKey.generate_key("Ed25519", private=True)
    stored = OrganisationKey(organisation_id=org.id, number=number, public_jwk=dict(private.as_dict(private=False)),
                             private_encrypted=encrypt_private(private))
    try:
        with db.session.begin_nested():  # another transaction may create the organisation's key at once
            db.session.add(stored)
    except IntegrityError:
        found = current_key(org)
        if found is None:
            raise
        return found
    return stored


def signer_for(org: Organisation) -> Signer:
    """The organisation's current signer (its key is generated on first use); the Union's is the site's."""
    if org.kind is OrgKind.union:
        return get_signer()
    stored = current_key(org) or _new_key(org)
    return Signer(key=decrypt_private(stored), did=did_of(org), kid=f"key-{stored.number}")


def rotate(org: Organisation) -> OrganisationKey:
    """Retire the organisation's current key and add the next one; the old one stays in the DID document.
    The Union's key is the deployment's PASSPORT_SIGNING_KEY file: it is replaced, its retired public key
    kept beside it (``signing.rotate_key_file``); the key returned for it is not stored in the database."""
    if org.kind is OrgKind.union:
        return _rotate_union(org)
    current = current_key(org)
    if current is not None:
        current.retired_at = utcnow()
    return _new_key(org)


def _rotate_union(org: Organisation) -> OrganisationKey:
    path = current_app.config.get("PASSPORT_SIGNING_KEY")
    if not path or not Path(path).exists():
        raise KeyRotationError("PASSPORT_SIGNING_KEY does not name a key file: there is no key to rotate.")
    retired = utcnow().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kid = rotate_key_file(Path(path), retired)
    signer = get_signer()  # reads the new file
    assert signer.kid == kid
    return OrganisationKey(organisation_id=org.id, number=int(kid[4:]), public_jwk=signer.public_jwk(),
                           private_encrypted="")


def _key_number(kid: str) -> int:
    """The n of ``key-n`` (0 for a kid named otherwise)."""
    number = kid.removeprefix("key-")
    return int(number) if number.isdigit() else 0


def union_did_document() -> dict[str, Any]:
    """The Union's (the site's) DID document: its current key and every key it retired, each retired one with
    the moment it stopped signing (what it signed before stays verifiable)."""
    signer = get_signer()
    methods: list[dict[str, Any]] = [{"id": signer.key_id, "type": "JsonWebKey", "controller": signer.did,
                                      "publicKeyJwk": signer.public_jwk()}]
    # Newest retirement first; two retired within one second (the stamp's precision) by their number.
    for old in sorted(signer.retired, key=lambda k: (k.retired, _key_number(k.kid)), reverse=True):
        if old.kid != signer.kid:
            methods.append({"id": f"{signer.did}#{old.kid}", "type": "JsonWebKey", "controller": signer.did,
                            "publicKeyJwk": old.public_jwk, "expires": old.retired})
    return {
        "@context": DID_CONTEXT, "id": signer.did, "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods], "authentication": [signer.key_id],
    }


def organisation_by_slug(slug: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.slug == slug[:80]))


def organisation_for_did(did: str) -> Organisation | None:
    """The organisation a did:web of this site names (the Union for the site's own DID)."""
    base = did_for(public_base_url())
    if did == base:
        return db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.union)
                                 .order_by(Organisation.id).limit(1))
    prefix = f"{base}:orgs:"
    if not did.startswith(prefix) or len(did) > len(prefix) + 80:
        return None
    org = db.session.scalar(select(Organisation).where(Organisation.slug == did[len(prefix):]))
    return org if org is not None and org.kind is not OrgKind.union else None


def did_document(org: Organisation) -> dict[str, Any] | None:
    """The organisation's DID document with every key it has had (newest first); None before it has one."""
    did = did_of(org)
    keys = list(db.session.scalars(select(OrganisationKey).where(OrganisationKey.organisation_id == org.id)
                                   .order_by(OrganisationKey.number.desc())))
    if not keys:
        return None
    methods = []
    for stored in keys:
        method: dict[str, Any] = {"id": f"{did}#key-{stored.number}", "type": "JsonWebKey", "controller": did,
                                  "publicKeyJwk": stored.public_jwk}
        if stored.retired_at is not None:
            # Retired: no longer signs, but what it signed before this moment stays verifiable.
            method["expires"] = as_utc(stored.retired_at).strftime("%Y-%m-%dT%H:%M:%SZ")
        methods.append(method)
    ids = [m["id"] for m in methods]
    return {
        "@context": DID_CONTEXT, "id": did,
        "alsoKnownAs": [f"{public_base_url()}/organisations/{org.slug}"],
        "controller": did_for(public_base_url()),  # the Union accredits the issuers it hosts
        "verificationMethod": methods, "assertionMethod": ids, "authentication": ids[:1],
    }


def public_key(key_id: str) -> OKPKey | None:
    """The public key a verification method id names (any of this site's issuers, retired keys included).

    Inside a ``memo.batch`` (``passports verify``: every issued document of an issuer names one of its few keys) a
    key found is kept: a stored public key never changes, and a retired one still verifies what it signed. A key
    not found is looked up again, as the batch may make it."""
    found = memo.kept(("public_key", key_id))
    if found is None:
        found = _public_key(key_id)
        if found is not None:
            memo.keep(("public_key", key_id), found)
    return found


def _public_key(key_id: str) -> OKPKey | None:
    did, _sep, fragment = key_id.partition("#")
    org = organisation_for_did(did)
    if org is None or not fragment.startswith("key-") or not fragment[4:].isdigit():
        return None
    if org.kind is OrgKind.union:
        signer = get_signer()
        if fragment == signer.kid:
            return OKPKey.import_key(signer.public_jwk())
        old = next((k for k in signer.retired if k.kid == fragment), None)
        return OKPKey.import_key(old.public_jwk) if old is not None else None
    stored = db.session.scalar(select(OrganisationKey).where(OrganisationKey.organisation_id == org.id,
                                                             OrganisationKey.number == int(fragment[4:])))
    return OKPKey.import_key(stored.public_jwk) if stored is not None else None


def verify_jws(token: str) -> tuple[dict[str, Any], str]:
    """(payload, key id) of a JWS signed by any of this site's issuers, found by its ``kid`` header;
    SignatureInvalidError when it is malformed, names no key of ours or does not verify with it."""
    try:
        header = jws.extract_compact(token.strip().encode()).protected
    except (JoseError, ValueError, TypeError) as error:
        raise SignatureInvalidError(str(error) or type(error).__name__) from error
    key_id = str(header.get("kid") or "")
    key = public_key(key_id)
    if key is None:
        raise SignatureInvalidError(f"no key {key_id[:200]!r} among this site's issuers")
    try:
        payload = json.loads(jws.deserialize_compact(token.strip(), key, algorithms=[ALGORITHM]).payload)
    except (JoseError, ValueError, TypeError) as error:
        raise SignatureInvalidError(str(error) or type(error).__name__) from error
    if not isinstance(payload, dict):
        raise SignatureInvalidError("the payload is not a JSON object")
    return payload, key_id
