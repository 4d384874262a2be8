"""An order closes: reviewed acceptance, deposit, shipping, final invoice, balance paid (card through
localstripe, or bank transfer), delivered with its kg; invoices and documents as PDF; bad inputs refused.

The order of the ``accepted`` fixture (tests/payments/test_payments.py): 100 kg at €125.00 + €8.00 premium per kg,
€13,300.00 in all, 30 % deposit €3,990.00, balance €9,310.00.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order, OrderStage, QuoteRequest, QuoteStatus
from marketplace.payments import services as payments
from marketplace.payments.models import Invoice, InvoiceKind, Payment, PaymentKind
from tests import factories
from tests.helpers import csrf_token, sign_in, text
from tests.payments.test_payments import _buyer, _event, _post, _start_deposit, accepted  # noqa: F401 (fixture)

TOTAL, DEPOSIT, BALANCE = 1_330_000, 399_000, 931_000


def _staff(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, "staff@example.com").status_code == 302
    return client


def _pdf_text(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/pdf"
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)


def _deposit_paid_and_allocated(app: Flask, accepted: dict) -> tuple[FlaskClient, FlaskClient, str]:  # noqa: F811
    buyer = _buyer(app)
    reference = accepted["reference"]
    payment = _start_deposit(app, buyer, reference)
    assert _post(buyer, _event("evt_dep", "payment_intent.succeeded", {
        "id": payment.provider_ref, "amount": DEPOSIT, "currency": "eur"})).json["outcome"] == "applied:succeeded"
    staff = _staff(app)
    token = csrf_token(staff, f"/union/orders/{reference}")
    assert staff.post(f"/union/orders/{reference}/confirm", data={"csrf_token": token}).status_code == 302
    return buyer, staff, reference


def _counts(app: Flask) -> tuple[int, int, list]:
    with app.app_context():
        return (db.session.scalar(select(func.count(Invoice.id))), db.session.scalar(select(func.count(Payment.id))),
                sorted((o.stage.value, o.carrier) for o in db.session.scalars(select(Order))))


def test_an_order_closes_delivered_with_its_kg_and_the_balance_paid_by_card(app: Flask, accepted: dict) -> None:  # noqa: F811
    buyer, staff, reference = _deposit_paid_and_allocated(app, accepted)
    token = csrf_token(staff, f"/union/orders/{reference}")
    page = text(buyer.get(f"/orders/{reference}"))
    assert "€3,990.00" in page  # paid
    assert "€9,310.00" in page  # outstanding
    assert "INV-" in page  # the deposit invoice
    # Collected, dehaired and tested; the shipping details; the final invoice; shipped.
    for _ in range(2):
        assert staff.post(f"/union/orders/{reference}/advance", data={"csrf_token": token}).status_code == 302
    assert staff.post(f"/union/orders/{reference}/shipping", data={
        "csrf_token": token, "carrier": "DHL Express", "tracking_number": "AWB 176-12345675",
        "shipped_on": "2026-11-20", "expected_on": "2026-11-24"}).status_code == 302
    assert staff.post(f"/union/orders/{reference}/invoice", data={"csrf_token": token}).status_code == 302
    assert staff.post(f"/union/orders/{reference}/advance", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        order = db.session.scalar(select(Order))
        final = payments.final_invoice(order)
        assert final is not None
        assert final.amount_minor == BALANCE
        deposit_invoice = next(i for i in payments.invoices(order) if i.kind is InvoiceKind.deposit)
        year = final.year
        assert (deposit_invoice.number, final.number) == (f"INV-{year}-0001", f"INV-{year}-0002")
        assert orders.order_kg(order) == Decimal(100)  # the reservations are released: the lines keep the kg

    # The buyer pays the balance with the test card; only the verified webhook records it.
    page = text(buyer.get(f"/orders/{reference}"))
    assert "The balance of €9,310.00 is due" in page
    assert "AWB 176-12345675" in page
    assert "Ulaanbaatar" in page  # dates name their time zone
    pay = buyer.post(f"/orders/{reference}/balance", data={"csrf_token": csrf_token(buyer, f"/orders/{reference}")})
    assert pay.status_code == 302
    assert pay.headers["Location"].endswith(f"/orders/{reference}/balance/pay")
    assert "€9,310.00" in text(buyer.get(f"/orders/{reference}/balance/pay"))
    with app.app_context():
        balance = db.session.scalar(select(Payment).where(Payment.kind == PaymentKind.balance))
        assert (balance.amount_minor, balance.currency) == (BALANCE, "EUR")
    assert buyer.post(f"/orders/{reference}/balance/pay", data={
        "csrf_token": csrf_token(buyer, f"/orders/{reference}/balance/pay")}).status_code == 302
    wrong = _post(buyer, _event("evt_bal_usd", "payment_intent.succeeded", {
        "id": balance.provider_ref, "amount": BALANCE, "currency": "usd"}))
    assert wrong.json["outcome"] == "currency_mismatch"
    assert _post(buyer, _event("evt_bal", "payment_intent.succeeded", {
        "id": balance.provider_ref, "amount": BALANCE, "currency": "eur"})).json["outcome"] == "applied:succeeded"
    assert staff.post(f"/union/orders/{reference}/advance", data={"csrf_token": token}).status_code == 302

    with app.app_context():
        order = db.session.scalar(select(Order))
        assert order.stage is OrderStage.delivered
        assert (payments.paid_minor(order), payments.outstanding_minor(order)) == (TOTAL, 0)
        assert orders.order_kg(order) == Decimal(100)
        numbers = [i.number for i in payments.invoices(order)]
    page = text(buyer.get(f"/orders/{reference}"))
    assert "Stage: <strong>Delivered</strong> · 100\u00a0kg" in page
    assert "Nothing: paid in full" in page
    # Documents: the invoices and the packing list, for the buyer and for staff.
    invoice_pdf = _pdf_text(buyer.get(f"/orders/{reference}/invoices/{numbers[1]}.pdf"))
    assert numbers[1] in invoice_pdf
    assert "9,310.00" in invoice_pdf
    packing = _pdf_text(staff.get(f"/orders/{reference}/packing-list.pdf"))
    assert "AWB 176-12345675" in packing
    with app.app_context():
        code = db.session.scalar(select(Order)).lines[0].lot.code
    assert code in packing
    listing = text(staff.get("/union/orders?stage=delivered"))
    assert reference in listing
    assert reference not in text(staff.get("/union/orders?stage=shipped"))
    assert reference in text(staff.get("/union/orders?q=maison"))
    assert staff.get("/union/orders?stage=nonsense").status_code == 400


def test_the_balance_by_bank_transfer_and_its_bad_inputs(app: Flask, accepted: dict) -> None:  # noqa: F811
    buyer, staff, reference = _deposit_paid_and_allocated(app, accepted)
    path = f"/union/orders/{reference}"
    token = csrf_token(staff, path)
    transfer = {"csrf_token": token, "amount": "9310.00", "reference": "SEPA-2026-118", "received_on": "2026-11-25"}
    before = _counts(app)
    early = staff.post(f"{path}/bank-transfer", data=transfer)
    assert early.status_code == 409  # no final invoice yet
    assert "final invoice" in text(early)
    assert _counts(app) == before
    assert staff.post(f"{path}/invoice", data={"csrf_token": token}).status_code == 302
    before = _counts(app)
    for bad, status, words in (
        ({"amount": "9310.01"}, 422, "more than the €9,310.00 outstanding"),
        ({"amount": "-5"}, 422, ""),
        ({"amount": "10.001"}, 422, "decimal"),
        ({"reference": ""}, 422, ""),
        ({"received_on": (dt.date.today() + dt.timedelta(days=3)).isoformat()}, 422, "future"),  # noqa: DTZ011
    ):
        response = staff.post(f"{path}/bank-transfer", data={**transfer, **bad})
        assert response.status_code == status, (bad, response.status_code)
        assert words in text(response)
        assert _counts(app) == before
    assert staff.post(f"{path}/bank-transfer", data={**transfer, "amount": "9000.00"}).status_code == 302
    twice = staff.post(f"{path}/bank-transfer", data={**transfer, "amount": "310.00"})
    assert twice.status_code == 422
    assert "already recorded" in text(twice)
    assert staff.post(f"{path}/bank-transfer", data={**transfer, "amount": "310.00",
                                                     "reference": "SEPA-2026-119"}).status_code == 302
    with app.app_context():  # the buyer is told of the final invoice and of each transfer received
        from marketplace.notifications.models import Notification

        kinds = list(db.session.scalars(select(Notification.kind).order_by(Notification.id)))
        assert kinds.count("balance_received") == 2
        assert "invoice_issued" in kinds
    with app.app_context():
        order = db.session.scalar(select(Order))
        assert (payments.paid_minor(order), payments.outstanding_minor(order)) == (TOTAL, 0)
        rows, totals = payments.sales()
        assert [(t.orders, t.kg, t.revenue_minor, t.deposits_minor, t.balances_minor, t.outstanding_minor)
                for t in totals] == [(1, Decimal(100), TOTAL, DEPOSIT, BALANCE, 0)]
        assert [(r.kg, r.revenue_minor) for r in rows] == [(Decimal(100), TOTAL)]
    assert "paid in full" in text(buyer.get(f"/orders/{reference}"))
    sales = text(staff.get("/union/sales"))
    assert "€13,300.00" in sales
    assert "€9,310.00" in sales
    refused = staff.post(f"{path}/bank-transfer", data={**transfer, "amount": "1.00", "reference": "X"})
    assert refused.status_code == 409
    assert "paid in full" in text(refused)


def test_a_cancelled_order_is_never_invoiced(app: Flask, accepted: dict) -> None:  # noqa: F811
    staff = _staff(app)
    with app.app_context():
        order = db.session.scalar(select(Order))
        orders.release_expired(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=5))
        db.session.commit()
        assert db.session.get(Order, order.id).stage is OrderStage.cancelled
    before = _counts(app)
    path = f"/union/orders/{accepted['reference']}"
    response = staff.post(f"{path}/invoice", data={"csrf_token": csrf_token(staff, path)})
    assert response.status_code == 409
    assert "is cancelled: it cannot be invoiced" in text(response)
    assert _counts(app) == before


def test_accepting_is_a_reviewed_step(app: Flask) -> None:
    """The quote page shows every figure; accepting without ticking the confirmation changes nothing;
    a declined quote can no longer be accepted."""
    brand = factories.OrganisationFactory(name="Maison Test")
    factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
    lot = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation)
    quote = factories.QuoteFactory(request__buyer=brand, request__lot=lot, request__kg=Decimal(100))
    other = factories.QuoteFactory(request__buyer=brand, request__lot=lot, request__kg=Decimal(100))
    buyer = _buyer(app)
    page = text(buyer.get(f"/quotes/{quote.request_id}"))
    for figure in ("€125.00", "€8.00", "€13,300.00", "€3,990.00", "€9,310.00", "Ulaanbaatar", lot.code):
        assert figure in page, figure
    proforma = _pdf_text(buyer.get(f"/quotes/{quote.request_id}.pdf"))
    assert "13,300.00" in proforma
    for lang, title in (("mn", "проформа"), ("zh", "形式发票")):  # Cyrillic and Chinese set in their fonts
        assert title in _pdf_text(buyer.get(f"/quotes/{quote.request_id}.pdf?lang={lang}")).replace("\x00", ""), lang
    buyer.get(f"/quotes/{quote.request_id}?lang=en")  # the choice of language is remembered: back to English
    unticked = buyer.post(f"/quotes/{quote.request_id}/accept",
                          data={"csrf_token": csrf_token(buyer, f"/quotes/{quote.request_id}")})
    assert unticked.status_code == 422
    assert "Tick the box to confirm" in text(unticked)
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 0
    declined = buyer.post(f"/quotes/{other.request_id}/decline", data={
        "csrf_token": csrf_token(buyer, f"/quotes/{other.request_id}"), "reason": "Price too high"})
    assert declined.status_code == 302
    refused = buyer.post(f"/quotes/{other.request_id}/accept", data={
        "csrf_token": csrf_token(buyer, f"/quotes/{other.request_id}"), "confirm": "y"})
    assert refused.status_code == 409
    with app.app_context():
        assert db.session.get(QuoteRequest, other.request_id).status is QuoteStatus.declined
        assert db.session.scalar(select(func.count(Order.id))) == 0
    response = buyer.post(f"/quotes/{quote.request_id}/accept", data={
        "csrf_token": csrf_token(buyer, f"/quotes/{quote.request_id}"), "confirm": "y"})
    assert response.status_code == 302


def _two_cooperative_order(app: Flask, *, kg_per_lot: bool) -> tuple[str, list]:
    """An accepted order of 200 kg on two cooperatives' lots (100 kg chosen on each when ``kg_per_lot``, else a
    total the engine shares): its reference and the two cooperatives."""
    brand = factories.OrganisationFactory(name="Maison Test")
    buyer = factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
    union = factories.OrganisationFactory(kind="union", slug="union-test")
    factories.user_with_role(Role.union_staff, union, email="staff@example.com")
    coops = [factories.CooperativeProfileFactory().organisation for _ in range(2)]
    lots = [factories.LotFactory(cooperative=coop, min_order_kg=Decimal(10)) for coop in coops]
    request = factories.QuoteRequestFactory(buyer=brand, lot=None, kg=Decimal(200), status=QuoteStatus.quoted)
    if kg_per_lot:
        with app.app_context():
            stored = db.session.get(QuoteRequest, request.id)
            stored.items = [factories.m.QuoteRequestLot(lot_id=lot.id, kg=Decimal(100)) for lot in lots]
            db.session.commit()
    factories.QuoteFactory(request=request)
    with app.app_context():
        order = orders.accept_quote(request.id, buyer_ids={brand.id}, user=db.session.merge(buyer))
        db.session.commit()
        return order.reference, coops


def test_staff_cannot_change_the_kg_of_a_per_lot_order(app: Flask) -> None:
    """The buyer chose the kg of each lot: the staff adjustment is refused, and nothing changes."""
    reference, coops = _two_cooperative_order(app, kg_per_lot=True)
    staff = _staff(app)
    path = f"/union/orders/{reference}"
    response = staff.post(f"{path}/allocation", data={
        "csrf_token": csrf_token(staff, path), "reason": "Balance the season",
        f"share-{coops[0].id}": "150", f"share-{coops[1].id}": "50"})
    assert response.status_code == 409
    assert "The buyer chose the kg of each lot" in text(response)
    with app.app_context():
        assert sorted(line.kg for line in db.session.scalar(select(Order)).lines) == [Decimal(100), Decimal(100)]


def test_the_allocation_is_explained_to_staff(app: Flask, accepted: dict) -> None:  # noqa: F811
    staff = _staff(app)
    page = text(staff.get(f"/union/orders/{accepted['reference']}"))
    assert "Why each cooperative got its share" in page
    assert "members, declared capacity" in page
    assert "Certificate status" in page


def test_a_counter_offer_declines_the_quote_and_asks_again(app: Flask) -> None:
    """Negative, absurd or over-precise kg and prices are refused with nothing written; a good counter-offer
    declines the quote and opens a linked request that staff see with the proposed price."""
    brand = factories.OrganisationFactory(name="Maison Test")
    factories.user_with_role(Role.brand_buyer, brand, email="buyer@example.com")
    union = factories.OrganisationFactory(kind="union", slug="union-test")
    factories.user_with_role(Role.union_staff, union, email="staff@example.com")
    lot = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation)
    quote = factories.QuoteFactory(request__buyer=brand, request__lot=lot, request__kg=Decimal(100))
    buyer = _buyer(app)
    path = f"/quotes/{quote.request_id}"

    def counts() -> tuple:
        with app.app_context():
            return (db.session.scalar(select(func.count(QuoteRequest.id))),
                    db.session.get(QuoteRequest, quote.request_id).status)

    before = counts()
    for bad in ({"kg": "-5"}, {"kg": "0"}, {"kg": "1e9"}, {"kg": "100.0001"}, {"kg": "abc"},
                {"kg": "80", "price": "-1"}, {"kg": "80", "price": "120.001"}, {"kg": "80", "price": "1000000"}):
        response = buyer.post(f"{path}/counter", data={"csrf_token": csrf_token(buyer, path), "form_id": "c1",
                                                       "message": "", **bad})
        assert response.status_code == 422, (bad, response.status_code)
        assert counts() == before, bad
    response = buyer.post(f"{path}/counter", data={"csrf_token": csrf_token(buyer, path), "form_id": "c2",
                                                   "kg": "80", "price": "118.50", "message": "Smaller lot"})
    assert response.status_code == 302
    with app.app_context():
        old = db.session.get(QuoteRequest, quote.request_id)
        counter = db.session.scalar(select(QuoteRequest).where(QuoteRequest.counter_to_id == old.id))
        assert old.status is QuoteStatus.declined
        assert (counter.kg, counter.target_price_minor, counter.status) == (Decimal(80), 11850, QuoteStatus.requested)
        assert [item.lot_id for item in counter.items] == [lot.id]
        counter_id = counter.id
    again = buyer.post(f"{path}/counter", data={"csrf_token": csrf_token(buyer, path), "form_id": "c3", "kg": "70"})
    assert again.status_code == 409  # the quote is declined now
    staff = _staff(app)
    page = text(staff.get(f"/union/quotes/{counter_id}"))
    assert "the buyer proposes €118.50 per kg" in page
    assert f"On quote #{quote.request_id}" in page


def test_the_staff_order_list_pages_through_every_order_and_searches_literally(app: Flask) -> None:
    factories.user_with_role(Role.union_staff, email="staff@example.com")
    buyer = factories.OrganisationFactory(name="Filati 100% Lana")
    for n in range(orders.STAFF_ORDERS_PER_PAGE + 7):
        factories.OrderFactory(reference=f"ORD-PAGE-{n:03d}", buyer=buyer)
    staff = _staff(app)
    first = text(staff.get("/union/orders"))
    assert first.count(">ORD-PAGE-") == orders.STAFF_ORDERS_PER_PAGE
    assert "page 1 of 2" in first
    second = staff.get("/union/orders?page=2")
    assert second.status_code == 200
    assert text(second).count(">ORD-PAGE-") == 7
    assert staff.get("/union/orders?page=3").status_code == 404
    # "%" and "_" are the buyer's characters, not patterns: "0%" matches the buyer, "_" matches nothing.
    assert text(staff.get("/union/orders?q=100%25")).count(">ORD-PAGE-") == orders.STAFF_ORDERS_PER_PAGE
    assert "No order matches." in text(staff.get("/union/orders?q=_"))


def test_a_lot_of_another_fibre_state_is_excluded_for_that_not_for_its_price(demo_app: Flask) -> None:
    """The demo's first order (greasy fibre, made without a quote request) beside its cooperatives' dehaired
    and scoured lots: staff read that those are of another fibre state, not that the greasy price is below the
    dehaired floor (as a browser review found)."""
    import html

    from marketplace.lots.models import Lot
    from marketplace.orders.models import Order
    from tests.helpers import sign_in

    staff = demo_app.test_client()
    assert sign_in(staff, "staff@demo.example", "demo-staff-2026").status_code == 302
    with demo_app.app_context():
        order = db.session.scalar(select(Order).where(Order.reference == "ORD-DEMO-2025-001"))
        assert order is not None
        states = {line.lot.state for line in order.lines}
        assert len(states) == 1
        state = next(iter(states))
        others = {lot.code for lot in db.session.scalars(select(Lot).where(
            Lot.cooperative_id.in_([s.cooperative_id for s in order.allocation.shares]), Lot.state != state))}
    page = text(staff.get("/union/orders/ORD-DEMO-2025-001"))
    shown = {code: page.split(f"<tr><td>{code}</td>", 1)[1].split("</tr>", 1)[0] for code in others
             if f"<tr><td>{code}</td>" in page}
    assert shown, "the order's cooperatives have lots of another state"
    reason = "Not of this order's fibre state (Greasy (combed))."
    assert state.value == "greasy"
    assert all(reason in html.unescape(row) for row in shown.values()), shown
    assert not any("below the fair-price floor" in row for row in shown.values())


def test_a_negative_share_is_refused_with_a_message_not_a_database_error(app: Flask) -> None:
    """Staff proposing -50 kg for one cooperative and 250 kg for the other (the sum is right): refused with the
    reason, the shares unchanged. (Found by a mutation review: without the check the database's CHECK would
    have answered, with a 500.)"""
    reference, coops = _two_cooperative_order(app, kg_per_lot=False)
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.reference == reference))
        before = sorted((s.cooperative_id, s.kg) for s in order.allocation.shares)
    assert len(before) == 2
    staff = _staff(app)
    path = f"/union/orders/{reference}"
    response = staff.post(f"{path}/allocation", data={
        "csrf_token": csrf_token(staff, path), "reason": "Balance the season",
        f"share-{coops[0].id}": "-50", f"share-{coops[1].id}": "250"})
    assert response.status_code == 422
    assert "A share cannot be negative." in text(response)
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.reference == reference))
        assert sorted((s.cooperative_id, s.kg) for s in order.allocation.shares) == before


def test_the_quote_rule_itself_refuses_a_negative_premium_and_a_deposit_over_100(app: Flask) -> None:
    """The staff form bounds both, but the rule is the service's (a CLI or API caller gets no form): refused with
    the reason, no quote written. (Found by a mutation review: with these checks removed no test noticed.)"""
    from marketplace.orders.quotes import answer_quote

    staff_user = factories.user_with_role(Role.union_staff, factories.OrganisationFactory(kind="union", slug="u-t"),
                                          email="staff@example.com")
    lot = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation)
    request = factories.QuoteRequestFactory(lot=lot, kg=Decimal(100))
    valid_until = dt.date.today() + dt.timedelta(days=10)  # noqa: DTZ011
    for premium, deposit, message in ((-1, 30, "premium cannot be negative"), (800, 101, "between 0 and 100"),
                                      (800, -1, "between 0 and 100")):
        with app.test_request_context():
            stored = db.session.get(QuoteRequest, request.id)
            with pytest.raises(orders.OrderError) as refused:
                answer_quote(stored, staff=db.session.merge(staff_user), price_minor=20000, premium_minor=premium,
                             valid_until=valid_until, deposit_pct=deposit)
            assert message in str(refused.value.message)
            db.session.rollback()
            assert db.session.get(QuoteRequest, request.id).quote is None
