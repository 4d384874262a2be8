from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _

from marketplace.access import public
from marketplace.db import today
from marketplace.lots import services
from marketplace.lots.forms import LotFilterForm
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
        labels=services.facet_labels(), oob=_wants_fragment(),
    ), status, headers


@bp.route("/lots/export.csv")
@public
def export():  # type: ignore[no-untyped-def]
    form, wanted, status = _read_search()
    if status != 200:
        abort(400, description=_("Some filters are not valid: %(errors)s",
                                 errors="; ".join(f"{form[k].label.text}: {' '.join(map(str, v))}"
                                                  for k, v in form.errors.items())))
    try:
        hits = services.export_rows(wanted)
    except SearchUnavailable:
        abort(503)
    return Response(
        services.to_csv(hits), mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="lots.csv"'},
    )


@bp.route("/lots/compare")
@public
def compare():  # type: ignore[no-untyped-def]
    codes = [c for c in request.args.getlist("code") if c][: services.MAX_COMPARE + 1]
    if len(codes) > services.MAX_COMPARE:
        message = _("You can compare up to %(n)d lots at a time. Please choose fewer.", n=services.MAX_COMPARE)
        return render_template("lots/compare.html", lots=[], message=message), 400
    lots = services.listed_by_codes(c for c in codes if len(c) <= 40)
    message = "" if lots else _("Choose lots to compare from the list: tick up to %(n)d of them.",
                                n=services.MAX_COMPARE)
    return render_template("lots/compare.html", lots=lots, message=message, today=today())


@bp.route("/lots/<code>")
@public
def detail(code: str):  # type: ignore[no-untyped-def]
    if len(code) > 40:
        abort(404)
    lot = services.get_listed(code)
    if lot is None:
        abort(404, description=_("There is no listed lot with the id %(code)s.", code=code))
    return render_template("lots/detail.html", lot=lot, today=today())
