"""Downloads as CSV and XLSX: the same rows, filtered as on screen, no cell ever a formula (issue 22)."""

from __future__ import annotations

import csv
import io

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.orders.models import OPEN_STAGES
from marketplace.organisations.models import OrgKind
from tests.helpers import first_lines, sign_in, statements_run, text

STAFF = ("staff@demo.example", "demo-staff-2026")
COOP = ("coop@demo.example", "demo-coop-2026")
FORMULA = "=HYPERLINK(\"http://evil.example\",\"click\")"


def _sheet(data: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)  # never a formula
    return [[c.value for c in row] for row in sheet.iter_rows()]


def test_lots_xlsx_has_the_csv_rows_filtered_as_on_screen(demo_client: FlaskClient) -> None:
    query = "colour=white&sort=micron"
    rows = list(csv.reader(io.StringIO(text(demo_client.get(f"/lots/export.csv?{query}")))))
    response = demo_client.get(f"/lots/export.xlsx?{query}")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = _sheet(response.data)
    assert sheet[0] == rows[0]
    assert [r[0] for r in sheet[1:]] == [r[0] for r in rows[1:]]  # the same lots in the same order
    colour = rows[0].index("Colour")
    assert {r[colour] for r in sheet[1:]} == {"white"}
    assert demo_client.get("/lots/export.xlsx?micron_min=oops").status_code == 400
    assert "Download these lots as CSV" in text(demo_client.get("/lots?colour=white"))
    assert "/lots/export.xlsx?colour=white" in text(demo_client.get("/lots?colour=white"))


def _client(app: Flask, who: tuple[str, str]) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, *who).status_code == 302
    return client


def test_ledger_xlsx_matches_the_csv_and_escapes_formulas(demo_app: Flask) -> None:
    with demo_app.app_context():
        jinst = db.session.scalar(select(m.Organisation).filter_by(slug="jinst-golden-fleece"))
        assert jinst.kind is OrgKind.cooperative
        funds.record_payment(cooperative_id=jinst.id, amount_minor=5000, currency="EUR", paid_on=funds.today(),
                             reference=FORMULA, advance=True, staff=None)
        db.session.commit()
    staff = _client(demo_app, STAFF)
    rows = list(csv.reader(io.StringIO(text(staff.get("/union/funds/export.csv")))))
    response = staff.get("/union/funds/export.xlsx")
    assert response.status_code == 200
    sheet = _sheet(response.data)
    assert sheet[0] == rows[0]
    assert len(sheet) == len(rows)
    reference = rows[0].index("order_reference_or_payment_reference")
    assert "'" + FORMULA in [r[reference] for r in sheet[1:]]
    assert "'" + FORMULA in [r[reference] for r in rows[1:]]  # the one helper, for both formats
    assert "/union/funds/export.xlsx" in text(staff.get("/union/funds"))

    coop = _client(demo_app, COOP)
    own = _sheet(coop.get("/cooperative/funds/export.xlsx").data)
    cooperative = own[0].index("cooperative")
    assert {r[cooperative] for r in own[1:]} == {"Jinst Golden Fleece Cooperative"}
    assert coop.get("/union/funds/export.xlsx").status_code == 403
    assert "/cooperative/funds/export.xlsx" in text(coop.get("/cooperative/funds"))


def test_orders_and_consumer_sales_as_csv_and_xlsx_for_staff_only(demo_app: Flask) -> None:
    staff = _client(demo_app, STAFF)
    dashboard = text(staff.get("/dashboard"))
    assert "/union/orders/export.xlsx?stage=open" in dashboard
    assert "/union/sales/export.csv" in dashboard
    with demo_app.app_context():
        references = set(db.session.scalars(select(m.Order.reference)))
        open_references = set(db.session.scalars(select(m.Order.reference).where(m.Order.stage.in_(OPEN_STAGES))))
        sales = set(db.session.scalars(select(m.ConsumerOrder.reference)))
    everything = list(csv.DictReader(io.StringIO(text(staff.get("/union/orders/export.csv")))))
    assert {r["reference"] for r in everything} == references
    sheet = _sheet(staff.get("/union/orders/export.xlsx?stage=open").data)
    assert {r[0] for r in sheet[1:]} == open_references  # filtered as the dashboard's open orders
    assert sheet[0][0] == "reference"
    sold = _sheet(staff.get("/union/sales/export.xlsx").data)
    assert {r[0] for r in sold[1:]} == sales
    assert staff.get("/union/orders/export.csv?stage=nonsense").status_code == 400
    assert staff.get("/union/sales/export.xlsx?status=nonsense").status_code == 400
    coop = _client(demo_app, COOP)
    assert coop.get("/union/orders/export.csv").status_code == 403
    assert coop.get("/union/sales/export.xlsx").status_code == 403


def test_passports_list_as_csv_and_xlsx(demo_app: Flask) -> None:
    staff = _client(demo_app, STAFF)
    assert "/union/passports/export.xlsx" in text(staff.get("/dashboard"))
    with demo_app.app_context():
        lots = set(db.session.scalars(select(m.Passport.public_id).where(m.Passport.lot_id.is_not(None))))
        every = set(db.session.scalars(select(m.Passport.public_id)))
    rows = list(csv.DictReader(io.StringIO(text(staff.get("/union/passports/export.csv")))))
    assert {r["public_id"] for r in rows} == every
    assert all(r["url"].endswith("/passports/" + r["public_id"]) for r in rows)
    sheet = _sheet(staff.get("/union/passports/export.xlsx?kind=lot").data)
    assert {r[0] for r in sheet[1:]} == lots
    assert staff.get("/union/passports/export.csv?kind=herd").status_code == 400
    assert _client(demo_app, COOP).get("/union/passports/export.csv").status_code == 403


def test_the_exports_read_in_a_fixed_number_of_queries_whatever_the_rows(demo_app: Flask) -> None:
    """No query per row: the buyer, lots, products and passports' subjects come with the rows (issue 22)."""
    from marketplace.union import exports
    from tests import factories

    for _ in range(3):  # each with its own buyer, lot and product
        factories.OrderLineFactory()
        factories.ConsumerOrderLineFactory()
    with demo_app.app_context():
        for load, rows, most in ((exports.orders, exports.order_rows, 3),
                                 (exports.consumer_sales, exports.sales_rows, 2),
                                 (exports.passports, lambda items: exports.passport_rows(items, "https://x"), 2)):
            db.session.expunge_all()
            with statements_run(db.engine) as ran:
                items = load()
                rows(items)
            seen = first_lines(ran)  # every statement
            assert len(items) > 1, load.__name__  # several rows, so a query per row would show
            assert len(seen) <= most, (load.__name__, seen)
