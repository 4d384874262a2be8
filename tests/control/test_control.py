"""Certification control: self-evaluation, internal control and external control end in a certificate."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.certification.models import CertificateStatus
from marketplace.control import services as control
from marketplace.control.models import ControlError, ControlLevel, Outcome, Result
from marketplace.extensions import db
from marketplace.organisations.models import OrgKind
from tests.helpers import csrf_token, sign_in, text

COOP = ("coop@demo.example", "demo-coop-2026")
CERTIFIER = ("certifier@demo.example", "demo-certifier-2026")
JINST = "jinst-golden-fleece"


def _pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 180, 150)).save(out, "PNG")
    return out.getvalue()


def _client(app: Flask, user: tuple[str, str]) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, *user).status_code == 302
    return client


def _ids(app: Flask, code: str = "SC") -> tuple[int, list[int]]:
    with app.app_context():
        scheme = db.session.scalar(select(m.CertificationScheme).filter_by(code=code))
        return scheme.id, [c.id for c in scheme.criteria]


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _household(app: Flask, client: FlaskClient, reference: str = "HH-001") -> int:
    response = client.post("/cooperative/control", data={"csrf_token": csrf_token(client, "/cooperative/control"),
                                                          "reference": reference})
    assert response.status_code == 303
    with app.app_context():
        return db.session.scalar(select(m.Household.id).filter_by(reference=reference))


def _form(client: FlaskClient, path: str, scheme_id: int, criteria: list[int], **extra: object) -> dict:
    data: dict = {"csrf_token": csrf_token(client, path), "scheme_id": str(scheme_id),
                  "performed_on": dt.date.today().isoformat(), "notes": ""}  # noqa: DTZ011
    data.update({f"result_{c}": "compliant" for c in criteria})
    data.update(extra)
    return data


def test_the_three_levels_end_in_a_certificate(demo_app: Flask) -> None:
    scheme_id, criteria = _ids(demo_app)
    coop = _client(demo_app, COOP)
    household = _household(demo_app, coop)
    self_path = f"/cooperative/control/households/{household}/self_evaluation?scheme={scheme_id}"
    internal_path = f"/cooperative/control/households/{household}/internal_control?scheme={scheme_id}"
    # The internal control needs a self-evaluation first.
    early = coop.post(internal_path, data=_form(coop, internal_path, scheme_id, criteria, outcome="passed"))
    assert early.status_code == 422
    assert "needs a self-evaluation" in text(early)
    files = {"evidence": [(io.BytesIO(_pdf()), "agreement.pdf"), (io.BytesIO(_png()), "pasture.png")]}
    done = coop.post(self_path, data={**_form(coop, self_path, scheme_id, criteria, outcome="passed"), **files},
                     content_type="multipart/form-data")
    assert done.status_code == 303, text(done)
    assert coop.post(internal_path, data=_form(coop, internal_path, scheme_id, criteria,
                                               outcome="passed")).status_code == 303
    with demo_app.app_context():
        jinst = db.session.scalar(select(m.Organisation).filter_by(slug=JINST))
        assert [h.reference for h in control.pre_certified(jinst.id, scheme_id)] == ["HH-001"]
        assert _count(demo_app, m.EvidenceFile) == 2
        evidence_id = db.session.scalar(select(m.EvidenceFile.id).filter_by(media_type="application/pdf"))
    page = text(coop.get("/cooperative/control"))
    assert "1 pre-certified household" in page
    pdf = coop.get(f"/control/evidence/{evidence_id}")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF-")
    pdf.close()

    certifier = _client(demo_app, CERTIFIER)
    path = f"/certifier/control/{JINST}?scheme={scheme_id}"
    valid_to = (dt.date.today() + dt.timedelta(days=730)).isoformat()  # noqa: DTZ011
    issue = certifier.post(path, data=_form(certifier, path, scheme_id, criteria, decision="issue", tier="Entry",
                                            valid_to=valid_to))
    assert issue.status_code == 422
    assert "renew it instead" in text(issue)
    renew = certifier.post(path, data=_form(certifier, path, scheme_id, criteria, decision="renew", tier="Entry",
                                            valid_to=valid_to))
    assert renew.status_code == 303, text(renew)
    suspend = certifier.post(path, data=_form(certifier, path, scheme_id, criteria, decision="suspend",
                                              notes="Overgrazing found in two PUGs"))
    assert suspend.status_code == 303
    with demo_app.app_context():
        cert = db.session.scalar(select(m.Certificate).filter_by(number="SC-2025-BKH-001"))
        assert (cert.tier, cert.valid_to.isoformat(), cert.status) == ("Entry", valid_to, CertificateStatus.suspended)
        events = control.certificate_events(cert.id)
        assert [(e.action, e.old_status, e.new_status) for e in events] == [
            ("renew", "active", "active"), ("suspend", "active", "suspended")]
        assert all(e.actor is not None and e.assessment_id for e in events)
    # Household-level data is never public: the profile shows counts only.
    profile = text(demo_app.test_client().get(f"/organisations/{JINST}"))
    assert "1 of 1 registered households pre-certified" in profile
    assert "HH-001" not in profile
    assert demo_app.test_client().get(f"/control/evidence/{evidence_id}").status_code in (302, 401, 403)


def test_a_result_for_a_scheme_the_cooperative_is_not_in_is_refused(demo_app: Flask) -> None:
    msme_scheme, msme_criteria = _ids(demo_app, "MSME-COP")
    coop = _client(demo_app, COOP)
    household = _household(demo_app, coop)
    path = f"/cooperative/control/households/{household}/self_evaluation?scheme={msme_scheme}"
    before = _count(demo_app, m.Assessment), _count(demo_app, m.CriterionResult)
    response = coop.post(path, data=_form(coop, path, msme_scheme, msme_criteria, outcome="passed"))
    assert response.status_code == 422
    assert "is not in the MSME Voluntary Code of Practice scheme" in text(response)
    # Results for another scheme's criteria, sent with the cooperative's own scheme, are refused too.
    scheme_id, criteria = _ids(demo_app)
    path = f"/cooperative/control/households/{household}/self_evaluation?scheme={scheme_id}"
    mixed = _form(coop, path, scheme_id, criteria, outcome="passed", **{f"result_{msme_criteria[0]}": "compliant"})
    response = coop.post(path, data=mixed)
    assert response.status_code == 422
    assert "not part of Sustainable Cashmere" in text(response)
    assert (_count(demo_app, m.Assessment), _count(demo_app, m.CriterionResult)) == before


def test_a_certifier_acting_outside_their_scheme_is_refused(demo_app: Flask) -> None:
    msme_scheme, msme_criteria = _ids(demo_app, "MSME-COP")
    with demo_app.app_context():
        jinst = db.session.scalar(select(m.Organisation).filter_by(slug=JINST))
        control.enrol(jinst.id, msme_scheme)  # even where the cooperative is in the scheme
        db.session.commit()
    certifier = _client(demo_app, CERTIFIER)
    path = f"/certifier/control/{JINST}?scheme={msme_scheme}"
    before = _count(demo_app, m.Assessment), _count(demo_app, m.CertificateEvent)
    response = certifier.post(path, data=_form(certifier, path, msme_scheme, msme_criteria, decision="suspend",
                                               notes="Outside the scheme we control"))
    assert response.status_code == 422
    assert "not accredited to control" in text(response)
    assert (_count(demo_app, m.Assessment), _count(demo_app, m.CertificateEvent)) == before


@pytest.mark.parametrize(("override", "message"), [
    ({"performed_on": "2999-01-01"}, "cannot be in the future"),
    ({"outcome": ""}, "Choose the outcome"),
    ({"drop": True}, "Give a result for every criterion"),
])
def test_bad_self_evaluations_write_nothing(demo_app: Flask, override: dict, message: str) -> None:
    scheme_id, criteria = _ids(demo_app)
    coop = _client(demo_app, COOP)
    household = _household(demo_app, coop)
    path = f"/cooperative/control/households/{household}/self_evaluation?scheme={scheme_id}"
    data = _form(coop, path, scheme_id, criteria, outcome="passed")
    if override.pop("drop", False):
        data.pop(f"result_{criteria[-1]}")
    data.update(override)
    response = coop.post(path, data=data)
    assert response.status_code == 422
    assert message in text(response)
    assert _count(demo_app, m.Assessment) == 0


@pytest.mark.parametrize(("name", "payload", "message"), [
    ("broken.pdf", b"%PDF-1.7\n1 0 obj <<>> garbage", "PDF is damaged"),
    ("notes.txt", b"just some text", "PDF files are accepted too"),
    # Chosen but empty (no file chosen sends no name and is ignored); told as such, not as a bad picture.
    ("empty.pdf", b"", "empty.pdf: The file is empty."),
])
def test_bad_evidence_files_are_refused(demo_app: Flask, name: str, payload: bytes, message: str) -> None:
    scheme_id, criteria = _ids(demo_app)
    coop = _client(demo_app, COOP)
    household = _household(demo_app, coop)
    path = f"/cooperative/control/households/{household}/self_evaluation?scheme={scheme_id}"
    data = {**_form(coop, path, scheme_id, criteria, outcome="passed"), "evidence": [(io.BytesIO(payload), name)]}
    response = coop.post(path, data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert message in text(response)
    assert "The file is empty. PDF files" not in text(response)  # evidence.check answers before the picture check
    assert _count(demo_app, m.Assessment) == 0
    assert _count(demo_app, m.EvidenceFile) == 0


def test_control_records_cannot_change(demo_app: Flask) -> None:
    scheme_id, criteria = _ids(demo_app)
    with demo_app.app_context():
        jinst = db.session.scalar(select(m.Organisation).filter_by(slug=JINST))
        household = control.add_household(jinst.id, "HH-9")
        assessment = control.record_assessment(
            level=ControlLevel.self_evaluation, scheme_id=scheme_id, cooperative_id=jinst.id, actor=None,
            actor_organisation_id=jinst.id, household_id=household.id, outcome=Outcome.failed,
            results=dict.fromkeys(criteria, (Result.compliant, "")), performed_on=dt.date(2026, 5, 1),
        )
        db.session.commit()
        assessment.outcome = Outcome.passed
        with pytest.raises(ControlError):
            db.session.flush()
        db.session.rollback()


def test_status_changes_from_the_certificate_page_are_audited(demo_app: Flask) -> None:
    certifier = _client(demo_app, CERTIFIER)
    path = "/certificates/SC-2025-BKH-002/manage"
    response = certifier.post(path, data={"csrf_token": csrf_token(certifier, path), "status": "suspended",
                                          "reason": "Missing rangeland agreement"})
    assert response.status_code == 302
    with demo_app.app_context():
        cert = db.session.scalar(select(m.Certificate).filter_by(number="SC-2025-BKH-002"))
        [event] = control.certificate_events(cert.id)
        assert (event.old_status, event.new_status, event.actor.email) == ("active", "suspended",
                                                                           "certifier@demo.example")


STAFF = ("staff@demo.example", "demo-staff-2026")
SCHEMES = "/union/schemes"


def _participation(app: Flask) -> tuple[int, int]:
    return _count(app, m.SchemeParticipant), _count(app, m.ParticipationEvent)


def _join(client: FlaskClient, action: str, organisation: object, scheme: object):  # type: ignore[no-untyped-def]
    return client.post(f"{SCHEMES}/{action}", data={
        "csrf_token": csrf_token(client, SCHEMES), f"{action}-organisation_id": str(organisation),
        f"{action}-scheme_id": str(scheme)})


def test_staff_enrol_cooperatives_and_accredit_certifiers(demo_app: Flask) -> None:
    msme_scheme, msme_criteria = _ids(demo_app, "MSME-COP")
    sc_scheme, _criteria = _ids(demo_app)
    with demo_app.app_context():
        jinst = db.session.scalar(select(m.Organisation.id).filter_by(slug=JINST))
        certifier_org = db.session.scalar(select(m.Organisation.id).filter_by(kind=OrgKind.certifier))
    staff = _client(demo_app, STAFF)
    assert "Certification schemes: enrol cooperatives" in text(staff.get("/dashboard"))
    page = staff.get(SCHEMES)
    assert page.status_code == 200
    assert "Sustainable Cashmere" in text(page)
    before = _participation(demo_app)
    for action, org, scheme, message in [
        ("enrol", 999999, msme_scheme, "Choose one of the cooperatives."),
        ("enrol", certifier_org, msme_scheme, "Choose one of the cooperatives."),
        ("enrol", jinst, 999999, "Choose one of the certification schemes."),
        ("enrol", jinst, sc_scheme, "is already enrolled in the Sustainable Cashmere"),
        ("accredit", jinst, msme_scheme, "Choose one of the certifier organisations."),
        ("accredit", certifier_org, sc_scheme, "is already accredited for the Sustainable Cashmere"),
        ("enrol", "not-a-number", msme_scheme, "Organisation"),
    ]:
        response = _join(staff, action, org, scheme)
        assert response.status_code == 422, (action, org, scheme)
        assert message in text(response), (action, org, scheme)
        assert 'aria-invalid="true"' in text(response)
    assert _participation(demo_app) == before
    # Without CSRF nothing is written either.
    no_token = staff.post(f"{SCHEMES}/enrol", data={"enrol-organisation_id": str(jinst),
                                                    "enrol-scheme_id": str(msme_scheme)})
    assert no_token.status_code == 400
    assert "Your form expired or was sent from another site" in text(no_token)  # refused by CSRF
    assert _participation(demo_app) == before

    # The certifier is refused outside its scheme until the Union accredits it.
    assert _join(staff, "enrol", jinst, msme_scheme).status_code == 303
    certifier = _client(demo_app, CERTIFIER)
    path = f"/certifier/control/{JINST}?scheme={msme_scheme}"
    valid_to = (dt.date.today() + dt.timedelta(days=365)).isoformat()  # noqa: DTZ011
    refused = certifier.post(path, data=_form(certifier, path, msme_scheme, msme_criteria, decision="issue",
                                              tier="Committed", valid_to=valid_to))
    assert refused.status_code == 422
    assert "not accredited to control" in text(refused)
    assert _join(staff, "accredit", certifier_org, msme_scheme).status_code == 303
    issued = certifier.post(path, data=_form(certifier, path, msme_scheme, msme_criteria, decision="issue",
                                             tier="Committed", valid_to=valid_to))
    # Accredited now: the certifier's decision is judged on the scheme's own rules.
    assert "not accredited to control" not in text(issued)
    assert "no pre-certified households" in text(issued)
    with demo_app.app_context():
        events = db.session.scalars(select(m.ParticipationEvent).order_by(m.ParticipationEvent.id)).all()
        assert [(e.organisation_id, e.scheme_id, e.action.value, e.actor.email) for e in events] == [
            (jinst, msme_scheme, "enrolled", "staff@demo.example"),
            (certifier_org, msme_scheme, "accredited", "staff@demo.example")]
        assert control.is_participant(certifier_org, msme_scheme)
    audit = text(staff.get(SCHEMES))
    assert "Accredited for the scheme" in audit
    assert "Enrolled in the scheme" in audit
    # Only Union staff and admins see or use the page (the central check).
    before_refusals = _participation(demo_app)
    assert certifier.get(SCHEMES).status_code == 403
    coop = _client(demo_app, COOP)  # with a valid token: refused by the role check, not by CSRF
    assert coop.post(f"{SCHEMES}/enrol", data={"csrf_token": csrf_token(coop, "/cooperative/control")}
                     ).status_code == 403
    assert _participation(demo_app) == before_refusals
