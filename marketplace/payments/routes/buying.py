"""The Stripe webhook, the consumer cart, checkout and the payment page (cart → PaymentIntent)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from marketplace.access import public
from marketplace.accounts.models import Role
from marketplace.extensions import csrf, db
from marketplace.forms_common import BoundedIntegerField
from marketplace.i18n import country_choices
from marketplace.orders.forms import FORM_ID
from marketplace.orders.services import OrderError
from marketplace.payments import services
from marketplace.payments.gateway import InvalidEventError, PaymentGateway, PaymentsUnavailableError, gateway
from marketplace.payments.models import ConsumerOrder, Payment
from marketplace.payments.routes.common import CART, LAST_ORDER, bp
from marketplace.security import stripe_js
from marketplace.urls import absolute_url


class AddToCartForm(FlaskForm):
    product_id = BoundedIntegerField(validators=[InputRequired()])
    variant_id = BoundedIntegerField(_l("Size"), validators=[Optional()])
    quantity = BoundedIntegerField(_l("Quantity"), default=1,
                                   validators=[InputRequired(), NumberRange(min=1, max=services.MAX_CART_QUANTITY)])


class CartLineForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=30)])
    quantity = BoundedIntegerField(_l("Quantity"), validators=[Optional(),
                                                               NumberRange(min=1, max=services.MAX_CART_QUANTITY)])


class CheckoutForm(FlaskForm):
    form_id = HiddenField(**FORM_ID)
    email = EmailField(_l("E-mail for the receipt"), validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    street = StringField(_l("Street and number"), validators=[Length(max=300)])
    city = StringField(_l("Town or city"), validators=[Length(max=120)])
    postcode = StringField(_l("Postcode"), validators=[Length(max=20)])
    area = StringField(_l("State, province or region (where the country has them)"), validators=[Length(max=120)])
    country = SelectField(_l("Country"), choices=country_choices, validators=[DataRequired()])

    def address(self) -> services.Address:
        return services.Address(self.name.data or "", self.street.data or "", self.city.data or "",
                                self.postcode.data or "", self.area.data or "", self.country.data or "")


class PayForm(FlaskForm):
    pass


@bp.route("/payments/stripe/webhook", methods=["POST"])
@public
@csrf.exempt
def stripe_webhook():  # type: ignore[no-untyped-def]
    """Stripe's signed events. Unsigned, forged or stale ones get 400 and change nothing."""
    try:
        event = gateway().verify_event(request.get_data(), request.headers.get("Stripe-Signature"))
    except InvalidEventError as error:
        return jsonify(error=str(error)), 400
    outcome = services.handle_event(event)
    return jsonify(received=event.id, outcome=outcome), 200


def _cart() -> dict[str, int]:
    raw = session.get(CART) or {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): int(v) for k, v in raw.items()
            if str(k).replace(":", "", 1).isdigit() and isinstance(v, int) and not isinstance(v, bool)}


def _cart_page(form: CheckoutForm, status: int = 200, **extra: Any):  # type: ignore[no-untyped-def]
    lines = services.cart_lines(_cart())
    return render_template("payments/cart.html", lines=lines, form=form, available=gateway().available,
                           line_form=CartLineForm(), **extra), status


@bp.route("/cart")
@public
def cart():  # type: ignore[no-untyped-def]
    return _cart_page(CheckoutForm())


@bp.route("/cart/update", methods=["POST"])
@public
def update_cart():  # type: ignore[no-untyped-def]
    """Change a line's quantity, or remove it (the "Remove" button)."""
    form = CartLineForm()
    if not form.validate_on_submit():
        flash(_("Choose between 1 and %(max)d items.", max=services.MAX_CART_QUANTITY), "error")
        return redirect(url_for("payments.cart")), 303
    try:
        if "remove" in request.form:
            session[CART] = services.remove_from_cart(_cart(), form.key.data or "")
            flash(_("Removed from your cart."), "success")
        else:
            if form.quantity.data is None:
                flash(_("Choose between 1 and %(max)d items.", max=services.MAX_CART_QUANTITY), "error")
                return redirect(url_for("payments.cart")), 303
            session[CART] = services.update_cart(_cart(), form.key.data or "", form.quantity.data)
            flash(_("Your cart is updated."), "success")
    except OrderError as error:
        flash(str(error.message), "error")
        return redirect(url_for("payments.cart")), 303
    return redirect(url_for("payments.cart")), 303


@bp.route("/cart/add", methods=["POST"])
@public
def add_to_cart():  # type: ignore[no-untyped-def]
    form = AddToCartForm()
    if not form.validate_on_submit():
        flash(_("Choose between 1 and %(max)d items.", max=services.MAX_CART_QUANTITY), "error")
        return redirect(url_for("payments.cart")), 303
    try:
        session[CART] = services.add_to_cart(_cart(), form.product_id.data, form.quantity.data,
                                             form.variant_id.data)
    except OrderError as error:
        if error.status == 404:
            abort(404, description=str(error.message))
        flash(str(error.message), "error")
        back = url_for("products.detail", product_id=form.product_id.data) \
            if services.for_sale([form.product_id.data]) else url_for("payments.cart")
        return redirect(back), 303
    flash(_("Added to your cart."), "success")
    return redirect(url_for("payments.cart"))


@bp.route("/cart/checkout", methods=["POST"])
@public
def checkout():  # type: ignore[no-untyped-def]
    form = CheckoutForm()
    if not form.validate_on_submit():
        return _cart_page(form, 422)
    data = services.Checkout(email=form.email.data or "", address=form.address(), form_id=form.form_id.data or "",
                             locale=str(get_locale()),  # the receipt is written in the language bought in
                             countries={code for code, _name in country_choices()})
    try:
        gateway().register_local_webhook(absolute_url("payments.stripe_webhook"))
        order = services.checkout(_cart(), data, gateway=gateway())
    except PaymentsUnavailableError:
        db.session.rollback()
        return _cart_page(form, 503, unavailable=True)
    except services.AddressError as error:
        db.session.rollback()
        for name, message in error.errors.items():
            form[name].errors = [*form[name].errors, message]
        return _cart_page(form, 422)
    except OrderError as error:
        db.session.rollback()
        return _cart_page(form, error.status, error=str(error.message))
    session[LAST_ORDER] = order.reference
    session.pop(CART, None)
    return redirect(url_for("payments.purchase"))


def _last_order() -> ConsumerOrder | None:
    reference = session.get(LAST_ORDER)
    if not isinstance(reference, str):
        return None
    return db.session.scalar(select(ConsumerOrder).where(ConsumerOrder.reference == reference))


def card_entry(payment: Payment | None, gateway_: PaymentGateway) -> dict[str, Any]:
    """What a pay page needs for Stripe's Payment Element (empty when the card is not typed in the browser)."""
    if payment is None or not gateway_.card_element:
        return {}
    cache = session.get(services.SECRETS_KEY)
    cache = dict(cache) if isinstance(cache, dict) else {}
    secret = services.intent_client_secret(payment, gateway_, cache)
    session[services.SECRETS_KEY] = cache
    return {"client_secret": secret, "publishable_key": gateway_.publishable_key,
            "return_url": absolute_url("payments.payment_return")}


def _may_see(payment: Payment) -> bool:
    if payment.order is not None:
        return current_user.is_authenticated and (
            payment.order.buyer_id in current_user.organisation_ids(Role.brand_buyer)
            or current_user.has_role(Role.union_staff, Role.admin))
    order = _last_order()
    return order is not None and payment.consumer_order_id == order.id


@bp.route("/payments/return")
@public
def payment_return():  # type: ignore[no-untyped-def]
    """Where Stripe.js sends the buyer after confirming: says what the PaymentIntent's status is.

    Only the webhook changes an order; this page only reads the intent. Unknown intents, and
    intents of someone else's order, are a plain 404.
    """
    intent_id = request.args.get("payment_intent", "")
    payment = services.payment_by_intent(intent_id)
    if payment is None or not _may_see(payment):
        abort(404, description=_("We know of no such payment."))
    try:
        status = services.return_status(gateway().retrieve_intent(intent_id).status)
    except PaymentsUnavailableError:
        status = "unknown"
    if payment.order is not None:
        back = url_for("orders.detail", reference=payment.order.reference)
        retry = url_for("orders.pay_balance" if payment.kind.value == "balance" else "orders.pay_deposit",
                        reference=payment.order.reference)
    else:
        back = retry = url_for("payments.purchase")
    return render_template("payments/return.html", payment=payment, status=status, back=back, retry=retry)


@bp.route("/cart/payment", methods=["GET", "POST"])
@stripe_js
@public
def purchase():  # type: ignore[no-untyped-def]
    order = _last_order()
    form = PayForm()
    if order is None:
        return render_template("payments/purchase.html", order=None, form=form, gateway=gateway())
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            gateway().pay_with_test_card(order.payments[0].provider_ref or "")
        except PaymentsUnavailableError as error:
            flash(_("The payment did not go through: %(reason)s", reason=str(error)), "error")
            return redirect(url_for("payments.purchase")), 303
        flash(_("Payment sent. This page shows \u201cpaid\u201d as soon as Stripe confirms it."), "success")
        return redirect(url_for("payments.purchase"))
    return render_template("payments/purchase.html", order=order, form=form, gateway=gateway(),
                           **card_entry(order.payments[0] if order.payments else None, gateway()))
