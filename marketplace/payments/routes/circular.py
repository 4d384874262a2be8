"""Circular services: the consumer's request (from the passport), the MSME's list and its terms."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from marketplace.access import own_organisation, public, roles
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField, MoneyPlaces
from marketplace.i18n import label
from marketplace.money import from_minor, to_minor
from marketplace.orders.services import OrderError
from marketplace.payments import services
from marketplace.payments.models import ServiceKind
from marketplace.payments.routes.common import bp, msme_ids
from marketplace.products.forms import _localised_fields, fill_localised, localised

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
    return render_template("payments/service_inbox.html", requests=services.service_requests(msme_ids()),
                           form=ServiceStepForm())


@bp.route("/workspace/services/<int:request_id>", methods=["POST"])
@roles(Role.msme_editor)
def move_service(request_id: int):  # type: ignore[no-untyped-def]
    form = ServiceStepForm()
    if not form.validate_on_submit():
        flash(_("Check the form: the date must be a date and the note at most 500 characters."), "error")
        return redirect(url_for("payments.service_inbox")), 303
    try:
        made = services.service_request_of(request_id, msme_ids())
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
