"""Certificate rules: certifiers change the status of the certificates they issued."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import events
from marketplace.accounts.models import Role
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.extensions import db

MIN_AUDIT_REASON = 10

# Which status a certifier may move a certificate to, from each status.
TRANSITIONS = {
    CertificateStatus.active: {CertificateStatus.suspended, CertificateStatus.revoked},
    CertificateStatus.suspended: {CertificateStatus.active, CertificateStatus.revoked},
    CertificateStatus.revoked: set(),
    CertificateStatus.expired: set(),
}


class TransitionError(ValueError):
    pass


class CertificateAccessError(PermissionError):
    """The actor may not change this certificate: it was issued by another organisation."""


class AuditReasonError(ValueError):
    """A Union admin changing a certificate must give the reason recorded in its audit trail."""


def may_change(cert: Certificate, actor: Any) -> bool:
    """Whether ``actor`` may change ``cert`` at all: a certifier of its issuer, or a Union admin."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return cert.issuer_id in actor.organisation_ids(Role.certifier) or actor.has_role(Role.admin)


def authorise_change(cert: Certificate, actor: Any, reason: str) -> None:
    """The one rule for changing a certificate (suspend, reinstate, revoke, renew).

    Only a certifier of the organisation that issued it may change it, or a Union admin who gives the reason
    recorded in the audit trail. Raises CertificateAccessError or AuditReasonError; every entry point that
    changes a certificate calls this first.
    """
    if not may_change(cert, actor):
        raise CertificateAccessError(cert.number)
    if cert.issuer_id not in actor.organisation_ids(Role.certifier) and len(
            (reason or "").strip()) < MIN_AUDIT_REASON:
        raise AuditReasonError(_("Give the reason for the change (at least %(n)s characters): it is "
                                    "recorded in the certificate's audit trail.", n=MIN_AUDIT_REASON))


def get_certificate(number: str) -> Certificate | None:
    if len(number) > 60:
        return None
    return db.session.scalar(
        select(Certificate).where(Certificate.number == number)
        .options(selectinload(Certificate.scheme), selectinload(Certificate.holder), selectinload(Certificate.issuer))
    )


def change_status(cert: Certificate, new: CertificateStatus, reason: str,
                  translations: dict[str, str] | None = None) -> None:
    """Suspend, reinstate or revoke. Passports read the status live, so they show it at once. ``reason`` is
    in English; ``translations`` (locale → text) are its translations, and a new reason drops those of the
    previous one (they would say something else)."""
    if new not in TRANSITIONS[cert.status]:
        raise TransitionError(f"A {cert.status.value} certificate cannot become {new.value}.")
    cert.status = new
    cert.status_reason = reason.strip()
    cert.status_reason_translations = {code: text.strip() for code, text in (translations or {}).items()
                                       if code != "en" and text.strip()}
    db.session.flush()
    events.certificate_status_set.send(cert)
    events.certificate_status.send(cert)


def change_status_from_page(cert: Certificate, new: CertificateStatus, reason: str, actor: Any,
                            translations: dict[str, str] | None = None) -> None:
    """The certificate page's change: checks the transition, changes the status and announces it (control
    records it in the certificate's audit trail). Control's own decisions call change_status and record their
    decision themselves."""
    old = cert.status
    change_status(cert, new, reason, translations)
    events.certificate_status_changed.send(cert, old=old, actor=actor, reason=reason)
