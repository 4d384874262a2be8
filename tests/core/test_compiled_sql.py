"""The test process compiles each SQL statement once (``tests/compiled_sql.py``): a second app on a second
database finds the statements the first compiled (its queries and the ORM's INSERTs), and still reads and
writes only its own database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from marketplace.accounts.models import User
from marketplace.extensions import db
from tests import factories
from tests.conftest import Databases, make_app


def _run(flask_app: Flask, work: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """``work()`` in the app, with (statement, cache outcome) of each statement it sent."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        seen.append((statement.split(maxsplit=1)[0].upper(), context.cache_hit))

    with flask_app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            return work(), seen
        finally:
            event.remove(engine, "before_cursor_execute", record)


def test_a_second_app_finds_the_statements_the_first_compiled_and_keeps_its_own_database(
        app: Flask, databases: Databases, tmp_path: Path) -> None:
    factories.UserFactory(email="first@example.org")  # the first app's INSERT, through its engine
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1  # its SELECT
        dialect = db.engine.dialect
    (tmp_path / "other").mkdir()
    url = databases.clone(False, tmp_path / "other")
    try:
        other = make_app(url, tmp_path / "other")

        def write() -> None:
            db.session.add(User(email="second@example.org", name="Second", password_hash=factories._PASSWORD_HASH))
            db.session.commit()

        _, inserts = _run(other, write)
        count, selects = _run(other, lambda: db.session.scalar(select(func.count(User.id))))
        emails = _run(other, lambda: db.session.scalars(select(User.email)).all())[0]
        with other.app_context():
            assert db.engine.dialect is dialect
        assert ("INSERT", dialect.CACHE_HIT) in inserts, inserts  # the mapper's INSERT, compiled by the first app
        assert selects == [("SELECT", dialect.CACHE_HIT)]
        assert (count, emails) == (1, ["second@example.org"])  # its own database: not the first app's user
        with app.app_context():
            assert db.session.scalars(select(User.email)).all() == ["first@example.org"]
        with other.app_context():
            db.engine.dispose()
    finally:
        databases.drop(url)


def test_an_app_whose_server_is_of_another_version_fails_to_connect(app: Flask, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Statements compiled for one server version might not suit another: the shared dialect is refused loudly."""
    with app.app_context():
        monkeypatch.setattr(db.engine.dialect, "server_version_info", (1, 0))
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    with other.app_context():
        for _attempt in range(2):  # refused again on the next try, not only the first connection
            with pytest.raises(RuntimeError, match="statements compiled for one may not suit the other"):
                db.session.execute(select(func.count(User.id)))
            db.session.rollback()
        db.engine.dispose()
