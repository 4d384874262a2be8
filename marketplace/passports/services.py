"""Passport rules: publish versions (signed, logged), derive live status, verify everything."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from marketplace import fx, memo
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.db import today, utcnow
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.organisations.models import Aimag, Organisation, OrgKind
from marketplace.passports import documents, tiers, untp, untp070
from marketplace.passports import log as merkle_log
from marketplace.passports import status as status_list
from marketplace.passports.models import (
    Granularity,
    IssuedDocument,
    Passport,
    PassportVersion,
    StatusListVersion,
)
from marketplace.passports.signing import SignatureInvalidError, Signer, canonical_json, get_signer
from marketplace.products.models import ProcessingStep, Product, ProductSource, ProductStatus
from marketplace.products.services import step_visible
from marketplace.urls import public_base_url


def base_url() -> str:
    return public_base_url()


# ---- publishing -------------------------------------------------------------------------------

def _next_status_index() -> int:
    return (db.session.scalar(select(func.max(Passport.status_index))) or 0) + 1


def passport_for(*, lot: Lot | None = None, product: Product | None = None) -> Passport:
    """The passport of a lot or product, created on first use."""
    column, subject = (Passport.lot_id, lot) if lot is not None else (Passport.product_id, product)
    assert subject is not None
    passport = db.session.scalar(select(Passport).where(column == subject.id))
    if passport is None:
        passport = Passport(
            public_id=secrets.token_hex(8), lot=lot, product=product, granularity=Granularity.batch,
            status_index=_next_status_index(),
        )
        db.session.add(passport)
        db.session.flush()
    return passport


def _lot_steps(lot: Lot) -> list[ProcessingStep]:
    return list(db.session.scalars(
        select(ProcessingStep).where(ProcessingStep.lot_id == lot.id).order_by(ProcessingStep.performed_on)
    ))


def _msme_certificates(product: Product) -> list[Certificate]:
    return list(db.session.scalars(
        select(Certificate).where(Certificate.holder_id == product.organisation_id).order_by(Certificate.valid_from)
    ))


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


def publish_many(passports: Iterable[Passport], batch: int = PUBLISH_BATCH) -> tuple[int, int]:
    """Publish each passport whose content changed, in batches: sign and serialise a batch, then append its
    versions to the log under one lock and flush. (published, unchanged)"""
    published = unchanged = 0
    pending: list[PassportVersion] = []
    for passport in passports:
        version = publish(passport, log=False)
        if version is None:
            unchanged += 1
            continue
        published += 1
        pending.append(version)
        if len(pending) >= batch:
            merkle_log.append_versions(pending)
            pending = []
    merkle_log.append_versions(pending)
    return published, unchanged


def publish(passport: Passport, *, log: bool = True) -> PassportVersion | None:
    """Publish a new version if the passport's content changed; None when it is unchanged. With ``log=False``
    the caller appends the version to the log (``publish_many``)."""
    signer = get_signer()
    current = passport.current
    issued_at = utcnow().replace(microsecond=0)
    number = current.number + 1 if current else 1
    linked = linked_documents(passport)
    credential = build_credential(passport, number, issued_at, signer, linked)
    published = untp070.product_passport(
        credential, base_url(), {url: (documents.document_url(doc), doc.digest) for url, doc in linked.items()},
        union_party())
    # Unchanged content (and the same linked versions) publishes nothing, unless the current version
    # predates the 0.7.0 form.
    if current is not None and current.credential_070 is not None and untp.sha256(
        current.credential["credentialSubject"]
    ) == untp.sha256(credential["credentialSubject"]) and current.credential.get(
        "validUntil") == credential.get("validUntil") and _links_of(current.credential_070) == _links_of(published):
        return None
    version = PassportVersion(
        passport=passport, number=number, issued_at=issued_at, credential=credential,
        content_hash=hashlib.sha256(canonical_json(credential)).hexdigest(), signature=signer.sign(credential),
        credential_070=published, content_hash_070=hashlib.sha256(canonical_json(published)).hexdigest(),
        signature_070=signer.sign(published),
    )
    db.session.add(version)
    db.session.flush()
    if log:
        merkle_log.append_version(version)
    return version


def publish_all(wrap: Callable[[list[Any], int], Iterable[Any]] | None = None) -> tuple[int, int]:
    """Make sure every listed lot and published product has a current passport. (published, unchanged)

    ``wrap(subjects, total)`` may report progress (the CLI's bar or counts)."""
    lots = db.session.scalars(select(Lot).where(Lot.status == LotStatus.listed).order_by(Lot.id)).all()
    products = db.session.scalars(
        select(Product).where(Product.status == ProductStatus.published).order_by(Product.id)
    ).all()
    subjects: list[Any] = [*lots, *products]
    published, unchanged = publish_many(
        passport_for(lot=subject) if isinstance(subject, Lot) else passport_for(product=subject)
        for subject in (wrap(subjects, len(subjects)) if wrap is not None else subjects))
    flagged = status_indexes()
    merkle_log.record_status(flagged)
    issue_status_lists(flagged)
    return published, unchanged


# ---- reading ----------------------------------------------------------------------------------

def get_passport(public_id: str) -> Passport | None:
    if len(public_id) > 40:
        return None
    return db.session.scalar(
        select(Passport).where(Passport.public_id == public_id).options(selectinload(Passport.versions))
    )


def passport_for_gtin(gtin: str, lot_code: str | None) -> Passport | None:
    """The passport of the published product with this GTIN-14 (and batch, when one is asked for).
    GTINs are stored as GTIN-14 (products.services normalises them at input; migration 0014 the rest)."""
    stmt = select(Product).where(Product.gtin == gtin, Product.status == ProductStatus.published)
    products = db.session.scalars(stmt.order_by(Product.id)).all()
    if lot_code:
        products = [p for p in products if p.batch_code == lot_code]
    if not products:
        return None
    return db.session.scalar(select(Passport).where(Passport.product_id == products[0].id))


def claimed_certificates(passport: Passport) -> list[Certificate]:
    """The certificates a passport's claims rest on, read live."""
    # The ids first, then the rows: DISTINCT over whole rows fails on PostgreSQL (a JSON column has no equality).
    if passport.lot_id is not None:
        ids = select(Lot.certificate_id).where(Lot.id == passport.lot_id)
    else:
        ids = (select(Lot.certificate_id).join(ProductSource, ProductSource.lot_id == Lot.id)
               .where(ProductSource.product_id == passport.product_id))
    stmt = select(Certificate).where(Certificate.id.in_(ids)).order_by(Certificate.id)
    return list(db.session.scalars(stmt.options(selectinload(Certificate.scheme), selectinload(Certificate.issuer))))


def passport_certificates(passport: Passport) -> list[Certificate]:
    """Every certificate a passport claims: those of its lots and, for a product, its maker's."""
    if passport.lot is not None:  # a lot's claims are its certificate's: read once per batch (a lot import)
        return memo.once(("lot_certificates", passport.lot.certificate_id), lambda: claimed_certificates(passport))
    found = {cert.number: cert for cert in claimed_certificates(passport)}
    if passport.product is not None:
        for cert in _msme_certificates(passport.product):
            found.setdefault(cert.number, cert)
    return list(found.values())


@dataclass(frozen=True)
class PageKey:
    """What decides the passport page's content, read with two light queries (for ETags and 304s)."""

    passport_id: int
    version_id: int
    material: str
    _etags: dict[str, tuple[dt.date, str]] = field(default_factory=dict, compare=False, repr=False)

    def etag(self, locale: str) -> str:
        """Changes with the material, the locale and the date (expiry is judged per day)."""
        day = today()
        known = self._etags.get(locale)
        if known is not None and known[0] == day:
            return known[1]
        value = hashlib.sha256(f"{self.material}|{locale}|{day.isoformat()}".encode()).hexdigest()[:32]
        self._etags[locale] = (day, value)
        return value


# Fixed SQL with bound parameters (never built from input). The 304 path runs on every scan of a
# QR code, so it reads the current version and every certificate behind it in one Core query.
_PAGE_KEY_SQL = text(
    "SELECT p.id, p.revoked_reason, v.id, v.content_hash, c.number, c.status,"
    " c.status_reason || ' ' || CAST(c.status_reason_translations AS TEXT), c.valid_to"
    " FROM passport p"
    " JOIN passport_version v ON v.passport_id = p.id"
    " LEFT JOIN product_source s ON s.product_id = p.product_id"
    " LEFT JOIN lot l ON l.id = COALESCE(p.lot_id, s.lot_id)"
    " LEFT JOIN product pr ON pr.id = p.product_id"
    " LEFT JOIN certificate c ON c.id = l.certificate_id OR c.holder_id = pr.organisation_id"
    " WHERE p.public_id = :public_id"
    " AND v.number = (SELECT MAX(number) FROM passport_version WHERE passport_id = p.id)"
)


_COMPILED: dict[str, tuple[str, tuple[str, ...] | None]] = {}


def _compiled_page_key_sql(dialect: Any, public_id: str) -> tuple[str, Any]:
    """The fixed page-key query for ``dialect``, compiled once, and its parameters."""
    compiled = _COMPILED.get(dialect.name)
    if compiled is None:
        statement = _PAGE_KEY_SQL.compile(dialect=dialect)
        positions = tuple(statement.positiontup) if statement.positiontup else None
        compiled = _COMPILED[dialect.name] = (str(statement), positions)
    sql, positions = compiled
    return sql, (public_id,) * len(positions) if positions else {"public_id": public_id}


def _page_key_rows(public_id: str) -> list[tuple[Any, ...]]:
    """Run the fixed page-key query on a pooled DBAPI connection.

    This is the hot path of every QR scan, so it skips the Core ``Connection``/``Result`` layer:
    the statement is compiled once per dialect (its bound parameter style included) and the value
    is always passed as a parameter, never put into the SQL.
    """
    engine = db.engine
    sql, params = _compiled_page_key_sql(engine.dialect, public_id)
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        connection.close()  # back to the pool, which rolls back the read


class _StampedPageKeys:
    """Page keys kept in this process for as long as the database reads the same "stamp".

    A stamp is read before the key; a key is served from memory only while the stamp read on
    this request equals the one read with it, so a change committed by any process (a
    suspension from another worker) is seen on the very next request. Subclasses say how a
    stamp is read; ``None`` means "cannot tell", and the key is then read from the database.
    """

    MAX = 4096

    def __init__(self) -> None:
        self.keys: dict[str, tuple[Any, PageKey]] = {}

    def stamp(self) -> Any:
        raise NotImplementedError

    def read(self, public_id: str) -> PageKey | None:
        return _read_page_key(_page_key_rows(public_id))

    def get(self, public_id: str) -> PageKey | None:
        stamp = self.stamp()
        known = self.keys.get(public_id)
        if stamp is not None and known is not None and known[0] == stamp:
            return known[1]
        key = self.read(public_id)  # the stamp was read first: a commit in between shows next time
        if stamp is not None and key is not None:
            if len(self.keys) >= self.MAX:
                self.keys.clear()
            self.keys[public_id] = (stamp, key)
        return key


class _SqliteFileKeys(_StampedPageKeys):
    """SQLite, in its default rollback-journal mode, increments the file change counter in the
    database header (bytes 24-27) in every transaction that changes the file, before the commit
    completes. When the counter, the file's size and modification time all read the same,
    nothing has been committed since. In WAL mode the counter is not kept up to date, so
    there the stamp is ``None`` and every request reads the key."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.held: list[Any] = []  # [pid, file descriptor] once opened, once per process
        self.opening = threading.Lock()
        weakref.finalize(self, _close_fd, self.held)

    def _fd(self) -> int:
        held = self.held
        if not held or held[0] != os.getpid():
            with self.opening:  # threads of one process share it: pread needs no shared offset
                if not self.held or self.held[0] != os.getpid():
                    self.held[:] = [os.getpid(), os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)]
        fd: int = self.held[1]
        return fd

    def stamp(self) -> tuple[Any, ...] | None:
        try:
            fd = self._fd()
            info = os.fstat(fd)
            header = os.pread(fd, 12, 16)  # bytes 16-27 of the database header
        except OSError:
            return None
        if len(header) < 12 or header[2] != 1:  # byte 18, the write version: 2 means WAL
            return None
        return (info.st_size, info.st_mtime_ns, header[8:12])


def _close_fd(held: list[Any]) -> None:
    if held and held[0] == os.getpid():
        with contextlib.suppress(OSError):
            os.close(held[1])
    held.clear()


class _PostgresSnapshotKeys(_StampedPageKeys):
    """PostgreSQL: the stamp is ``pg_current_snapshot()``. Two equal snapshots see exactly the
    same committed transactions (every writing transaction takes an ID, which moves ``xmax`` or
    leaves the in-progress list when it ends), so an equal snapshot means nothing has changed.

    Both the stamp and, on a miss, the key are read on one autocommit connection kept by this
    process: no BEGIN/ROLLBACK round trips, no pool checkout or ping, and the key query stays
    prepared (psycopg forgets prepared statements on every ROLLBACK, which a pooled connection
    gets each time it is returned). One thread uses it at a time; another thread meanwhile reads
    through the pool as before.
    """

    SNAPSHOT = b"SELECT pg_current_snapshot()::text"

    def __init__(self, engine: Any) -> None:
        from psycopg import pq  # noqa: PLC0415 (only PostgreSQL needs the driver)

        super().__init__()
        self.engine = engine
        self.tuples_ok = pq.ExecStatus.TUPLES_OK
        self.connection_ok = pq.ConnStatus.OK
        self.unsupported = False
        self.lock = threading.Lock()
        self.held: list[Any] = []  # [pid, connection] once connected
        weakref.finalize(self, _close_held, self.held)

    def _connection(self) -> Any:
        if self.held and self.held[0] != os.getpid():  # inherited across a fork: never touch it
            _FORKED.append(self.held[1])
            self.held.clear()
        if not self.held:
            cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
            connection = self.engine.dialect.connect(*cargs, **cparams)
            connection.autocommit = True
            self.held[:] = [os.getpid(), connection]
        return self.held[1]

    def _on_connection(self, run: Callable[[Any], Any]) -> Any:
        """``run(connection)`` on the kept connection, reconnecting once if the server went away;
        ``None`` while another thread is using it."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            try:
                return run(self._connection())
            except self.engine.dialect.loaded_dbapi.OperationalError:
                _close_held(self.held)
            return run(self._connection())
        finally:
            self.lock.release()

    def stamp(self) -> bytes | None:
        """Read through libpq directly (``psycopg.pq``): on every request, a cursor's bookkeeping
        costs as much as the round trip."""

        def snapshot(connection: Any) -> bytes | None:
            result = connection.pgconn.exec_(self.SNAPSHOT)
            if result.status == self.tuples_ok:
                return bytes(result.get_value(0, 0) or b"")
            if connection.pgconn.status != self.connection_ok:
                raise self.engine.dialect.loaded_dbapi.OperationalError("the connection was lost")
            # The server answered with an error (pg_current_snapshot() is PostgreSQL 13+): read
            # every key from the database from now on.
            current_app.logger.warning("Passport page keys not cached: %s",
                                       (result.error_message or b"").decode(errors="replace"))
            self.unsupported = True
            return None

        return None if self.unsupported else self._on_connection(snapshot)

    def read(self, public_id: str) -> PageKey | None:
        sql, params = _compiled_page_key_sql(self.engine.dialect, public_id)

        def fetch(connection: Any) -> list[tuple[Any, ...]]:
            with connection.cursor() as cursor:
                cursor.execute(sql, params, prepare=True)
                return list(cursor.fetchall())

        rows = self._on_connection(fetch)
        return _read_page_key(rows if rows is not None else _page_key_rows(public_id))


_FORKED: list[Any] = []


def _close_held(held: list[Any]) -> None:
    if held:
        with contextlib.suppress(Exception):
            held[1].close()
        held.clear()


_NO_CACHE = "passport-page-keys-off"


def _stamped_keys() -> _StampedPageKeys | None:
    keys = current_app.extensions.get("passport_page_keys")
    if keys is None:
        engine = db.engine
        path = engine.url.database or ""
        backend = engine.url.get_backend_name()
        if backend == "sqlite" and path not in ("", ":memory:") and not path.startswith("file:"):
            keys = _SqliteFileKeys(os.path.abspath(path))
        elif backend == "postgresql" and engine.dialect.driver == "psycopg":
            keys = _PostgresSnapshotKeys(engine)
        else:
            keys = _NO_CACHE
        current_app.extensions["passport_page_keys"] = keys
    return keys if isinstance(keys, _StampedPageKeys) else None


def page_key(public_id: str) -> PageKey | None:
    if len(public_id) > 40:
        return None
    keys = _stamped_keys()
    return keys.get(public_id) if keys is not None else _read_page_key(_page_key_rows(public_id))


def _read_page_key(rows: list[tuple[Any, ...]]) -> PageKey | None:
    if not rows:
        return None
    passport_id, revoked_reason, version_id, content_hash = rows[0][:4]
    states = sorted({  # hashed as a whole by PageKey.etag
        f"{number}:{status}:{valid_to}:{reason or ''}" for *_, number, status, reason, valid_to in rows
        if number is not None
    })
    return PageKey(passport_id, version_id, f"{content_hash}|{revoked_reason}|{','.join(states)}")


@dataclass
class LiveStatus:
    revoked: bool = False
    suspended: bool = False
    expired: bool = False
    reasons: list[str] = field(default_factory=list)
    certificates: dict[str, CertificateStatus] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Changes whenever anything shown about the status changes (for ETags)."""
        return json.dumps([self.revoked, self.suspended, self.expired, sorted(self.certificates.items())])


def live_status(
    passport: Passport, day: dt.date | None = None, certificates: list[Certificate] | None = None
) -> LiveStatus:
    day = day or today()
    result = LiveStatus()
    if passport.revoked_reason:
        result.revoked = True
        result.reasons.append(passport.revoked_reason)
    for cert in passport_certificates(passport) if certificates is None else certificates:
        state = cert.status_on(day)
        result.certificates[cert.number] = state
        if state is CertificateStatus.revoked:
            result.revoked = True
            result.reasons.append(f"Certificate {cert.number} was revoked. {cert.status_reason}".strip())
        elif state is CertificateStatus.suspended:
            result.suspended = True
            result.reasons.append(f"Certificate {cert.number} is suspended. {cert.status_reason}".strip())
        elif state is CertificateStatus.expired:
            result.expired = True
            result.reasons.append(f"Certificate {cert.number} expired on {cert.valid_to.isoformat()}.")
    return result


def status_indexes() -> dict[str, set[int]]:
    """Indexes set in each status list, from the live state of every passport."""
    day = today()
    flagged: dict[str, set[int]] = {purpose: set() for purpose in status_list.PURPOSES}
    certs = {c.id: c for c in db.session.scalars(select(Certificate))}
    rows = db.session.execute(
        select(Passport.status_index, Passport.revoked_reason, Lot.certificate_id)
        .join(Lot, Lot.id == Passport.lot_id)
    ).all()
    rows += db.session.execute(
        select(Passport.status_index, Passport.revoked_reason, Lot.certificate_id)
        .join(ProductSource, ProductSource.product_id == Passport.product_id)
        .join(Lot, Lot.id == ProductSource.lot_id)
    ).all()
    rows += db.session.execute(  # the maker's own certificates (the MSME Code of Practice …)
        select(Passport.status_index, Passport.revoked_reason, Certificate.id)
        .join(Product, Product.id == Passport.product_id)
        .join(Certificate, Certificate.holder_id == Product.organisation_id)
    ).all()
    rows += db.session.execute(
        select(Passport.status_index, Passport.revoked_reason, None).where(Passport.revoked_reason != "")
    ).all()
    for index, revoked_reason, cert_id in rows:
        cert = certs.get(cert_id)
        state = cert.status_on(day) if cert else None
        if revoked_reason or state is CertificateStatus.revoked:
            flagged["revocation"].add(index)
        elif state is CertificateStatus.suspended:
            flagged["suspension"].add(index)
    return flagged


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def latest_status_list(purpose: str) -> StatusListVersion | None:
    return db.session.scalar(select(StatusListVersion).where(StatusListVersion.purpose == purpose)
                             .order_by(StatusListVersion.number.desc()).limit(1))


def current_status_list(purpose: str) -> StatusListVersion | None:
    """The status list in force: the latest stored issue. Reading never signs nor scans the passports;
    ``issue_status_lists`` (the ``passports.status`` job, publishing, ``flask passports checkpoint``) writes."""
    return latest_status_list(purpose)


def issue_status_lists(flagged: dict[str, set[int]] | None = None) -> list[StatusListVersion]:
    """Issue a new version of each status list whose bits changed or whose issue is near its ``validUntil``
    (under half its validity left). Returns the new issues."""
    flagged = status_indexes() if flagged is None else flagged
    issued = [_issue_status_list(purpose, flagged[purpose]) for purpose in status_list.PURPOSES]
    return [found for found in issued if found is not None]


def _issue_status_list(purpose: str, indexes: set[int]) -> StatusListVersion | None:
    encoded = status_list.encode(indexes)
    now = utcnow().replace(microsecond=0)
    latest = latest_status_list(purpose)
    validity = dt.timedelta(seconds=int(current_app.config["STATUS_LIST_VALIDITY"]))
    if latest is not None and latest.encoded_list == encoded and _aware(latest.valid_until) - validity / 2 > now:
        return None
    signer = get_signer()
    number = latest.number + 1 if latest is not None else 1
    url = f"{base_url()}/passports/status/{purpose}"
    until = now + validity
    credential = {
        "@context": [untp.VC_CONTEXT],
        "id": url,  # the URL the passports name; this issue also stays at f"{url}/versions/{number}"
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": signer.did,
        "validFrom": untp._date_time(now),
        "validUntil": untp._date_time(until),
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": purpose,
                              "encodedList": encoded},
    }
    issued = StatusListVersion(purpose=purpose, number=number, encoded_list=encoded, valid_from=now,
                               valid_until=until, body=canonical_json(credential).decode(),
                               jwt=signer.sign(credential))
    try:
        with db.session.begin_nested():  # two workers may issue at once: the first one's issue stands
            db.session.add(issued)
    except IntegrityError:
        return None
    return issued


# ---- verification -----------------------------------------------------------------------------

@dataclass
class Verdict:
    authentic: bool
    current: bool = False
    revoked: bool = False
    suspended: bool = False
    reasons: list[str] = field(default_factory=list)
    passport: Passport | None = None
    version: PassportVersion | None = None


MAX_DOCUMENT_DEPTH = 64  # a passport credential nests about ten levels


class UnreadableDocumentError(ValueError):
    """JSON the site will not read: nested beyond ``MAX_DOCUMENT_DEPTH`` or carrying a lone surrogate."""


def _check_readable(document: Any) -> None:
    """Walk ``document`` without recursion: bounded depth, and text that UTF-8 can encode."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DOCUMENT_DEPTH:
            raise UnreadableDocumentError("nested too deeply")
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise UnreadableDocumentError("a lone surrogate") from None


def verify_document(text: str) -> Verdict:
    """Check a pasted passport: a signed JWS (vc+jwt), an enveloped credential or the credential JSON-LD.

    Raises :class:`UnreadableDocumentError` for JSON nested too deeply or holding a lone surrogate.
    """
    text = text.strip()
    if not text:
        return Verdict(False, reasons=["The document is empty."])
    version, problem = _version_from_json(text) if text.startswith("{") else _version_from_jws(text)
    if version is None:
        return Verdict(False, reasons=[problem])
    return _judge(version)


def _version_by_content(document: dict[str, Any]) -> PassportVersion | None:
    """The version whose 0.6.1 or 0.7.0 form is exactly this document."""
    digest = hashlib.sha256(canonical_json(document)).hexdigest()
    return db.session.scalar(select(PassportVersion).where(
        (PassportVersion.content_hash == digest) | (PassportVersion.content_hash_070 == digest)).limit(1))


def _version_from_json(text: str) -> tuple[PassportVersion | None, str]:
    try:
        document = json.loads(text)
    except RecursionError:
        raise UnreadableDocumentError("nested too deeply") from None
    except ValueError:
        return None, "The document is not valid JSON."
    _check_readable(document)
    if not isinstance(document, dict):
        return None, "The document is not a JSON object."
    enveloped = str(document.get("id", ""))
    if document.get("type") == "EnvelopedVerifiableCredential" and enveloped.startswith("data:application/vc+jwt,"):
        return _version_from_jws(enveloped.split(",", 1)[1])
    version = _version_by_content(document)
    if version is None:
        return None, "Its content does not match any version the Union published: it was changed or it is not ours."
    return version, ""


def _version_from_jws(token: str) -> tuple[PassportVersion | None, str]:
    try:
        payload = get_signer().verify(token)
    except SignatureInvalidError:
        return None, ("The signature does not verify with the Union's key: "
                      "the document was altered or signed by someone else.")
    version = _version_by_content(payload)
    if version is None:
        return None, "The signature is valid but this version is not in the Union's public log."
    return version, ""


def _judge(version: PassportVersion) -> Verdict:
    passport = version.passport
    state = live_status(passport)
    verdict = Verdict(True, passport=passport, version=version, revoked=state.revoked, suspended=state.suspended)
    verdict.reasons.extend(state.reasons)
    latest = passport.current
    verdict.current = latest is not None and latest.id == version.id and not state.revoked
    if latest is not None and latest.id != version.id:
        verdict.reasons.append(f"A newer version ({latest.number}) has been published since this one.")
    return verdict


def _signature_problems(version: PassportVersion, signer: Signer, label: str) -> list[str]:
    """Each form of a version (0.6.1, and 0.7.0 when it has one) is signed over exactly its content."""
    problems = []
    forms = [("", version.credential, version.signature)]
    if version.credential_070 is not None:
        forms.append((" (UNTP 0.7.0)", version.credential_070, version.signature_070 or ""))
        if hashlib.sha256(canonical_json(version.credential_070)).hexdigest() != version.content_hash_070:
            problems.append(f"{label}: its UNTP 0.7.0 form does not match its hash")
    for form, credential, signature in forms:
        try:
            if signer.verify(signature) != credential:
                problems.append(f"{label}{form}: the signature covers different content")
        except SignatureInvalidError:
            problems.append(f"{label}{form}: the signature does not verify")
    return problems


def verify_all(version_ids: list[int] | None = None) -> list[str]:
    """Check every version's hash, signatures and status entries (or only those of ``version_ids``: an
    incremental verify), and every issued document. Streamed in pages of 500 versions. The log is checked by
    ``log.verify_log``. Returns the problems found."""
    signer = get_signer()
    problems: list[str] = []
    stmt = select(PassportVersion).options(selectinload(PassportVersion.passport)).order_by(PassportVersion.id)
    chunks = [version_ids[i:i + 500] for i in range(0, len(version_ids), 500)] if version_ids is not None else None
    for chunk in chunks if chunks is not None else [None]:
        page = stmt.where(PassportVersion.id.in_(chunk)) if chunk is not None else stmt
        for version in db.session.scalars(page.execution_options(yield_per=500)):
            problems.extend(_version_problems(version, signer))
    if version_ids is None:
        for document in db.session.scalars(select(IssuedDocument).order_by(IssuedDocument.id)):
            problems.extend(documents.verify_document(document))
    return problems


def _version_problems(version: PassportVersion, signer: Signer) -> list[str]:
    label = f"passport {version.passport.public_id} version {version.number}"
    problems = []
    if hashlib.sha256(canonical_json(version.credential)).hexdigest() != version.content_hash:
        problems.append(f"{label}: content does not match its hash")
    problems.extend(_signature_problems(version, signer, label))
    indexes = {e.get("statusListIndex") for e in version.credential.get("credentialStatus", [])}
    if indexes != {str(version.passport.status_index)}:
        problems.append(f"{label}: status entries do not point at the passport's status index")
    return problems


def processing_step(step_id: int, organisation_ids: list[int] | None = None, staff: bool = False
                    ) -> ProcessingStep | None:
    """A step a published passport links to; a working-copy step only for its MSME and Union staff."""
    step = db.session.get(ProcessingStep, step_id)
    if step is None or not step_visible(step, organisation_ids or [], staff):
        return None
    return step


def aimag_centres() -> list[Aimag]:
    return list(db.session.scalars(select(Aimag).order_by(Aimag.code)))
