"""Home, content pages rendered from markdown in content/, and the health check."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template
from flask_babel import get_locale
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from marketplace.access import public
from marketplace.extensions import db
from marketplace.pages import services
from marketplace.search.services import health as search_health

bp = Blueprint("pages", __name__)


@bp.route("/")
@public
def home():  # type: ignore[no-untyped-def]
    return render_template("pages/home.html", **services.home_figures())


@bp.route("/about")
@public
def about():  # type: ignore[no-untyped-def]
    return _content_page("about")


@bp.route("/how-to-read-a-passport")
@public
def passport_guide():  # type: ignore[no-untyped-def]
    return _content_page("how-to-read-a-passport")


@bp.route("/certification")
@public
def certification():  # type: ignore[no-untyped-def]
    return render_template(
        "pages/certification.html",
        page=_page_or_404("certification"),
        schemes=services.schemes_with_criteria(),
    )


def _page_or_404(slug: str) -> services.ContentPage:
    page = services.content_page(slug, str(get_locale()))
    if page is None:
        abort(404)
    return page


def _content_page(slug: str):  # type: ignore[no-untyped-def]
    return render_template("pages/content.html", page=_page_or_404(slug))


@bp.route("/healthz")
@public
def healthz():  # type: ignore[no-untyped-def]
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="error", database="error"), 503
    found = search_health()
    # The site serves its pages without search (they say search is unavailable): degraded, not down.
    return jsonify(status="ok" if found["status"] == "ok" else "degraded", database="ok", search=found)
