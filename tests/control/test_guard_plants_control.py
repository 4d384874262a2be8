"""Certification-control guards, each on its own (issue 21; see tests/MUTATIONS.md).

One demo database; every bad external control goes through ``control.record_assessment`` (the
function the certifier's form calls), must raise a clear ``ControlInputError`` and write nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.control import services as control
from marketplace.control.models import ControlLevel, Decision, Outcome, Result
from marketplace.db import today
from marketplace.extensions import db
from marketplace.organisations.models import OrgKind


def _written() -> tuple[int, int, int]:
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    return count(m.Assessment), count(m.CertificateEvent), count(m.Certificate)


def test_bad_external_controls_are_refused_one_guard_at_a_time(demo_app: Flask) -> None:
    with demo_app.app_context():
        cert = db.session.scalar(select(Certificate).where(Certificate.number == "SC-2025-BKH-001"))
        certifier = db.session.scalar(select(m.User).where(m.User.email == "certifier@demo.example"))
        scheme = db.session.get(m.CertificationScheme, cert.scheme_id)
        base: dict[str, Any] = {
            "level": ControlLevel.external_control, "scheme_id": scheme.id, "cooperative_id": cert.holder_id,
            "actor": certifier, "actor_organisation_id": cert.issuer_id, "performed_on": today(),
            "results": {c.id: (Result.compliant, "") for c in scheme.criteria}, "tier": cert.tier,
            "valid_to": today() + dt.timedelta(days=365), "reason": "Annual external control done.",
        }
        cases: list[tuple[dict[str, Any], str]] = [
            ({"decision": Decision.renew, "valid_to": today()}, "valid until a date after the control"),
            ({"decision": Decision.renew, "tier": "Platinum"}, "Choose one of the scheme's tiers"),
            ({"decision": Decision.suspend, "reason": "too short"}, "at least 10 characters"),
            ({"decision": Decision.renew, "performed_on": today() + dt.timedelta(days=1)}, "cannot be in the future"),
            ({"decision": Decision.suspend, "actor_organisation_id": cert.holder_id}, "not accredited"),
            ({"decision": None}, "Choose a decision"),
        ]
        before = _written()
        wrong = {}
        for overrides, message in cases:
            try:
                control.record_assessment(**{**base, **overrides})
            except control.ControlInputError as error:
                if message not in str(error):
                    wrong[message] = str(error)
            else:
                wrong[message] = "accepted"
            db.session.rollback()
            assert _written() == before, message
        assert wrong == {}

        # Household steps: the household must be the cooperative's own, and self-evaluated first.
        household = control.add_household(cert.holder_id, "HH-GUARD-1")
        other_coop = db.session.scalar(select(m.Organisation.id).where(
            m.Organisation.kind == OrgKind.cooperative, m.Organisation.id != cert.holder_id))
        stranger = control.add_household(other_coop, "HH-GUARD-2")
        db.session.commit()
        internal = {**base, "level": ControlLevel.internal_control, "actor": None,
                    "actor_organisation_id": cert.holder_id, "outcome": Outcome.passed, "tier": "",
                    "valid_to": None, "reason": ""}
        before = _written()
        for overrides, message in [
            ({"household_id": stranger.id}, "Choose one of the cooperative's households"),
            ({"household_id": household.id}, "needs a self-evaluation before its internal control"),
        ]:
            with pytest.raises(control.ControlInputError, match=message):
                control.record_assessment(**{**internal, **overrides})
            db.session.rollback()
            assert _written() == before, message
        control.record_assessment(**{**internal, "level": ControlLevel.self_evaluation, "household_id": household.id})
        control.record_assessment(**{**internal, "household_id": household.id})
        db.session.commit()

        # A revoked certificate is never renewed: a new one must be issued.
        cert = db.session.scalar(select(Certificate).where(Certificate.number == "SC-2025-BKH-001"))
        cert.status, cert.status_reason = CertificateStatus.revoked, "Fraudulent bag labels."
        db.session.commit()
        before = _written()
        with pytest.raises(control.ControlInputError, match="A revoked certificate cannot be renewed"):
            control.record_assessment(**{**base, "decision": Decision.renew})
        db.session.rollback()
        assert _written() == before
        assert db.session.get(Certificate, cert.id).status is CertificateStatus.revoked
