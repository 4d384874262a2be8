"""The public history of the Union's fair-price policy."""

from __future__ import annotations

from flask import Blueprint, render_template

from marketplace.access import public
from marketplace.lots.models import Colour
from marketplace.pricing import services
from marketplace.pricing.models import MicronBand

bp = Blueprint("pricing", __name__)


@bp.route("/fair-price")
@public
def history():  # type: ignore[no-untyped-def]
    return render_template("pricing/history.html", policies=services.history(), bands=list(MicronBand),
                           colours=list(Colour))
