"""An inclusion proof at scale (issue 26, point 3: ≤ 5 ms at 1,000,000 entries) is a bounded number of indexed
reads: each query it runs looks its rows up by key and scans no table of the log (SQLite's query plan)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from marketplace.extensions import db
from marketplace.passports import log as merkle_log
from marketplace.passports.models import PassportVersion


def test_an_inclusion_proof_reads_by_key_and_scans_no_log_table(demo_app: Flask) -> None:
    with demo_app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the plan checked is SQLite's (PostgreSQL plans a tiny table as a scan either way)")
        version = db.session.scalar(select(PassportVersion).order_by(PassportVersion.id).limit(1))
        assert version is not None
        db.session.expire_all()
        ran: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            ran.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            proof = merkle_log.inclusion(version)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert len(proof["proof"]) >= 3  # a real path: several levels of nodes read
        assert any("passport_log_node" in statement for statement, _ in ran)
        connection = db.session.connection()
        for statement, parameters in ran:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters or ()).all()
            scans = [row[-1] for row in plan if str(row[-1]).startswith("SCAN passport_log")]
            assert scans == [], (statement, plan)


def _nodes_table(connection: Any) -> tuple[str, list[tuple[int, int, str]]]:
    created = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'passport_log_node'").scalar_one()
    rows = connection.exec_driver_sql("SELECT level, node_index, hash FROM passport_log_node ORDER BY 1, 2").all()
    return created, [tuple(row) for row in rows]


def test_on_sqlite_the_nodes_are_kept_in_key_order_and_the_migration_keeps_every_one(demo_app: Flask) -> None:
    """A node read is one B-tree descent (WITHOUT ROWID), not the primary key's index and then the row: half
    the pages a cold proof reads. Planted: the model and migration without it, the first check failed."""
    from flask_migrate import downgrade, upgrade

    with demo_app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("WITHOUT ROWID is SQLite's; PostgreSQL keeps its tables as they were")
        version = db.session.scalar(select(PassportVersion).order_by(PassportVersion.id).limit(1))
        assert version is not None
        created, nodes = _nodes_table(db.session.connection())
        assert created.rstrip().endswith("WITHOUT ROWID")
        assert len(nodes) > 100
        db.session.remove()
        downgrade(revision="0017_k17")
        before, kept = _nodes_table(db.session.connection())
        assert "WITHOUT ROWID" not in before
        assert kept == nodes
        db.session.remove()
        upgrade()
        created, again = _nodes_table(db.session.connection())
        assert created.rstrip().endswith("WITHOUT ROWID")
        assert again == nodes
        proof = merkle_log.inclusion(version)
        assert proof["proof"]
