"""An inclusion proof at scale (issue 26, point 3: ≤ 5 ms at 1,000,000 entries) is a bounded number of indexed
reads: each query it runs looks its rows up by key and scans no table of the log (SQLite's query plan)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports import log as merkle_log
from marketplace.passports.models import PassportVersion
from tests.helpers import statements_run


def test_an_inclusion_proof_reads_by_key_and_scans_no_log_table(demo_app: Flask) -> None:
    with demo_app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the plan checked is SQLite's (PostgreSQL plans a tiny table as a scan either way)")
        version = db.session.scalar(select(PassportVersion).order_by(PassportVersion.id).limit(1))
        assert version is not None
        db.session.expire_all()
        with statements_run(db.engine) as ran:
            proof = merkle_log.inclusion(version)
        assert len(proof["proof"]) >= 3  # a real path: several levels of nodes read
        assert any("passport_log_node" in statement for statement, _ in ran)
        connection = db.session.connection()
        for statement, parameters in ran:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters or ()).all()
            scans = [row[-1] for row in plan if str(row[-1]).startswith("SCAN passport_log")]
            assert scans == [], (statement, plan)
