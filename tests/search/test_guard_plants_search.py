"""Search documents follow organisation edits (issue 21's named gap; see tests/MUTATIONS.md).

A lot document carries the names of its cooperative and of every cooperative that contributed to
it (pooled lots), so renaming either must reach the index after the commit.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.lots.models import Lot, LotContribution
from marketplace.lots.search import LOTS
from marketplace.organisations.models import Organisation
from marketplace.search import services
from marketplace.search.port import SearchQuery
from tests.search.test_search_outbox import _index_equals_database


def _codes(text: str) -> set[str]:
    return {h["code"] for h in services.search(LOTS, SearchQuery(text=text, per_page=100)).hits}


def test_renaming_a_cooperative_reaches_its_lots_in_the_index(demo_app: Flask) -> None:
    with demo_app.app_context():
        lot = db.session.scalar(select(Lot).where(Lot.code == "USCC-2025-BKH-001"))
        lead = db.session.get(Organisation, lot.cooperative_id)
        own = set(db.session.scalars(select(Lot.code).where(Lot.cooperative_id == lead.id)))
        lead.name = "Tsagaan Uul Renamed Cooperative"
        db.session.commit()
        assert lot.code in _codes("Tsagaan Uul Renamed")
        assert own <= _codes("Tsagaan Uul Renamed")
    _index_equals_database(demo_app)


def test_renaming_a_contributing_cooperative_reaches_the_pooled_lot(demo_app: Flask) -> None:
    with demo_app.app_context():
        part = db.session.scalar(
            select(LotContribution).join(Lot, Lot.id == LotContribution.lot_id)
            .where(LotContribution.cooperative_id != Lot.cooperative_id).order_by(LotContribution.lot_id))
        assert part is not None, "the demo has a pooled lot with a partner cooperative"
        pooled = db.session.get(Lot, part.lot_id).code
        partner = db.session.get(Organisation, part.cooperative_id)
        partner.name = "Khongor Partner Renamed"
        db.session.commit()
        assert pooled in _codes("Khongor Partner Renamed")
    _index_equals_database(demo_app)
