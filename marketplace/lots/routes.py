from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from marketplace.access import public
from marketplace.db import today
from marketplace.lots import services
from marketplace.lots.forms import LotFilterForm
from marketplace.lots.models import Colour, FibreState

bp = Blueprint("lots", __name__)


@bp.route("/lots")
@public
def index():  # type: ignore[no-untyped-def]
    form = LotFilterForm(request.args)
    form.aimag.choices = [SelectChoice(code, name) for code, name in services.aimag_choices()]
    form.season.choices = [SelectChoice(s, str(s)) for s in services.season_choices()]
    if request.args and not form.validate():
        query = services.LotQuery()
        status = 400
    else:
        query = services.LotQuery(
            colours=tuple(Colour(c) for c in form.colour.data or ()),
            states=tuple(FibreState(s) for s in form.state.data or ()),
            aimags=tuple(form.aimag.data or ()),
            seasons=tuple(form.season.data or ()),
            micron_min=form.micron_min.data,
            micron_max=form.micron_max.data,
            sort=form.sort.data or "newest",
            page=form.page.data or 1,
        )
        status = 200
    result = services.list_lots(query)
    template = "lots/_results.html" if request.headers.get("HX-Request") else "lots/index.html"
    return render_template(template, form=form, result=result), status, {"Vary": "HX-Request"}


@bp.route("/lots/<code>")
@public
def detail(code: str):  # type: ignore[no-untyped-def]
    if len(code) > 40:
        abort(404)
    lot = services.get_listed(code)
    if lot is None:
        abort(404, description=_("There is no listed lot with the id %(code)s.", code=code))
    return render_template("lots/detail.html", lot=lot, today=today())
