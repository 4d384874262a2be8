from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from marketplace.access import signed_in
from marketplace.accounts.models import Role
from marketplace.dashboard import services
from marketplace.db import today
from marketplace.union import services as union_services

bp = Blueprint("dashboard", __name__)


@bp.route("/dashboard")
@signed_in
def index():  # type: ignore[no-untyped-def]
    """One dashboard section for each of the user's roles."""
    day = today()
    sections = []
    for membership in current_user.memberships:
        org_id = membership.organisation_id
        match membership.role:
            case Role.brand_buyer:
                data = services.buyer(org_id)
            case Role.msme_editor:
                data = services.msme(org_id)
            case Role.cooperative_manager:
                data = services.cooperative(org_id, day)
            case Role.certifier:
                data = services.certifier(org_id, day)
            case Role.union_staff:
                data = union_services.overview()
            case Role.admin:
                data = services.admin()
        sections.append((membership, data))
    return render_template("dashboard/index.html", sections=sections, today=day)
