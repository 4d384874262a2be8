"""Card entry: Stripe's Payment Element with real Stripe keys, and the page Stripe returns to."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order, OrderStage
from marketplace.payments import services as payments
from marketplace.payments.gateway import gateway
from marketplace.payments.models import Payment, PaymentKind
from tests import factories
from tests.conftest import make_app
from tests.helpers import ADDRESS, csrf_token, sign_in, text


def _accepted_order(app: Flask, email: str = "buyer@example.com") -> str:
    brand = factories.OrganisationFactory(name="Maison Test")
    buyer = factories.user_with_role(Role.brand_buyer, brand, email=email)
    factories.user_with_role(Role.brand_buyer, email="other@example.com")
    lot = factories.LotFactory(cooperative=factories.CooperativeProfileFactory().organisation)
    quote = factories.QuoteFactory(request__buyer=brand, request__lot=lot, request__kg=Decimal(100))
    with app.app_context():
        order = orders.accept_quote(quote.request_id, buyer_ids={brand.id}, user=db.session.merge(buyer))
        db.session.commit()
        return order.reference


def _signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def test_real_stripe_keys_render_the_payment_element(databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With Stripe itself configured (no localstripe), the buyer types the card into Stripe.js.

    The client secret comes from the buyer's session, so rendering calls no network at all.
    """
    url = databases.clone(False, tmp_path)
    app = make_app(url, tmp_path, STRIPE_SECRET_KEY="sk_test_not_localstripe", STRIPE_API_BASE=None,
                   STRIPE_WEBHOOK_SECRET="whsec_example", STRIPE_PUBLISHABLE_KEY="pk_test_example")
    with app.app_context():
        assert gateway().card_element
        engine = db.engine
    session = Session(engine, expire_on_commit=False)
    factories.use_session(session)
    try:
        reference = _accepted_order(app)
        with app.app_context():
            order = db.session.scalar(select(Order).where(Order.reference == reference))
            db.session.add(Payment(order=order, kind=PaymentKind.deposit, amount_minor=399000, currency="EUR",
                                   provider_ref="pi_real_123"))
            db.session.commit()
        client = _signed_in(app, "buyer@example.com")
        with client.session_transaction() as browser_session:
            browser_session[payments.SECRETS_KEY] = {"pi_real_123": "pi_real_123_secret_abc"}
        response = client.get(f"/orders/{reference}/pay")
        assert "https://js.stripe.com" in response.headers["Content-Security-Policy"]  # only the pay pages allow it
        page = text(response)
        assert 'id="payment-element"' in page
        assert 'data-client-secret="pi_real_123_secret_abc"' in page
        assert 'data-publishable-key="pk_test_example"' in page
        assert '<script src="https://js.stripe.com/v3/"' in page
        assert "/static/js/stripe_card.js" in page
        # Stripe sends the buyer back to the public origin, whatever Host the page was asked for with.
        assert 'data-return-url="http://127.0.0.1:5000/payments/return"' in page
        # Without JavaScript: a plain sentence and the alternative, and the card form stays hidden.
        assert "Card payment needs JavaScript" in page
        assert "bank transfer" in page
        assert '<form id="card-form" hidden' in page
        assert "test card" not in page
        # Another buyer cannot reach the page (nor the secret).
        other = _signed_in(app, "other@example.com")
        assert other.get(f"/orders/{reference}/pay").status_code == 404
    finally:
        factories.use_session(None)
        session.close()
        engine.dispose()
        databases.drop(url)


def test_localstripe_keeps_the_test_card_and_loads_no_stripe_js(app: Flask) -> None:
    reference = _accepted_order(app)
    client = _signed_in(app, "buyer@example.com")
    token = csrf_token(client, f"/orders/{reference}")
    assert client.post(f"/orders/{reference}/deposit", data={"csrf_token": token}).status_code == 302
    page = text(client.get(f"/orders/{reference}/pay"))
    assert "test card" in page
    assert "js.stripe.com" not in page
    assert "payment-element" not in page


def test_the_return_page_reads_the_intent_through_localstripe(app: Flask) -> None:
    reference = _accepted_order(app)
    client = _signed_in(app, "buyer@example.com")
    token = csrf_token(client, f"/orders/{reference}")
    assert client.post(f"/orders/{reference}/deposit", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        intent_id = db.session.scalar(select(Payment.provider_ref))

    waiting = client.get(f"/payments/return?payment_intent={intent_id}")
    assert waiting.status_code == 200
    assert "did not go through" in text(waiting)  # requires_payment_method: no card yet
    assert f"/orders/{reference}/pay" in text(waiting)

    pay_token = csrf_token(client, f"/orders/{reference}/pay")
    assert client.post(f"/orders/{reference}/pay", data={"csrf_token": pay_token}).status_code == 302
    paid = text(client.get(f"/payments/return?payment_intent={intent_id}&redirect_status=succeeded"))
    assert "Stripe has accepted your payment" in paid
    with app.app_context():  # the return page changes nothing: only the verified webhook does
        order = db.session.scalar(select(Order).where(Order.reference == reference))
        assert order.stage is OrderStage.accepted  # no webhook reaches a test client: still unpaid

    assert client.get("/payments/return?payment_intent=pi_unknown").status_code == 404
    assert client.get("/payments/return").status_code == 404
    assert client.get("/payments/return?payment_intent=" + "x" * 500).status_code == 404
    other = _signed_in(app, "other@example.com")
    assert other.get(f"/payments/return?payment_intent={intent_id}").status_code == 404
    assert app.test_client().get(f"/payments/return?payment_intent={intent_id}").status_code == 404


def test_the_return_page_for_a_consumer_purchase(app: Flask) -> None:
    product = factories.product_for_sale(price_minor=29000)
    client = app.test_client()
    token = csrf_token(client)
    assert client.post("/cart/add", data={"csrf_token": token, "product_id": product.id, "quantity": 1}).status_code \
        == 302
    form_id = text(client.get("/cart")).split('name="form_id" type="hidden" value="')[1].split('"')[0]
    assert client.post("/cart/checkout", data={"csrf_token": token, "form_id": form_id,
                                                "email": "shopper@example.com", **ADDRESS}).status_code == 302
    with app.app_context():
        intent_id = db.session.scalar(select(Payment.provider_ref))
    assert "did not go through" in text(client.get(f"/payments/return?payment_intent={intent_id}"))
    assert app.test_client().get(f"/payments/return?payment_intent={intent_id}").status_code == 404


def test_intent_statuses_map_to_what_the_page_says() -> None:
    assert payments.return_status("succeeded") == "succeeded"
    assert payments.return_status("processing") == "processing"
    assert payments.return_status("requires_payment_method") == "requires_payment_method"
    assert payments.return_status("something_new") == "unknown"
