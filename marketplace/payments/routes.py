"""The Stripe webhook, and the consumer cart (cart → PaymentIntent)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DateField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from marketplace.access import own_organisation, public, roles
from marketplace.accounts.models import Role
from marketplace.csv_export import to_csv
from marketplace.extensions import csrf, db
from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField, MoneyPlaces
from marketplace.i18n import country_choices, label, money
from marketplace.money import from_minor, to_minor
from marketplace.orders.forms import FORM_ID
from marketplace.orders.services import OrderError
from marketplace.payments import services
from marketplace.payments.gateway import InvalidEventError, PaymentGateway, PaymentsUnavailableError, gateway
from marketplace.payments.models import ConsumerOrder, Payment, ServiceKind
from marketplace.products.forms import _localised_fields, fill_localised, localised
from marketplace.security import stripe_js
from marketplace.urls import absolute_url

bp = Blueprint("payments", __name__)
bp.add_app_template_global(services.duties_note, "duties_note")
bp.add_app_template_global(services.order_token, "order_token")
bp.add_app_template_global(services.refundable_minor, "refundable_minor")
bp.add_app_template_global(services.refunded_minor, "refunded_minor")
bp.add_app_template_global(services.consumer_terms, "consumer_terms")


@bp.app_template_global()
def country_name(code: str) -> str:
    return dict(country_choices()).get(code, code)
CART = "cart"
LAST_ORDER = "consumer_order"


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


class CancelForm(FlaskForm):
    pass


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


@bp.route("/shop/orders/<token>")
@public
def consumer_order(token: str):  # type: ignore[no-untyped-def]
    """The consumer's order (number, items, shipments and tracking): reached by the signed link in the receipt."""
    order = services.order_by_token(token)
    if order is None:
        abort(404, description=_("This order link is not valid. Use the link in your receipt e-mail."))
    return render_template("payments/consumer_order.html", order=order, token=token, form=CancelForm(),
                           cancellable=services.cancellable(order), note=services.duties_note(order.ship_country))


@bp.route("/shop/orders/<token>/cancel", methods=["POST"])
@public
def cancel_consumer_order(token: str):  # type: ignore[no-untyped-def]
    order = services.order_by_token(token)
    if order is None:
        abort(404, description=_("This order link is not valid. Use the link in your receipt e-mail."))
    form = CancelForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.cancel_consumer_order(order, gateway=gateway())
    except PaymentsUnavailableError as error:
        db.session.rollback()
        flash(_("The refund did not go through, so nothing was cancelled: %(reason)s", reason=str(error)), "error")
        return redirect(url_for("payments.consumer_order", token=token)), 303
    except OrderError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("payments.consumer_order", token=token)), 303
    flash(_("Your order is cancelled and the full amount is refunded to your card."), "success")
    return redirect(url_for("payments.consumer_order", token=token)), 303


# --- the MSME's order inbox ---------------------------------------------------------------------------------


class ShipmentForm(FlaskForm):
    action = HiddenField(validators=[DataRequired(), Length(max=10)])
    carrier = StringField(_l("Carrier"), validators=[Optional(), Length(max=60)])
    tracking = StringField(_l("Tracking number"), validators=[Optional(), Length(max=60)])


def _msme_ids() -> list[int]:
    return sorted(current_user.organisation_ids(Role.msme_editor))


@bp.route("/workspace/orders")
@roles(Role.msme_editor)
def inbox():  # type: ignore[no-untyped-def]
    """Paid consumer orders to pack and send, then delivered and returned."""
    return render_template("payments/inbox.html", shipments=services.inbox(_msme_ids()), form=ShipmentForm())


@bp.route("/workspace/orders.csv")
@roles(Role.msme_editor)
def inbox_csv():  # type: ignore[no-untyped-def]
    rows = services.inbox_csv_rows(services.inbox(_msme_ids()))
    return Response(to_csv(services.INBOX_CSV_HEADER, rows), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="orders.csv"'})


def _move_parcel(shipment_id: int, organisation_ids: list[int] | None, back: str):  # type: ignore[no-untyped-def]
    """One parcel's next step, from the MSME's inbox (its own parcels) or the Union's list (any parcel):
    ship, deliver, or cancel / accept a return with the refund ``services.refund_parcel`` decides."""
    form = ShipmentForm()
    if not form.validate_on_submit():
        flash(_("Check the form: the carrier and tracking number are at most 60 characters."), "error")
        return redirect(back), 303
    action = form.action.data or ""
    try:
        shipment = services.shipment_of(shipment_id, organisation_ids)
        if action == "ship":
            services.ship(shipment, carrier=form.carrier.data or "", tracking=form.tracking.data or "")
        elif action in services.PARCEL_REFUNDS:
            refund = services.refund_parcel(shipment, action, gateway=gateway())
        else:
            services.move_shipment(shipment, action)
    except PaymentsUnavailableError as error:
        db.session.rollback()
        flash(_("Stripe could not refund the parcel: %(reason)s. Nothing was changed.", reason=str(error)), "error")
        return redirect(back), 303
    except OrderError as error:
        db.session.rollback()
        if error.status == 404:
            abort(404, description=str(error.message))
        flash(str(error.message), "error")
        return redirect(back), 303
    if action in services.PARCEL_REFUNDS:
        flash(_("Parcel for order %(ref)s: %(status)s; %(amount)s refunded to the consumer's card.",
                ref=shipment.order.reference, status=label(shipment.status),
                amount=money(refund.amount_minor, refund.currency)), "success")
    else:
        flash(_("Parcel for order %(ref)s: %(status)s.", ref=shipment.order.reference, status=label(shipment.status)),
              "success")
    return redirect(back), 303


@bp.route("/workspace/orders/<int:shipment_id>", methods=["POST"])
@roles(Role.msme_editor)
def move_shipment(shipment_id: int):  # type: ignore[no-untyped-def]
    return _move_parcel(shipment_id, _msme_ids(), url_for("payments.inbox"))


@bp.route("/union/shop-orders")
@roles(Role.union_staff, Role.admin)
def union_shop_orders():  # type: ignore[no-untyped-def]
    """Union staff: every paid consumer order, parcel by parcel, with what was refunded."""
    return render_template("payments/union_shop_orders.html", shipments=services.inbox(None), form=ShipmentForm())


@bp.route("/union/shop-orders/parcels/<int:shipment_id>", methods=["POST"])
@roles(Role.union_staff, Role.admin)
def union_move_parcel(shipment_id: int):  # type: ignore[no-untyped-def]
    return _move_parcel(shipment_id, None, url_for("payments.union_shop_orders"))


# --- circular services: the consumer's request (from the passport) and the MSME's list ----------------------


class ServiceRequestForm(FlaskForm):
    kind = SelectField(_l("Service"), choices=[], validators=[DataRequired()])
    email = EmailField(_l("Your e-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    message = TextAreaField(_l("What needs doing (for a repair: where and what the damage is)"),
                            validators=[Optional(), Length(max=2000)])


class ServiceStepForm(FlaskForm):
    action = HiddenField(validators=[DataRequired(), Length(max=10)])
    on = DateField(_l("Date"), validators=[Optional()])
    outcome = TextAreaField(_l("What was done (shown on the item's passport)"),
                            validators=[Optional(), Length(max=500)])


@bp.route("/shop/services/<int:product_id>", methods=["GET", "POST"])
@public
def request_service(product_id: int):  # type: ignore[no-untyped-def]
    """Ask the maker for a repair, take-back or resale of an item (linked from its passport)."""
    product = services.for_sale([product_id]).get(product_id)
    if product is None:
        abort(404, description=_("That product is not for sale."))
    terms = services.consumer_terms(product_id)  # the one source of what the consumer is offered
    offered = [kind for kind in ServiceKind if kind.value in terms]
    form = ServiceRequestForm()
    form.kind.choices = [(kind.value, label(kind)) for kind in offered]
    name = product.product.display_name(str(get_locale()))
    if not offered:
        return render_template("payments/service_request.html", form=form, name=name, offered=offered, terms=terms), 200
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("payments/service_request.html", form=form, name=name, offered=offered,
                                   terms=terms), 422
        try:
            made = services.request_service(product_id, form.kind.data or "", email=form.email.data or "",
                                            message=form.message.data or "", locale=str(get_locale()))
        except OrderError as error:
            db.session.rollback()
            return render_template("payments/service_request.html", form=form, name=name, offered=offered,
                                   terms=terms, error=str(error.message)), error.status
        flash(_("Your request %(ref)s has reached the maker, who will write to you.", ref=made.reference), "success")
        return redirect(url_for("payments.request_service", product_id=product_id)), 303
    return render_template("payments/service_request.html", form=form, name=name, offered=offered, terms=terms)


@bp.route("/workspace/services")
@roles(Role.msme_editor)
def service_inbox():  # type: ignore[no-untyped-def]
    return render_template("payments/service_inbox.html", requests=services.service_requests(_msme_ids()),
                           form=ServiceStepForm())


@bp.route("/workspace/services/<int:request_id>", methods=["POST"])
@roles(Role.msme_editor)
def move_service(request_id: int):  # type: ignore[no-untyped-def]
    form = ServiceStepForm()
    if not form.validate_on_submit():
        flash(_("Check the form: the date must be a date and the note at most 500 characters."), "error")
        return redirect(url_for("payments.service_inbox")), 303
    try:
        made = services.service_request_of(request_id, _msme_ids())
        services.move_service(made, form.action.data or "", on=form.on.data, outcome=form.outcome.data or "")
    except OrderError as error:
        db.session.rollback()
        if error.status == 404:
            abort(404, description=str(error.message))
        flash(str(error.message), "error")
        return redirect(url_for("payments.service_inbox")), 303
    flash(_("Request %(ref)s: %(status)s.", ref=made.reference, status=label(made.status)), "success")
    return redirect(url_for("payments.service_inbox")), 303


class ServiceTermsForm(FlaskForm):
    cost_eur = FiniteDecimalField(_l("Cost to the customer in EUR (leave empty if free)"),
                                  validators=[Optional(), NumberRange(min=0, max=100_000), MoneyPlaces("EUR")])
    days = BoundedIntegerField(_l("Time it takes, in days"), default=14,
                               validators=[InputRequired(), NumberRange(min=1, max=365)])


_localised_fields(ServiceTermsForm, "what", _l("What is offered"), True, 500)
_localised_fields(ServiceTermsForm, "where", _l("Where it is done"), False, 200)


@bp.route("/workspace/services/terms/<kind>", methods=["GET", "POST"])
@roles(Role.msme_editor)
def service_terms(kind: str):  # type: ignore[no-untyped-def]
    """The MSME's terms for one service (what, where, cost, time), written in each language it can."""
    if kind not in {k.value for k in ServiceKind}:
        abort(404)
    organisation_id = own_organisation(Role.msme_editor).id  # 404 when the user has none
    offer = services.offers_for(organisation_id).get(kind)
    form = ServiceTermsForm()
    if request.method == "GET" and offer is not None:
        fill_localised(form, "what", offer.what)
        fill_localised(form, "where", offer.where)
        form.cost_eur.data = None if offer.cost_minor is None else from_minor(offer.cost_minor, offer.currency)
        form.days.data = offer.days
    if form.validate_on_submit():
        try:
            services.save_offer(organisation_id, ServiceKind(kind), what=localised(form, "what"),
                                where=localised(form, "where"),
                                cost_minor=None if form.cost_eur.data is None else to_minor(form.cost_eur.data, "EUR"),
                                days=form.days.data or 0)
        except OrderError as error:
            db.session.rollback()
            return render_template("payments/service_terms.html", form=form, kind=kind,
                                   error=str(error.message)), error.status
        flash(_("Your terms for %(service)s are saved.", service=label(kind)), "success")
        return redirect(url_for("payments.service_inbox")), 303
    status = 422 if form.errors else 200
    return render_template("payments/service_terms.html", form=form, kind=kind), status


class ZoneForm(FlaskForm):
    zone_id = BoundedIntegerField(validators=[Optional()])
    name = StringField(_l("Zone name"), validators=[DataRequired(), Length(max=80)])
    countries = StringField(_l("Countries (ISO codes, separated by commas: DE, FR, IT)"),
                            validators=[Optional(), Length(max=1000)])
    rest_of_world = BooleanField(_l("Every country none of my other zones lists"))
    rate_eur = FiniteDecimalField(_l("Shipping rate per parcel (EUR)"),
                                  validators=[InputRequired(), NumberRange(min=0, max=100_000), MoneyPlaces("EUR")])
    days_min = BoundedIntegerField(_l("Delivery from (days)"), validators=[InputRequired(), NumberRange(0, 120)])
    days_max = BoundedIntegerField(_l("Delivery until (days)"), validators=[InputRequired(), NumberRange(0, 120)])

    def codes(self) -> list[str]:
        return [c.strip().upper() for c in (self.countries.data or "").replace(";", ",").split(",") if c.strip()]


@bp.route("/workspace/shipping", methods=["GET", "POST"])
@roles(Role.msme_editor)
def shipping_zones():  # type: ignore[no-untyped-def]
    """The MSME's shipping zones and rates: a cart is shipped to a country at the rate of the zone listing it."""
    organisation_id = own_organisation(Role.msme_editor).id  # 404 when the user has none
    form = ZoneForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("payments/shipping_zones.html", zones=services.zones_of(organisation_id),
                                   form=form), 422
        try:
            services.save_zone(organisation_id, form.zone_id.data, name=form.name.data or "", countries=form.codes(),
                               rest_of_world=bool(form.rest_of_world.data),
                               rate_minor=to_minor(form.rate_eur.data, "EUR"), days_min=form.days_min.data or 0,
                               days_max=form.days_max.data or 0, known={code for code, _n in country_choices()})
        except OrderError as error:
            db.session.rollback()
            if error.status == 404:
                abort(404, description=str(error.message))
            return render_template("payments/shipping_zones.html", zones=services.zones_of(organisation_id),
                                   form=form, error=str(error.message)), error.status
        flash(_("Shipping zone saved."), "success")
        return redirect(url_for("payments.shipping_zones")), 303
    return render_template("payments/shipping_zones.html", zones=services.zones_of(organisation_id), form=form)
