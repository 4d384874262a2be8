"""Publishing passport versions: build, sign and serialise, then append to the log in batches."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import JSON, Column, MetaData, Table, Text, func, select, tuple_

from marketplace import fx, memo
from marketplace.collector import frozen_meanwhile
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.passports import documents, signing_pool, tiers, untp, untp070
from marketplace.passports import log as merkle_log
from marketplace.passports.models import (
    IssuedDocument,
    Passport,
    PassportVersion,
)
from marketplace.passports.reading import _msme_certificates, base_url, passport_certificates
from marketplace.passports.signing import Signer, get_signer
from marketplace.passports.standing import issue_status_lists, status_indexes
from marketplace.passports.subjects import _lot_steps, in_chunks, passports_in_batches
from marketplace.products.models import Product, ProductStatus


def build_credential(passport: Passport, number: int, issued_at: dt.datetime, signer: Signer,
                     linked: dict[str, IssuedDocument] | None = None) -> dict[str, Any]:
    """The 0.6.1 form. With ``linked`` (``linked_documents``), each link names the issued version's immutable
    URL with ``?untp=0.6.1``, and its ``hashDigest`` is the SHA-256 of the exact bytes that URL serves (the
    version's 0.6.1 form); ``linked`` gains those URLs."""
    common = {
        "public_id": passport.public_id, "version": number, "issued_at": issued_at, "base_url": base_url(),
        "issuer_did": signer.did, "status_index": passport.status_index,
    }
    if passport.lot is not None:
        credential = untp.lot_passport(passport.lot, steps=_lot_steps(passport.lot), **common)
    else:
        assert passport.product is not None
        credential = untp.product_passport(
            passport.product, fx_mnt=fx.fx_rates(), msme_certificates=_msme_certificates(passport.product), **common
        )
    # Prices, household data, report numbers and full reports go to the restricted tiers' own credentials,
    # each linked (URL and digest) from the public passport (ESPR access tiers).
    tiers.seal(passport.public_id, credential, base_url())
    if linked:
        subject = credential["credentialSubject"]
        links = [claim["conformityEvidence"] for claim in subject.get("conformityClaim") or []]
        links += [event for info in subject.get("traceabilityInformation") or []
                  for event in info.get("traceabilityEvent") or []]
        for link in links:
            document = linked.get(link["linkURL"])
            if document is not None:
                link["hashDigest"] = hashlib.sha256(document.body_061.encode()).hexdigest()
                # The immutable URL of that version's 0.6.1 form, never the moving current one.
                versioned = f"{documents.document_url(document)}?untp=0.6.1"
                link["linkURL"] = versioned
                linked[versioned] = document  # the 0.7.0 form finds the link by this URL too
    return credential


def union_party() -> dict[str, Any] | None:
    """The Union as a UNTP party (its register entry), named beside the issuer's DID; None before it exists."""
    return memo.once("union_party", _union_party)


def _union_party() -> dict[str, Any] | None:

    union = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.union).order_by(
        Organisation.id).limit(1))
    return untp.party(union, base_url()) if union is not None else None


def linked_documents(passport: Passport) -> dict[str, IssuedDocument]:
    """The issued version of each credential the passport links to (issued now when its content changed),
    by the unversioned URL the 0.6.1 form names: the certificates' conformity credentials (signed by their
    certifiers) and the processing steps' traceability events (signed by whoever performed them)."""
    # A certificate's conformity credential is issued (or found unchanged) once per batch (a lot import).
    linked = {untp.certificate_url(cert, base_url()): memo.once(("conformity", cert.id),
                                                               lambda cert=cert: documents.issue_conformity(cert))
              for cert in passport_certificates(passport)}
    if passport.product is not None:
        for step in passport.product.steps:
            linked[f"{base_url()}/events/steps/{step.id}.json"] = documents.issue_event(step)
    return linked


def _links_of(document: Any) -> list[tuple[str, str]]:
    """Every (linkURL, digestMultibase) in a credential."""
    found: list[tuple[str, str]] = []
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if "linkURL" in node:
                found.append((str(node["linkURL"]), str(node.get("digestMultibase", ""))))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return sorted(found)


PUBLISH_BATCH = 200  # passports signed and serialised between two log appends (one tree lock each)


@contextlib.contextmanager
def _young_collections_only() -> Iterator[None]:
    """The cyclic garbage collector's automatic runs paused while publishing (a batch allocates thousands of
    short-lived dicts and ORM states, and each automatic full run walks every object the session holds);
    ``_append`` collects the young generations after each batch instead, and every generation every
    ``FULL_COLLECTION_EVERY`` batches, so garbage stays bounded. What the process held before publishing
    (the caller's subjects, the app) is frozen meanwhile: those collections walk only what publishing made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        with frozen_meanwhile():
            yield
    finally:
        if enabled:
            gc.enable()


PUBLISH_WORKERS = 2  # processes that serialise and sign full batches (0: in the publishing process)


@dataclass
class _Prepared:
    """A passport's new version, built and compared, waiting for its hashes and signatures."""

    passport: Passport
    number: int
    issued_at: dt.datetime
    forms: signing_pool.Forms  # (the 0.6.1 credential, the 0.7.0 form)


COMMIT_EVERY = 10  # batches (2,000 passports) per transaction when a job or the CLI publishes


def publish_many(passports: Iterable[Passport], batch: int = PUBLISH_BATCH,
                 issued_at: dt.datetime | None = None, workers: int | None = None,
                 commit_every: int = 0) -> tuple[int, int]:
    """Publish each passport whose content changed, in batches: build a batch, have it serialised and signed
    (by ``workers`` processes, default ``PASSPORT_PUBLISH_WORKERS`` or 2, while this one builds the next batch),
    then append its versions to the log under one lock and flush, batch after batch in the order given.
    (published, unchanged)

    What every passport of a batch reads alike (a cooperative's ledger, a certificate and its conformity
    credential, the Union's party, the signing key) is read once (``memo.batch``): publishing changes none of
    it. ``issued_at`` (default: the time each passport is published) is what ``publish`` takes.

    ``commit_every`` N (the jobs and ``flask passports publish``, never a request's unit of work): commit after
    every N appended batches, so a large publish holds neither the database's write lock nor its rows until the
    end. Each commit holds whole batches with their log entries and a signed checkpoint: a failure later leaves a
    consistent log, and publishing again publishes only what did not commit."""
    published = unchanged = appended = 0
    building: list[_Prepared] = []
    signing: tuple[list[_Prepared], signing_pool._Pending] | None = None
    seen: set[int] = set()
    signer = get_signer()
    if workers is None:
        workers = int(current_app.config.get("PASSPORT_PUBLISH_WORKERS", PUBLISH_WORKERS))
    pool = signing_pool.SigningPool(signer, workers)
    # The versions of a batch are inserted together when it is appended, not one by one before each read.
    with contextlib.nullcontext() if memo.active() else memo.batch(), db.session.no_autoflush, \
            _young_collections_only(), contextlib.closing(pool):
        for passport in passports:
            if passport.id in seen:  # listed twice: published once
                continue
            seen.add(passport.id)
            prepared = _prepare(passport, signer, issued_at)
            if prepared is None:
                unchanged += 1
                continue
            published += 1
            building.append(prepared)
            if len(building) >= batch:  # signed meanwhile; the batch before it is appended now
                signing, finished = (building, pool.submit([p.forms for p in building], full=True)), signing
                building = []
                if finished is not None:
                    appended = _append(finished, appended, commit_every)
        last = (building, pool.submit([p.forms for p in building], full=False)) if building else None
        for finished in (signing, last):
            if finished is not None:
                appended = _append(finished, appended, commit_every)
    return published, unchanged


FULL_COLLECTION_EVERY = 10  # batches (2,000 passports) between two full garbage collections while publishing


# The version table with its two JSON columns as text: a batch's versions are inserted with the forms' JSON
# as the signing workers wrote it (``signing_pool.sign_forms``), not encoded again here (SQLite; elsewhere the
# forms go through the JSON type).
_VERSION_TEXT = Table(PassportVersion.__tablename__, MetaData(), *(
    Column(column.name, Text if isinstance(column.type, JSON) else column.type, primary_key=column.primary_key)
    for column in PassportVersion.__table__.columns))


def _append(signed: tuple[list[_Prepared], signing_pool._Pending], appended: int, commit_every: int) -> int:
    """Insert a signed batch's versions (one statement, no ORM objects to track) and log them, in order; commit
    when it is the ``commit_every``-th batch. Returns the count of batches appended."""
    batch, pending = signed
    as_text = db.session.get_bind().dialect.name == "sqlite"
    table = _VERSION_TEXT if as_text else PassportVersion.__table__
    rows = [{"passport_id": prepared.passport.id,
             **_version_values(prepared, result, *((result[4], result[5]) if as_text else prepared.forms))}
            for prepared, result in zip(batch, pending.result(), strict=True)]
    connection = db.session.connection()
    connection.execute(table.insert(), rows)  # one statement (RETURNING in order would be one per row on SQLite)
    ids = {(passport_id, number): version_id for version_id, passport_id, number in connection.execute(
        select(table.c.id, table.c.passport_id, table.c.number).where(
            tuple_(table.c.passport_id, table.c.number).in_([(row["passport_id"], row["number"]) for row in rows])))}
    for prepared in batch:  # its next read of ``current`` sees the new version
        db.session.expire(prepared.passport, ["versions"])
    merkle_log.append_version_rows([
        (ids[(row["passport_id"], row["number"])], prepared.passport.public_id, prepared.number,
         prepared.issued_at, row["content_hash"], row["content_hash_070"]) for prepared, row in zip(batch, rows,
                                                                                                  strict=True)])
    appended += 1
    if commit_every and appended % commit_every == 0:
        _commit_keeping_objects()
    gc.collect(2 if appended % FULL_COLLECTION_EVERY == 0 else 1)
    return appended


def _commit_keeping_objects() -> None:
    """Commit without expiring what the session holds: the caller's subjects stay loaded (expired, each would
    be read again, one query apiece); publishing changed none of them."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def publish(passport: Passport, *, log: bool = True, signer: Signer | None = None,
            issued_at: dt.datetime | None = None) -> PassportVersion | None:
    """Publish a new version if the passport's content changed; None when it is unchanged. With ``log=False``
    the caller appends the version to the log. ``signer`` (default ``get_signer()``) and ``issued_at``
    (default now, to the second) let a caller pass what it read once."""
    signer = signer or get_signer()
    # What its documents read alike (the Union, an issuer's identity anchor, a certificate's credential) is read
    # once, as in ``publish_all``.
    with contextlib.nullcontext() if memo.active() else memo.batch():
        prepared = _prepare(passport, signer, issued_at)
    if prepared is None:
        return None
    version = _version(prepared, signing_pool.sign_forms(prepared.forms, signer))
    if log:
        db.session.flush()
        merkle_log.append_version(version)
    return version


def _prepare(passport: Passport, signer: Signer, issued_at: dt.datetime | None) -> _Prepared | None:
    """The passport's next version, built; None when its content is unchanged."""
    current = passport.current
    issued_at = (issued_at or utcnow()).replace(microsecond=0)
    number = current.number + 1 if current else 1
    linked = linked_documents(passport)
    credential = build_credential(passport, number, issued_at, signer, linked)
    published = untp070.product_passport(
        credential, base_url(), {url: (documents.document_url(doc), doc.digest) for url, doc in linked.items()},
        union_party())
    if _unchanged(current, credential, published):
        return None
    return _Prepared(passport, number, issued_at, (credential, published))


VERSION_OWN = ("id", "validFrom")  # what each version has of its own


def _unchanged(current: PassportVersion | None, credential: dict[str, Any], published: dict[str, Any]) -> bool:
    """Whether the passport as built now says what its current version says: every part of the 0.6.1 form but
    ``VERSION_OWN`` (the subject, its contexts, issuer, status entries, validity), and the 0.7.0 form links the
    same document versions. A version from before the 0.7.0 form is published again. (Until 2026-11-30 only
    the subject, ``validUntil`` and links counted: a version citing the 0.6.1 contexts' old address stayed.)"""
    if current is None or current.credential_070 is None:
        return False

    def lasting(form: dict[str, Any]) -> str:
        return untp.sha256({key: value for key, value in form.items() if key not in VERSION_OWN})

    return lasting(current.credential) == lasting(credential) and _links_of(current.credential_070) == _links_of(
        published)


def _version(prepared: _Prepared, signed: signing_pool.Signed) -> PassportVersion:
    version = PassportVersion(passport=prepared.passport, **_version_values(prepared, signed, *prepared.forms))
    db.session.add(version)
    return version


def _version_values(prepared: _Prepared, signed: signing_pool.Signed, credential: Any, published: Any
                    ) -> dict[str, Any]:
    """A new version's columns but its passport: ``signed`` begins with the signing pool's hashes and
    signatures; the two forms are dicts, or (``_append`` on SQLite) the JSON text the signing workers wrote."""
    return {"number": prepared.number, "issued_at": prepared.issued_at, "credential": credential,
            "content_hash": signed[0], "signature": signed[1], "credential_070": published,
            "content_hash_070": signed[2], "signature_070": signed[3]}


def publish_all(wrap: Callable[[Iterable[Any], int], Iterable[Any]] | None = None, commit_every: int = 0
                ) -> tuple[int, int]:
    """Make sure every listed lot and published product has a current passport. (published, unchanged)

    The lots and products are read 200 at a time (``subjects.in_chunks``), so with ``commit_every`` (the CLI)
    what was published is not held. ``wrap(subjects, total)`` may report progress (the CLI's bar or counts)."""
    listed, shown = Lot.status == LotStatus.listed, Product.status == ProductStatus.published
    total = (db.session.scalar(select(func.count()).select_from(Lot).where(listed)) or 0) + (
        db.session.scalar(select(func.count()).select_from(Product).where(shown)) or 0)
    subjects: Iterable[Any] = itertools.chain(in_chunks(Lot, listed, PUBLISH_BATCH),
                                              in_chunks(Product, shown, PUBLISH_BATCH))
    published, unchanged = publish_many(passports_in_batches(
        wrap(subjects, total) if wrap is not None else subjects, PUBLISH_BATCH), commit_every=commit_every)
    flagged = status_indexes()
    merkle_log.record_status(flagged)
    issue_status_lists(flagged)
    return published, unchanged
