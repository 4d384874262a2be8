from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from marketplace.access import own_organisation, public, roles
from marketplace.accounts.models import Role
from marketplace.db import today
from marketplace.extensions import db
from marketplace.fx import fx_rates
from marketplace.lots import listing, services
from marketplace.lots.forms import LotFilterForm, NewLotForm, lot_input
from marketplace.orders import rules
from marketplace.organisations.models import Aimag, Organisation, OrgKind, Soum
from marketplace.passports.models import Passport
from marketplace.pricing.services import PricingError
from marketplace.search.port import SearchUnavailable

bp = Blueprint("lots", __name__)


def _read_search() -> tuple[LotFilterForm, services.LotSearch, int]:
    form = LotFilterForm(request.args)
    if request.args and not form.validate():
        return form, services.LotSearch(), 400
    return form, services.LotSearch.from_form(form.data), 200


def _wants_fragment() -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


@bp.route("/lots")
@public
def index():  # type: ignore[no-untyped-def]
    form, wanted, status = _read_search()
    try:
        results = services.find_lots(wanted)
    except SearchUnavailable:
        results, status = None, 503
    template = "lots/_results.html" if _wants_fragment() else "lots/index.html"
    options = services.facet_options(results, wanted) if results else {}
    headers = {"Vary": "HX-Request"}
    if _wants_fragment() and status == 200:  # push a tidy URL: no empty fields
        page = {"page": results.page} if results and results.page > 1 else {}
        headers["HX-Push-Url"] = url_for("lots.index", **wanted.args(), **page)
    return render_template(
        template, form=form, wanted=wanted, result=results, options=options,
        labels=services.facet_labels(), oob=_wants_fragment(), rates=fx_rates(),
        ticked=set(request.args.getlist("code")),  # back from the comparison: the lots stay ticked
    ), status, headers


@bp.route("/lots/")
@public
def lot_numbers():  # type: ignore[no-untyped-def]
    """The scheme of the Union's lot numbers, as the passports name it (``idScheme``): the lots, listed."""
    return redirect(url_for("lots.index"), 308)


def _export_hits():  # type: ignore[no-untyped-def]
    """The lots of the search on screen, for a download (400 on bad filters, 503 without search)."""
    form, wanted, status = _read_search()
    if status != 200:
        abort(400, description=_("Some filters are not valid: %(errors)s",
                                 errors="; ".join(f"{form[k].label.text}: {' '.join(map(str, v))}"
                                                  for k, v in form.errors.items())))
    try:
        return services.export_rows(wanted)
    except SearchUnavailable:
        abort(503)


@bp.route("/lots/export.csv")
@public
def export():  # type: ignore[no-untyped-def]
    return Response(
        services.to_csv(_export_hits()), mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="lots.csv"'},
    )


@bp.route("/lots/export.xlsx")
@public
def export_xlsx():  # type: ignore[no-untyped-def]
    return Response(
        services.to_xlsx(_export_hits()), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="lots.xlsx"'},
    )


@bp.route("/lots/compare")
@public
def compare():  # type: ignore[no-untyped-def]
    codes = [c for c in request.args.getlist("code") if c][: services.MAX_COMPARE + 1]
    if len(codes) > services.MAX_COMPARE:
        message = _("You can compare up to %(n)d lots at a time. Please choose fewer.", n=services.MAX_COMPARE)
        return render_template("lots/compare.html", lots=[], message=message, back=_back_to_list([])), 400
    lots = services.listed_by_codes(c for c in codes if len(c) <= 40)
    message = "" if lots else _("Choose lots to compare from the list: tick up to %(n)d of them.",
                                n=services.MAX_COMPARE)
    day = today()
    return render_template("lots/compare.html", lots=lots, message=message, today=day, back=_back_to_list(codes),
                           standing=lambda lot: rules.certificate_standing(lot, day))


def _back_to_list(codes: list[str]) -> str:
    """The lot list as the buyer left it: its filters (only the search's own fields) and the ticked lots."""
    fields = set(LotFilterForm(meta={"csrf": False})._fields) - {"page"}
    kept = [(k, v) for k, v in request.args.items(multi=True) if k in fields and len(v) <= 512]
    query = urlencode(kept + [("code", c) for c in codes if len(c) <= 40])
    return url_for("lots.index") + (f"?{query}" if query else "")


@bp.route("/lots/<code>")
@public
def detail(code: str):  # type: ignore[no-untyped-def]
    if len(code) > 40:
        abort(404)
    lot = services.get_listed(code)
    if lot is None:
        abort(404, description=_("There is no listed lot with the id %(code)s.", code=code))
    day = today()
    problem = rules.offer_problem(lot, day)
    passport = db.session.scalar(select(Passport).where(Passport.lot_id == lot.id))
    return render_template("lots/detail.html", lot=lot, today=day, passport=passport,
                           standing=rules.certificate_standing(lot, day),
                           sale_problem=str(problem) if problem is not None else None)


# Cooperative managers list their lots ------------------------------------------------------

def _own_cooperative() -> Organisation:
    return own_organisation(Role.cooperative_manager, OrgKind.cooperative)


def _new_lot_form(coop: Organisation) -> NewLotForm:
    form = NewLotForm()
    soums = select(Soum).join(Aimag).order_by(Aimag.name_en, Soum.name_en)
    if coop.aimag_id is not None:
        soums = soums.where(Soum.aimag_id == coop.aimag_id)
    form.soum_id.choices = [SelectChoice(0, _("Choose…"))] + [
        SelectChoice(s.id, f"{s.name_en}, {s.aimag.name_en}") for s in db.session.scalars(soums)]
    form.certificate_id.choices = [SelectChoice(0, _("Choose…"))] + [
        SelectChoice(c.id, f"{c.number} ({c.scheme.name}, {c.tier})") for c in listing.certificates_of(coop.id)]
    return form


def _lot_input(form: NewLotForm) -> listing.LotInput:
    return lot_input(form)


@bp.route("/cooperative/lots/new", methods=["GET", "POST"])
@roles(Role.cooperative_manager)
def new():  # type: ignore[no-untyped-def]
    coop = _own_cooperative()
    form = _new_lot_form(coop)
    if not form.is_submitted():
        form.season.data, form.deposit_pct.data, form.sample_size_g.data = today().year, Decimal(30), 100
        return render_template("lots/new.html", form=form, coop=coop)
    if not form.validate_on_submit():
        return render_template("lots/new.html", form=form, coop=coop), 422
    try:
        lot = listing.list_new_lot(coop, _lot_input(form))
    except (listing.ListingInputError, PricingError) as exc:
        errors = exc.errors if isinstance(exc, listing.ListingInputError) else {"price": str(exc)}
        for name, message in errors.items():
            form[name].errors = [*form[name].errors, message]
        return render_template("lots/new.html", form=form, coop=coop), 422
    flash(_("Lot %(code)s is listed at or above the fair-price floor; its passport is published.", code=lot.code),
          "success")
    return redirect(url_for("lots.detail", code=lot.code)), 303
