"""From quote to allocated order, through the HTTP stack: rules, bad input, audit and expiry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.lots.models import Colour, Lot
from marketplace.orders import services
from marketplace.orders.models import (
    Allocation,
    AllocationStatus,
    Order,
    OrderStage,
    QuoteRequest,
    QuoteStatus,
    Reservation,
    ReservationStatus,
    SampleRequest,
)
from tests import factories
from tests.helpers import csrf_token, sign_in, text


@pytest.fixture
def world(app: Flask) -> dict:
    union = factories.OrganisationFactory(kind="union", slug="union-test", country="MN")
    factories.ensure_policy(2026, "EUR")  # floors 30.00 greasy and 95.00 dehaired
    staff = factories.user_with_role(Role.union_staff, union, email="staff@example.com", name="Staff Member")
    brand = factories.OrganisationFactory(name="Maison Test")
    buyer = factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com", name="Buyer One")
    other = factories.user_with_role(Role.brand_buyer, email="other@example.com")
    coops = [factories.CooperativeProfileFactory(members=m, declared_capacity_kg=Decimal(c)).organisation
             for m, c in ((100, 4000), (200, 8000), (300, 12000))]
    lots = [factories.LotFactory(cooperative=coop, available_kg=Decimal(1000), net_kg=Decimal(1000),
                                 min_order_kg=Decimal(50)) for coop in coops]
    return {"staff": staff, "buyer": buyer, "brand": brand, "other": other, "coops": coops, "lots": lots}


def _signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def _quote_form(client: FlaskClient, path: str, **data: str) -> tuple[str, dict]:
    html = text(client.get(path))
    form_id = html.split('name="form_id" type="hidden" value="')[1].split('"')[0]
    payload = {"csrf_token": csrf_token(client, path), "form_id": form_id, "kg": "300", "incoterm": "FCA",
               "incoterm_place": "Ulaanbaatar", "currency": "EUR", **data}
    return path, payload


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _answer(app: Flask, staff_client: FlaskClient, quote_id: int, **data: str):  # type: ignore[no-untyped-def]
    payload = {"csrf_token": csrf_token(staff_client, f"/union/quotes/{quote_id}"), "price": "125.00",
               "premium": "8.00", "valid_until": (dt.date.today() + dt.timedelta(days=10)).isoformat(),  # noqa: DTZ011
               "deposit_pct": "30", **data}
    return staff_client.post(f"/union/quotes/{quote_id}/answer", data=payload)


@pytest.mark.parametrize(("kg", "message"), [
    ("-5", "more than 0 kg"), ("0", "more than 0 kg"), ("1e9", "more than the Union can supply"),
    ("abc", "Not a valid decimal"), ("", "Enter the quantity"), ("10", "minimum order is 50 kg"),
    ("NaN", "Not a valid decimal value"),
])
def test_bad_quantities_are_refused_and_change_nothing(app: Flask, world: dict, kg: str, message: str) -> None:
    client = _signed_in(app, "buyer@example.com")
    path, payload = _quote_form(client, f"/lots/{world['lots'][0].code}/quote", kg=kg)
    response = client.post(path, data=payload)
    assert response.status_code == 422
    assert message in text(response)
    assert _count(app, QuoteRequest) == 0


def test_a_quote_request_submitted_twice_counts_once(app: Flask, world: dict) -> None:
    client = _signed_in(app, "buyer@example.com")
    path, payload = _quote_form(client, f"/lots/{world['lots'][0].code}/quote")
    assert client.post(path, data=payload).status_code == 302
    assert client.post(path, data=payload).status_code == 302
    assert _count(app, QuoteRequest) == 1


def test_an_unverified_buyer_neither_accepts_a_quote_nor_orders_a_sample(app: Flask, world: dict) -> None:
    """A brand the Union has not verified (a sign-up, or a changed registration number) is refused both, with
    the reason and nothing written. (Found by a mutation review: with either check removed no test noticed.)"""
    from marketplace.orders.models import Order, Reservation
    from marketplace.organisations.models import Organisation

    quote = factories.QuoteFactory(request__buyer=world["brand"], request__lot=world["lots"][0],
                                   request__kg=Decimal(100))
    client = _signed_in(app, "buyer@example.com")
    lot_page = text(client.get(f"/lots/{world['lots'][0].code}"))
    form_id = lot_page.split('name="form_id" value="')[1].split('"')[0]
    with app.app_context():
        db.session.get(Organisation, world["brand"].id).verified_at = None
        db.session.commit()
    accept = client.post(f"/quotes/{quote.request_id}/accept",
                         data={"csrf_token": csrf_token(client, "/quotes"), "confirm": "y"})
    assert accept.status_code in (302, 403)
    sample = client.post(f"/lots/{world['lots'][0].code}/sample", data={
        "csrf_token": csrf_token(client, "/quotes"), "form_id": form_id, "address": "12 rue des Lilas, Paris"})
    assert sample.status_code == 403
    assert "verif" in text(sample).lower()
    assert (_count(app, Order), _count(app, Reservation), _count(app, SampleRequest)) == (0, 0, 0)
    with app.app_context():
        assert db.session.get(QuoteRequest, quote.request_id).status is not QuoteStatus.accepted


def test_sample_request_once_per_form(app: Flask, world: dict) -> None:
    client = _signed_in(app, "buyer@example.com")
    lot_page = text(client.get(f"/lots/{world['lots'][0].code}"))
    assert "Request a sample" in lot_page
    form_id = lot_page.split('name="form_id" value="')[1].split('"')[0]
    data = {"csrf_token": csrf_token(client, f"/lots/{world['lots'][0].code}"), "form_id": form_id,
            "address": "12 rue des Lilas, Paris"}
    assert client.post(f"/lots/{world['lots'][0].code}/sample", data=data).status_code == 302
    assert client.post(f"/lots/{world['lots'][0].code}/sample", data=data).status_code == 302
    assert _count(app, SampleRequest) == 1
    empty = client.post(f"/lots/{world['lots'][0].code}/sample", data={**data, "form_id": "x2", "address": ""})
    assert empty.status_code == 422
    assert _count(app, SampleRequest) == 1
    staff = _signed_in(app, "staff@example.com")
    inbox = text(staff.get("/union/quotes"))
    assert "12 rue des Lilas" in inbox
    with app.app_context():
        sample_id = db.session.scalar(select(SampleRequest.id))
    token = csrf_token(staff, "/union/quotes")
    assert staff.post(f"/union/samples/{sample_id}/sent", data={"csrf_token": token}).status_code == 302
    assert staff.post(f"/union/samples/{sample_id}/sent", data={"csrf_token": token}).status_code == 303
    assert "Sent" in text(client.get("/quotes"))


def _request_on_spec(app: Flask, client: FlaskClient, kg: str = "600") -> int:
    path, payload = _quote_form(client, "/quotes/new", kg=kg, colour="white", max_micron="16.0")
    response = client.post(path, data=payload)
    assert response.status_code == 302, text(response)
    with app.app_context():
        return db.session.scalar(select(QuoteRequest.id).order_by(QuoteRequest.id.desc()))


def test_quote_to_allocated_order(app: Flask, world: dict) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    staff = _signed_in(app, "staff@example.com")
    quote_id = _request_on_spec(app, buyer)
    assert "Request #" in text(staff.get("/union/quotes"))

    # Bad answers are refused.
    assert _answer(app, staff, quote_id, price="-1").status_code == 422
    assert _answer(app, staff, quote_id, valid_until="2000-01-01").status_code == 422
    assert _answer(app, staff, quote_id).status_code == 302
    assert _answer(app, staff, quote_id).status_code == 409  # answered already

    accept = {"csrf_token": csrf_token(buyer, "/quotes"), "confirm": "y"}
    response = buyer.post(f"/quotes/{quote_id}/accept", data=accept)
    assert response.status_code == 302
    again = buyer.post(f"/quotes/{quote_id}/accept", data=accept)
    assert again.status_code == 409
    assert "already been accepted" in text(again)

    with app.app_context():
        order = db.session.scalar(select(Order))
        reference = order.reference
        assert order.stage is OrderStage.accepted
        assert services.order_kg(order) == Decimal(600)
        shares = {s.cooperative_id: s.kg for s in order.allocation.shares}
        # Weights 1:2:3 by members and by capacity → 100, 200, 300 kg.
        assert sorted(shares.values()) == [Decimal(100), Decimal(200), Decimal(300)]
        assert sum(lot.reserved_kg for lot in db.session.scalars(select(Lot))) == Decimal(600)
        assert [e.stage for e in order.events] == [OrderStage.quote_requested, OrderStage.quoted,
                                                    OrderStage.accepted]
        coop_ids = sorted(shares)

    page = text(buyer.get(f"/orders/{reference}"))
    assert "Quote requested" in page
    assert "Buyer One" in page
    assert "Staff Member" in page
    assert "herder households" in page
    # Another buyer cannot reach the order.
    other = _signed_in(app, "other@example.com")
    assert other.get(f"/orders/{reference}").status_code == 404
    assert other.post(f"/orders/{reference}/deposit", data={"csrf_token": csrf_token(other, "/quotes")}).status_code \
        == 404

    # Staff adjust: the shares must add up, every change is audited.
    review = text(staff.get(f"/union/orders/{reference}"))
    assert f'name="share-{coop_ids[0]}" value="100"' in review
    token = csrf_token(staff, f"/union/orders/{reference}")
    bad = staff.post(f"/union/orders/{reference}/allocation", data={
        "csrf_token": token, "reason": "Balance", f"share-{coop_ids[0]}": "150", f"share-{coop_ids[1]}": "200",
        f"share-{coop_ids[2]}": "300"})
    assert bad.status_code == 422
    assert "must add up" in text(bad)
    no_reason = staff.post(f"/union/orders/{reference}/allocation", data={
        "csrf_token": token, "reason": "", f"share-{coop_ids[0]}": "150", f"share-{coop_ids[1]}": "150",
        f"share-{coop_ids[2]}": "300"})
    assert no_reason.status_code == 422
    good = staff.post(f"/union/orders/{reference}/allocation", data={
        "csrf_token": token, "reason": "Cooperative 1 had a late delivery last season",
        f"share-{coop_ids[0]}": "150", f"share-{coop_ids[1]}": "150", f"share-{coop_ids[2]}": "300"})
    assert good.status_code == 302, text(good)
    # The change is only proposed: the buyer sees it and consents before anything moves.
    with app.app_context():
        assert {lot.cooperative_id: lot.reserved_kg for lot in db.session.scalars(select(Lot))}[coop_ids[0]] \
            == Decimal(100)
    confirm_early = staff.post(f"/union/orders/{reference}/confirm", data={"csrf_token": token})
    assert confirm_early.status_code == 409
    assert "waits for the buyer" in text(confirm_early)
    proposal = text(buyer.get(f"/orders/{reference}"))
    assert "The Union proposes a change to your order" in proposal
    assert "Cooperative 1 had a late delivery last season" in proposal
    answer = buyer.post(f"/orders/{reference}/change", data={
        "csrf_token": csrf_token(buyer, f"/orders/{reference}"), "answer": "accept"})
    assert answer.status_code == 302
    with app.app_context():
        allocation = db.session.scalar(select(Allocation))
        assert [a.action for a in allocation.audit] == ["proposed", "change_proposed", "adjusted", "change_accepted"]
        assert allocation.audit[1].actor.email == "staff@example.com"
        adjusted = allocation.audit[2]
        assert adjusted.actor.email == "buyer@example.com"
        assert adjusted.before[str(coop_ids[0])] == "100"
        assert adjusted.after[str(coop_ids[0])] == "150"
        assert adjusted.reason.startswith("Cooperative 1")
        lots = {lot.cooperative_id: lot for lot in db.session.scalars(select(Lot))}
        assert lots[coop_ids[0]].reserved_kg == Decimal(150)
        assert lots[coop_ids[1]].reserved_kg == Decimal(150)
        assert sum(lot.reserved_kg + lot.available_kg for lot in lots.values()) == Decimal(3000)

    # Confirmation needs the deposit first.
    early = staff.post(f"/union/orders/{reference}/confirm", data={"csrf_token": token})
    assert early.status_code == 409
    with app.app_context():
        services.mark_deposit_paid(db.session.scalar(select(Order)))
        db.session.commit()
    assert staff.post(f"/union/orders/{reference}/confirm", data={"csrf_token": token}).status_code == 302
    assert staff.post(f"/union/orders/{reference}/confirm", data={"csrf_token": token}).status_code == 409
    for _ in range(2):  # collected, dehaired and tested
        assert staff.post(f"/union/orders/{reference}/advance", data={"csrf_token": token}).status_code == 302
    # Shipping needs the shipping details and the final invoice.
    refused = staff.post(f"/union/orders/{reference}/advance", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "tracking or AWB number" in text(refused)
    assert staff.post(f"/union/orders/{reference}/shipping", data={
        "csrf_token": token, "carrier": "DHL", "tracking_number": "AWB 123-45678901", "shipped_on": "2026-11-20",
        "expected_on": "2026-11-19"}).status_code == 422  # expected before shipped
    assert staff.post(f"/union/orders/{reference}/shipping", data={
        "csrf_token": token, "carrier": "DHL", "tracking_number": "AWB 123-45678901", "shipped_on": "2026-11-20",
        "expected_on": "2026-11-27"}).status_code == 302
    refused = staff.post(f"/union/orders/{reference}/advance", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "final invoice" in text(refused)
    assert staff.post(f"/union/orders/{reference}/invoice", data={"csrf_token": token}).status_code == 302
    assert staff.post(f"/union/orders/{reference}/invoice", data={"csrf_token": token}).status_code == 409
    for _ in range(2):  # shipped, delivered
        assert staff.post(f"/union/orders/{reference}/advance", data={"csrf_token": token}).status_code == 302
    assert staff.post(f"/union/orders/{reference}/advance", data={"csrf_token": token}).status_code == 409
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert order.stage is OrderStage.delivered
        assert order.allocation.status is AllocationStatus.confirmed
        lots = list(db.session.scalars(select(Lot)))
        assert sum(lot.reserved_kg for lot in lots) == 0
        assert sum(lot.sold_kg for lot in lots) == Decimal(600)

    page = text(buyer.get(f"/orders/{reference}"))
    assert "Delivered" in page
    assert "Supplied by 3 cooperatives" in page
    season = text(staff.get("/union/season"))
    assert "Fair share" in season
    dashboard = text(staff.get("/dashboard"))
    assert "Premiums due and paid" in dashboard
    assert "€1,200.00" in dashboard  # 150 kg × €8.00 premium


def test_accepting_an_expired_quote_is_refused(app: Flask, world: dict) -> None:
    quote = factories.QuoteFactory(request__buyer=world["brand"], request__lot=world["lots"][0],
                                   valid_until=dt.date(2020, 1, 1))
    buyer = _signed_in(app, "buyer@example.com")
    response = buyer.post(f"/quotes/{quote.request_id}/accept", data={"csrf_token": csrf_token(buyer, "/quotes"),
        "confirm": "y"})
    assert response.status_code == 409
    assert "expired" in text(response)
    assert _count(app, Order) == 0
    with app.app_context():
        assert db.session.get(QuoteRequest, quote.request_id).status is QuoteStatus.quoted


def test_another_buyer_cannot_accept_a_quote(app: Flask, world: dict) -> None:
    quote = factories.QuoteFactory(request__buyer=world["brand"], request__lot=world["lots"][0])
    other = _signed_in(app, "other@example.com")
    response = other.post(f"/quotes/{quote.request_id}/accept", data={"csrf_token": csrf_token(other, "/quotes"),
        "confirm": "y"})
    assert response.status_code == 404
    assert _count(app, Order) == 0


def test_not_enough_stock_reserves_nothing(app: Flask, world: dict) -> None:
    quote = factories.QuoteFactory(request__buyer=world["brand"], request__lot=world["lots"][0],
                                   request__kg=Decimal(1500))
    buyer = _signed_in(app, "buyer@example.com")
    response = buyer.post(f"/quotes/{quote.request_id}/accept", data={"csrf_token": csrf_token(buyer, "/quotes"),
        "confirm": "y"})
    assert response.status_code == 409
    assert "Nothing was reserved" in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.sum(Lot.reserved_kg))) == 0
        assert db.session.get(QuoteRequest, quote.request_id).status is QuoteStatus.quoted
    assert _count(app, Order) == 0


def _accepted(app: Flask, world: dict, kg: int = 200) -> str:
    quote = factories.QuoteFactory(request__buyer=world["brand"], request__lot=world["lots"][0],
                                   request__kg=Decimal(kg))
    with app.app_context():
        order = services.accept_quote(quote.request_id, buyer_ids={world["brand"].id},
                                      user=db.session.merge(world["buyer"]), hold=dt.timedelta(hours=1))
        db.session.commit()
        return order.reference


def test_expired_reservations_are_released_by_the_worker(app: Flask, world: dict) -> None:
    reference = _accepted(app, world)
    with app.app_context():
        db.session.execute(Reservation.__table__.update().values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["orders", "expire"])
    assert result.exit_code == 0, result.output
    assert "1 expired reservation(s) released" in result.output
    with app.app_context():
        lot = db.session.get(Lot, world["lots"][0].id)
        assert (lot.available_kg, lot.reserved_kg) == (Decimal(1000), Decimal(0))
        order = db.session.scalar(select(Order).where(Order.reference == reference))
        assert order.stage is OrderStage.cancelled
        assert order.reservations[0].status is ReservationStatus.expired
    again = app.test_cli_runner().invoke(args=["orders", "expire"])
    assert "0 expired reservation(s) released" in again.output


def test_expired_reservations_are_released_on_read(app: Flask, world: dict) -> None:
    _accepted(app, world)
    with app.app_context():
        db.session.execute(Reservation.__table__.update().values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
        db.session.commit()
    page = text(app.test_client().get(f"/lots/{world['lots'][0].code}"))
    assert "1,000.0\u00a0kg" in page  # available again
    with app.app_context():
        assert db.session.get(Lot, world["lots"][0].id).reserved_kg == 0


def test_minimum_order_on_a_specification(app: Flask, world: dict) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    path, payload = _quote_form(buyer, "/quotes/new", kg="20", colour=Colour.white.value)
    response = buyer.post(path, data=payload)
    assert response.status_code == 422
    assert "minimum order is 50 kg" in text(response)
    path, payload = _quote_form(buyer, "/quotes/new", kg="100", colour=Colour.brown.value)
    response = buyer.post(path, data=payload)
    assert response.status_code == 422
    assert "No lot on sale meets this specification" in text(response)


def test_staff_decline_with_a_reason(app: Flask, world: dict) -> None:
    buyer = _signed_in(app, "buyer@example.com")
    staff = _signed_in(app, "staff@example.com")
    quote_id = _request_on_spec(app, buyer, kg="100")
    token = csrf_token(staff, f"/union/quotes/{quote_id}")
    assert staff.post(f"/union/quotes/{quote_id}/decline", data={"csrf_token": token, "reason": ""}).status_code == 422
    assert staff.post(f"/union/quotes/{quote_id}/decline",
                      data={"csrf_token": token, "reason": "Sold out for this season"}).status_code == 302
    assert "Sold out for this season" in text(buyer.get("/quotes"))
    response = buyer.post(f"/quotes/{quote_id}/accept", data={"csrf_token": csrf_token(buyer, "/quotes"),
        "confirm": "y"})
    assert response.status_code == 409


def test_order_status_is_an_htmx_fragment_too(app: Flask, world: dict) -> None:
    reference = _accepted(app, world)
    buyer = _signed_in(app, "buyer@example.com")
    full = buyer.get(f"/orders/{reference}")
    fragment = buyer.get(f"/orders/{reference}", headers={"HX-Request": "true"})
    assert "HX-Request" in full.headers["Vary"]
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" in text(full)
    assert "<html" not in text(fragment)
    assert 'id="order-status"' in text(fragment)


def test_staff_record_premium_payments(app: Flask, world: dict) -> None:
    staff = _signed_in(app, "staff@example.com")
    token = csrf_token(staff, "/union/season")
    coop = world["coops"][0]
    bad = staff.post("/union/premiums", data={"csrf_token": token, "cooperative_id": coop.id, "amount": "-3",
                                              "currency": "EUR", "paid_on": "2026-10-01"})
    assert bad.status_code == 422
    # Nothing is due yet: only an advance may be paid (see tests/funds/test_funds.py for the ledger rules).
    good = staff.post("/union/premiums", data={"csrf_token": token, "cooperative_id": coop.id, "amount": "250.00",
                                               "currency": "EUR", "paid_on": "2026-10-01", "reference": "TRF-1",
                                               "advance": "y"})
    assert good.status_code == 302
    again = staff.post("/union/premiums", data={"csrf_token": token, "cooperative_id": coop.id, "amount": "250.00",
                                                "currency": "EUR", "paid_on": "2026-10-01", "reference": "TRF-1",
                                                "advance": "y"})
    assert again.status_code == 302  # the same transfer submitted twice is recorded once
    from marketplace.funds.models import EntryKind, FundEntry

    with app.app_context():
        assert db.session.scalar(select(func.count(FundEntry.id)).where(FundEntry.kind == EntryKind.payment)) == 1
    page = text(staff.get("/dashboard"))
    assert coop.name in page
    assert "€250.00" in page
