"""Two editors linking the same lot at the same moment cannot break the mass balance.

Each editor runs in its own thread with its own app context, session and database
connection, as two web requests would. Editor A links the lot and keeps its transaction
open until editor B has finished or waited long enough; only then does A commit. With the
row lock, B waits for A and then sees A's claim; without it, B would read the claims before
A's commit and both would succeed (on SQLite and PostgreSQL alike), and the test would fail.
"""

from __future__ import annotations

import threading
from decimal import Decimal

from flask import Flask

from marketplace import models as m
from marketplace.extensions import db
from marketplace.products import services
from tests import factories
from tests.products_helpers import workshop


def test_two_editors_linking_the_same_lot_at_once(app: Flask) -> None:
    a = workshop(net="500", available="300")  # 200 kg have left the Union's stock
    b = workshop()
    lot_id = a.lot.id
    product_a = factories.ProductFactory(line=a.line).id
    product_b = factories.ProductFactory(line=b.line).id
    a_holds_claim = threading.Event()
    b_finished = threading.Event()
    outcome: dict[str, object] = {}

    def editor_a() -> None:
        with app.test_request_context():
            try:
                services.link_source(db.session.get(m.Product, product_a), lot_id, Decimal("150"))
                a_holds_claim.set()
                b_finished.wait(timeout=3)  # B is blocked on the lock (or, without one, already done)
                db.session.commit()
                outcome["a"] = "linked"
            except Exception as error:
                db.session.rollback()
                outcome["a"] = error
            finally:
                a_holds_claim.set()

    def editor_b() -> None:
        a_holds_claim.wait(timeout=10)
        with app.test_request_context():
            try:
                services.link_source(db.session.get(m.Product, product_b), lot_id, Decimal("150"))
                db.session.commit()
                outcome["b"] = "linked"
            except services.MassBalanceError as error:
                db.session.rollback()
                outcome["b"] = error
            except Exception as error:
                db.session.rollback()
                outcome["b"] = error
            finally:
                b_finished.set()

    threads = [threading.Thread(target=editor_a), threading.Thread(target=editor_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcome["a"] == "linked"
    assert isinstance(outcome["b"], services.MassBalanceError), outcome["b"]
    assert "only 50.000 kg left" in str(outcome["b"])
    with app.app_context():
        assert services.claimed_kg(lot_id) == Decimal("150")
        db.session.remove()
        db.engine.dispose()


def test_editors_linking_within_the_limit_at_once_both_succeed(app: Flask) -> None:
    a = workshop(net="500", available="300")
    lot_id = a.lot.id
    products = [factories.ProductFactory(line=a.line).id for _ in range(4)]
    start = threading.Barrier(len(products))
    errors: list[BaseException] = []

    def editor(product_id: int) -> None:
        start.wait(timeout=10)
        with app.test_request_context():
            try:
                services.link_source(db.session.get(m.Product, product_id), lot_id, Decimal("60"))
                db.session.commit()
            except Exception as error:
                db.session.rollback()
                errors.append(error)

    threads = [threading.Thread(target=editor, args=(p,)) for p in products]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # 4 × 60 kg against 200 kg: exactly three fit, and the fourth is refused, whatever the order.
    assert len(errors) == 1, errors
    assert isinstance(errors[0], services.MassBalanceError), errors
    with app.app_context():
        assert services.claimed_kg(lot_id) == Decimal("180")
        db.session.remove()
        db.engine.dispose()
