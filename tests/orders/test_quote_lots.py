"""One quote request on several chosen lots: kg per lot or a total, bad input, acceptance and migration."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select
from sqlalchemy import text as sql

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.orders.models import Order, OrderStage, QuoteRequest, QuoteRequestLot, QuoteStatus, Reservation
from tests import factories
from tests.helpers import csrf_token, sign_in, text


@pytest.fixture
def world(app: Flask) -> dict:
    union = factories.OrganisationFactory(kind="union", slug="union-test", country="MN")
    factories.ensure_policy(2026, "EUR")  # floors 30.00 greasy and 95.00 dehaired
    factories.user_with_role(Role.union_staff, union, email="staff@example.com", name="Staff Member")
    brand = factories.OrganisationFactory(name="Maison Test")
    factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com", name="Buyer One")
    coops = [factories.CooperativeProfileFactory(members=m, declared_capacity_kg=Decimal(c)).organisation
             for m, c in ((100, 4000), (300, 12000), (200, 8000))]
    lots = [factories.LotFactory(cooperative=coop, available_kg=Decimal(1000), net_kg=Decimal(1000),
                                 min_order_kg=Decimal(50)) for coop in coops]
    withdrawn = factories.LotFactory(cooperative=coops[0], status=LotStatus.withdrawn)
    return {"brand": brand, "coops": coops, "lots": lots, "withdrawn": withdrawn}


def _signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def _codes(world: dict, *indexes: int) -> list[str]:
    return [world["lots"][i].code for i in indexes]


def _post(client: FlaskClient, codes: list[str], **data: str):  # type: ignore[no-untyped-def]
    query = "&".join(f"code={c}" for c in codes)
    html = text(client.get(f"/quotes/lots?{query}"))
    form_id = html.split('name="form_id" type="hidden" value="')[1].split('"')[0]
    payload = {"csrf_token": csrf_token(client, "/quotes"), "form_id": form_id, "code": codes, "incoterm": "DAP",
               "incoterm_place": "Biella", "currency": "EUR", "kg": "", **data}
    return client.post("/quotes/lots", data=payload)


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _answer(app: Flask) -> tuple[int, str]:
    """Staff answer the (only) quote request: €120.00 + €9.00 per kg, 30 % deposit. (Its id, the staff page.)"""
    staff = _signed_in(app, "staff@example.com")
    with app.app_context():
        request_id = db.session.scalar(select(QuoteRequest.id))
    page = text(staff.get(f"/union/quotes/{request_id}"))
    answer = {"csrf_token": csrf_token(staff, f"/union/quotes/{request_id}"), "price": "120.00", "premium": "9.00",
              "valid_until": (dt.date.today() + dt.timedelta(days=5)).isoformat(),  # noqa: DTZ011
              "deposit_pct": "30"}
    assert staff.post(f"/union/quotes/{request_id}/answer", data=answer).status_code == 302
    return request_id, page


def _quote_and_accept(app: Flask, buyer: FlaskClient) -> str:
    request_id, page = _answer(app)
    accepted = buyer.post(f"/quotes/{request_id}/accept", data={"csrf_token": csrf_token(buyer, "/quotes"),
        "confirm": "y"})
    assert accepted.status_code == 302, text(accepted)
    with app.app_context():
        return db.session.scalar(select(Order.reference)), page


def test_the_compare_page_offers_one_quote_on_the_compared_lots(app: Flask, world: dict) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    codes = _codes(world, 0, 1)
    page = text(buyer.get(f"/lots/compare?code={codes[0]}&code={codes[1]}"))
    assert "Request one quote on these lots" in page
    form = text(buyer.get(f"/quotes/lots?code={codes[0]}&code={codes[1]}"))
    assert f"Kg from lot {codes[0]}" in form
    assert f"Kg from lot {codes[1]}" in form
    assert 'name="lots-1-kg"' in form


def test_kg_per_lot_reserves_exactly_those_kg_on_each_lot(app: Flask, world: dict) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    codes = _codes(world, 0, 2)
    response = _post(buyer, codes, **{"lots-0-kg": "120", "lots-1-kg": "300.5"})
    assert response.status_code == 302, text(response)
    with app.app_context():
        request = db.session.scalar(select(QuoteRequest))
        assert request.kg == Decimal("420.5")
        assert [(i.lot.code, i.kg) for i in request.items] == [(codes[0], Decimal(120)), (codes[1], Decimal("300.5"))]
        assert request.incoterm.value == "DAP"
        assert request.incoterm_place == "Biella"
    assert codes[1] in text(buyer.get("/quotes"))
    reference, staff_page = _quote_and_accept(app, buyer)
    assert codes[0] in staff_page
    assert codes[1] in staff_page
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.reference == reference))
        assert order.stage is OrderStage.accepted
        held = {r.lot.code: r.kg for r in order.reservations}
        assert held == {codes[0]: Decimal(120), codes[1]: Decimal("300.5")}
        lots = {lot.code: lot for lot in db.session.scalars(select(Lot))}
        assert lots[codes[0]].available_kg == Decimal(880)
        assert lots[codes[1]].reserved_kg == Decimal("300.5")
        assert lots[_codes(world, 1)[0]].reserved_kg == 0  # the lot not chosen is untouched
        assert {s.cooperative_id: s.kg for s in order.allocation.shares} == {
            world["coops"][0].id: Decimal(120), world["coops"][2].id: Decimal("300.5")}
        assert order.total_minor == int(Decimal("420.5") * 12900)
    page = text(buyer.get(f"/orders/{reference}"))
    assert "Supplied by 2 cooperatives" in page


def test_a_total_is_shared_fairly_across_the_chosen_lots_only(app: Flask, world: dict) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    response = _post(buyer, _codes(world, 0, 1), kg="400")
    assert response.status_code == 302, text(response)
    reference, _ = _quote_and_accept(app, buyer)
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.reference == reference))
        shares = {s.cooperative_id: s.kg for s in order.allocation.shares if s.kg}
        # Weights 1:3 by members and by capacity → 100 and 300 kg; the third cooperative is not asked.
        assert shares == {world["coops"][0].id: Decimal(100), world["coops"][1].id: Decimal(300)}
        assert db.session.get(Lot, world["lots"][2].id).reserved_kg == 0


def test_one_lot_asked_for_a_total_shows_that_total_on_the_lot(app: Flask, world: dict) -> None:
    """The quote's lots table (page and PDF: one summary) gives a single lot the kg asked, never "a share"."""
    buyer = _signed_in(app, "buyer@example.com")
    response = _post(buyer, _codes(world, 0), kg="60")
    assert response.status_code == 302, text(response)
    request_id, _staff_page = _answer(app)
    page = text(buyer.get(f"/quotes/{request_id}"))
    row = page.split(f">{world['lots'][0].code}</a>", 1)[1].split("</tr>", 1)[0]
    assert "60.0" in row
    assert "a share of the total" not in page
    with app.app_context():
        from marketplace.orders.quotes import quote_summary

        summary = quote_summary(db.session.get(QuoteRequest, request_id))
        assert summary is not None
        assert [(lot.code, kg) for lot, kg in summary.lines] == [(world["lots"][0].code, Decimal(60))]


@pytest.mark.parametrize(("codes", "data", "message"), [
    (["NOPE-1"], {"lots-0-kg": "100"}, "There is no lot with the id NOPE-1"),
    ([0, 0], {"lots-0-kg": "100", "lots-1-kg": "100"}, "is chosen twice"),
    (["withdrawn"], {"lots-0-kg": "100"}, "is not available"),
    ([0, 1], {"lots-0-kg": "1000.001", "lots-1-kg": "100"}, "has only 1000 kg available"),
    ([0, 1], {"lots-0-kg": "0", "lots-1-kg": "100"}, "more than 0 kg"),
    ([0, 1], {"lots-0-kg": "-5", "lots-1-kg": "100"}, "more than 0 kg"),
    ([0, 1], {"lots-0-kg": "1e9", "lots-1-kg": "100"}, "more than the Union can supply"),
    ([0, 1], {"lots-0-kg": "abc", "lots-1-kg": "100"}, "Not a valid decimal"),
    ([0, 1], {"lots-0-kg": "10", "lots-1-kg": "100"}, "minimum order of lot"),
    ([0, 1], {"lots-0-kg": "100"}, "Give the kg for every lot"),
    ([0, 1], {"lots-0-kg": "100", "lots-1-kg": "100", "kg": "150"}, "must be the sum"),
    ([0, 1], {"kg": "2500"}, "only 2000 kg available together"),
    ([0, 1], {"kg": "20"}, "minimum order is 50 kg"),
    ([0, 1], {"kg": "0"}, "more than 0 kg"),
    ([0, 1], {}, "Enter the quantity"),
    ([], {"kg": "100"}, "Choose at least one lot"),
    ([0] * 12, {"kg": "100"}, "at most 10 lots"),
    ([0, 1], {"kg": "100", "currency": "MNT"}, "Not a valid choice"),
    ([0, 1], {"kg": "100", "incoterm": "EXW"}, "Not a valid choice"),
    ([0, 1], {"kg": "100", "incoterm_place": ""}, "This field is required"),
])
def test_bad_input_is_refused_with_a_field_error_and_writes_nothing(
    app: Flask, world: dict, codes: list, data: dict, message: str,
) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    resolved = [world["lots"][c].code if isinstance(c, int) else world["withdrawn"].code if c == "withdrawn" else c
                for c in codes]
    response = _post(buyer, resolved, **data)
    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert 'class="errors"' in page  # shown next to its field, linked by aria-describedby
    assert _count(app, QuoteRequest) == 0
    assert _count(app, QuoteRequestLot) == 0


def test_acceptance_reserves_nothing_when_one_chosen_lot_ran_out(app: Flask, world: dict) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    assert _post(buyer, _codes(world, 0, 1), **{"lots-0-kg": "100", "lots-1-kg": "900"}).status_code == 302
    staff = _signed_in(app, "staff@example.com")
    with app.app_context():
        request_id = db.session.scalar(select(QuoteRequest.id))
    answer = {"csrf_token": csrf_token(staff, f"/union/quotes/{request_id}"), "price": "120.00", "premium": "9.00",
              "valid_until": (dt.date.today() + dt.timedelta(days=5)).isoformat(),  # noqa: DTZ011
              "deposit_pct": "30"}
    assert staff.post(f"/union/quotes/{request_id}/answer", data=answer).status_code == 302
    with app.app_context():
        lot = db.session.get(Lot, world["lots"][1].id)
        lot.available_kg, lot.reserved_kg = Decimal(800), Decimal(200)  # another order took some meanwhile
        db.session.commit()
    refused = buyer.post(f"/quotes/{request_id}/accept", data={"csrf_token": csrf_token(buyer, "/quotes"),
        "confirm": "y"})
    assert refused.status_code == 409
    assert "Nothing was reserved" in text(refused)
    with app.app_context():
        assert db.session.scalar(select(func.count(Reservation.id))) == 0
        assert db.session.scalar(select(func.count(Order.id))) == 0
        assert db.session.get(Lot, world["lots"][0].id).available_kg == Decimal(1000)
        assert db.session.get(QuoteRequest, request_id).status is QuoteStatus.quoted


def test_single_lot_requests_survive_the_migration_both_ways(app: Flask) -> None:
    with app.app_context():
        quote = factories.QuoteRequestFactory(kg=Decimal(100))
        lot_id, request_id = quote.lot.id, quote.id
        db.session.commit()
        db.session.remove()
        downgrade(revision="0008")
        assert db.session.execute(sql("SELECT lot_id FROM quote_request WHERE id = :id"),
                                  {"id": request_id}).scalar() == lot_id
        db.session.remove()
        upgrade()
        request = db.session.get(QuoteRequest, request_id)
        assert request.lot is not None
        assert request.lot.id == lot_id
        assert [i.kg for i in request.items] == [None]
        assert not request.kg_per_lot


def test_the_same_multi_lot_form_sent_twice_counts_once(app: Flask, world: dict) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    codes = _codes(world, 0, 1)
    query = "&".join(f"code={c}" for c in codes)
    form_id = text(buyer.get(f"/quotes/lots?{query}")).split('name="form_id" type="hidden" value="')[1].split('"')[0]
    payload = {"csrf_token": csrf_token(buyer, "/quotes"), "form_id": form_id, "code": codes, "incoterm": "FCA",
               "incoterm_place": "Ulaanbaatar", "currency": "USD", "kg": "", "lots-0-kg": "60", "lots-1-kg": "70"}
    assert buyer.post("/quotes/lots", data=payload).status_code == 302
    assert buyer.post("/quotes/lots", data=payload).status_code == 302
    assert _count(app, QuoteRequest) == 1
    assert _count(app, QuoteRequestLot) == 2


def test_the_union_dashboard_shows_stock_by_specification(app: Flask, world: dict) -> None:
    coop = world["coops"][0]
    factories.LotFactory(cooperative=coop, mean_diameter_um=Decimal("14.8"), available_kg=Decimal(321),
                         net_kg=Decimal(1000))
    factories.LotFactory(cooperative=coop, mean_diameter_um=Decimal("16.4"), available_kg=Decimal(654),
                         net_kg=Decimal(1000))
    page = text(_signed_in(app, "staff@example.com").get("/dashboard"))
    assert "Stock of listed lots by specification" in page
    assert "≤ 15.0" in page
    assert "16.0" in page
    assert "17.0" in page
    assert "321" in page
    assert "654" in page


def test_the_demo_has_single_lot_spec_and_multi_lot_requests(demo_app: Flask) -> None:
    staff = demo_app.test_client()
    assert sign_in(staff, "staff@demo.example", "demo-staff-2026").status_code == 302
    inbox = text(staff.get("/union/quotes"))
    assert "Specification" in inbox
    assert "USCC-2025-GAL-013 (300" in inbox
    assert "USCC-2025-ARK-017 (200" in inbox
    with demo_app.app_context():
        request = db.session.scalar(select(QuoteRequest).where(QuoteRequest.form_id == "demo-quote-request-2"))
        assert request.kg_per_lot
        assert sum(i.kg for i in request.items) == request.kg


def test_the_specification_form_offers_only_tiers_a_lot_can_have(demo_app: Flask) -> None:
    """The demo's lots are certified under Sustainable Cashmere (Entry, Advanced); the enterprises' code of
    practice (Committed, Reporting, Verified) certifies no lot: not offered, and refused when sent."""
    buyer = demo_app.test_client()
    assert sign_in(buyer, "buyer@demo.example", "demo-buyer-2026").status_code == 302
    page = text(buyer.get("/quotes/new"))
    tier = page.split('name="tier"', 1)[1].split("</select>", 1)[0]
    assert [value for value in ("Entry", "Advanced", "Committed", "Reporting", "Verified")
            if f'value="{value}"' in tier] == ["Entry", "Advanced"]
    before = _count(demo_app, QuoteRequest)
    form_id = page.split('name="form_id" type="hidden" value="')[1].split('"')[0]
    sent = buyer.post("/quotes/new", data={
        "csrf_token": csrf_token(buyer, "/quotes/new"), "form_id": form_id, "kg": "100", "tier": "Committed",
        "fibre_state": "dehaired", "price_basis": "clean", "incoterm": "DAP", "incoterm_place": "Biella",
        "currency": "EUR"})
    assert sent.status_code == 422
    assert "Not a valid choice" in text(sent)
    assert _count(demo_app, QuoteRequest) == before
