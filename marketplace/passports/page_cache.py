"""The passport page's key (ETag material), read in one query and kept per process while the database is unchanged."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import text

from marketplace.db import today
from marketplace.extensions import db


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
