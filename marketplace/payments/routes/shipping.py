"""The MSME's shipping zones and rates."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.access import own_organisation, roles
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField, MoneyPlaces
from marketplace.i18n import country_choices
from marketplace.money import to_minor
from marketplace.orders.services import OrderError
from marketplace.payments import services
from marketplace.payments.routes.common import bp


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
