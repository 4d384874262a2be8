"""Domain events: domains announce, subscribers run in the announcer's unit of work and never commit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace import events
from marketplace import models as m
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.jobs import services as jobs
from marketplace.orders import services as orders
from marketplace.orders.models import OrderStage
from tests import factories as f
from tests.conftest import make_app

EXPECTED = {
    events.lot_listed: {"publish_lot"},
    events.lots_listed: {"publish_lots"},
    events.product_published: {"publish_product"},
    events.ledger_entry_recorded: {"republish_for_ledger"},
    events.practice_report_accepted: {"republish_for_practice"},
    events.certificate_status_changed: {"audit_status_change"},
    events.certificate_status_set: {"log_status_change"},
    events.allocation_confirmed: {"premium_due_on_sale"},
    events.service_closed: {"republish_for_service"},
}


def _names(signal) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(receiver.__name__ for receiver in signal.receivers_for(object()))


def test_create_app_connects_each_subscriber_once(app: Flask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)  # a second app connects nothing twice
    assert set(EXPECTED) == set(events.ALL)
    for signal, names in EXPECTED.items():
        found = _names(signal)
        assert names <= set(found), signal.name
        assert len(found) == len(set(found)), signal.name


def _versions() -> int:
    return db.session.scalar(select(func.count()).select_from(m.PassportVersion)) or 0


def _jobs(kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(m.Job).where(m.Job.kind == kind)) or 0


def test_the_republish_job_is_enqueued_in_the_announcers_unit_of_work(demo_app: Flask) -> None:
    """A ledger entry enqueues the republishing of the passports that show it (the request does not sign
    them), and a rollback takes both back (no commit). The worker then publishes the new versions."""
    with demo_app.app_context():
        lot = db.session.scalar(select(m.Lot).where(m.Lot.id.in_(select(m.Passport.lot_id))).order_by(m.Lot.id))
        coop_id = lot.cooperative_id
        jobs.run_pending()  # what loading the demo left in the queue
        versions, entries = _versions(), db.session.scalar(select(func.count()).select_from(m.FundEntry))
        queued = _jobs("passports.republish_ledger")
        record = {"cooperative_id": coop_id, "amount_minor": 5000, "currency": "EUR",
                  "paid_on": dt.date.today(), "advance": True, "staff": None}  # noqa: DTZ011
        funds.record_payment(reference="TRF-EVENT", **record)
        assert _jobs("passports.republish_ledger") == queued + 1  # in this transaction
        assert _versions() == versions  # nothing signed in the request
        db.session.rollback()
        assert _jobs("passports.republish_ledger") == queued
        assert db.session.scalar(select(func.count()).select_from(m.FundEntry)) == entries

        funds.record_payment(reference="TRF-EVENT-1", **record)
        funds.record_payment(reference="TRF-EVENT-2", **record)
        db.session.commit()
        assert _jobs("passports.republish_ledger") == queued + 1  # two entries, one pending job
        assert jobs.run_pending()["done"] >= 1
        assert _versions() > versions  # the worker published them


def test_a_failing_subscriber_fails_the_announcer_and_writes_nothing(app: Flask) -> None:
    with app.app_context():
        staff = f.user_with_role(Role.union_staff)
        coop = f.CooperativeFactory()
        order = f.OrderFactory(stage=OrderStage.deposit_paid)
        f.OrderLineFactory(order=order, lot=f.LotFactory(cooperative=coop), kg=Decimal(10), premium_minor=800)
        allocation = f.AllocationFactory(order=order)
        f.AllocationShareFactory(allocation=allocation, cooperative=coop, kg=Decimal(10))
        order_id, staff_id = order.id, staff.id

        def refuse(_sender, **_kw) -> None:  # type: ignore[no-untyped-def]
            raise RuntimeError("subscriber failed")

        with events.allocation_confirmed.connected_to(refuse), pytest.raises(RuntimeError):
            orders.confirm_allocation(db.session.get(m.Order, order_id), staff=db.session.get(m.User, staff_id))
        db.session.rollback()
        assert db.session.get(m.Order, order_id).stage is OrderStage.deposit_paid
        assert db.session.scalar(select(func.count()).select_from(m.FundEntry)) == 0


def test_every_notice_has_one_receiver_that_tells_someone(app: Flask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Domains announce notices (events.NOTICES); notifications answers each with notify.<name>, once."""
    from marketplace.notifications import notify

    make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    for signal in events.NOTICES:
        assert len(list(signal.receivers_for(object()))) == 1, signal.name
        assert callable(getattr(notify, signal.name.removeprefix("notice:"), None)), signal.name
