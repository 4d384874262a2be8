from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.access import public
from marketplace.accounts.models import Role
from marketplace.certification.models import Certificate
from marketplace.control import services as control
from marketplace.db import today
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.lots.models import Lot, LotStatus
from marketplace.organisations.models import CooperativeProfile, Organisation, OrgKind, PastureUserGroup
from marketplace.practice import services as practice
from marketplace.union import charts

bp = Blueprint("organisations", __name__)


def profile_visible(organisation: Organisation) -> bool:
    """Public profiles are for anyone; a private one (a brand buyer's) only for its own members and Union staff."""
    if organisation.has_public_profile:
        return True
    if not current_user.is_authenticated:
        return False
    return organisation.id in current_user.organisation_ids() or current_user.has_role(Role.union_staff, Role.admin)


@bp.route("/organisations/<slug>")
@public
def profile(slug: str):  # type: ignore[no-untyped-def]
    organisation = db.session.scalar(
        select(Organisation)
        .where(Organisation.slug == slug)
        .options(
            selectinload(Organisation.cooperative)
            .selectinload(CooperativeProfile.pasture_user_groups)
            .selectinload(PastureUserGroup.soum)
        )
    )
    if organisation is None or not profile_visible(organisation):
        abort(404)
    certificates = db.session.scalars(
        select(Certificate).where(Certificate.holder_id == organisation.id).order_by(Certificate.valid_to.desc())
    ).all()
    lots = db.session.scalars(
        select(Lot)
        .where(Lot.cooperative_id == organisation.id, Lot.status == LotStatus.listed)
        .order_by(Lot.code)
    ).all()
    return render_template(
        "organisations/profile.html", organisation=organisation, certificates=certificates, lots=lots,
        today=today(), summary=funds.summary(organisation.id) if organisation.cooperative else None,
        control_counts=_control_counts(organisation), practice=_practice(organisation),
        charts=charts.cooperative(organisation.cooperative) if organisation.cooperative else [],
    )


def _practice(organisation: Organisation) -> dict[str, object] | None:
    """An MSME's commitments and latest accepted Code of Practice report."""
    if organisation.kind is not OrgKind.msme:
        return None
    commitments = {a: c for a, c in practice.commitments(organisation.id).items() if c is not None}
    report = practice.latest_accepted(organisation.id)
    return {"commitments": commitments, "report": report} if commitments or report else None


def _control_counts(organisation: Organisation) -> list[tuple[str, object]]:
    """Counts and shares of pre-certified households per scheme: never the households themselves."""
    if organisation.cooperative is None:
        return []
    counts = [(s.name, control.public_counts(organisation.id, s.id)) for s in control.schemes_of(organisation.id)]
    return [(name, n) for name, n in counts if n.households]
