"""Union staff download orders and consumer sales as CSV or XLSX (issue 22)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request
from flask_babel import gettext as _

from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.db import today
from marketplace.union import exports

bp = Blueprint("union_export", __name__, url_prefix="/union")
STAFF = (Role.union_staff, Role.admin)
MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _download(body: bytes, name: str, fmt: str) -> Response:
    return Response(body, mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}-{today().isoformat()}.{fmt}"'})


@bp.route("/orders/export.csv")
@roles(*STAFF)
def orders_csv():  # type: ignore[no-untyped-def]
    return _orders("csv")


@bp.route("/orders/export.xlsx")
@roles(*STAFF)
def orders_xlsx():  # type: ignore[no-untyped-def]
    return _orders("xlsx")


def _orders(fmt: str) -> Response:
    stage = request.args.get("stage", "")[:40]
    try:
        rows = exports.order_rows(exports.orders(stage))
    except exports.ExportFilterError:
        abort(400, description=_("There is no order stage %(stage)s.", stage=stage))
    return _download(exports.render(fmt, exports.ORDER_HEADER, rows, "orders"), "orders", fmt)


@bp.route("/sales/export.csv")
@roles(*STAFF)
def sales_csv():  # type: ignore[no-untyped-def]
    return _sales("csv")


@bp.route("/sales/export.xlsx")
@roles(*STAFF)
def sales_xlsx():  # type: ignore[no-untyped-def]
    return _sales("xlsx")


def _sales(fmt: str) -> Response:
    status = request.args.get("status", "")[:40]
    try:
        rows = exports.sales_rows(exports.consumer_sales(status))
    except exports.ExportFilterError:
        abort(400, description=_("There is no sale status %(status)s.", status=status))
    return _download(exports.render(fmt, exports.SALES_HEADER, rows, "sales"), "consumer-sales", fmt)


@bp.route("/passports/export.csv")
@roles(*STAFF)
def passports_csv():  # type: ignore[no-untyped-def]
    return _passports("csv")


@bp.route("/passports/export.xlsx")
@roles(*STAFF)
def passports_xlsx():  # type: ignore[no-untyped-def]
    return _passports("xlsx")


def _passports(fmt: str) -> Response:
    kind = request.args.get("kind", "")[:40]
    try:
        rows = exports.passport_rows(exports.passports(kind), current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
    except exports.ExportFilterError:
        abort(400, description=_("Choose lot or product passports, not %(kind)s.", kind=kind))
    return _download(exports.render(fmt, exports.PASSPORT_HEADER, rows, "passports"), "passports", fmt)
