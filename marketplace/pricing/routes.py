"""The public history of the Union's fair-price policy."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.access import public, roles
from marketplace.accounts.models import Role
from marketplace.db import today
from marketplace.lots.models import Colour
from marketplace.money import from_minor, to_minor
from marketplace.pricing import services
from marketplace.pricing.forms import PolicyForm, premium_field_name
from marketplace.pricing.models import MicronBand

bp = Blueprint("pricing", __name__)


@bp.route("/fair-price")
@public
def history():  # type: ignore[no-untyped-def]
    return render_template("pricing/history.html", policies=services.history(), bands=list(MicronBand),
                           colours=list(Colour))


def _policy_page(form: PolicyForm, status: int = 200, error: str = ""):  # type: ignore[no-untyped-def]
    return render_template("pricing/publish.html", form=form, error=error, bands=list(MicronBand),
                           colours=list(Colour), field_name=premium_field_name,
                           policies=services.history()), status


@bp.route("/union/fair-price", methods=["GET", "POST"])
@roles(Role.union_staff, Role.admin)
def publish():  # type: ignore[no-untyped-def]
    form = PolicyForm()
    if request.method == "GET":
        form.published_on.data = today()
        current = services.history()
        if current:  # start from the latest policy
            latest = current[0]
            form.season.data, form.currency.data = latest.season, latest.currency
            form.greasy_floor.data = from_minor(latest.greasy_floor_minor, latest.currency)
            form.dehaired_floor.data = from_minor(latest.dehaired_floor_minor, latest.currency)
            for band in MicronBand:
                for colour in Colour:
                    form[premium_field_name(band, colour)].data = from_minor(latest.premium_for(band, colour),
                                                                           latest.currency)
        return _policy_page(form)
    if not form.validate_on_submit():
        return _policy_page(form, 422)
    premiums = {(band, colour): to_minor(form[premium_field_name(band, colour)].data, form.currency.data)
                for band in MicronBand for colour in Colour}
    try:
        policy = services.publish_policy(
            season=form.season.data, currency=form.currency.data,
            greasy_floor_minor=to_minor(form.greasy_floor.data, form.currency.data),
            dehaired_floor_minor=to_minor(form.dehaired_floor.data, form.currency.data), premiums=premiums,
            published_on=form.published_on.data, note=form.note.data or "", staff=current_user,
        )
    except services.PricingError as exc:
        return _policy_page(form, 422, str(exc))
    flash(_("Fair-price policy for season %(season)s in %(currency)s published (revision %(revision)s).",
            season=policy.season, currency=policy.currency, revision=policy.revision), "success")
    return redirect(url_for("pricing.history")), 303
