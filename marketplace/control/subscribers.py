"""Internal control listens to certificate changes (marketplace/events.py). Connected by ``create_app``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from marketplace import events
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.control.models import EvidenceFile
from marketplace.control.services import log_status_change


def audit_status_change(cert: Certificate, *, old: CertificateStatus, actor: Any, reason: str, **_: Any) -> None:
    log_status_change(cert, old, actor, reason)


def evidence_keys(session: Any, **_: Any) -> set[str]:
    """Evidence originals share the image store's ``originals/`` keys: the orphan sweep must keep them."""
    return set(session.scalars(select(EvidenceFile.key)))


def connect() -> None:
    events.certificate_status_changed.connect(audit_status_change, weak=False)
    events.stored_keys_in_use.connect(evidence_keys, weak=False)
