"""The payments blueprint, its template globals and what its views share."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from marketplace.accounts.models import Role
from marketplace.i18n import country_choices
from marketplace.payments import services

bp = Blueprint("payments", __name__)
bp.add_app_template_global(services.duties_note, "duties_note")
bp.add_app_template_global(services.order_token, "order_token")
bp.add_app_template_global(services.refundable_minor, "refundable_minor")
bp.add_app_template_global(services.refunded_minor, "refunded_minor")
bp.add_app_template_global(services.refunded_units, "refunded_units")
bp.add_app_template_global(services.retried, "retried")
bp.add_app_template_global(services.consumer_terms, "consumer_terms")


@bp.app_template_global()
def country_name(code: str) -> str:
    return dict(country_choices()).get(code, code)
CART = "cart"
LAST_ORDER = "consumer_order"


def msme_ids() -> list[int]:
    return sorted(current_user.organisation_ids(Role.msme_editor))
