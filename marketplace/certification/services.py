"""Certificate rules: certifiers change the status of the certificates they issued."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.extensions import db

# Which status a certifier may move a certificate to, from each status.
TRANSITIONS = {
    CertificateStatus.active: {CertificateStatus.suspended, CertificateStatus.revoked},
    CertificateStatus.suspended: {CertificateStatus.active, CertificateStatus.revoked},
    CertificateStatus.revoked: set(),
    CertificateStatus.expired: set(),
}


class TransitionError(ValueError):
    pass


def get_certificate(number: str) -> Certificate | None:
    if len(number) > 60:
        return None
    return db.session.scalar(
        select(Certificate).where(Certificate.number == number)
        .options(selectinload(Certificate.scheme), selectinload(Certificate.holder), selectinload(Certificate.issuer))
    )


def change_status(cert: Certificate, new: CertificateStatus, reason: str) -> None:
    """Suspend, reinstate or revoke. Passports read the status live, so they show it at once."""
    if new not in TRANSITIONS[cert.status]:
        raise TransitionError(f"A {cert.status.value} certificate cannot become {new.value}.")
    cert.status = new
    cert.status_reason = reason.strip()
    db.session.flush()
