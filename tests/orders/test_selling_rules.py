"""One test per selling rule, walking every entry point (marketplace/orders/rules.py).

The world: two cooperatives with equal members and capacity, each with one white dehaired lot
priced €125.00 per kg (clean basis) from 1,000 kg, minimum order 50 kg. Lot A is 16.0 µm (floor
€95.00 + no grade premium), lot B 15.0 µm (floor €95.00 + €3.00 ultrafine-white premium = €98.00).
Each case breaks the rule on lot B at the last moment before the entry point acts, then checks
that the entry point refuses (clear message, nothing written) or leaves lot B out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.accounts.models import Role
from marketplace.certification.models import CertificateStatus
from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState, Lot, PriceBasis
from marketplace.orders import services
from marketplace.orders.models import (
    Allocation,
    AllocationStatus,
    Order,
    Quote,
    QuoteRequest,
    QuoteStatus,
    Reservation,
    ReservationStatus,
)
from marketplace.pricing import services as pricing
from marketplace.pricing.models import MicronBand
from marketplace.search import services as search_services
from tests import factories
from tests.helpers import csrf_token, sign_in, text

FUTURE = (dt.date.today() + dt.timedelta(days=10)).isoformat()  # noqa: DTZ011


@pytest.fixture
def world(app: Flask) -> dict:
    union = factories.OrganisationFactory(kind="union", slug="union-test", country="MN")
    factories.user_with_role(Role.union_staff, union, email="staff@example.com", name="Staff Member")
    brand = factories.OrganisationFactory(name="Maison Test")
    factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com", name="Buyer One")
    with app.app_context():
        pricing.publish_policy(season=2026, currency="EUR", greasy_floor_minor=3000, dehaired_floor_minor=9500,
                               premiums={(MicronBand.ultrafine, Colour.white): 300}, published_on=dt.date(2026, 5, 1))
        db.session.commit()
    coops = [factories.CooperativeProfileFactory().organisation for _ in range(2)]
    lots = [factories.LotFactory(cooperative=coop, available_kg=Decimal(1000), net_kg=Decimal(1000),
                                 min_order_kg=Decimal(50), mean_diameter_um=Decimal(micron))
            for coop, micron in zip(coops, ("16.0", "15.0"), strict=True)]
    with app.app_context():
        search_services.drain_all()
    return {"brand": brand, "coops": coops, "a": lots[0], "b": lots[1]}


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def _form_id(client: FlaskClient, path: str) -> str:
    return text(client.get(path)).split('name="form_id" type="hidden" value="')[1].split('"')[0]


def _request_spec(app: Flask, buyer: FlaskClient, kg: str = "600", **spec: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(buyer, "/quotes/new"), "form_id": _form_id(buyer, "/quotes/new"), "kg": kg,
            "incoterm": "FCA", "incoterm_place": "Ulaanbaatar", "currency": "EUR", "colour": "white",
            "max_micron": "16.0", **spec}
    return buyer.post("/quotes/new", data=data)


def _request_lots(buyer: FlaskClient, kg_by_code: dict[str, str]):  # type: ignore[no-untyped-def]
    codes = list(kg_by_code)
    query = "&".join(f"code={c}" for c in codes)
    data = {"csrf_token": csrf_token(buyer, "/quotes"), "form_id": _form_id(buyer, f"/quotes/lots?{query}"),
            "code": codes, "incoterm": "FCA", "incoterm_place": "Ulaanbaatar", "currency": "EUR", "kg": "",
            **{f"lots-{i}-kg": kg for i, kg in enumerate(kg_by_code.values())}}
    return buyer.post("/quotes/lots", data=data)


def _last_request(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(QuoteRequest.id).order_by(QuoteRequest.id.desc()))


def _answer(staff: FlaskClient, request_id: int, price: str = "125.00"):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(staff, f"/union/quotes/{request_id}"), "price": price, "premium": "8.00",
            "valid_until": FUTURE, "deposit_pct": "30"}
    return staff.post(f"/union/quotes/{request_id}/answer", data=data)


def _accept(buyer: FlaskClient, request_id: int):  # type: ignore[no-untyped-def]
    return buyer.post(f"/quotes/{request_id}/accept", data={"csrf_token": csrf_token(buyer, "/quotes"), "confirm": "y"})


def _counts(app: Flask) -> dict[str, object]:
    """Everything an entry point could write."""
    with app.app_context():
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        return {
            "requests": count(QuoteRequest), "quotes": count(Quote), "orders": count(Order),
            "reservations": sorted((r.lot_id, r.kg, r.status.value) for r in db.session.scalars(select(Reservation))),
            "lots": sorted((lot.id, lot.available_kg, lot.reserved_kg) for lot in db.session.scalars(select(Lot))),
            "statuses": sorted(r.status.value for r in db.session.scalars(select(QuoteRequest))),
            "allocations": sorted(a.status.value for a in db.session.scalars(select(Allocation))),
        }


def _refused(app: Flask, before: dict, response, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in (409, 422), (response.status_code, text(response)[:300])
    body = text(response)
    for word in words:
        assert word in body, word
    after = _counts(app)
    # Nothing written, except that breaking the rule may have changed lot B itself.
    assert {k: v for k, v in after.items() if k != "lots"} == {k: v for k, v in before.items() if k != "lots"}


def _order_on_both(app: Flask, world: dict, buyer: FlaskClient, staff: FlaskClient) -> str:
    """A specification quote accepted and allocated 300 kg + 300 kg across the two cooperatives."""
    assert _request_spec(app, buyer).status_code == 302
    request_id = _last_request(app)
    assert _answer(staff, request_id).status_code == 302
    assert _accept(buyer, request_id).status_code == 302
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert sorted(r.kg for r in services.active_reservations(order)) == [Decimal(300), Decimal(300)]
        return order.reference


def _adjust(staff: FlaskClient, world: dict, reference: str, a: str, b: str):  # type: ignore[no-untyped-def]
    ids = [c.id for c in world["coops"]]
    return staff.post(f"/union/orders/{reference}/allocation", data={
        "csrf_token": csrf_token(staff, f"/union/orders/{reference}"), "reason": "Balance the season",
        f"share-{ids[0]}": a, f"share-{ids[1]}": b})


# Entry points ---------------------------------------------------------------------------------
# Each takes (app, world, breaker) and asserts that the rule holds there.

Breaker = Callable[[Lot], None]


def _break(app: Flask, world: dict, breaker: Breaker) -> None:
    with app.app_context():
        breaker(db.session.get(Lot, world["b"].id))
        db.session.commit()  # the search outbox is applied after the commit


def listing(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    _break(app, world, breaker)
    client = app.test_client()
    hits = client.get("/api/v1/lots").get_json()["hits"]
    assert world["a"].code in {h["code"] for h in hits}
    assert world["b"].code not in {h["code"] for h in hits}
    browser = text(client.get("/lots"))
    assert world["a"].code in browser
    assert world["b"].code not in browser


def lot_page(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    _break(app, world, breaker)
    buyer = _client(app, "buyer@example.com")
    page = text(buyer.get(f"/lots/{world['b'].code}"))
    assert "cannot be sampled, quoted or ordered" in page
    assert words[0] in page
    assert f"/lots/{world['b'].code}/quote" not in page
    before = _counts(app)
    sample = buyer.post(f"/lots/{world['b'].code}/sample", data={
        "csrf_token": csrf_token(buyer, f"/lots/{world['a'].code}"), "form_id": "f1", "address": "Paris"})
    assert sample.status_code == 409
    assert words[0] in text(sample)
    assert _counts(app) == before


def quote_request(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    buyer = _client(app, "buyer@example.com")
    _break(app, world, breaker)
    before = _counts(app)
    _refused(app, before, _request_lots(buyer, {world["b"].code: "100"}), *words)


def staff_answer(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_lots(buyer, {world["a"].code: "300", world["b"].code: "300"}).status_code == 302
    request_id = _last_request(app)
    _break(app, world, breaker)
    before = _counts(app)
    _refused(app, before, _answer(staff, request_id), *words)


def acceptance(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_lots(buyer, {world["a"].code: "300", world["b"].code: "300"}).status_code == 302
    request_id = _last_request(app)
    assert _answer(staff, request_id).status_code == 302
    _break(app, world, breaker)
    before = _counts(app)
    _refused(app, before, _accept(buyer, request_id), "Nothing was reserved" if words else "")


def allocation(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_spec(app, buyer).status_code == 302
    request_id = _last_request(app)
    assert _answer(staff, request_id).status_code == 302
    _break(app, world, breaker)
    response = _accept(buyer, request_id)
    with app.app_context():
        held = list(db.session.scalars(select(Reservation)))
        assert world["b"].id not in {r.lot_id for r in held}  # lot B left out of the allocation
        if response.status_code == 302:
            assert sorted((r.lot_id, r.kg) for r in held) == [(world["a"].id, Decimal(600))]
        else:
            assert response.status_code == 409
            assert not held


def adjustment(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    _break(app, world, breaker)
    before = _counts(app)
    _refused(app, before, _adjust(staff, world, reference, "200", "400"))
    with app.app_context():
        assert [a.action for a in db.session.scalar(select(Allocation)).audit] == ["proposed"]


def confirmation(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    with app.app_context():
        assert services.mark_deposit_paid(db.session.scalar(select(Order)))
        db.session.commit()
    _break(app, world, breaker)
    before = _counts(app)
    response = staff.post(f"/union/orders/{reference}/confirm",
                          data={"csrf_token": csrf_token(staff, f"/union/orders/{reference}")})
    _refused(app, before, response, *words)
    with app.app_context():
        assert db.session.scalar(select(Allocation)).status is AllocationStatus.proposed


# Rule 1: the certificate ------------------------------------------------------------------------

def suspend(lot: Lot) -> None:
    assert lot.certificate is not None
    lot.certificate.status = CertificateStatus.suspended


def expire_yesterday(lot: Lot) -> None:
    """Expired by date only: the stored status still says active."""
    assert lot.certificate is not None
    lot.certificate.valid_to = dt.date.today() - dt.timedelta(days=1)  # noqa: DTZ011


@pytest.mark.parametrize("breaker", [suspend, expire_yesterday], ids=["suspended", "expired-by-date"])
@pytest.mark.parametrize("entry", [listing, lot_page, quote_request, staff_answer, acceptance, allocation,
                                   adjustment, confirmation], ids=lambda f: f.__name__)
def test_certificate_rule_at_every_entry_point(app: Flask, world: dict, entry: Callable, breaker: Breaker) -> None:
    entry(app, world, breaker, ("certificate of lot",))


def test_certificate_status_is_shown_and_invalid_lots_can_be_included(app: Flask, world: dict) -> None:
    _break(app, world, expire_yesterday)
    client = app.test_client()
    hits = {h["code"]: h for h in client.get("/api/v1/lots?include_invalid=1").get_json()["hits"]}
    assert hits[world["a"].code]["certificate_status"] == "valid"
    assert hits[world["b"].code]["certificate_status"] == "expired"  # stored status still "active"
    assert hits[world["b"].code]["passport_url"] is None  # the factory lots have no passport
    assert world["b"].code not in {h["code"] for h in client.get("/api/v1/lots?include_invalid=0").get_json()["hits"]}
    page = text(client.get("/lots?include_invalid=1"))
    assert "Expired" in page
    assert "Valid" in page
    csv_text = text(client.get("/lots/export.csv?include_invalid=1"))
    assert "Certificate status" in csv_text.splitlines()[0]
    assert "Expired" in csv_text
    compare = text(client.get(f"/lots/compare?code={world['a'].code}&code={world['b'].code}"))
    assert "Certificate status" in compare
    assert "Expired" in compare
    assert "Abgelaufen" in text(client.get("/lots?include_invalid=1&lang=de"))


# Rule 2: the price floor ------------------------------------------------------------------------

def raise_floor(lot: Lot) -> None:
    """A new revision of the season's policy: ultrafine white now owes €50.00 over the floor (€145.00)."""
    pricing.publish_policy(season=2026, currency="EUR", greasy_floor_minor=3000, dehaired_floor_minor=9500,
                           premiums={(MicronBand.ultrafine, Colour.white): 5000}, published_on=dt.date(2026, 6, 1))


def raise_floor_before_the_quote(lot: Lot) -> None:
    """The same raise, recorded before the quote was given: the floor in force at quote time is €145.00."""
    from sqlalchemy import update

    from marketplace.pricing.models import PricePolicy

    raise_floor(lot)
    db.session.flush()
    db.session.execute(update(PricePolicy).where(PricePolicy.revision == 2)
                       .values(created_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))


@pytest.mark.parametrize("entry", [lot_page, quote_request, staff_answer], ids=lambda f: f.__name__)
def test_price_floor_at_every_entry_point_before_the_quote(app: Flask, world: dict, entry: Callable) -> None:
    entry(app, world, raise_floor, ("fair-price floor of €145.00",))


@pytest.mark.parametrize("entry", [acceptance, allocation, adjustment, confirmation], ids=lambda f: f.__name__)
def test_price_floor_in_force_at_quote_time_binds_every_later_entry_point(app: Flask, world: dict,
                                                                          entry: Callable) -> None:
    entry(app, world, raise_floor_before_the_quote, ("fair-price floor of €145.00",))


def test_a_floor_raised_after_the_quote_does_not_strand_the_order(app: Flask, world: dict) -> None:
    """The quote binds: acceptance, adjustment and confirmation check the floor in force when it was given."""
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_spec(app, buyer).status_code == 302
    request_id = _last_request(app)
    assert _answer(staff, request_id).status_code == 302  # €125.00 ≥ €98.00, the floor in force now
    _break(app, world, raise_floor)  # lot B now owes €145.00 to new buyers
    assert _accept(buyer, request_id).status_code == 302
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert sorted(r.kg for r in services.active_reservations(order)) == [Decimal(300), Decimal(300)]
        reference = order.reference
    response = _adjust(staff, world, reference, "200", "400")
    assert response.status_code == 302, text(response)[:400]
    answer = buyer.post(f"/orders/{reference}/change", data={
        "csrf_token": csrf_token(buyer, f"/orders/{reference}"), "answer": "accept"})
    assert answer.status_code == 302
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert sorted(r.kg for r in services.active_reservations(order)) == [Decimal(200), Decimal(400)]
        assert services.mark_deposit_paid(db.session.scalar(select(Order)))
        db.session.commit()
    response = staff.post(f"/union/orders/{reference}/confirm",
                          data={"csrf_token": csrf_token(staff, f"/union/orders/{reference}")})
    assert response.status_code == 302, text(response)[:400]
    with app.app_context():
        assert db.session.scalar(select(Allocation)).status is AllocationStatus.confirmed


def test_staff_quote_under_the_floor_is_refused_naming_the_floor(app: Flask, world: dict) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_lots(buyer, {world["b"].code: "300"}).status_code == 302
    request_id = _last_request(app)
    before = _counts(app)
    response = _answer(staff, request_id, price="10.00")
    _refused(app, before, response, "€10.00 per kg is below the fair-price floor of €98.00 per kg",
             world["b"].code, "Nothing was sent")
    assert _answer(staff, request_id, price="98.00").status_code == 302
    with app.app_context():
        assert db.session.get(QuoteRequest, request_id).status is QuoteStatus.quoted


# Rule 3: minimum order and available kg -------------------------------------------------------------

def take_stock(lot: Lot) -> None:
    """Another order took all but 30 kg, below the lot's 50 kg minimum order."""
    lot.reserved_kg += lot.available_kg - Decimal(30)
    lot.available_kg = Decimal(30)


def raise_minimum(lot: Lot) -> None:
    lot.min_order_kg = Decimal(450)


@pytest.mark.parametrize(("entry", "breaker"), [
    (quote_request, take_stock), (staff_answer, take_stock), (acceptance, take_stock), (allocation, take_stock),
    (allocation, raise_minimum), (adjustment, raise_minimum), (confirmation, raise_minimum),
], ids=lambda v: v.__name__)
def test_minimum_order_and_stock_at_every_entry_point(app: Flask, world: dict, entry: Callable,
                                                      breaker: Breaker) -> None:
    entry(app, world, breaker, ())


def test_an_allocation_never_takes_less_than_a_lots_minimum_order(app: Flask, world: dict) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    before = _counts(app)
    _refused(app, before, _adjust(staff, world, reference, "580", "20"), "minimum order")


# Rule 4: the specification ------------------------------------------------------------------------

def make_greasy(lot: Lot) -> None:
    lot.state = FibreState.greasy
    lot.price_basis = PriceBasis.greasy
    lot.dehairing_yield_pct = Decimal(50)


def spec_request(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    """A specification that leaves the state open is refused while the lots it matches mix states."""
    buyer = _client(app, "buyer@example.com")
    _break(app, world, breaker)
    before = _counts(app)
    _refused(app, before, _request_spec(app, buyer), "different fibre states")
    assert _request_spec(app, buyer, fibre_state="dehaired", price_basis="clean").status_code == 302


def spec_answer(app: Flask, world: dict, breaker: Breaker, words: tuple[str, ...]) -> None:
    """A request pinned to dehaired fibre: lot B turned greasy no longer counts as stock for the answer."""
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_spec(app, buyer, kg="1500").status_code == 302
    request_id = _last_request(app)
    _break(app, world, breaker)
    before = _counts(app)
    _refused(app, before, _answer(staff, request_id), "Only 1000 kg")


@pytest.mark.parametrize("entry", [spec_request, spec_answer, acceptance, allocation, adjustment],
                         ids=lambda f: f.__name__)
def test_specification_at_every_entry_point(app: Flask, world: dict, entry: Callable) -> None:
    entry(app, world, make_greasy, ())


def test_a_specification_matches_on_every_field(app: Flask, world: dict) -> None:
    buyer = _client(app, "buyer@example.com")
    for field, value in (("fibre_state", "greasy"), ("price_basis", "greasy"), ("season", "2025"),
                         ("tier", "Advanced"), ("max_micron", "14.0"), ("colour", "brown"),
                         ("min_length_mm", "60"), ("max_hair_pct", "0.1")):
        before = _counts(app)
        _refused(app, before, _request_spec(app, buyer, **{field: value}), "No lot on sale meets this specification")
    assert _request_spec(app, buyer, fibre_state="dehaired", price_basis="clean", season="2026",
                         tier="Entry").status_code == 302
    with app.app_context():
        request = db.session.scalar(select(QuoteRequest))
        assert (request.fibre_state, request.price_basis, request.season, request.tier) == (
            FibreState.dehaired, PriceBasis.clean, 2026, "Entry")


def test_accepting_a_declined_or_accepted_quote_is_refused(app: Flask, world: dict) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_lots(buyer, {world["a"].code: "300"}).status_code == 302
    declined = _last_request(app)
    assert staff.post(f"/union/quotes/{declined}/decline", data={
        "csrf_token": csrf_token(staff, f"/union/quotes/{declined}"), "reason": "No stock"}).status_code == 302
    before = _counts(app)
    _refused(app, before, _accept(buyer, declined), "declined")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Reservation)) == 0
        assert ReservationStatus  # the enum is importable for the counts above


def test_a_quote_the_buyer_declined_is_refused_in_the_buyers_words(app: Flask, world: dict) -> None:
    """Planted: without the buyer's own branch the buyer read "The Union declined this request"."""
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_lots(buyer, {world["a"].code: "300"}).status_code == 302
    declined = _last_request(app)
    assert _answer(staff, declined).status_code == 302
    assert buyer.post(f"/quotes/{declined}/decline", data={
        "csrf_token": csrf_token(buyer, "/quotes"), "reason": "Too dear"}).status_code in (302, 303)
    before = _counts(app)
    _refused(app, before, _accept(buyer, declined), "You declined this quote")
    assert "The Union declined" not in text(_accept(buyer, declined))


def test_api_hits_carry_status_and_passport_and_the_lot_page_links_to_it(demo_client: FlaskClient) -> None:
    from marketplace.passports.models import Passport

    hits = demo_client.get("/api/v1/lots?q=USCC-2026-UVO-033&include_invalid=1").get_json()["hits"]
    suspended = next(h for h in hits if h["code"] == "USCC-2026-UVO-033")
    assert suspended["certificate_status"] == "suspended"
    assert "certificate_active" not in suspended  # the index's own fields stay inside
    assert not any(h["code"] == "USCC-2026-UVO-033"
                   for h in demo_client.get("/api/v1/lots?q=USCC-2026-UVO-033").get_json()["hits"])
    valid = demo_client.get("/api/v1/lots?q=USCC-2025-BKH-001").get_json()["hits"][0]
    assert valid["certificate_status"] == "valid"
    with demo_client.application.app_context():
        lot_id = db.session.scalar(select(Lot.id).where(Lot.code == "USCC-2025-BKH-001"))
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.lot_id == lot_id))
    assert valid["passport_url"].endswith(f"/passports/{public_id}")
    assert f'href="/passports/{public_id}"' in text(demo_client.get("/lots/USCC-2025-BKH-001"))
    assert demo_client.get(f"/passports/{public_id}").status_code == 200
    bad = demo_client.get("/api/v1/lots?include_invalid=maybe")
    assert bad.status_code == 400
    assert "include_invalid" in bad.get_json()["fields"]


def test_a_certifiers_suspension_reaches_the_lot_browser_at_once(demo_client: FlaskClient) -> None:
    """The certifier's own page suspends and reinstates; the search outbox carries it to the index."""
    code = "USCC-2025-BKH-001"

    def codes(query: str = "") -> set[str]:
        return {h["code"] for h in demo_client.get(f"/api/v1/lots?q={code}{query}").get_json()["hits"]}

    assert code in codes()
    certifier = demo_client.application.test_client()
    assert sign_in(certifier, "certifier@demo.example", "demo-certifier-2026").status_code == 302
    path = "/certificates/SC-2025-BKH-001/manage"
    for status, visible in (("suspended", False), ("active", True)):
        response = certifier.post(path, data={"csrf_token": csrf_token(certifier, path), "status": status,
                                              "reason": "External control follow-up visit"})
        assert response.status_code in (302, 303), text(response)[:300]
        assert (code in codes()) is visible
        hit = next(h for h in demo_client.get(f"/api/v1/lots?q={code}&include_invalid=1").get_json()["hits"]
                   if h["code"] == code)
        assert hit["certificate_status"] == ("valid" if visible else "suspended")


def test_an_older_request_without_state_or_basis_is_answered_and_accepted_in_one_kind(app: Flask,
                                                                                       world: dict) -> None:
    """Requests made before migration 0013 have no fibre state or price basis (NULL). While their lots mix
    states, the staff answer pins the request to one kind and the order holds only that kind."""
    from sqlalchemy import update

    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    assert _request_spec(app, buyer).status_code == 302
    request_id = _last_request(app)
    with app.app_context():
        db.session.execute(update(QuoteRequest).where(QuoteRequest.id == request_id)
                           .values(fibre_state=None, price_basis=None))
        db.session.commit()
    _break(app, world, make_greasy)  # lot A dehaired, lot B greasy: the request alone matches both
    response = _answer(staff, request_id)
    assert response.status_code == 302, text(response)[:400]
    assert _accept(buyer, request_id).status_code == 302
    with app.app_context():
        request = db.session.get(QuoteRequest, request_id)
        assert request.fibre_state is not None
        assert request.price_basis is not None
        order = db.session.scalar(select(Order))
        assert {line.lot.state for line in order.lines} == {request.fibre_state}
        assert {line.lot.price_basis for line in order.lines} == {request.price_basis}
        assert sum(line.kg for line in order.lines) == Decimal(600)


def test_a_certificate_refusal_is_a_whole_translated_sentence(app: Flask, world: dict) -> None:
    """German keeps its nouns' capitals: the refusal is one translated sentence per standing, never a
    translated status label lower-cased into an English frame."""
    from flask_babel import force_locale

    from marketplace.i18n import label
    from marketplace.orders import rules

    _break(app, world, suspend)
    with app.test_request_context("/"), force_locale("de"):
        lot = db.session.get(Lot, world["b"].id)
        message = str(rules.certificate_problem(lot, dt.date.today()))  # noqa: DTZ011
        assert message.startswith(f"Das Zertifikat des Loses {lot.code}")
        assert "ist am" in message
        assert "ausgesetzt" in message
        assert label("suspended") not in message  # no label ("Ausgesetzt") set into a sentence


def test_a_staff_change_waits_for_the_buyer_and_a_rejection_changes_nothing(app: Flask, world: dict) -> None:
    buyer, staff = _client(app, "buyer@example.com"), _client(app, "staff@example.com")
    reference = _order_on_both(app, world, buyer, staff)
    assert _adjust(staff, world, reference, "200", "400").status_code == 302
    before = _counts(app)
    second = _adjust(staff, world, reference, "250", "350")
    assert second.status_code == 409
    assert "already waits for the buyer" in text(second)
    path = f"/orders/{reference}"
    assert buyer.post(f"{path}/change", data={"csrf_token": csrf_token(buyer, path),
                                              "answer": "reject"}).status_code == 302
    assert _counts(app) == before  # nothing moved
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert sorted(r.kg for r in services.active_reservations(order)) == [Decimal(300), Decimal(300)]
        assert [a.action for a in order.allocation.audit] == ["proposed", "change_proposed", "change_rejected"]
    refused = buyer.post(f"{path}/change", data={"csrf_token": csrf_token(buyer, path), "answer": "accept"})
    assert refused.status_code == 303  # nothing waits any more
    assert "No change waits for your answer" in text(buyer.get(path))
