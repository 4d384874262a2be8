"""Every stored version checked at scale (issue 26, point 3): ``passports verify`` reads the versions' columns
(not ORM objects), a chunk of ids at a time, and checks both forms of each in a pool of worker processes.

For each form (0.6.1, and 0.7.0 when the version has one) the quick check is:

* the JWS's protected header names Ed25519 and nothing beyond ``alg``, ``kid``, ``typ``, ``cty``; its
  signature verifies (libsodium's Ed25519 through PyNaCl, over the token's own bytes) with the key its ``kid``
  names among the Union's retired keys, otherwise the current key (as ``Signer.verify`` picks it);
* the SHA-256 of the signed payload's bytes is the stored content hash (the hash the log chains);
* the credential as stored, which is what the version's URLs serve, is the signed payload: read, then
  written back with sorted keys and no spaces, it gives exactly the payload's bytes (so the payload is also the
  canonical JSON of what is served). Bytes, not a comparison of values: Python calls ``1``, ``1.0`` and
  ``True`` equal, and a stored ``true`` for a signed ``1`` must not pass;
* the 0.6.1 form's status entries point at the passport's status index.

Signed payload = canonical JSON of the credential that was hashed, so the stored hash of a served credential
that reads as the signed payload is the hash of that credential's canonical JSON: the same checks as
``verification._version_problems``. A version failing any quick check is checked again by
``_version_problems`` in the main process, which names what is wrong in the same words as before; the quick
check only ever decides that a version is sound.

Why libsodium for the signatures: it verifies these signatures in about 0.6 of the time OpenSSL (through
``cryptography``) takes on this machine, and it is the stricter of the two. Both check RFC 8032's equation
without the cofactor and refuse ``S`` ≥ L; libsodium also refuses small-order keys and a small-order ``R``,
which OpenSSL accepts (a test signs for the identity key, which OpenSSL accepts and this check refuses). So every
signature it accepts, ``Signer.verify`` accepts too: a quick check never passes what the full check refuses.

Workers are forked and read the database on connections of their own (a committed state: the CLI's). Small
sets, and in-memory databases, are checked in the calling process on its session.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from sqlalchemy import Text, cast, create_engine, func, select
from sqlalchemy.pool import NullPool

from marketplace.collector import frozen_meanwhile
from marketplace.extensions import db
from marketplace.passports.models import Passport, PassportVersion
from marketplace.passports.signing import Signer

CHUNK = 1000  # versions per task (about 33 MB of columns at the benchmark's sizes)
PARALLEL_FROM = 2000  # fewer versions are checked in the calling process (starting workers costs more)
HEADER_KEYS = frozenset({"alg", "kid", "typ", "cty"})

Keys = dict[str | None, bytes]  # the kid a token names → raw Ed25519 public key; None → the current key


def signer_keys(signer: Signer) -> Keys:
    """The raw public keys ``Signer.verify`` would use, by the ``kid`` a token names."""
    keys: Keys = {None: base64.urlsafe_b64decode(str(signer.public_jwk()["x"]) + "==")}
    for old in signer.retired:
        keys[f"{signer.did}#{old.kid}"] = base64.urlsafe_b64decode(str(old.public_jwk["x"]) + "==")
    return keys


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# msgspec reads the stored document about twice as fast as ``json``, into the same Python values; what it
# refuses (NaN, infinities, lone surrogates, nesting beyond its limit) fails the quick check and is checked in full.
_decode = msgspec.json.Decoder().decode
# Sorted keys, no spaces, UTF-8 unescaped: the bytes ``signing.canonical_json`` writes, except for floats in
# exponent form (msgspec writes ``1e16``, Python ``1e+16``), which publishing does not make; such a form fails the
# quick check and is checked in full (test_passport_verify_workers.py compares every form of the demo).
_canonical = msgspec.json.Encoder(order="sorted").encode
_HEADERS: dict[str, tuple[bool, str | None]] = {}  # a protected header segment → (acceptable, the kid it names)
HEADERS_KEPT = 64  # a log's tokens share a few headers (one per signing key): each is parsed once


def _header(head: str) -> tuple[bool, str | None]:
    """Whether a JWS protected header names Ed25519 and nothing beyond ``HEADER_KEYS``; the ``kid`` it names."""
    known = _HEADERS.get(head)
    if known is not None:
        return known
    try:
        header = json.loads(_b64(head))
        ok = isinstance(header, dict) and header.get("alg") == "Ed25519" and header.keys() <= HEADER_KEYS
        found = (ok, header.get("kid") if ok else None)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        found = (False, None)
    if len(_HEADERS) < HEADERS_KEPT:
        _HEADERS[head] = found
    return found


def form_served(text: str | None, content_hash: str | None, token: str | None,
                keys: dict[str | None, VerifyKey]) -> Any:
    """The served document when the form passes the quick check; None when it does not."""
    if not text or not content_hash or not token:
        return None
    try:
        signed, _, signature = token.strip().rpartition(".")
        head, dot, body = signed.partition(".")
        if not dot or "." in body:
            return None
        ok, kid = _header(head)
        if not ok:
            return None
        key = keys.get(kid) or keys[None]
        key.verify(signed.encode("ascii"), _b64(signature))
        payload = _b64(body)
        if hashlib.sha256(payload).hexdigest() != content_hash:
            return None
        served = _decode(text)
        return served if isinstance(served, dict) and _canonical(served) == payload else None
    except (ValueError, TypeError, BadSignatureError, binascii.Error, UnicodeError, RecursionError):
        return None


def version_sound(row: Sequence[Any], keys: dict[str | None, VerifyKey]) -> bool:
    """(id, status index, credential text, hash, signature, 0.7.0 text, hash, signature) passes every quick check."""
    _id, status_index, text, content_hash, token, text_070, hash_070, token_070 = row
    served = form_served(text, content_hash, token, keys)
    if served is None:
        return False
    if text_070 is not None and text_070 != "null" and form_served(text_070, hash_070, token_070, keys) is None:
        return False
    entries = served.get("credentialStatus", [])
    try:
        return {entry.get("statusListIndex") for entry in entries} == {str(status_index)}
    except (AttributeError, TypeError):
        return False


def _columns() -> Any:
    return (select(PassportVersion.id, Passport.status_index, cast(PassportVersion.credential, Text),
                   PassportVersion.content_hash, PassportVersion.signature,
                   cast(PassportVersion.credential_070, Text), PassportVersion.content_hash_070,
                   PassportVersion.signature_070)
            .join(Passport, Passport.id == PassportVersion.passport_id).order_by(PassportVersion.id))


Task = tuple[int, int] | list[int]  # ids [first, last] or the ids themselves


def _rows(connection: Any, task: Task) -> Any:
    stmt = _columns()
    if isinstance(task, tuple):
        stmt = stmt.where(PassportVersion.id >= task[0], PassportVersion.id <= task[1])
    else:
        stmt = stmt.where(PassportVersion.id.in_(task))
    return connection.execute(stmt)


def unsound(rows: Any, keys: Keys) -> list[int]:
    """The ids among ``rows`` failing a quick check."""
    public = {kid: VerifyKey(raw) for kid, raw in keys.items()}
    return [row[0] for row in rows if not version_sound(row, public)]


_WORKER: dict[str, Any] = {}


def _start_worker(url: str, keys: Keys, inherited: Any) -> None:
    """In a forked worker: a connection pool of its own. The parent's pool, inherited with the fork, is
    dropped without closing its connections (they stay the parent's: ``dispose(close=False)``)."""
    inherited.dispose(close=False)
    _WORKER["engine"] = create_engine(url, poolclass=NullPool)
    _WORKER["keys"] = keys


def _check_in_worker(task: Task) -> list[int]:
    with _WORKER["engine"].connect() as connection:
        return unsound(_rows(connection, task), _WORKER["keys"])


def _tasks(version_ids: list[int] | None) -> Iterator[Task]:
    if version_ids is not None:
        for start in range(0, len(version_ids), CHUNK):
            yield version_ids[start:start + CHUNK]
        return
    last = -1
    while ids := db.session.scalars(select(PassportVersion.id).where(PassportVersion.id > last)
                                    .order_by(PassportVersion.id).limit(CHUNK)).all():
        yield (ids[0], ids[-1])
        last = ids[-1]


def workers_for(url: Any, count: int, cpus: int | None) -> int:
    """2 worker processes (the issue's 2 cores) for ``count`` ≥ ``PARALLEL_FROM`` versions on a database they
    can open (not an in-memory SQLite); otherwise 0, checked in the calling process."""
    if url.get_backend_name() == "sqlite" and (url.database or "") in ("", ":memory:"):
        return 0
    workers = min(2, cpus or 1)
    return workers if count >= PARALLEL_FROM and workers > 1 else 0


def default_workers(version_ids: list[int] | None) -> int:
    count = len(version_ids) if version_ids is not None else db.session.scalar(
        select(func.count()).select_from(PassportVersion)) or 0
    return workers_for(db.engine.url, count, os.cpu_count())


class Checks:
    """The quick checks of every version (or of ``version_ids``), started in workers at once so the caller can
    check the log meanwhile; :meth:`unsound_ids` waits for them."""

    def __init__(self, signer: Signer, version_ids: list[int] | None = None, workers: int | None = None) -> None:
        self.keys = signer_keys(signer)
        self.version_ids = version_ids
        self.workers = default_workers(version_ids) if workers is None else workers
        self.pool: Any = None
        self.pending: Any = None
        if self.workers > 1:
            url = db.engine.url.render_as_string(hide_password=False)
            tasks = list(_tasks(version_ids))
            # What the parent holds stays out of the workers' collections (no copy-on-write for them).
            with frozen_meanwhile():
                self.pool = multiprocessing.get_context("fork").Pool(self.workers, _start_worker,
                                                                     (url, self.keys, db.engine))
            self.pending = self.pool.map_async(_check_in_worker, tasks, chunksize=1)

    def unsound_ids(self) -> list[int]:
        if self.pool is None:
            connection = db.session.connection()
            return [version_id for task in _tasks(self.version_ids)
                    for version_id in unsound(_rows(connection, task), self.keys)]
        try:
            found = [version_id for chunk in self.pending.get() for version_id in chunk]
        finally:
            self.pool.close()
            self.pool.join()
        return sorted(found)
