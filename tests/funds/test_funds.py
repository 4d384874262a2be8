"""The premium and cooperative funds ledger: premium due on sale, payments, splits, corrections."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.funds.models import EntryKind, Fund, LedgerError
from marketplace.jobs import services as jobs
from marketplace.orders import services as orders
from marketplace.orders.models import OrderStage
from marketplace.organisations.models import OrgKind
from marketplace.passports import services as passports
from tests import factories as f
from tests.helpers import csrf_token, sign_in, text

STAFF = ("staff@demo.example", "demo-staff-2026")
COOP = ("coop@demo.example", "demo-coop-2026")
JINST = "jinst-golden-fleece"


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(m.FundEntry))


def _sold(app: Flask) -> tuple[int, int, int]:
    """An order from two cooperatives' lots, allocated 100 kg and 50 kg and confirmed."""
    with app.app_context():
        staff = f.user_with_role(Role.union_staff)
        coop_a, coop_b = f.CooperativeFactory(), f.CooperativeFactory()
        order = f.OrderFactory(stage=OrderStage.deposit_paid)
        f.OrderLineFactory(order=order, lot=f.LotFactory(cooperative=coop_a), kg=Decimal(100), premium_minor=800)
        f.OrderLineFactory(order=order, lot=f.LotFactory(cooperative=coop_b), kg=Decimal(50), premium_minor=600)
        allocation = f.AllocationFactory(order=order)
        f.AllocationShareFactory(allocation=allocation, cooperative=coop_a, kg=Decimal(100))
        f.AllocationShareFactory(allocation=allocation, cooperative=coop_b, kg=Decimal(50))
        orders.confirm_allocation(db.session.get(m.Order, order.id), staff=db.session.get(m.User, staff.id))
        db.session.commit()
        return coop_a.id, coop_b.id, allocation.id


def test_a_confirmed_allocation_makes_premium_due_to_each_cooperative(app: Flask) -> None:
    coop_a, coop_b, allocation_id = _sold(app)
    with app.app_context():
        due = {e.cooperative_id: e for e in funds.in_force() if e.kind is EntryKind.premium_due}
        assert (due[coop_a].amount_minor, due[coop_a].kg, due[coop_a].premium_per_kg_minor) == (80000, 100, 800)
        assert due[coop_b].amount_minor == 30000  # 50 kg × 6.00
        allocation = db.session.get(m.Allocation, allocation_id)
        assert funds.record_premium_due(allocation) == []  # once only
        assert _count() == 2
        assert funds.outstanding(coop_a, "EUR") == 80000


def test_a_payment_larger_than_due_is_refused_unless_it_is_an_advance(app: Flask) -> None:
    coop_a, _coop_b, _ = _sold(app)
    with app.app_context():
        import datetime as dt

        with pytest.raises(funds.FundsError, match="larger than"):
            funds.record_payment(cooperative_id=coop_a, amount_minor=80001, currency="EUR",
                                 paid_on=dt.date(2026, 1, 5), reference="T-1", staff=None)
        db.session.rollback()
        assert _count() == 2
        funds.record_payment(cooperative_id=coop_a, amount_minor=80000, currency="EUR",
                             paid_on=dt.date(2026, 1, 5), reference="T-2", staff=None)
        funds.record_payment(cooperative_id=coop_a, amount_minor=5000, currency="EUR",
                             paid_on=dt.date(2026, 1, 6), reference="T-3", advance=True, staff=None)
        db.session.commit()
        [balance] = funds.balances(coop_a)
        assert (balance.due_minor, balance.paid_minor, balance.outstanding_minor) == (80000, 85000, -5000)
        with pytest.raises(funds.FundsError, match="future"):
            funds.record_payment(cooperative_id=coop_a, amount_minor=1, currency="EUR",
                                 paid_on=dt.date(2999, 1, 1), reference="T-4", advance=True, staff=None)
        with pytest.raises(funds.FundsError, match="reference"):
            funds.record_payment(cooperative_id=coop_a, amount_minor=1, currency="EUR",
                                 paid_on=dt.date(2026, 1, 1), reference=" ", advance=True, staff=None)


def test_corrections_are_new_entries_and_balances_follow_them(app: Flask) -> None:
    coop_a, _coop_b, _ = _sold(app)
    with app.app_context():
        original = next(e for e in funds.in_force(coop_a) if e.kind is EntryKind.premium_due)
        correction = funds.correct_money_entry(original, amount_minor=72000, reason="90 kg collected", staff=None)
        db.session.commit()
        assert correction.corrects_id == original.id
        assert db.session.get(m.FundEntry, original.id).amount_minor == 80000  # unchanged, still in history
        assert funds.outstanding(coop_a, "EUR") == 72000
        assert len(funds.history(coop_a)) == 2
        with pytest.raises(funds.FundsError, match="already been corrected"):
            funds.correct_money_entry(original, amount_minor=1, reason="again", staff=None)
        with pytest.raises(funds.FundsError, match="why"):
            funds.correct_money_entry(correction, amount_minor=1, reason=" ", staff=None)
        correction.amount_minor = 1
        with pytest.raises(LedgerError):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(m.FundEntry, original.id))
        with pytest.raises(LedgerError):
            db.session.flush()
        db.session.rollback()


@pytest.mark.parametrize(("shares", "message"), [
    ({Fund.fodder: Decimal(50), Fund.social_fund: Decimal(40)}, "add up to 90%"),
    ({Fund.fodder: Decimal(60), Fund.social_fund: Decimal("40.01")}, "add up to 100.01%"),
    ({Fund.fodder: Decimal(120), Fund.social_fund: Decimal(-20)}, "between 0 and 100"),
])
def test_a_split_that_does_not_add_up_to_100_is_refused(app: Flask, shares: dict, message: str) -> None:
    with app.app_context():
        coop = f.CooperativeFactory()
        with pytest.raises(funds.FundsError, match=message):
            funds.record_split(cooperative_id=coop.id, season=2026, percentages=shares, manager=None)
        assert _count() == 0


def _client(app: Flask, user: tuple[str, str]):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert sign_in(client, *user).status_code == 302
    return client


def _split_form(client, **shares: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(client, "/cooperative/funds"), "season": "2025", "note": ""}
    data.update({f"pct_{fund.value}": "0" for fund in Fund})
    data.update({f"pct_{k}": v for k, v in shares.items()})
    return data


def test_the_cooperative_records_its_split_and_the_profile_and_passport_show_it(demo_app: Flask) -> None:
    client = _client(demo_app, COOP)
    with demo_app.app_context():
        before = _count()
    bad = client.post("/cooperative/funds", data=_split_form(client, fodder="50", social_fund="40"))
    assert bad.status_code == 422
    assert "they must add up to exactly 100%" in text(bad)
    with demo_app.app_context():
        assert _count() == before
    good = client.post("/cooperative/funds", data=_split_form(
        client, sustainable_investment="40", fodder="20", risk_management="10", pug_cofunding="20",
        social_fund="10"))
    assert good.status_code == 303
    with demo_app.app_context():
        coop = db.session.scalar(select(m.Organisation).filter_by(slug=JINST))
        assert funds.splits(coop.id)[2025][Fund.sustainable_investment] == Decimal(40)
        latest = [e for e in funds.history(coop.id) if e.kind is EntryKind.fund_split][-1]
        assert latest.corrects_id is not None  # it replaces the demo's split of 2025
        lot = db.session.scalar(select(m.Lot).filter_by(code="USCC-2025-BKH-001"))
        public_id = passports.passport_for(lot=lot).public_id
        jobs.run_pending()  # the worker republishes the passports showing the ledger (issue 20)
    profile = text(demo_app.test_client().get(f"/organisations/{JINST}"))
    assert "How the cooperative split its 2025 premium" in profile
    assert "€1,200.00" in profile
    assert "€100.00" in profile
    document = demo_app.test_client().get(f"/passports/{public_id}.json").get_json()
    [ledger] = document["credentialSubject"]["cashmere"]["premiumLedger"]
    assert ledger["premiumDue"] == [{"amount": 120000, "currency": "EUR"}]
    assert ledger["premiumPaid"] == [{"amount": 10000, "currency": "EUR"}]
    assert {"fund": "sustainable_investment", "share": 40.0} in ledger["fundSplit"]["figures"]
    page = text(demo_app.test_client().get(f"/passports/{public_id}"))
    assert "Premium paid to the cooperatives" in page
    assert "Sustainable investment: 40\u00a0%" in page


def _payment_form(client, **data: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with client.application.app_context():
        coop = db.session.scalar(select(m.Organisation).filter_by(slug=JINST))
    return {"csrf_token": csrf_token(client, "/union/season"), "cooperative_id": str(coop.id), "amount": "1100.01",
            "currency": "EUR", "paid_on": "2026-01-10", "reference": "TRF-9", **data}


def test_staff_payments_through_the_form(demo_app: Flask) -> None:
    client = _client(demo_app, STAFF)
    with demo_app.app_context():
        before = _count()
    too_much = client.post("/union/premiums", data=_payment_form(client))  # €1,100 is outstanding
    assert too_much.status_code == 422
    assert "larger than the €1,100.00 outstanding" in text(too_much)
    no_reference = client.post("/union/premiums", data=_payment_form(client, reference=""))
    assert no_reference.status_code == 422
    with demo_app.app_context():
        assert _count() == before
    assert client.post("/union/premiums", data=_payment_form(client, advance="y")).status_code == 302
    assert client.post("/union/premiums", data=_payment_form(client, amount="5")).status_code == 422  # nothing due
    with demo_app.app_context():
        assert _count() == before + 1
    ledger = text(client.get("/union/funds"))
    assert "TRF-9" in ledger
    assert "Advance" in ledger


def test_staff_correct_an_entry_from_the_ledger_page(demo_app: Flask) -> None:
    client = _client(demo_app, STAFF)
    with demo_app.app_context():
        payment = db.session.scalar(select(m.FundEntry).filter_by(reference="DEMO-TRF-2025-0001"))
        entry_id = payment.id
    token = csrf_token(client, "/union/funds")
    page = text(client.get("/union/funds"))
    assert page.count('<details class="correction">') == len(re.findall(r'action="/union/funds/\d+/correct"', page)) > 0
    bad = client.post(f"/union/funds/{entry_id}/correct", data={"csrf_token": token, "amount": "5000", "reason": "x"})
    assert bad.status_code == 422
    assert "larger than what is due" in text(bad)
    assert text(bad).count('<details class="correction" open>') == 1  # the one with the error stays open
    no_reason = client.post(f"/union/funds/{entry_id}/correct", data={"csrf_token": token, "amount": "1"})
    assert no_reason.status_code == 422
    good = client.post(f"/union/funds/{entry_id}/correct",
                       data={"csrf_token": token, "amount": "150.00", "reason": "Bank statement says 150"})
    assert good.status_code == 303
    with demo_app.app_context():
        coop = db.session.scalar(select(m.Organisation).filter_by(slug=JINST))
        [balance] = funds.balances(coop.id)
        assert balance.paid_minor == 15000
    again = client.post(f"/union/funds/{entry_id}/correct",
                        data={"csrf_token": token, "amount": "1", "reason": "again"})
    assert again.status_code == 422


def test_csv_export_for_auditors(demo_app: Flask) -> None:
    # A second cooperative with a ledger row, so that "own rows only" below can fail.
    with demo_app.app_context():
        other = db.session.scalar(select(m.Organisation).where(
            m.Organisation.kind == OrgKind.cooperative, m.Organisation.slug != JINST).order_by(m.Organisation.id))
        funds.record_payment(cooperative_id=other.id, amount_minor=5000, currency="EUR", paid_on=funds.today(),
                             reference="TEST-OTHER-1", advance=True, staff=None)
        db.session.commit()
        other_name = other.name
    staff = _client(demo_app, STAFF)
    response = staff.get("/union/funds/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text(response))))
    kinds = {r["kind"] for r in rows}
    assert kinds == {"premium_due", "payment", "fund_split"}
    assert {"Jinst Golden Fleece Cooperative", other_name} <= {r["cooperative"] for r in rows}
    due = next(r for r in rows if r["kind"] == "premium_due")
    assert (due["amount"], due["currency"], due["in_force"]) == ("1200.00", "EUR", "yes")
    coop = _client(demo_app, COOP)
    own = list(csv.DictReader(io.StringIO(text(coop.get("/cooperative/funds/export.csv")))))
    assert own
    assert {r["cooperative"] for r in own} == {"Jinst Golden Fleece Cooperative"}
    assert coop.get("/union/funds/export.csv").status_code == 403


def test_cli_records_premium_due_for_confirmed_allocations_once(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    from marketplace.orders.models import AllocationStatus

    with app.app_context():
        coop = f.CooperativeFactory()
        order = f.OrderFactory(stage=OrderStage.deposit_paid)
        f.OrderLineFactory(order=order, lot=f.LotFactory(cooperative=coop), kg=Decimal(40), premium_minor=500)
        allocation = f.AllocationFactory(order=order, status=AllocationStatus.confirmed)
        f.AllocationShareFactory(allocation=allocation, cooperative=coop, kg=Decimal(40))
        f.AllocationFactory(status=AllocationStatus.proposed)  # not sold yet: nothing due
        coop_id = coop.id
    result = runner.invoke(args=["funds", "premiums-due"])
    assert result.exit_code == 0, result.output
    assert "1 premium-due entry recorded" in result.output
    again = runner.invoke(args=["funds", "premiums-due"])
    assert "0 premium-due entries recorded" in again.output
    with app.app_context():
        assert _count() == 1
        assert funds.outstanding(coop_id, "EUR") == 20000  # 40 kg × 5.00, committed by the command


def test_product_passports_show_the_ledger_of_the_cooperatives_behind_them(demo_app: Flask) -> None:
    import datetime as dt

    with demo_app.app_context():
        product = db.session.scalar(select(m.Product).where(m.Product.id.in_(select(m.Passport.product_id)))
                                    .order_by(m.Product.id))
        public_id = passports.passport_for(product=product).public_id
        coop = product.sources[0].lot.contributions[0].cooperative if product.sources[0].lot.contributions else \
            product.sources[0].lot.cooperative
        coop_id, coop_name = coop.id, coop.name
        paid_before = sum(b.paid_minor for b in funds.balances(coop_id) if b.currency == "EUR")
    client = demo_app.test_client()
    first = client.get(f"/passports/{public_id}")
    assert first.status_code == 200
    assert "Premium paid to the cooperatives" in text(first)
    assert coop_name in text(first)
    etag = first.headers["ETag"].strip('"')
    assert client.get(f"/passports/{public_id}", headers={"If-None-Match": f'"{etag}"'}).status_code == 304
    document = client.get(f"/passports/{public_id}.json").get_json()
    [row] = [r for r in document["credentialSubject"]["cashmere"]["premiumLedger"] if r["cooperative"]["name"]
             == coop_name]
    assert set(row["entryCounts"]) == {"premiumDue", "payments"}
    assert "household" not in str(row).lower()
    with demo_app.app_context():
        funds.record_payment(cooperative_id=coop_id, amount_minor=12345, currency="EUR",
                             paid_on=dt.date.today(), reference="TRF-PASSPORT", advance=True,  # noqa: DTZ011
                             staff=None)
        db.session.commit()
        jobs.run_pending()  # the worker republishes the passports showing the ledger (issue 20)
    # The next request after the worker's run sees the payment: the new signed version changes the ETag.
    after = client.get(f"/passports/{public_id}", headers={"If-None-Match": f'"{etag}"'})
    assert after.status_code == 200
    document = client.get(f"/passports/{public_id}.json").get_json()
    [row] = [r for r in document["credentialSubject"]["cashmere"]["premiumLedger"] if r["cooperative"]["name"]
             == coop_name]
    assert {"amount": paid_before + 12345, "currency": "EUR"} in row["premiumPaid"]
    assert row["entryCounts"]["payments"] >= 1
    with demo_app.app_context():
        from marketplace.i18n import money

        with demo_app.test_request_context():
            shown = money(paid_before + 12345, "EUR")
    assert shown in text(after)
