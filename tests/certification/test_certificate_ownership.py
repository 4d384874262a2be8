"""Only the issuing certifier, or a Union admin giving an audit reason, may change a certificate (issue 14, #2)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.accounts.models import Role
from marketplace.certification import services as certification
from marketplace.certification.models import CertificateStatus
from marketplace.control import services as control
from marketplace.extensions import db
from tests import factories
from tests.helpers import csrf_token, sign_in, text

JINST = "jinst-golden-fleece"
NUMBER = "SC-2025-BKH-001"  # Jinst's certificate, issued by the demo certifier


def _state(app: Flask) -> tuple:
    with app.app_context():
        cert = db.session.scalar(select(m.Certificate).filter_by(number=NUMBER))
        counts = tuple(db.session.scalar(select(func.count()).select_from(model))
                       for model in (m.Certificate, m.CertificateEvent, m.Assessment, m.CriterionResult))
        return (cert.issuer_id, cert.tier, cert.valid_to, cert.status, cert.status_reason, *counts)


def _other_certifier(app: Flask, accredited: bool = True) -> FlaskClient:
    """A second certifier organisation, accredited for the same scheme, and one of its certifiers signed in."""
    with app.app_context():
        scheme = db.session.scalar(select(m.CertificationScheme).filter_by(code="SC"))
    other = factories.CertifierFactory(slug="rival-certifier", name="Rival Certification Office")
    if accredited:
        factories.SchemeParticipantFactory(organisation=other,
                                           scheme=factories.current_session().get(m.CertificationScheme, scheme.id))
    factories.user_with_role(Role.certifier, organisation=other, email="rival@cert.example")
    client = app.test_client()
    assert sign_in(client, "rival@cert.example").status_code == 302
    return client


def _external(client: FlaskClient, app: Flask, **extra: str):  # type: ignore[no-untyped-def]
    with app.app_context():
        scheme = db.session.scalar(select(m.CertificationScheme).filter_by(code="SC"))
        scheme_id, criteria = scheme.id, [c.id for c in scheme.criteria]
    path = f"/certifier/control/{JINST}?scheme={scheme_id}"
    data = {"csrf_token": csrf_token(client, path), "scheme_id": str(scheme_id),
            "performed_on": dt.date.today().isoformat(), "notes": "Overgrazing found in two PUGs",  # noqa: DTZ011
            **{f"result_{c}": "compliant" for c in criteria}, **extra}
    return client.post(path, data=data)


@pytest.mark.parametrize("decision", ["suspend", "revoke", "renew"])
def test_another_certifier_cannot_change_a_certificate_through_external_control(
        demo_app: Flask, decision: str) -> None:
    rival = _other_certifier(demo_app)
    before = _state(demo_app)
    valid_to = (dt.date.today() + dt.timedelta(days=900)).isoformat()  # noqa: DTZ011
    response = _external(rival, demo_app, decision=decision, tier="Advanced", valid_to=valid_to)
    assert response.status_code == 403, text(response)
    assert _state(demo_app) == before
    # The real issuer still manages it.
    issuer = demo_app.test_client()
    sign_in(issuer, "certifier@demo.example", "demo-certifier-2026")
    assert issuer.get(f"/certificates/{NUMBER}/manage").status_code == 200


@pytest.mark.parametrize("status", ["suspended", "revoked"])
def test_another_certifier_cannot_change_a_certificate_from_its_page(demo_app: Flask, status: str) -> None:
    rival = _other_certifier(demo_app)
    before = _state(demo_app)
    path = f"/certificates/{NUMBER}/manage"
    token = csrf_token(rival, "/certifier/control")
    response = rival.post(path, data={"csrf_token": token, "status": status, "reason": "Taking this one over."})
    assert response.status_code == 404
    assert _state(demo_app) == before


def test_the_issuing_certifier_still_suspends_through_external_control(demo_app: Flask) -> None:
    issuer = demo_app.test_client()
    sign_in(issuer, "certifier@demo.example", "demo-certifier-2026")
    issuer_id = _state(demo_app)[0]
    assert _external(issuer, demo_app, decision="suspend").status_code == 303
    after = _state(demo_app)
    assert (after[0], after[3]) == (issuer_id, CertificateStatus.suspended)


def test_a_union_admin_changes_a_certificate_only_with_an_audit_reason(demo_app: Flask) -> None:
    admin = demo_app.test_client()
    sign_in(admin, "admin@demo.example", "demo-admin-2026")
    path = f"/certificates/{NUMBER}/manage"
    before = _state(demo_app)
    refused = admin.post(path, data={"csrf_token": csrf_token(admin, path), "status": "suspended", "reason": ""})
    assert refused.status_code == 422
    assert _state(demo_app) == before
    done = admin.post(path, data={"csrf_token": csrf_token(admin, path), "status": "suspended",
                                  "reason": "Court order received by the Union"})
    assert done.status_code == 302
    with demo_app.app_context():
        cert = db.session.scalar(select(m.Certificate).filter_by(number=NUMBER))
        assert cert.status is CertificateStatus.suspended
        assert cert.issuer_id == before[0]  # the admin does not become the issuer
        [event] = control.certificate_events(cert.id)
        assert (event.reason, event.actor.email) == ("Court order received by the Union", "admin@demo.example")


def test_the_rule_itself_refuses_others_and_an_admin_without_a_reason(demo_app: Flask) -> None:
    rival_org = factories.CertifierFactory(slug="rival-2")
    rival = factories.user_with_role(Role.certifier, organisation=rival_org, email="rival2@cert.example")
    buyer = factories.user_with_role(Role.brand_buyer, email="b2@brand.example")
    admin = factories.user_with_role(Role.admin, email="a2@union.example")
    with demo_app.test_request_context():
        cert = certification.get_certificate(NUMBER)
        for someone in (rival, buyer, None):
            user = db.session.get(m.User, someone.id) if someone is not None else None
            with pytest.raises(certification.CertificateAccessError):
                certification.authorise_change(cert, user, "A long enough reason")
        admin_user = db.session.get(m.User, admin.id)
        for reason in ("", "   ", "short"):
            with pytest.raises(certification.AuditReasonError):
                certification.authorise_change(cert, admin_user, reason)
        certification.authorise_change(cert, admin_user, "Court order received by the Union")
        issuer = db.session.scalar(select(m.User).filter_by(email="certifier@demo.example"))
        certification.authorise_change(cert, issuer, "")  # the issuer's own reason rules live elsewhere


@pytest.mark.parametrize("final", ["revoked", "expired"])
def test_a_revoked_or_expired_certificate_is_never_reinstated(demo_app: Flask, final: str) -> None:
    """Revocation and expiry are final: the issuer's page refuses every other status (a clear 422, nothing
    changed), so no lot or passport under it becomes sellable or valid again. (Found by a mutation review:
    with the transitions opened, no test noticed.)"""
    with demo_app.app_context():
        cert = certification.get_certificate(NUMBER)
        cert.status = CertificateStatus(final)
        db.session.commit()
    issuer = demo_app.test_client()
    sign_in(issuer, "certifier@demo.example", "demo-certifier-2026")
    path = f"/certificates/{NUMBER}/manage"
    for status in ("active", "suspended", "revoked"):
        if status == final:
            continue
        response = issuer.post(path, data={"csrf_token": csrf_token(issuer, path), "status": status,
                                           "reason": "Reinstated after a review of the file."})
        assert response.status_code == 422, (status, text(response)[:300])
        assert "cannot be changed to that status" in text(response)
        with demo_app.app_context():
            assert certification.get_certificate(NUMBER).status is CertificateStatus(final)
