"""Union staff and admins: the background queue's counts and its dead-letter list, with retry buttons."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.jobs import services
from marketplace.notifications import services as mail

bp = Blueprint("jobs", __name__, url_prefix="/union/jobs")
STAFF = (Role.union_staff, Role.admin)


class RetryForm(FlaskForm):
    """A button (CSRF only)."""


@bp.route("")
@roles(*STAFF)
def dead_letters():  # type: ignore[no-untyped-def]
    return render_template("jobs/dead.html", stats=services.stats(), jobs=services.dead(),
                           mail=mail.outbox_counts(), form=RetryForm())


@bp.route("/<int:job_id>/retry", methods=["POST"])
@roles(*STAFF)
def retry(job_id: int):  # type: ignore[no-untyped-def]
    if not RetryForm().validate_on_submit():
        abort(400)
    try:
        job = services.retry_dead(job_id)
    except services.JobError:
        flash(_("That job is not in the dead-letter list any more."), "error")
        return redirect(url_for("jobs.dead_letters")), 303
    flash(_("Job %(id)s (%(kind)s) is queued again.", id=job.id, kind=job.kind), "success")
    return redirect(url_for("jobs.dead_letters")), 303


@bp.route("/mail/retry", methods=["POST"])
@roles(*STAFF)
def retry_mail():  # type: ignore[no-untyped-def]
    if not RetryForm().validate_on_submit():
        abort(400)
    count = mail.retry_failed()
    if count:
        services.enqueue(mail.DELIVER_JOB, key=mail.DELIVER_JOB)
    flash(_("%(n)s failed e-mail message(s) queued again.", n=count), "success")
    return redirect(url_for("jobs.dead_letters")), 303
