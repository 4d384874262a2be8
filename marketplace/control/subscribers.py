"""Internal control listens to certificate changes (marketplace/events.py). Connected by ``create_app``."""

from __future__ import annotations

from typing import Any

from marketplace import events
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.control.services import log_status_change


def audit_status_change(cert: Certificate, *, old: CertificateStatus, actor: Any, reason: str, **_: Any) -> None:
    log_status_change(cert, old, actor, reason)


def connect() -> None:
    events.certificate_status_changed.connect(audit_status_change, weak=False)
