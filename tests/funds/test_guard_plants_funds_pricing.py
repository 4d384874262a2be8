"""Funds-ledger and fair-price guards, each on its own (issue 21; see tests/MUTATIONS.md).

Every refusal is a clear ``FundsError``/``PricingError`` message and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.db import today
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.funds.models import EntryKind, Fund
from marketplace.pricing import services as pricing
from tests import factories as f
from tests.funds.test_funds import _sold


def _entries() -> int:
    return db.session.scalar(select(func.count()).select_from(m.FundEntry))


def _pay(coop: int, **overrides: object) -> None:
    args: dict = {"cooperative_id": coop, "amount_minor": 100, "currency": "EUR", "paid_on": dt.date(2026, 1, 5),
                  "reference": "T-1", "staff": None, **overrides}
    funds.record_payment(**args)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"amount_minor": 0}, "greater than zero"),
    ({"reference": ""}, "reference"),
    ({"paid_on": dt.date(2999, 1, 1)}, "future"),
])
def test_bad_premium_payments_are_refused_and_write_nothing(app: Flask, overrides: dict, message: str) -> None:
    coop_a, _coop_b, _ = _sold(app)
    with app.app_context():
        before = _entries()
        with pytest.raises(funds.FundsError, match=message):
            _pay(coop_a, **overrides)
        db.session.rollback()
        assert _entries() == before


def test_payments_and_splits_go_to_cooperatives_only(app: Flask) -> None:
    with app.app_context():
        brand = f.OrganisationFactory(name="A Brand")
        db.session.commit()
        with pytest.raises(funds.FundsError, match="Choose a cooperative"):
            _pay(brand.id, advance=True)
        with pytest.raises(funds.FundsError, match="Choose a cooperative"):
            funds.record_split(cooperative_id=brand.id, season=2025, percentages={Fund.fodder: Decimal(100)},
                               manager=None)
        assert _entries() == 0


@pytest.mark.parametrize(("season", "shares", "message"), [
    (2025, {Fund.fodder: Decimal("99.995"), Fund.social_fund: Decimal("0.005")}, "two decimals"),
    (None, {Fund.fodder: Decimal(100)}, "season"),
])
def test_bad_splits_are_refused(app: Flask, season: int | None, shares: dict, message: str) -> None:
    with app.app_context():
        coop = f.CooperativeFactory()
        db.session.commit()
        with pytest.raises(funds.FundsError, match=message):
            funds.record_split(cooperative_id=coop.id, season=season or today().year + 1, percentages=shares,
                               manager=None)
        assert _entries() == 0


def test_corrections_are_refused_for_splits_negative_amounts_and_overpayments(app: Flask) -> None:
    coop_a, _coop_b, _ = _sold(app)
    with app.app_context():
        split = funds.record_split(cooperative_id=coop_a, season=2025, percentages={Fund.fodder: Decimal(100)},
                                   manager=None)
        payment = funds.record_payment(cooperative_id=coop_a, amount_minor=50000, currency="EUR",
                                       paid_on=dt.date(2026, 1, 5), reference="T-9", staff=None)
        due = next(e for e in funds.in_force(coop_a) if e.kind is EntryKind.premium_due)
        db.session.commit()
        before = _entries()
        with pytest.raises(funds.FundsError, match="recording the season's split again"):
            funds.correct_money_entry(split, amount_minor=1, reason="wrong", staff=None)
        with pytest.raises(funds.FundsError, match="cannot be negative"):
            funds.correct_money_entry(due, amount_minor=-1, reason="wrong", staff=None)
        # 80,000 due, 50,000 paid: the payment may be corrected up to 80,000, not beyond, unless an advance.
        with pytest.raises(funds.FundsError, match="flag it as an advance"):
            funds.correct_money_entry(payment, amount_minor=80001, reason="typo", staff=None)
        db.session.rollback()
        assert _entries() == before
        funds.correct_money_entry(payment, amount_minor=80000, reason="typo", staff=None)
        db.session.rollback()


def test_premium_due_is_recorded_once_per_allocation(app: Flask) -> None:
    _coop_a, _coop_b, allocation_id = _sold(app)
    with app.app_context():
        before = _entries()
        assert funds.record_premium_due(db.session.get(m.Allocation, allocation_id)) == []
        assert _entries() == before


def test_a_currency_must_be_three_letters(app: Flask) -> None:
    with app.app_context():
        for currency in ("E12", "€UR", "12"):
            with pytest.raises(pricing.PricingError, match="ISO 4217"):
                pricing.publish_policy(season=2026, currency=currency, greasy_floor_minor=3000,
                                       dehaired_floor_minor=9000, premiums={})
        assert db.session.scalar(select(func.count()).select_from(m.PricePolicy)) == 0
