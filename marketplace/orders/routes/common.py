"""The buyers' blueprint: its hooks (expired reservations released on read, the ``zoned`` filter, a new
form id) and what its views share (the buyer's organisations, a listed lot, the order the user may see)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from babel.dates import format_date, format_datetime, get_timezone_name
from flask import Blueprint, abort, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from marketplace.accounts.models import Role
from marketplace.db import BUSINESS_TZ, as_utc
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.orders import services
from marketplace.orders.models import Order

bp = Blueprint("orders", __name__)

BUYER = Role.brand_buyer
STAFF = (Role.union_staff, Role.admin)
# Pages on which expired reservations are released before anything is shown ("check on read").
CHECK_ON_READ = {"lots.index", "lots.detail", "dashboard.index"}


@bp.before_app_request
def release_expired_on_read() -> None:
    endpoint = request.endpoint or ""
    if endpoint in CHECK_ON_READ or endpoint.startswith(("orders.", "union.")):
        services.release_expired()


@bp.app_template_filter("zoned")
def zoned(value: Any) -> str:
    """A date and time, or a date (a deadline: the end of that day), in the Union's time zone, naming it."""
    if value is None:
        return ""
    locale = get_locale() or "en"
    if isinstance(value, dt.datetime):
        moment = as_utc(value)
        return format_datetime(moment, "medium", tzinfo=BUSINESS_TZ, locale=locale) + " (" + get_timezone_name(
            moment.astimezone(BUSINESS_TZ), locale=locale) + ")"
    noon = dt.datetime.combine(value, dt.time(12), BUSINESS_TZ)
    return format_date(value, "medium", locale=locale) + " (" + get_timezone_name(noon, locale=locale) + ")"


@bp.app_context_processor
def inject_form_id() -> dict[str, Any]:
    return {"new_form_id": lambda: uuid.uuid4().hex}


def buyer_organisation_ids() -> set[int]:
    return current_user.organisation_ids(BUYER)


def buyer_organisation_id() -> int:
    ids = sorted(buyer_organisation_ids())
    if not ids:
        abort(403)
    return ids[0]


def listed_lot(code: str) -> Lot:
    lot = db.session.scalar(select(Lot).where(Lot.code == code[:40], Lot.status == LotStatus.listed))
    if lot is None:
        abort(404, description=_("There is no listed lot with the id %(code)s.", code=code[:40]))
    return lot


def buyer_order_or_404(reference: str) -> Order:
    """The current buyer's own order (404 for anyone else's)."""
    order = services.buyer_order(reference[:30], buyer_organisation_ids())
    if order is None:
        abort(404)
    return order


def order_for_current_user(reference: str) -> Order:
    if current_user.has_role(*STAFF):
        order = db.session.scalar(select(Order).where(Order.reference == reference[:30]))
    else:
        order = services.buyer_order(reference[:30], buyer_organisation_ids())
    if order is None:
        abort(404)
    return order
