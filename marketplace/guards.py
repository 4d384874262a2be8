"""Request guards that apply to every route, before any view reads the input."""

from __future__ import annotations

from flask import Flask, abort, request
from flask_babel import lazy_gettext as _l

NUL = "\x00"


def reject_nul_bytes() -> None:
    """No database stores NUL in text (PostgreSQL refuses it): answer 400 before any query."""
    values = [request.path, *request.args.keys(), *request.args.values()]
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data",
    ):
        values += [*request.form.keys(), *request.form.values()]
    if any(NUL in value for value in values):
        abort(400, description=_l("The request contains a NUL character, which is not allowed."))


def init_app(app: Flask) -> None:
    app.before_request(reject_nul_bytes)
