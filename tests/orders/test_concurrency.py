"""Fifty buyers accept quotes on the same lot at once: nothing is oversold, nothing fails with a 500.

Each thread has its own test client, so each request runs the real app (its own session and
connection) at the same time as the others; the suite runs this on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.orders.locking import lock_lots
from marketplace.orders.models import Order, Reservation, ReservationStatus
from tests import factories
from tests.helpers import accept_in_parallel

REQUESTS = 50
KG_EACH = 30
STOCK = 500


def test_fifty_concurrent_reservations_never_oversell(app: Flask) -> None:
    brand = factories.OrganisationFactory()
    factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
    coop = factories.CooperativeProfileFactory().organisation
    lot = factories.LotFactory(cooperative=coop, net_kg=Decimal(STOCK), available_kg=Decimal(STOCK),
                               min_order_kg=Decimal(10))
    quotes = [factories.QuoteFactory(request__buyer=brand, request__lot=lot, request__kg=Decimal(KG_EACH))
              for _ in range(REQUESTS)]

    statuses, errors = _accept_all(app, [q.request_id for q in quotes])

    assert errors == []
    assert len(statuses) == REQUESTS
    assert 500 not in statuses
    assert set(statuses) <= {302, 409}
    expected = STOCK // KG_EACH  # 16 orders of 30 kg fit in 500 kg
    assert statuses.count(302) == expected
    with app.app_context():
        stored = db.session.get(Lot, lot.id)
        held = db.session.scalar(select(func.sum(Reservation.kg)).where(
            Reservation.status == ReservationStatus.held))
        assert stored.reserved_kg == held == Decimal(expected * KG_EACH)
        assert stored.available_kg == Decimal(STOCK - expected * KG_EACH)
        assert stored.available_kg + stored.reserved_kg == stored.net_kg
        assert db.session.scalar(select(func.count(Order.id))) == expected


def test_concurrent_multi_lot_acceptances_reserve_all_or_nothing_and_never_oversell(app: Flask) -> None:
    """Fifty quotes each on the same two lots (kg per lot), accepted at once.

    Half the requests list the lots in the opposite order: the locks are still taken in id
    order, so there is no deadlock. Each accepted order holds both lots; a refused one holds none.
    """
    brand = factories.OrganisationFactory()
    factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
    lot_a = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation,
                                 net_kg=Decimal(500), available_kg=Decimal(500), min_order_kg=Decimal(10))
    lot_b = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation,
                                 net_kg=Decimal(300), available_kg=Decimal(300), min_order_kg=Decimal(10))
    quotes = []
    for index in range(REQUESTS):
        quote = factories.QuoteFactory(request__buyer=brand, request__lot=None, request__kg=Decimal(50))
        pairs = [(lot_a, Decimal(30)), (lot_b, Decimal(20))]
        for lot, kg in pairs if index % 2 else reversed(pairs):
            factories.QuoteRequestLotFactory(request=quote.request, lot=lot, kg=kg)
        quotes.append(quote)

    statuses, errors = _accept_all(app, [q.request_id for q in quotes])

    assert errors == []
    assert len(statuses) == REQUESTS
    assert 500 not in statuses
    assert set(statuses) <= {302, 409}
    expected = min(500 // 30, 300 // 20)  # 15: lot B runs out first
    assert statuses.count(302) == expected
    with app.app_context():
        a, b = db.session.get(Lot, lot_a.id), db.session.get(Lot, lot_b.id)
        assert (a.reserved_kg, b.reserved_kg) == (Decimal(30 * expected), Decimal(20 * expected))
        assert a.available_kg + a.reserved_kg == a.net_kg
        assert b.available_kg + b.reserved_kg == b.net_kg
        assert db.session.scalar(select(func.count(Order.id))) == expected
        per_order = db.session.execute(select(Reservation.order_id, func.count(Reservation.id))
                                       .group_by(Reservation.order_id)).all()
        assert len(per_order) == expected
        assert all(count == 2 for _, count in per_order)


def _accept_all(app: Flask, request_ids: list[int]) -> tuple[list[int], list[BaseException]]:
    statuses, _bodies, errors = accept_in_parallel(app, "buyer@example.com", request_ids)
    return statuses, errors


def test_the_lot_lock_alone_serialises_read_modify_write(app: Flask) -> None:
    """``lock_lots`` is the first thing each transaction does, so nothing else serialises the writers:
    eight threads each read the lot, wait, and take 10 kg. With the lock they run one after the other
    and all 80 kg are taken; without it they read the same stock (PostgreSQL: lost updates; SQLite:
    the later writers fail with "database is locked" on upgrading a stale read)."""
    lot = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation,
                               net_kg=Decimal(100), available_kg=Decimal(100))
    lot_id, threads_n = lot.id, 8
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def take() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=60)
                (locked,) = lock_lots([lot_id])
                stock = locked.available_kg
                time.sleep(0.05)  # widen the window between the read and the write
                locked.available_kg = stock - Decimal(10)
                locked.reserved_kg = locked.reserved_kg + Decimal(10)
                db.session.commit()
        except BaseException as error:  # reported, never swallowed
            errors.append(error)

    workers = [threading.Thread(target=take) for _ in range(threads_n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    with app.app_context():
        stored = db.session.get(Lot, lot_id)
        assert (stored.available_kg, stored.reserved_kg) == (Decimal(20), Decimal(80))
