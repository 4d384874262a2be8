from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.access import may_edit_registration, public, roles
from marketplace.accounts.models import Role
from marketplace.certification.models import Certificate
from marketplace.control import services as control
from marketplace.db import today
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.lots.models import Lot, LotStatus
from marketplace.organisations import services
from marketplace.organisations.forms import RegistrationNumberForm
from marketplace.organisations.models import CooperativeProfile, Organisation, OrgKind, PastureUserGroup
from marketplace.organisations.services import RegistrationNumberError
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


@bp.route("/organisations/")
@public
def register():  # type: ignore[no-untyped-def]
    """The Union's register of members and partners: the register its identity anchors name."""
    return render_template("organisations/register.html", groups=services.public_register())


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
        can_edit_registration=may_edit_registration(current_user, organisation),
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


@bp.route("/organisations/<slug>/registration", methods=["GET", "POST"])
@roles(Role.union_staff, Role.admin, Role.cooperative_manager, Role.msme_editor, Role.brand_buyer)
def registration(slug: str):  # type: ignore[no-untyped-def]
    """The organisation's registration number, changed by its own manager or by Union staff."""
    organisation = services.get_by_slug(slug)
    if organisation is None or not may_edit_registration(current_user, organisation):
        abort(404)
    by_staff = current_user.has_role(Role.union_staff, Role.admin)
    form = RegistrationNumberForm()
    if request.method == "GET":
        form.registration_number.data = organisation.registration_number
    if form.validate_on_submit():
        try:
            changed = services.change_registration_number(organisation, form.registration_number.data or "",
                                                          by_staff=by_staff)
        except RegistrationNumberError:
            form.registration_number.errors = [
                _("This number does not have the right format or check digit for the country chosen.")]
        else:
            db.session.commit()
            if not changed:
                flash(_("The registration number is unchanged."), "info")
            elif organisation.verified_at is None and organisation.kind in services.VERIFIED_KINDS:
                flash(_("The registration number is saved. The Union checks it again before you can order "
                        "samples or accept quotes."), "success")
            else:
                flash(_("The registration number is saved."), "success")
            return redirect(url_for("organisations.registration", slug=organisation.slug))
    status = 422 if form.is_submitted() else 200
    return render_template("organisations/registration.html", organisation=organisation, form=form,
                           by_staff=by_staff), status
