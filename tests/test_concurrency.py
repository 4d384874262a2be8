"""Fifty buyers accept quotes on the same lot at once: nothing is oversold, nothing fails with a 500.

Each thread has its own test client, so each request runs the real app (its own session and
connection) at the same time as the others; the suite runs this on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from decimal import Decimal

from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.orders.models import Order, Reservation, ReservationStatus
from tests import factories
from tests.helpers import csrf_token, sign_in

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

    first = app.test_client()
    assert sign_in(first, "buyer@example.com").status_code == 302
    token = csrf_token(first, "/quotes")
    cookie = first.get_cookie("session")
    assert cookie is not None

    statuses: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(REQUESTS)
    lock = threading.Lock()

    def accept(quote_id: int) -> None:
        client = app.test_client()
        client.set_cookie("session", cookie.value)
        try:
            barrier.wait(timeout=60)
            response = client.post(f"/quotes/{quote_id}/accept", data={"csrf_token": token})
            with lock:
                statuses.append(response.status_code)
        except BaseException as error:  # reported below, never swallowed
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=accept, args=(q.request_id,)) for q in quotes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)

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
