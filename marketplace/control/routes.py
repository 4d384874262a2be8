"""Control pages: cooperative managers (self-evaluation, internal control), certifiers (external control)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from marketplace.access import own_organisation, roles
from marketplace.accounts.models import Role
from marketplace.certification.models import CertificationScheme
from marketplace.certification.services import CertificateAccessError
from marketplace.control import services
from marketplace.control.forms import AssessmentForm, HouseholdForm, ParticipationForm
from marketplace.control.models import Assessment, ControlLevel, Decision, EvidenceFile, Household, Outcome, Result
from marketplace.db import today
from marketplace.extensions import db
from marketplace.guards import as_id
from marketplace.i18n import label
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.products.images import get_store

bp = Blueprint("control", __name__)
RESULT_PREFIX = "result_"


def _own_cooperative() -> Organisation:
    return own_organisation(Role.cooperative_manager, OrgKind.cooperative)


def _own_certifier() -> Organisation:
    return own_organisation(Role.certifier)


def _results() -> dict[int, tuple[Result, str]]:
    """Criterion results from the form; unknown values are dropped (and then reported as missing)."""
    found: dict[int, tuple[Result, str]] = {}
    for name, value in request.form.items():
        criterion_id = as_id(name[len(RESULT_PREFIX):]) if name.startswith(RESULT_PREFIX) else None
        if criterion_id is None:
            continue
        try:
            result = Result(value)
        except ValueError:
            continue
        found[criterion_id] = (result, request.form.get(f"comment_{criterion_id}", ""))
    return found


def _uploads() -> list[services.Upload]:
    return [services.Upload(f.filename or "", f.read()) for f in request.files.getlist("evidence") if f and f.filename]


def _scheme_or_404(value: str | int | None) -> CertificationScheme:
    scheme_id = as_id(value)
    scheme = db.session.get(CertificationScheme, scheme_id) if scheme_id is not None else None
    if scheme is None:
        abort(404)
    return scheme


# Cooperative managers ----------------------------------------------------------------------

def _coop_page(coop: Organisation, form: HouseholdForm, status: int = 200):  # type: ignore[no-untyped-def]
    schemes = services.schemes_of(coop.id)
    latest = {}
    for scheme in schemes:
        for household in services.households(coop.id):
            latest[(scheme.id, household.id)] = (
                services._latest(ControlLevel.self_evaluation, household.id, scheme.id),
                services._latest(ControlLevel.internal_control, household.id, scheme.id),
            )
    return render_template(
        "control/cooperative.html", coop=coop, form=form, schemes=schemes, households=services.households(coop.id),
        latest=latest, pre_certified={s.id: services.pre_certified(coop.id, s.id) for s in schemes},
        assessments=services.assessments(coop.id),
    ), status


@bp.route("/cooperative/control", methods=["GET", "POST"])
@roles(Role.cooperative_manager)
def cooperative():  # type: ignore[no-untyped-def]
    coop = _own_cooperative()
    form = HouseholdForm()
    if not form.is_submitted():
        return _coop_page(coop, form)
    if not form.validate_on_submit():
        return _coop_page(coop, form, 422)
    try:
        services.add_household(coop.id, form.reference.data)
    except services.ControlInputError as exc:
        form.reference.errors = [*form.reference.errors, str(exc)]
        return _coop_page(coop, form, 422)
    flash(_("Household %(ref)s registered.", ref=form.reference.data), "success")
    return redirect(url_for("control.cooperative")), 303


def _assessment_page(form: AssessmentForm, scheme: CertificationScheme, level: ControlLevel, action: str, *,
                     coop: Organisation, household: Household | None = None, error: str = "",
                     status: int = 200):  # type: ignore[no-untyped-def]
    form.tier.choices = [(t, label(t)) for t in scheme.tier_list]
    return render_template("control/assess.html", form=form, scheme=scheme, level=level, action=action, coop=coop,
                           household=household, error=error, results=list(Result),
                           chosen=_results() if request.method == "POST" else {}), status


@bp.route("/cooperative/control/households/<int:household_id>/<level>", methods=["GET", "POST"])
@roles(Role.cooperative_manager)
def assess(household_id: int, level: str):  # type: ignore[no-untyped-def]
    coop = _own_cooperative()
    household = db.session.get(Household, household_id)
    if household is None or household.cooperative_id != coop.id or level not in (
            ControlLevel.self_evaluation.value, ControlLevel.internal_control.value):
        abort(404)
    step = ControlLevel(level)
    form = AssessmentForm()
    if not form.is_submitted():
        schemes = services.schemes_of(coop.id)
        scheme = _scheme_or_404(request.args.get("scheme") or (schemes[0].id if schemes else None))
        form.scheme_id.data, form.performed_on.data = str(scheme.id), today()
        return _assessment_page(form, scheme, step, request.path, coop=coop, household=household)
    scheme = _scheme_or_404(form.scheme_id.data)
    if not form.validate_on_submit():
        return _assessment_page(form, scheme, step, request.path, coop=coop, household=household, status=422)
    try:
        services.record_assessment(
            level=step, scheme_id=scheme.id, cooperative_id=coop.id, household_id=household.id, actor=current_user,
            actor_organisation_id=coop.id, results=_results(), performed_on=form.performed_on.data,
            outcome=Outcome(form.outcome.data) if form.outcome.data else None, notes=form.notes.data or "",
            uploads=_uploads(),
        )
    except services.ControlInputError as exc:
        return _assessment_page(form, scheme, step, request.path, coop=coop, household=household, error=str(exc),
                                status=422)
    flash(_("%(step)s recorded for household %(ref)s.", step=_label(step), ref=household.reference), "success")
    return redirect(url_for("control.cooperative")), 303


def _label(value: object) -> str:
    return label(value)


# Certifiers --------------------------------------------------------------------------------

@bp.route("/certifier/control")
@roles(Role.certifier)
def certifier():  # type: ignore[no-untyped-def]
    org = _own_certifier()
    schemes = services.schemes_of(org.id)
    coops = {s.id: [o for o in db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.cooperative)
                                                 .order_by(Organisation.name)) if services.is_participant(o.id, s.id)]
             for s in schemes}
    counts = {(s.id, c.id): services.public_counts(c.id, s.id) for s in schemes for c in coops[s.id]}
    return render_template("control/certifier.html", org=org, schemes=schemes, coops=coops, counts=counts)


@bp.route("/certifier/control/<slug>", methods=["GET", "POST"])
@roles(Role.certifier)
def external(slug: str):  # type: ignore[no-untyped-def]
    org = _own_certifier()
    coop = db.session.scalar(select(Organisation).filter_by(slug=slug[:80], kind=OrgKind.cooperative))
    if coop is None:
        abort(404)
    form = AssessmentForm()
    level = ControlLevel.external_control
    if not form.is_submitted():
        schemes = services.schemes_of(org.id)
        scheme = _scheme_or_404(request.args.get("scheme") or (schemes[0].id if schemes else None))
        form.scheme_id.data, form.performed_on.data = str(scheme.id), today()
        return _assessment_page(form, scheme, level, request.path, coop=coop)
    scheme = _scheme_or_404(form.scheme_id.data)
    if not form.validate_on_submit():
        return _assessment_page(form, scheme, level, request.path, coop=coop, status=422)
    try:
        assessment = services.record_assessment(
            level=level, scheme_id=scheme.id, cooperative_id=coop.id, actor=current_user, actor_organisation_id=org.id,
            results=_results(), performed_on=form.performed_on.data,
            decision=Decision(form.decision.data) if form.decision.data else None, tier=form.tier.data or "",
            valid_to=form.valid_to.data, notes=form.notes.data or "", reason=form.notes.data or "",
            uploads=_uploads(),
        )
    except services.ControlInputError as exc:
        return _assessment_page(form, scheme, level, request.path, coop=coop, error=str(exc), status=422)
    except CertificateAccessError:
        abort(403)  # another certifier's certificate: nothing was written (the request rolls back)
    cert = assessment.certificate
    flash(_("External control recorded. Certificate %(number)s is %(status)s.", number=cert.number if cert else "",
            status=_label(cert.status) if cert else ""), "success")
    return redirect(url_for("control.certifier")), 303


# Union staff: scheme enrolment and certifier accreditation --------------------------------

STAFF = (Role.union_staff, Role.admin)


def _participation_form(kind: OrgKind, prefix: str) -> ParticipationForm:
    form = ParticipationForm(prefix=prefix)
    form.organisation_id.choices = [SelectChoice(0, _("Choose…"))] + [
        SelectChoice(o.id, o.name) for o in db.session.scalars(select(Organisation).where(Organisation.kind == kind)
                                                   .order_by(Organisation.name))]
    schemes = db.session.scalars(select(CertificationScheme).order_by(CertificationScheme.name))
    form.scheme_id.choices = [SelectChoice(0, _("Choose…"))] + [SelectChoice(sc.id, label(sc.name)) for sc in schemes]
    return form


def _schemes_page(enrol_form: ParticipationForm | None = None, accredit_form: ParticipationForm | None = None,
                  status: int = 200):  # type: ignore[no-untyped-def]
    schemes = list(db.session.scalars(select(CertificationScheme).order_by(CertificationScheme.name)))
    return render_template(
        "control/schemes.html", schemes=schemes,
        enrol_form=enrol_form or _participation_form(OrgKind.cooperative, "enrol"),
        accredit_form=accredit_form or _participation_form(OrgKind.certifier, "accredit"),
        cooperatives={sc.id: services.participants(sc.id, OrgKind.cooperative) for sc in schemes},
        certifiers={sc.id: services.participants(sc.id, OrgKind.certifier) for sc in schemes},
        events=services.participation_events(),
    ), status


@bp.route("/union/schemes")
@roles(*STAFF)
def schemes():  # type: ignore[no-untyped-def]
    return _schemes_page()


@bp.route("/union/schemes/<any(enrol, accredit):action>", methods=["POST"])
@roles(*STAFF)
def participate(action: str):  # type: ignore[no-untyped-def]
    kind = OrgKind.cooperative if action == "enrol" else OrgKind.certifier
    form = _participation_form(kind, action)
    forms = {"enrol_form": form} if action == "enrol" else {"accredit_form": form}
    if not form.validate_on_submit():
        return _schemes_page(**forms, status=422)
    join = services.enrol_cooperative if action == "enrol" else services.accredit_certifier
    try:
        join(form.organisation_id.data, form.scheme_id.data, current_user)
    except services.ControlInputError as exc:
        form.organisation_id.errors = [*form.organisation_id.errors, str(exc)]
        return _schemes_page(**forms, status=422)
    org, scheme = db.session.get(Organisation, form.organisation_id.data), db.session.get(
        CertificationScheme, form.scheme_id.data)
    flash(_("%(org)s is enrolled in the %(scheme)s scheme.", org=org.name, scheme=scheme.name) if action == "enrol"
          else _("%(org)s is accredited for the %(scheme)s scheme.", org=org.name, scheme=scheme.name), "success")
    return redirect(url_for("control.schemes")), 303


# Evidence (private) ------------------------------------------------------------------------

@bp.route("/control/evidence/<int:file_id>")
@roles(Role.cooperative_manager, Role.certifier, Role.union_staff, Role.admin)
def evidence_file(file_id: int):  # type: ignore[no-untyped-def]
    found = db.session.get(EvidenceFile, file_id)
    if found is None:
        abort(404)
    assessment: Assessment = found.assessment
    allowed = (
        current_user.has_role(Role.union_staff, Role.admin)
        or assessment.cooperative_id in current_user.organisation_ids(Role.cooperative_manager)
        or any(services.is_participant(o, assessment.scheme_id) for o in current_user.organisation_ids(Role.certifier))
    )
    path = get_store().path(found.key) if allowed else None
    if path is None:
        abort(404)
    response = send_file(path, mimetype=found.media_type, as_attachment=True,
                         download_name=f"evidence-{found.id}.{found.key.rsplit('.', 1)[-1]}")
    response.headers["Cache-Control"] = "private, no-store"
    return response
