"""Request guards that apply to every route, before any view reads the input."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter, Map

NUL = "\x00"
MAX_ID = 2**63 - 1  # the largest value of a BIGINT primary key


def as_id(value: object) -> int | None:
    """``value`` as a database id: ASCII digits only, at most ``MAX_ID``; else None (never an exception)."""
    text = str(value) if isinstance(value, int | str) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if number <= MAX_ID else None


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` that matches only ids a database column can hold: a larger number is a 404,
    not an overflow in the query."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


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
    """Call before any blueprint is registered: its rules take the converters in place then."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(reject_nul_bytes)
