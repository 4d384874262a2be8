"""One helper each: CSV cells that are never formulas, one dated source of exchange rates."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace import csv_export, fx
from marketplace import models as m
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.i18n import money
from marketplace.lots import services as lots
from marketplace.organisations.models import OrgKind
from marketplace.passports import services as passports
from marketplace.products import services as product_services
from tests.helpers import text


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_a_spreadsheet_would_run_is_quoted(start: str) -> None:
    assert csv_export.safe_cell(f"{start}HYPERLINK(\"http://x\")") == f"'{start}HYPERLINK(\"http://x\")"


def test_other_cells_are_kept() -> None:
    assert [csv_export.safe_cell(v) for v in ("Jinst", 12, None, ["a", "", "b"])] == ["Jinst", 12, "", "a; b"]


def _rows(data: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data)))


def test_both_exports_quote_formulas(demo_app: Flask) -> None:
    """The funds ledger and the lot search export go through the one writer."""
    with demo_app.app_context(), demo_app.test_request_context():
        coop = db.session.scalar(select(m.Organisation).where(m.Organisation.kind == OrgKind.cooperative)
                                 .order_by(m.Organisation.id))
        funds.record_payment(cooperative_id=coop.id, amount_minor=100, currency="EUR", paid_on=dt.date.today(),  # noqa: DTZ011
                             reference="=cmd|' /C calc'!A0", advance=True, staff=None)
        ledger = _rows(funds.to_csv(funds.in_force(coop.id)))
        assert [r[10] for r in ledger[1:] if "calc" in r[10]] == ["'=cmd|' /C calc'!A0"]
        exported = _rows(lots.to_csv([{"code": "@SUM(A1)", "cooperative_names": ["+1", "Jinst"]}]))
        assert exported[1][:2] == ["'@SUM(A1)", "'+1; Jinst"]


def test_the_product_page_and_the_passport_use_the_same_dated_rate(demo_app: Flask) -> None:
    with demo_app.app_context():
        product = db.session.scalar(select(m.Product).where(m.Product.id.in_(select(m.Passport.product_id)),
                                                            m.Product.currency == "EUR").order_by(m.Product.id))
        product_id = product.id
        price = product_services.published_version(product_id, None).snapshot["price_minor"]
    demo_app.config["FX_MNT_PER_UNIT"] = {"EUR": "4100", "USD": "3500", "MNT": "1"}
    demo_app.config["FX_RATES_AS_OF"] = "2026-11-20"
    with demo_app.test_request_context():
        assert fx.reference_rates().as_of == dt.date(2026, 11, 20)
        assert fx.to_mnt_minor(price, "EUR") == int(Decimal(price) / 100 * 4100) * 100
        expected = money(fx.to_mnt_minor(price, "EUR"), "MNT")
    page = demo_app.test_client().get(f"/products/{product_id}")
    assert page.status_code == 200
    assert expected in text(page)
    with demo_app.app_context():
        product = db.session.get(m.Product, product_id)
        version = passports.publish(passports.passport_for(product=product))
        assert version is not None  # the new rate changes the herders' share of the price
        rate = version.credential["credentialSubject"]["cashmere"]["fairPricing"]["herderShareOfPrice"]["referenceRate"]
        assert rate["value"] == 4100
        db.session.rollback()


def test_a_stored_time_becomes_utc_and_its_business_day_is_ulaanbaatars() -> None:
    """SQLite hands stored times back naive (in UTC), PostgreSQL aware: both read as the same moment, and the day
    is the one in Ulaanbaatar (UTC+8), not the UTC date."""
    import datetime as dt

    from marketplace.db import as_utc, business_date

    naive = dt.datetime(2026, 11, 30, 17, 30)  # noqa: DTZ001 (as SQLite returns it)
    aware = dt.datetime(2026, 12, 1, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert as_utc(naive) == as_utc(aware) == dt.datetime(2026, 11, 30, 17, 30, tzinfo=dt.UTC)
    assert as_utc(aware).tzinfo is dt.UTC
    assert business_date(naive) == business_date(aware) == dt.date(2026, 12, 1)
    assert business_date(naive - dt.timedelta(hours=1, minutes=31)) == dt.date(2026, 11, 30)
