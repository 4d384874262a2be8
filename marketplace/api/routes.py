"""The JSON API: ``/api/v1/lots``, ``/api/v1/products`` and ``/api/v1/openapi.json``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, SelectMultipleField

from marketplace.access import public
from marketplace.api import lot_params
from marketplace.api.answers import json_answer
from marketplace.api.openapi import document
from marketplace.lots import services as lots
from marketplace.lots.forms import LotFilterForm
from marketplace.products import search as catalogue
from marketplace.search.port import SearchResult, SearchUnavailable
from marketplace.urls import public_base_url

bp = Blueprint("api", __name__, url_prefix="/api/v1")
ALWAYS_ALLOWED = frozenset({"lang"})


def _problem(message: str, status: int, fields: dict[str, list[str]] | None = None):  # type: ignore[no-untyped-def]
    return jsonify(error=message, status=status, fields=fields or {}), status


def _checked(form: FlaskForm):  # type: ignore[no-untyped-def]
    unknown = sorted(set(request.args) - set(form._fields) - ALWAYS_ALLOWED)
    if unknown:
        return _problem(_("Unknown parameter: %(names)s", names=", ".join(unknown)), 400)
    # Only list parameters (colour=white&colour=brown) may be repeated; a repeated single value is ambiguous.
    repeated = sorted(name for name in set(request.args) & set(form._fields)
                      if len(request.args.getlist(name)) > 1 and not isinstance(form[name], SelectMultipleField))
    if repeated:
        return _problem(_("Give each of these parameters once: %(names)s", names=", ".join(repeated)), 400)
    # A number left empty (?page=) is malformed in an API call (the site's own search forms are lenient).
    empty = sorted(name for name in set(request.args) & set(form._fields)
                   if isinstance(form[name], IntegerField | DecimalField) and not request.args[name].strip())
    if empty:
        return _problem(_("These parameters need a number: %(names)s", names=", ".join(empty)), 400)
    if request.args and not form.validate():
        fields = {name: [str(e) for e in errors] for name, errors in form.errors.items()}
        return _problem(_("Some parameters are not valid."), 400, fields)
    return None


def _payload(result: SearchResult, facets: dict[str, dict[str, int]]) -> dict[str, object]:
    return {
        "hits": result.hits, "facets": facets, "total": result.total, "page": result.page,
        "pages": result.pages, "per_page": result.per_page, "query_ms": result.query_ms,
    }


def lot_search_asked():  # type: ignore[no-untyped-def]
    """The lot search in the query string, or the 400 answer: read quickly when the query is plain
    (``lot_params``), else through the form, which gives every message."""
    if (wanted := lot_params.read(request.args, ALWAYS_ALLOWED)) is not None:
        return wanted
    return lot_search_by_form()


def lot_search_by_form():  # type: ignore[no-untyped-def]
    """The lot search through the form, or the 400 answer with the form's messages."""
    form = LotFilterForm(request.args)
    if (problem := _checked(form)) is not None:
        return problem
    return lots.LotSearch.from_form(form.data)


@bp.route("/lots")
@public
def lots_api():  # type: ignore[no-untyped-def]
    wanted = lot_search_asked()
    if not isinstance(wanted, lots.LotSearch):
        return wanted
    try:
        found = lots.find_lots(wanted, suggest=False)  # the API shows none
    except SearchUnavailable:
        return _problem(_("Search is unavailable at the moment. Please try again in a minute."), 503)
    return json_answer(_payload(found.result, found.facets))


@bp.route("/products")
@public
def products_api():  # type: ignore[no-untyped-def]
    form = catalogue.ProductSearchForm(request.args)
    if (problem := _checked(form)) is not None:
        return problem
    try:
        result = catalogue.find_products(form.data)
    except SearchUnavailable:
        return _problem(_("Search is unavailable at the moment. Please try again in a minute."), 503)
    return json_answer(_payload(result, result.facets))


@bp.route("/openapi.json")
@public
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(document(public_base_url()))
