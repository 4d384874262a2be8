"""Row locks for stock, on PostgreSQL and on SQLite.

PostgreSQL: ``SELECT … FOR UPDATE`` on the lot rows, always in id order so that two
reservations can never wait for each other (no deadlock).

SQLite has no row locks: it has one writer at a time. The driver only opens a
transaction at the first write, so a no-op ``UPDATE`` on the same rows takes the
database's write lock *before* the rows are read again; a second writer waits for it
(up to the busy timeout set on every connection) instead of reading stale stock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, false, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import ServiceUnavailable

from marketplace.errors import render_error
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.orders.models import Order

SQLITE_BUSY_TIMEOUT_MS = 30_000


def lock_lots(ids: Iterable[int]) -> list[Lot]:
    """Lock the lots ``ids`` for the rest of the transaction and return them freshly read."""
    ids = sorted(set(ids))
    if not ids:
        return []
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            update(Lot).where(Lot.id.in_(ids)).values(id=Lot.id).execution_options(synchronize_session=False)
        )
    stmt = (select(Lot).where(Lot.id.in_(ids)).order_by(Lot.id).with_for_update()
            .execution_options(populate_existing=True))
    return list(db.session.scalars(stmt))


def lock_order(order: Order) -> Order:
    """Lock ``order``'s row for the rest of the transaction and read it and its allocation afresh.

    A no-op ``UPDATE`` on both databases: on PostgreSQL it takes the row lock, on SQLite the database's
    write lock. A second staff member acting on the same order waits, then sees the first one's change.
    """
    db.session.execute(update(Order).where(Order.id == order.id).values(id=Order.id)
                       .execution_options(synchronize_session=False))
    db.session.refresh(order)
    if order.allocation is not None:
        db.session.refresh(order.allocation)
    return order


def serialise_form(table: Any, form_id: str) -> None:
    """Make requests carrying the same ``form_id`` (a form sent twice at once) run one after the other,
    so the second one finds the first one's row instead of failing on the unique ``form_id``.

    Call it before looking for the existing row. PostgreSQL: a transaction-scoped advisory lock on the
    form id. SQLite: a no-op ``UPDATE`` takes the database's write lock (see the module's notes).
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(table).where(false()).values(id=table.id)
                           .execution_options(synchronize_session=False))
        return
    key = int.from_bytes(hashlib.sha256(f"{table.__tablename__}:{form_id}".encode()).digest()[:8], "big", signed=True)
    db.session.execute(select(func.pg_advisory_xact_lock(key)))


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def _sqlite_savepoint_inside_a_transaction(connection: Any, _name: Any) -> None:
    # Python's sqlite3 (3.11) opens a transaction by itself only before INSERT/UPDATE/DELETE, not before a
    # SAVEPOINT. A savepoint taken first thus *starts* the transaction, and releasing it commits: the request's
    # later rollback would leave the savepoint's rows written (an import's rows, say). BEGIN first, as the
    # driver would, so a savepoint nests in the request's transaction as it does on PostgreSQL.
    dbapi_connection = connection.connection.dbapi_connection
    if type(dbapi_connection).__module__.startswith("sqlite3") and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def _busy(error: OperationalError):  # type: ignore[no-untyped-def]
    """A database too busy to answer is a 503 with a plain message, never a traceback."""
    db.session.rollback()
    message = _l("The site is busy right now and nothing was changed. Please try again in a moment.")
    response = render_error(ServiceUnavailable(description=str(message)))
    return response[0], 503


def init_app(app: Flask) -> None:
    if not event.contains(Engine, "connect", _sqlite_busy_timeout):
        event.listen(Engine, "connect", _sqlite_busy_timeout)
    if not event.contains(Engine, "savepoint", _sqlite_savepoint_inside_a_transaction):
        event.listen(Engine, "savepoint", _sqlite_savepoint_inside_a_transaction)
    app.register_error_handler(OperationalError, _busy)
