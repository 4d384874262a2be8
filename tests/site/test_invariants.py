"""One test per invariant of ``../shared/DESIGN.md`` that was not yet walked across all its entry points (issue 21).

Each test breaks its rule at every entry point that writes the guarded data — the form page, the staff screen, the
spreadsheet import, the command line, the event subscriber, the demo loader — and fails if any one of them lets it
through or writes anything. The table in ``tests/INVARIANTS.md`` maps every invariant to the one function that holds
it, its entry points and its test (this file for the rows marked so, the older walking tests for the others);
``test_the_invariants_table_names_tests_that_exist`` keeps the table honest.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace import events
from marketplace import models as m
from marketplace.certification.models import CertificateStatus
from marketplace.demo.loader import load_demo
from marketplace.demo.rows import LoadReport
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.funds.demo import load_demo_funds
from marketplace.funds.models import EntryKind, Fund
from marketplace.orders import services as orders
from marketplace.orders.models import Allocation, Order
from marketplace.pricing.services import PricingError
from marketplace.products import sourcing
from marketplace.products.demo import load_products
from marketplace.products.editing import MassBalanceError, ProductError
from tests.helpers import csrf_token, sign_in, text
from tests.lots.test_lot_import import _confirm, _row, _upload, _xlsx
from tests.lots.test_lot_listing import _form as _lot_form
from tests.orders.test_selling_rules import _client as _world_client
from tests.orders.test_selling_rules import _order_on_both, world  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
COOP = ("coop@demo.example", "demo-coop-2026")
STAFF = ("staff@demo.example", "demo-staff-2026")
MSME = ("msme@demo.example", "demo-msme-2026")
JINST_CERTIFICATE = "SC-2025-BKH-001"


def _client(app: Flask, who: tuple[str, str]) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, *who).status_code == 302
    return client


def _counts(app: Flask, *models: type) -> tuple[int, ...]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in models)


def _content(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    return content


def _walk(entry_points: dict[str, Callable[[], None]], app: Flask, *models: type) -> int:
    """Run every entry point; each must refuse, and nothing of ``models`` may be written by any of them."""
    before = _counts(app, *models)
    for name, entry in entry_points.items():
        entry()
        assert _counts(app, *models) == before, f"{name} wrote rows"
    return len(entry_points)


# Listing: a lot is listed only under its own cooperative's certificate, valid today --------------------------------
# One function: lots.listing.check_new_lot (its certificate part rests on Certificate.valid_on).

LISTED = (m.Lot, m.LotContribution, m.Passport, m.PassportVersion, m.SearchOutbox)


def _listing_entry_points(app: Flask, row: dict[str, str], form: dict[str, str], *words: str,
                          ) -> dict[str, Callable[[], None]]:
    coop, staff = _client(app, COOP), _client(app, STAFF)
    with app.app_context():
        jinst = db.session.scalar(select(m.Organisation.id).filter_by(slug="jinst-golden-fleece"))

    def new_lot_form() -> None:
        response = coop.post("/cooperative/lots/new", data=_lot_form(coop, app, **form))
        assert response.status_code == 422, response.status_code
        for word in words:
            assert word in text(response), word

    def spreadsheet(client: FlaskClient, **fields: str) -> None:
        preview = _upload(client, _xlsx([_row(**row)]), **fields)
        assert preview.status_code == 200, text(preview)[:300]
        body = text(preview)
        assert "Rows with errors: 1" in body
        assert "New lots ready to import: 0" in body
        for word in words:
            assert word in body, word
        assert _confirm(client, body, "import").status_code == 422

    return {"new lot form": new_lot_form, "spreadsheet import (cooperative)": lambda: spreadsheet(coop),
            "spreadsheet import (Union staff)": lambda: spreadsheet(staff, cooperative_id=str(jinst))}


def test_a_lot_is_listed_only_under_its_cooperatives_valid_certificate_at_every_entry_point(demo_app: Flask) -> None:
    """The demo loader is not walked for this rule: it records history (the demo lists lots of a cooperative whose
    certificate was suspended after the listing, to show the suspension), and every entry point that offers,
    quotes or sells those lots refuses them (``test_selling_rules.py::test_certificate_rule_at_every_entry_point``).
    """
    with demo_app.app_context():
        other = db.session.scalar(select(m.Certificate).filter_by(number="SC-2025-BKH-002"))
        other_id, other_number = other.id, other.number
    # Another cooperative's valid certificate.
    walked = _walk(_listing_entry_points(demo_app, {"certificate": other_number},
                                         {"certificate_id": str(other_id)}, "is not your cooperative"),
                   demo_app, *LISTED)
    # The cooperative's own certificate, suspended; then expired by date only (the stored status still active).
    for change in ({"status": CertificateStatus.suspended}, {"valid_to": dt.date.today() - dt.timedelta(days=1)}):  # noqa: DTZ011
        with demo_app.app_context():
            cert = db.session.scalar(select(m.Certificate).filter_by(number=JINST_CERTIFICATE))
            for key, value in change.items():
                setattr(cert, key, value)
            db.session.commit()
        walked += _walk(_listing_entry_points(demo_app, {}, {}, JINST_CERTIFICATE, "no lot can be listed under it"),
                        demo_app, *LISTED)
    assert walked == 9


# Listing: a lot is listed only at or above the season's floor plus grade premium ----------------------------------
# One function: pricing.services.PriceCheck.allows (through pricing.problem for listing, orders.rules.price_problem
# for selling).

def test_a_lot_is_listed_only_at_or_above_its_floor_at_every_entry_point(demo_app: Flask, tmp_path: Path) -> None:
    entry_points = _listing_entry_points(demo_app, {"price": "29.00"}, {"price": "29.00"},
                                         "below the fair-price floor of €30.42 per kg")
    content = _content(tmp_path)
    lots = content / "demo" / "lots.csv"
    lines = lots.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[1].startswith("USCC-2025-BKH-001,")
    assert ",4158,400,EUR," in lines[1]
    lots.write_text("".join([lines[0], lines[1].replace(",4158,400,EUR,", ",2900,400,EUR,"), *lines[2:]]),
                    encoding="utf-8")

    def demo_loader() -> None:  # the demo loader reloads a listed lot at a price under its floor
        with demo_app.app_context():
            with pytest.raises(PricingError, match="USCC-2025-BKH-001"):
                load_demo(content, LoadReport())
            db.session.rollback()
            assert db.session.scalar(select(m.Lot.price_minor).filter_by(code="USCC-2025-BKH-001")) == 4158

    entry_points["demo loader"] = demo_loader
    assert _walk(entry_points, demo_app, *LISTED) == 4


# Premium: due once per confirmed allocation, whoever records it ---------------------------------------------------
# One function: funds.services.record_premium_due.

def _premium_due(app: Flask) -> list[tuple[int, int, int]]:
    with app.app_context():
        return sorted(db.session.execute(select(m.FundEntry.allocation_id, m.FundEntry.cooperative_id,
                                                m.FundEntry.amount_minor)
                                         .where(m.FundEntry.kind == EntryKind.premium_due)).tuples())


def test_premium_is_due_once_per_confirmed_allocation_at_every_entry_point(
    app: Flask, world: dict, runner, tmp_path: Path,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    buyer, staff = _world_client(app, "buyer@example.com"), _world_client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    with app.app_context():
        assert orders.mark_deposit_paid(db.session.scalar(select(Order)))
        db.session.commit()
    confirm = f"/union/orders/{reference}/confirm"
    assert staff.post(confirm, data={"csrf_token": csrf_token(staff, f"/union/orders/{reference}")}).status_code == 302
    due = _premium_due(app)
    assert len(due) == 2  # one entry per cooperative of the allocation
    assert {cooperative for _a, cooperative, _amount in due} == {c.id for c in world["coops"]}

    def staff_screen_again() -> None:
        response = staff.post(confirm, data={"csrf_token": csrf_token(staff, f"/union/orders/{reference}")})
        assert response.status_code == 409

    def cli() -> None:
        result = runner.invoke(args=["funds", "premiums-due"])
        assert result.exit_code == 0, result.output
        assert "0 premium-due entries recorded" in result.output

    def subscriber() -> None:  # the event delivered again (a retried job)
        with app.app_context():
            events.allocation_confirmed.send(db.session.scalar(select(Allocation)), actor=None)
            db.session.commit()

    def demo_loader() -> None:
        content = _content(tmp_path / "demo")
        (content / "demo" / "funds.toml").unlink()
        with app.app_context():
            load_demo_funds(content, LoadReport())
            db.session.commit()

    _walk({"staff confirmation again": staff_screen_again, "flask funds premiums-due": cli,
           "allocation_confirmed subscriber": subscriber, "demo loader": demo_loader}, app, m.FundEntry)
    assert _premium_due(app) == due


# Premium: paid up to what is due; more only as a flagged advance --------------------------------------------------
# One function: funds.services.above_due.

def test_a_premium_payment_above_what_is_due_is_refused_at_every_entry_point(demo_app: Flask, tmp_path: Path) -> None:
    staff = _client(demo_app, STAFF)
    with demo_app.app_context():
        jinst = db.session.scalar(select(m.Organisation).filter_by(slug="jinst-golden-fleece"))
        jinst_id = jinst.id
        outstanding = funds.outstanding(jinst.id, "EUR")
        payment_id = db.session.scalar(select(m.FundEntry.id).filter_by(reference="DEMO-TRF-2025-0001"))
    assert outstanding == 110_000  # €1,100.00 is due to Jinst in the demo

    def staff_form() -> None:
        response = staff.post("/union/premiums", data={
            "csrf_token": csrf_token(staff, "/union/season"), "cooperative_id": str(jinst_id), "amount": "1100.01",
            "currency": "EUR", "paid_on": "2026-01-10", "reference": "TRF-INV-1"})
        assert response.status_code == 422
        assert "larger than the €1,100.00 outstanding" in text(response)

    def correction_screen() -> None:
        response = staff.post(f"/union/funds/{payment_id}/correct", data={
            "csrf_token": csrf_token(staff, "/union/funds"), "amount": "5000", "reason": "Bank statement"})
        assert response.status_code == 422
        assert "larger than what is due" in text(response)

    def demo_loader() -> None:
        content = _content(tmp_path)
        (content / "demo" / "funds.toml").write_text(
            '[[payment]]\ncooperative = "jinst-golden-fleece"\namount_minor = 110001\ncurrency = "EUR"\n'
            'paid_on = 2026-01-10\nreference = "DEMO-TRF-INV-1"\n', encoding="utf-8")
        with demo_app.app_context():
            with pytest.raises(funds.FundsError, match="outstanding"):
                load_demo_funds(content, LoadReport())
            db.session.rollback()

    assert _walk({"staff form": staff_form, "ledger correction": correction_screen, "demo loader": demo_loader},
                 demo_app, m.FundEntry) == 3


# Premium: a season's split across the cooperative's funds adds up to exactly 100% ----------------------------------
# One function: funds.services._validate_split (through record_split).

def test_a_fund_split_that_does_not_add_up_to_100_is_refused_at_every_entry_point(demo_app: Flask,
                                                                                  tmp_path: Path) -> None:
    coop = _client(demo_app, COOP)

    def cooperative_form() -> None:
        data = {"csrf_token": csrf_token(coop, "/cooperative/funds"), "season": "2025", "note": "",
                **{f"pct_{fund.value}": "0" for fund in Fund}, "pct_fodder": "60", "pct_social_fund": "30"}
        response = coop.post("/cooperative/funds", data=data)
        assert response.status_code == 422
        assert "they must add up to exactly 100%" in text(response)

    def demo_loader() -> None:
        content = _content(tmp_path)
        (content / "demo" / "funds.toml").write_text(
            '[[split]]\ncooperative = "jinst-golden-fleece"\nseason = 2024\nfodder = 60\nsocial_fund = 30\n',
            encoding="utf-8")
        with demo_app.app_context():
            with pytest.raises(funds.FundsError, match="exactly 100%"):
                load_demo_funds(content, LoadReport())
            db.session.rollback()

    assert _walk({"cooperative form": cooperative_form, "demo loader": demo_loader}, demo_app, m.FundEntry) == 2


# Mass balance: every processing step's kg in → kg out is possible ------------------------------------------------
# One function: products.rules.yield_problem (through products.editing.add_step).

def _demo_product(content: Path, sku: str, **replace: str) -> None:
    """A copy of the first demo product under a new SKU (no GTIN), with text replaced, appended to the content."""
    path = content / "demo" / "products.toml"
    source = path.read_text(encoding="utf-8")
    start = source.index("[[products]]")
    block = source[start:source.index("[[products]]", start + 1)]
    block = block.replace('sku = "KK-UE-CREW-LG"', f'sku = "{sku}"').replace('gtin = "8650001000015"\n', "")
    for old, new in replace.items():
        assert old in block, old
        block = block.replace(old, new)
    path.write_text(source + "\n" + block, encoding="utf-8")


def _workspace_product(app: Flask) -> tuple[FlaskClient, int, int]:
    editor = _client(app, MSME)
    with app.app_context():
        product = db.session.scalar(select(m.Product).filter_by(sku="KK-UE-CREW-LG"))
        return editor, product.id, product.organisation_id


def test_every_processing_step_keeps_a_possible_yield_at_every_entry_point(demo_app: Flask, tmp_path: Path) -> None:
    editor, product_id, msme_id = _workspace_product(demo_app)

    def workspace(kind: str, kg_in: str, kg_out: str, message: str) -> Callable[[], None]:
        def post() -> None:
            response = editor.post(f"/workspace/products/{product_id}/steps", data={
                "csrf_token": csrf_token(editor, f"/workspace/products/{product_id}"), "kind": kind,
                "facility_id": str(msme_id), "performed_on": "2026-03-01", "kg_in": kg_in, "kg_out": kg_out})
            assert response.status_code == 422
            assert message in text(response)
        return post

    def demo_loader(step: str, kg_out: str, message: str) -> Callable[[], None]:
        def load() -> None:
            content = _content(tmp_path / message.rsplit(maxsplit=1)[-1])
            changed = re.sub(r'kg_out = "[^"]+"', f'kg_out = "{kg_out}"', step)
            _demo_product(content, "KK-INVARIANT-1", **{step: changed})
            with demo_app.app_context():
                with pytest.raises(ProductError, match=message):
                    load_products(content, LoadReport())
                db.session.rollback()
                assert db.session.scalar(select(m.Product.id).filter_by(sku="KK-INVARIANT-1")) is None
        return load

    # Fibre added by a step; a dehairing yield outside 25–70%.
    assert _walk({
        "workspace: more out than in": workspace("spinning", "10", "10.5", "10.5 kg out is more than 10 kg in"),
        "workspace: dehairing yield": workspace("dehairing", "100", "20", "outside the possible range"),
        "demo loader: more out than in": demo_loader('{ kind = "spinning", date = 2026-02-09, kg_in = "17.0", '
                                                     'kg_out = "15.9" }', "17.5", "more than 17.0 kg in"),
        "demo loader: dehairing yield": demo_loader('{ kind = "dehairing", date = 2026-01-19, kg_in = "34.0", '
                                                    'kg_out = "17.0" }', "5.0", "outside the possible range"),
    }, demo_app, m.ProcessingStep, m.Product, m.ProductVersion) == 4


# Mass balance: products never claim more fibre than has left a lot ------------------------------------------------
# One function: products.sourcing.link_source (with sourcing_capacity and claimed_kg, under the lot's lock).

def test_fibre_claimed_by_products_never_exceeds_a_lots_sold_kg_at_every_entry_point(demo_app: Flask,
                                                                                       tmp_path: Path) -> None:
    editor, product_id, _msme = _workspace_product(demo_app)
    with demo_app.app_context():
        lot = db.session.scalar(select(m.Lot).filter_by(code="USCC-2025-BKH-001"))
        lot_id = lot.id
        remaining = sourcing.sourcing_capacity(lot) - sourcing.claimed_kg(lot.id)
    assert remaining > 0  # the rule refuses one gram over, not a lot that is already used up
    too_much = f"{remaining + Decimal('0.001') + 40:f}"  # the product already claims 40 kg of it

    def workspace() -> None:
        response = editor.post(f"/workspace/products/{product_id}/sources", data={
            "csrf_token": csrf_token(editor, f"/workspace/products/{product_id}"), "lot_id": str(lot_id),
            "kg": too_much})
        assert response.status_code == 422
        assert "would break the mass balance" in text(response)

    def demo_loader() -> None:
        content = _content(tmp_path)
        _demo_product(content, "KK-INVARIANT-2", **{'kg = "40" }': f'kg = "{remaining + Decimal("0.001"):f}" }}'})
        with demo_app.app_context():
            with pytest.raises(MassBalanceError):
                load_products(content, LoadReport())
            db.session.rollback()

    assert _walk({"workspace": workspace, "demo loader": demo_loader}, demo_app, m.ProductSource, m.Product,
                 m.ProductVersion) == 2


# A product passport is approved only while its lots' certificates are valid on its production date ---------------
# One function: products.workflow.approval_problems (certificate_checks, on Certificate.valid_on), through approve.

def test_a_product_is_approved_only_under_certificates_valid_on_its_production_date_at_every_entry_point(
    demo_app: Flask, tmp_path: Path,
) -> None:
    staff = _client(demo_app, STAFF)
    with demo_app.app_context():
        product = db.session.scalar(select(m.Product).filter_by(sku="KK-RR-VEST-WH"))
        assert product.status.value == "submitted"
        product.production_date = dt.date(2020, 1, 1)  # before any demo certificate
        product_id = product.id
        db.session.commit()

    def staff_screen() -> None:
        response = staff.post(f"/union/products/{product_id}/approve",
                              data={"csrf_token": csrf_token(staff, "/union/products")})
        assert response.status_code == 422
        assert "was not yet valid on 2020-01-01" in text(response)
        with demo_app.app_context():
            assert db.session.get(m.Product, product_id).status.value == "submitted"

    def demo_loader() -> None:
        content = _content(tmp_path)
        _demo_product(content, "KK-INVARIANT-3", **{"production_date = 2026-03-20": "production_date = 2020-01-01"})
        with demo_app.app_context():
            with pytest.raises(ProductError, match="was not yet valid on 2020-01-01"):
                load_products(content, LoadReport())
            db.session.rollback()

    assert _walk({"staff approval": staff_screen, "demo loader": demo_loader}, demo_app, m.ProductVersion,
                 m.Passport, m.PassportVersion) == 2


# Lab values: a lot is cashmere, at most 19 µm ---------------------------------------------------------------------
# One function: the range of NewLotForm.mean_diameter_um (the form page and every spreadsheet row are this form).

def test_a_lot_over_19_micron_is_refused_at_every_entry_point(demo_app: Flask) -> None:
    """The database CHECK ``cashmere_micron`` backs the rule; the entry points must refuse first, clearly."""
    entry_points = _listing_entry_points(demo_app, {"mean_diameter_um": "19.1"}, {"mean_diameter_um": "19.1"},
                                         "Cashmere is 10 to 19 µm")
    assert _walk(entry_points, demo_app, *LISTED) == 3


# The table itself ---------------------------------------------------------------------------------------------------

def test_the_invariants_table_names_tests_that_exist() -> None:
    table = (ROOT / "tests" / "INVARIANTS.md").read_text(encoding="utf-8")
    named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", table)
    assert len(named) >= 20
    for filename, test in named:
        source = next((ROOT / "tests").rglob(filename)).read_text(encoding="utf-8")  # tests/<domain>/<filename>
        assert re.search(rf"^def {test}\(", source, re.MULTILINE), f"{filename}::{test}"
    rows = [line for line in table.splitlines() if re.match(r"^\| I\d+ ", line)]
    assert len(rows) >= 15
    assert all("`test_" in row for row in rows), "every invariant names the test that walks its entry points"
