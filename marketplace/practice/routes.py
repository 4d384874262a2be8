"""MSMEs declare commitments and file yearly reports; Union staff review them; dossier export."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from marketplace.access import own_organisation, require_member_of, roles
from marketplace.accounts.models import Role
from marketplace.db import today
from marketplace.extensions import db
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.practice import pdf, services
from marketplace.practice.forms import CommitmentsForm, ReportForm, ReviewForm
from marketplace.practice.models import CommitmentArea, PerformanceReport, ReportStatus
from marketplace.urls import public_base_url

bp = Blueprint("practice", __name__)
STAFF = (Role.union_staff, Role.admin)


def _own_msme() -> Organisation:
    return own_organisation(Role.msme_editor, OrgKind.msme)


def _page(org: Organisation, commitments_form: CommitmentsForm, report_form: ReportForm, status: int = 200,
          error: str = ""):  # type: ignore[no-untyped-def]
    return render_template("practice/msme.html", org=org, commitments_form=commitments_form,
                           report_form=report_form, reports=services.reports(org.id), error=error,
                           commitments=services.commitments(org.id)), status


def _forms(org: Organisation) -> tuple[CommitmentsForm, ReportForm]:
    commitments_form = CommitmentsForm(prefix="c")
    report_form = ReportForm(prefix="r")
    if request.method == "GET":
        for area, c in services.commitments(org.id).items():
            if c is not None:
                commitments_form[area.value].data = c.text
        report_form.year.data = today().year - 1
    return commitments_form, report_form


@bp.route("/msme/code-of-practice")
@roles(Role.msme_editor)
def msme():  # type: ignore[no-untyped-def]
    org = _own_msme()
    return _page(org, *_forms(org))


@bp.route("/msme/code-of-practice/commitments", methods=["POST"])
@roles(Role.msme_editor)
def commitments():  # type: ignore[no-untyped-def]
    org = _own_msme()
    commitments_form, report_form = _forms(org)
    if not commitments_form.validate_on_submit():
        return _page(org, commitments_form, report_form, 422)
    try:
        services.declare(org.id, {area: commitments_form[area.value].data for area in CommitmentArea}, current_user)
    except services.PracticeInputError as exc:
        return _page(org, commitments_form, report_form, 422, str(exc))
    flash(_("Your commitments are recorded."), "success")
    return redirect(url_for("practice.msme")), 303


@bp.route("/msme/code-of-practice/reports", methods=["POST"])
@roles(Role.msme_editor)
def report():  # type: ignore[no-untyped-def]
    org = _own_msme()
    commitments_form, report_form = _forms(org)
    if not report_form.validate_on_submit():
        return _page(org, commitments_form, report_form, 422)
    data = services.ReportInput(**{name: report_form[name].data for name in services.ReportInput.__dataclass_fields__})
    data.wastewater_note = data.wastewater_note or ""
    data.incidents_note = data.incidents_note or ""
    try:
        services.submit_report(org.id, data, current_user)
    except services.PracticeInputError as exc:
        report_form.year.errors = [*report_form.year.errors, str(exc)]
        return _page(org, commitments_form, report_form, 422)
    flash(_("Your %(year)s report is submitted for review by the Union.", year=data.year), "success")
    return redirect(url_for("practice.msme")), 303


@bp.route("/msme/dossier.json")
@roles(Role.msme_editor)
def dossier():  # type: ignore[no-untyped-def]
    return _dossier(_own_msme(), "json")


@bp.route("/msme/dossier.pdf")
@roles(Role.msme_editor)
def dossier_pdf():  # type: ignore[no-untyped-def]
    return _dossier(_own_msme(), "pdf")


@bp.route("/msme/<msme_slug>/dossier.pdf")
@roles(Role.msme_editor, *STAFF)
def msme_dossier_pdf(msme_slug: str):  # type: ignore[no-untyped-def]
    """Any MSME's dossier, for Union staff and for the MSME's own members (404 for anyone else)."""
    return _dossier(_msme_for_download(msme_slug), "pdf")


@bp.route("/msme/<msme_slug>/dossier.json")
@roles(Role.msme_editor, *STAFF)
def msme_dossier_json(msme_slug: str):  # type: ignore[no-untyped-def]
    return _dossier(_msme_for_download(msme_slug), "json")


def _msme_for_download(slug: str) -> Organisation:
    org = db.session.scalar(select(Organisation).filter_by(slug=slug[:80], kind=OrgKind.msme))
    if org is None:
        abort(404)
    if not current_user.has_role(*STAFF):
        require_member_of(org.id, Role.msme_editor)
    return org


def _dossier(org: Organisation, fmt: str) -> Response:
    data = services.dossier(org.id, public_base_url())
    name = f"dossier-{org.slug}-{data['generatedOn']}.{fmt}"
    if fmt == "pdf":
        try:
            body: str | bytes = pdf.render(data)
        except pdf.FontMissingError:  # the server lacks fonts-dejavu-core: say so, not a traceback
            current_app.logger.exception("The PDF dossier needs Debian's fonts-dejavu-core")
            abort(503)
        mimetype = "application/pdf"
    else:
        body, mimetype = json.dumps(data, ensure_ascii=False, indent=2), "application/json"
    response = Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    response.headers["Cache-Control"] = "private, no-store"
    return response


# Union review ------------------------------------------------------------------------------

def _review_page(form: ReviewForm, status: int = 200, error: str = "", report_id: int | None = None):  # type: ignore[no-untyped-def]
    return render_template("practice/review.html", form=form, pending=services.reports(status=ReportStatus.submitted),
                           done=services.reports()[:50], error=error, report_id=report_id), status


@bp.route("/union/code-of-practice")
@roles(*STAFF)
def review_list():  # type: ignore[no-untyped-def]
    return _review_page(ReviewForm())


@bp.route("/union/code-of-practice/<int:report_id>", methods=["POST"])
@roles(*STAFF)
def review(report_id: int):  # type: ignore[no-untyped-def]
    found = db.session.get(PerformanceReport, report_id)
    if found is None:
        abort(404)
    form = ReviewForm()
    if not form.validate_on_submit():
        return _review_page(form, 422, report_id=report_id)
    accept = request.form.get("decision") == "accept"
    try:
        services.review(found, accept=accept, staff=current_user, note=form.note.data or "")
    except services.PracticeInputError as exc:
        return _review_page(form, 422, str(exc), report_id)
    flash(_("Report accepted.") if accept else _("Report returned to the MSME."), "success")
    return redirect(url_for("practice.review_list")), 303
