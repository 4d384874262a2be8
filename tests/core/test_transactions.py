"""One transaction per request on both databases: a savepoint's work is undone by the outer rollback.

Python's sqlite3 begins a transaction by itself only before INSERT/UPDATE/DELETE; a SAVEPOINT issued first
would start one, and releasing it would commit (``orders/locking.py`` begins first).
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(m.SearchOutbox)) or 0


def test_a_released_savepoint_is_undone_by_the_outer_rollback(app: Flask) -> None:
    with app.app_context():
        before = _count()
        with db.session.begin_nested():  # the first statement of the transaction is the SAVEPOINT
            db.session.add(m.SearchOutbox(index_name="lots", key="savepoint-test"))
        db.session.rollback()
        assert _count() == before, "the savepoint's row outlived the transaction's rollback"
        with db.session.begin_nested():
            db.session.add(m.SearchOutbox(index_name="lots", key="savepoint-test"))
        db.session.commit()
        assert _count() == before + 1
