"""A commit sends its own search changes at once; the search.sync job it enqueues only mops up, later.

With the embedded engine the web process applies the outbox after its commit. That apply must send this
transaction's own rows (not the oldest rows of a backlog), only at the outermost commit (a savepoint's
release fires ``after_commit`` too, while the transaction is still open), and the job must not race it.
"""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs.models import Job, JobStatus
from marketplace.lots.models import Colour, Lot
from marketplace.lots.search import LOTS
from marketplace.search import services
from marketplace.search.models import SearchOutbox
from marketplace.search.port import SearchQuery
from tests.helpers import text
from tests.products.test_products import _ready
from tests.products_helpers import signed_in, staff, token, workshop
from tests.search.test_search_outbox import _index_equals_database, _outbox


def _colour_in_index(app: Flask, code: str) -> str:
    with app.app_context():
        hits = services.search(LOTS, SearchQuery(text=code, per_page=5, with_facets=False)).hits
        return next(h["colour"] for h in hits if h["code"] == code)


def test_a_savepoint_released_before_the_commit_does_not_keep_the_change_from_the_index(demo_app: Flask) -> None:
    with demo_app.app_context():
        lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        lot.colour = Colour.brown
        db.session.flush()  # the outbox row is written...
        with db.session.begin_nested():  # ...then a savepoint is released (as issuing a passport does)
            db.session.flush()
        assert _outbox(demo_app) == 0  # nothing committed yet: no other connection sees the row
        db.session.commit()
    assert _outbox(demo_app) == 0  # the outermost commit sent the change
    assert _colour_in_index(demo_app, "USCC-2025-BKH-001") == "brown"
    _index_equals_database(demo_app)


def test_a_savepoint_rolled_back_keeps_the_rest_of_the_transaction_going_to_the_index(demo_app: Flask) -> None:
    with demo_app.app_context():
        lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        lot.colour = Colour.grey
        db.session.flush()
        savepoint = db.session.begin_nested()  # e.g. a get-or-create that lost a race and rolls back
        savepoint.rollback()
        db.session.commit()
    assert _outbox(demo_app) == 0
    assert _colour_in_index(demo_app, "USCC-2025-BKH-001") == "grey"


def test_a_commit_sends_its_own_changes_past_a_backlog_and_leaves_the_backlog_to_the_job(demo_app: Flask) -> None:
    backlog = services.DRAIN_BATCH + 20  # older than the change, and more than one drain takes
    with demo_app.app_context():
        lots = db.session.scalars(select(Lot.id).order_by(Lot.id)).all()
        db.session.execute(SearchOutbox.__table__.insert(),
                           [{"index_name": "lots", "key": str(lots[n % len(lots)])} for n in range(backlog)])
        db.session.commit()  # rows written straight into the outbox: no flush listener sends them
        lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-UVO-007"))
        lot.colour = Colour.brown
        db.session.commit()
    assert _colour_in_index(demo_app, "USCC-2025-UVO-007") == "brown"  # at once, without the worker
    assert _outbox(demo_app) == backlog  # the backlog is the job's
    with demo_app.app_context():
        assert services.sync_once() == backlog
    _index_equals_database(demo_app)


def test_the_sync_job_waits_while_the_commit_applies_and_runs_at_once_when_only_the_worker_sends(
        demo_app: Flask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_app

    def pending_job(app: Flask) -> Job:
        with app.app_context():
            return db.session.scalars(select(Job).where(Job.kind == services.SYNC_JOB,
                                                        Job.status == JobStatus.pending)).one()

    def edit(app: Flask, colour: Colour) -> dt.datetime:
        with app.app_context():
            lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-BKH-002"))
            lot.colour = colour
            before = utcnow()
            db.session.commit()
            return before

    before = edit(demo_app, Colour.brown)
    job = pending_job(demo_app)
    run_at = job.run_at if job.run_at.tzinfo else job.run_at.replace(tzinfo=dt.UTC)
    assert run_at >= before + dt.timedelta(seconds=services.SYNC_DELAY_S - 1)  # mops up later

    with demo_app.app_context():
        db.session.execute(Job.__table__.delete())
        db.session.commit()
    only_worker = make_app(demo_app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "worker-sends",
                           SEARCH_APPLY_AFTER_COMMIT=False)  # as with Meilisearch: the job is the only sender
    try:
        before = edit(only_worker, Colour.white)
        job = pending_job(only_worker)
        run_at = job.run_at if job.run_at.tzinfo else job.run_at.replace(tzinfo=dt.UTC)
        assert run_at <= before + dt.timedelta(seconds=1)
    finally:
        with only_worker.app_context():
            db.engine.dispose()


def test_a_product_approved_on_the_union_screen_is_found_by_text_at_once(app: Flask) -> None:
    w = workshop()
    product = _ready(app, w)
    editor = signed_in(app.test_client(), w.editor)
    submitted = editor.post(f"/workspace/products/{product.id}/submit", data={"csrf_token": token(editor)})
    assert submitted.status_code == 302
    union = signed_in(app.test_client(), staff())
    response = union.post(f"/union/products/{product.id}/approve", data={"csrf_token": token(union, "/union/products")})
    assert response.status_code == 302, text(response)
    with app.app_context():  # approving issues the passport inside a savepoint (passports/documents.py)
        assert db.session.scalar(select(func.count()).select_from(m.ProductVersion)
                                 .where(m.ProductVersion.product_id == product.id)) == 1
    # No worker has run: the approval's own commit put the product in the index.
    found = app.test_client().get("/api/v1/products?q=crew-neck swater").get_json()
    assert product.sku in [hit["sku"] for hit in found["hits"]]


def test_a_change_of_many_documents_is_left_to_the_worker_at_once(demo_app: Flask, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A certificate behind every lot of a cooperative changes every lot's document: the request must not
    index them all (issue 20: a suspension's request p95 <= 200 ms with 1,000 passports). Above
    ``INLINE_MAX`` documents the commit sends nothing; the job it enqueued is due at once and sends them."""
    from marketplace.jobs import services as jobs

    monkeypatch.setattr(services, "INLINE_MAX", 2)
    codes = ("USCC-2025-BKH-001", "USCC-2025-BKH-002", "USCC-2025-BKH-003")
    with demo_app.app_context():
        db.session.execute(Job.__table__.delete())
        db.session.commit()
        lots = db.session.scalars(select(Lot).where(Lot.code.in_(codes))).all()
        new = {lot.code: (Colour.white if lot.colour != Colour.white else Colour.brown).value for lot in lots}
        for lot in lots:
            lot.colour = Colour(new[lot.code])
        before = utcnow()
        db.session.commit()
    assert _outbox(demo_app) == 3  # not sent by the request
    with demo_app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == services.SYNC_JOB,
                                                   Job.status == JobStatus.pending)).one()
        run_at = job.run_at if job.run_at.tzinfo else job.run_at.replace(tzinfo=dt.UTC)
        assert run_at <= before + dt.timedelta(seconds=1)  # due at once, not after the mop-up delay
    assert all(_colour_in_index(demo_app, code) != new[code] for code in codes)  # stale until the worker runs
    with demo_app.app_context():
        jobs.run_pending()
    assert _outbox(demo_app) == 0
    assert all(_colour_in_index(demo_app, code) == new[code] for code in codes)
    _index_equals_database(demo_app)
