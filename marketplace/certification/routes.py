from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.access import public, roles
from marketplace.accounts.models import Role
from marketplace.certification import services
from marketplace.certification.forms import StatusForm
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.db import today
from marketplace.forms_common import translations
from marketplace.lots import services as lots_services
from marketplace.organisations.routes import profile_visible
from marketplace.passports import documents
from marketplace.passports.issuer_routes import issued_response
from marketplace.passports.routes import JSONLD, credential_asked, untp_asked, untp_version

bp = Blueprint("certification", __name__)


def _certificate_or_404(number: str) -> Certificate:
    cert = services.get_certificate(number)
    if cert is None:
        abort(404)
    return cert


@bp.route("/certificates/<number>")
@public
def certificate(number: str):  # type: ignore[no-untyped-def]
    """The certificate for people: who holds it, who issued it, its status now and the lots listed under it.
    Its address is also the identifier the credentials give the certificate's claim (``…#claim``): a program
    asking for JSON-LD is sent to the conformity credential."""
    cert = _certificate_or_404(number)
    if credential_asked(JSONLD, "application/json"):
        return redirect(url_for("certification.conformity_credential", number=cert.number, **untp_asked()), 303)
    return render_template("certification/certificate.html", cert=cert, today=today(),
                           lots=lots_services.listed_under(cert.id),
                           holder_public=profile_visible(cert.holder), issuer_public=profile_visible(cert.issuer))


@bp.route("/certificates/<number>.json")
@public
def conformity_credential(number: str):  # type: ignore[no-untyped-def]
    """The certificate as a UNTP Digital Conformity Credential."""
    asked = untp_version()  # 0.7.0 by default; ?untp=0.6.1 for the earlier form
    cert = _certificate_or_404(number)
    # The latest version its certifier issued while it is current (a passport links to its versioned URL).
    return Response(documents.served_bytes("dcc", cert.number, lambda url: documents.conformity_forms(cert, url),
                                           asked), mimetype=JSONLD)


@bp.route("/certificates/<number>/versions/<int:version>.<any(json, jwt):fmt>")
@public
def conformity_credential_version(number: str, version: int, fmt: str):  # type: ignore[no-untyped-def]
    """One version of the certificate's conformity credential, signed by its certifier, never changed."""
    return issued_response(documents.version("dcc", number, version), fmt)


@bp.route("/certificates/<number>/manage", methods=["GET", "POST"])
@roles(Role.certifier, Role.admin)
def manage(number: str):  # type: ignore[no-untyped-def]
    """The issuing certifier, or a Union admin with an audit reason, changes a certificate's status."""
    cert = _certificate_or_404(number)
    if not services.may_change(cert, current_user):
        abort(404)  # a certifier sees only what it issued
    form = StatusForm()
    form.status.data = form.status.data or None
    status = 200
    if form.validate_on_submit():
        try:
            services.authorise_change(cert, current_user, form.reason.data or "")
            services.change_status_from_page(cert, CertificateStatus(form.status.data), form.reason.data or "",
                                             current_user, translations=translations(form, "reason"))
        except services.TransitionError:
            form.status.errors = [_("A %(old)s certificate cannot be changed to that status.", old=cert.status.value)]
            status = 422
        except services.AuditReasonError as exc:
            form.reason.errors = [str(exc)]
            status = 422
        else:
            flash(_("Certificate %(number)s is now %(status)s. Every passport that relies on it shows this now.",
                    number=cert.number, status=cert.status.value), "success")
            return redirect(url_for("certification.manage", number=cert.number))
    elif form.is_submitted():
        status = 422
    return render_template("certification/manage.html", cert=cert, form=form, today=today(),
                           user=current_user), status
