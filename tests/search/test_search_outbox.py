"""The database is the source of truth: the outbox, the worker, reindexing, and engine failures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.lots.models import Colour, Lot, LotStatus
from marketplace.lots.search import LOTS
from marketplace.products import services as product_services
from marketplace.products.models import Product, ProductStatus
from marketplace.products.search import PRODUCTS
from marketplace.search import services
from marketplace.search.models import SearchOutbox
from marketplace.search.port import SearchQuery
from marketplace.search.sources import sources
from tests import factories


def _index_equals_database(app: Flask) -> None:
    with app.app_context():
        for spec in (LOTS, PRODUCTS):
            expected = {d["id"]: d for d in sources()[spec.name].all_documents(db.session)}
            engine = services.engine()
            assert engine.document_ids(spec) == set(expected), spec.name
            hits = engine.search(spec, SearchQuery(per_page=1000, with_facets=False)).hits
            assert {h["id"]: h for h in hits} == expected, spec.name


def _outbox(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SearchOutbox)) or 0


def test_the_demo_index_matches_the_database(demo_app: Flask) -> None:
    _index_equals_database(demo_app)
    assert _outbox(demo_app) == 0


def test_a_change_is_recorded_in_the_same_transaction_and_applied_after_commit(demo_app: Flask) -> None:
    with demo_app.app_context():
        lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        lot.colour = Colour.brown
        db.session.flush()
        pending = db.session.scalars(select(SearchOutbox.key)).all()
        assert pending == [str(lot.id)]  # written by the flush, inside the transaction
        db.session.rollback()
    assert _outbox(demo_app) == 0  # rolled back with the change

    with demo_app.app_context():
        lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        lot.colour = Colour.brown
        db.session.commit()
    assert _outbox(demo_app) == 0  # applied after the commit
    _index_equals_database(demo_app)


def test_engine_down_keeps_every_write_and_sync_drains_the_backlog(demo_app: Flask) -> None:
    runner = demo_app.test_cli_runner()
    with demo_app.app_context():
        engine = services.engine()
        held = engine._writer(LOTS)  # another process holds tantivy's only writer: the engine cannot write
        try:
            lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-BKH-002"))
            lot.status = LotStatus.withdrawn
            other = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-UVO-007"))
            other.available_kg = Decimal("12.5")
            db.session.commit()  # the write succeeds
            assert db.session.get(Lot, lot.id).status is LotStatus.withdrawn
            assert _outbox(demo_app) == 2  # nothing lost
            failed = runner.invoke(args=["search", "sync", "--once"])
            assert failed.exit_code == 1
            assert "not available" in failed.output
            assert "2 change(s) kept" in failed.output
            assert str(lot.id) in engine.document_ids(LOTS)  # the index is stale meanwhile
        finally:
            held.rollback()
            held.wait_merging_threads()
    result = runner.invoke(args=["search", "sync", "--once"])
    assert result.exit_code == 0, result.output
    assert "Applied 2 change(s); 0 waiting." in result.output
    assert _outbox(demo_app) == 0
    _index_equals_database(demo_app)


def test_factory_rows_reach_the_index_through_the_worker(app: Flask) -> None:
    listed = factories.LotFactory()
    factories.LotFactory(status=LotStatus.draft)
    published = factories.ProductFactory(name={"en": "Undyed scarf", "fr": "Écharpe"})
    factories.ProductFactory(status=ProductStatus.draft)
    factories.ProductSourceFactory(product=published, lot=listed)
    assert _outbox(app) >= 4  # the factories commit outside any request: the worker applies them
    with app.app_context():  # publishing freezes the version that search shows
        product_services.publish(db.session.get(Product, published.id), None, utcnow())
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["search", "sync", "--once"])
    assert result.exit_code == 0, result.output
    _index_equals_database(app)
    with app.app_context():
        found = services.search(PRODUCTS, SearchQuery(text="echarpe bayanhongor"))
        assert [h["sku"] for h in found.hits] == [published.sku]
        assert found.facets["aimag"] == {"BKH": 1}


def test_a_savepoint_inside_the_transaction_does_not_apply_the_outbox(app: Flask, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """SQLAlchemy announces a SAVEPOINT's release as a commit: the outbox is applied once, after the real commit
    (applied at the savepoint, the drain's own connection waited on the open transaction's lock on SQLite)."""
    lot = factories.LotFactory()
    app.test_cli_runner().invoke(args=["search", "sync", "--once"])
    drains: list[bool] = []
    real_drain = services.drain

    def drain(*args, **kwargs):  # type: ignore[no-untyped-def]
        drains.append(db.session().in_nested_transaction())  # counted, then the real drain runs
        return real_drain(*args, **kwargs)

    monkeypatch.setattr(services, "drain", drain)
    with app.app_context():
        db.session.get(Lot, lot.id).available_kg = Decimal("7.5")
        db.session.flush()  # the outbox row is written
        with db.session.begin_nested():
            db.session.get(Lot, lot.id).min_order_kg = Decimal("1")
        assert drains == []  # not at the savepoint
        db.session.commit()
    assert drains == [False]  # once, after the commit
    assert _outbox(app) == 0
    _index_equals_database(app)


def test_deleting_a_row_removes_its_document(app: Flask) -> None:
    lot = factories.LotFactory()
    runner = app.test_cli_runner()
    runner.invoke(args=["search", "sync", "--once"])
    with app.app_context():
        db.session.delete(db.session.get(Lot, lot.id))
        db.session.commit()
    runner.invoke(args=["search", "sync", "--once"])
    _index_equals_database(app)


def test_certificate_changes_reach_the_lots_that_carry_it(demo_app: Flask) -> None:
    from marketplace.certification.models import Certificate

    with demo_app.app_context():
        cert = db.session.scalar(select(Certificate).where(Certificate.number == "SC-2025-BKH-001"))
        cert.tier = "Advanced"
        cert.valid_to = dt.date(2031, 1, 1)
        db.session.commit()
        hits = services.search(LOTS, SearchQuery(text="SC-2025-BKH-001", per_page=100)).hits
        assert hits
        assert {h["tier"] for h in hits} == {"Advanced"}
    _index_equals_database(demo_app)


def test_reindex_rebuilds_everything_with_a_progress_bar(demo_app: Flask) -> None:
    with demo_app.app_context():
        services.engine().rebuild(LOTS, iter([]))  # lose the index
        db.session.add(SearchOutbox(index_name="lots", key="999999"))  # an obsolete change
        db.session.commit()
    result = demo_app.test_cli_runner().invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output
    assert "Indexing lots" in result.output
    assert "lots: 44 documents, products: 16 documents" in result.output
    assert _outbox(demo_app) == 0
    _index_equals_database(demo_app)


def test_meilisearch_down_pages_say_so_and_writes_still_succeed(demo_app: Flask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_app

    down = make_app(demo_app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "down",
                    MEILISEARCH_URL="http://127.0.0.1:9")  # nothing listens there: connection refused
    client = down.test_client()
    page = client.get("/lots?q=white")
    assert page.status_code == 503
    assert "Search is unavailable at the moment" in page.get_data(as_text=True)
    api = client.get("/api/v1/lots")
    assert api.status_code == 503
    assert "unavailable" in api.get_json()["error"]
    with down.app_context():
        lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-BKH-003"))
        lot.available_kg = Decimal("1")
        db.session.commit()  # the engine is down: the commit still succeeds
        assert db.session.get(Lot, lot.id).available_kg == Decimal("1")
    with down.app_context():
        db.engine.dispose()  # this extra app's connections (the session gave its own back above)
    assert _outbox(demo_app) == 1  # and the change waits in the outbox
    result = demo_app.test_cli_runner().invoke(args=["search", "sync", "--once"])  # the embedded engine is up
    assert result.exit_code == 0, result.output
    _index_equals_database(demo_app)


def test_products_are_found_by_the_soum_of_their_fibre_in_either_script(demo_client: FlaskClient) -> None:
    latin = demo_client.get("/api/v1/products?q=jinst").get_json()
    cyrillic = demo_client.get("/api/v1/products?q=Жинст").get_json()
    assert latin["total"] > 0
    assert {h["sku"] for h in latin["hits"]} == {h["sku"] for h in cyrillic["hits"]}
