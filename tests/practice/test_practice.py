"""MSME Code of Practice: commitments, yearly reports, Union review, profile, passports, dossier, gender."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.passports import services as passports
from marketplace.practice.models import Commitment, PracticeError, ReportStatus
from tests.helpers import csrf_token, sign_in, text

MSME = ("msme@demo.example", "demo-msme-2026")
STAFF = ("staff@demo.example", "demo-staff-2026")
SLUG = "khangai-knitwear"
PAGE = "/msme/code-of-practice"


def _client(app: Flask, user: tuple[str, str]) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, *user).status_code == 302
    return client


def _report(client: FlaskClient, **data: str) -> dict[str, str]:
    return {"csrf_token": csrf_token(client, PAGE), "r-year": str(dt.date.today().year - 1),  # noqa: DTZ011
            "r-energy_kwh": "120000", "r-water_m3": "3400.5", "r-wastewater_treated": "y",
            "r-wastewater_note": "Settling tanks", "r-chemicals_management": "Safety data sheets for all dyes",
            "r-workers_women": "31", "r-workers_men": "9", "r-incidents": "1", "r-incidents_note": "", **data}


def _reports(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(m.PerformanceReport))


def test_commitments_report_review_and_what_is_shown(demo_app: Flask) -> None:
    msme = _client(demo_app, MSME)
    bad = msme.post(f"{PAGE}/commitments", data={"csrf_token": csrf_token(msme, PAGE), "c-labour": "Contracts",
                                                  "c-health_safety": "", "c-environment": "x", "c-ethics": "y"})
    assert bad.status_code == 422
    good = msme.post(f"{PAGE}/commitments", data={
        "csrf_token": csrf_token(msme, PAGE), "c-labour": "Written contracts for every worker",
        "c-health_safety": "Guards on every dehairing machine", "c-environment": "Treat all wastewater",
        "c-ethics": "No gifts to inspectors"})
    assert good.status_code == 303
    future = msme.post(f"{PAGE}/reports", data=_report(msme, **{"r-year": str(dt.date.today().year + 1)}))  # noqa: DTZ011
    assert future.status_code == 422
    assert "cannot be filed for a future year" in text(future)
    assert _reports(demo_app) == 0
    assert msme.post(f"{PAGE}/reports", data=_report(msme)).status_code == 303
    again = msme.post(f"{PAGE}/reports", data=_report(msme))
    assert again.status_code == 422
    assert "already Submitted" in text(again)
    # Not shown before the Union accepts it.
    assert "Performance in" not in text(demo_app.test_client().get(f"/organisations/{SLUG}"))
    staff = _client(demo_app, STAFF)
    with demo_app.app_context():
        report_id = db.session.scalar(select(m.PerformanceReport.id))
    token = csrf_token(staff, "/union/code-of-practice")
    no_note = staff.post(f"/union/code-of-practice/{report_id}", data={"csrf_token": token, "decision": "return"})
    assert no_note.status_code == 422
    assert staff.post(f"/union/code-of-practice/{report_id}",
                      data={"csrf_token": token, "decision": "accept"}).status_code == 303
    with demo_app.app_context():
        assert db.session.get(m.PerformanceReport, report_id).status is ReportStatus.accepted
        product = db.session.scalar(select(m.Product).where(m.Product.organisation.has(slug=SLUG),
                                                            m.Product.id.in_(select(m.Passport.product_id))))
        public_id = passports.passport_for(product=product).public_id
        jobs.run_pending()  # the worker republishes the MSME's passports (issue 20)
    profile = text(demo_app.test_client().get(f"/organisations/{SLUG}"))
    assert "Guards on every dehairing machine" in profile
    assert "31 women, 9 men" in profile
    document = demo_app.test_client().get(f"/passports/{public_id}.json").get_json()
    block = document["credentialSubject"]["cashmere"]["codeOfPractice"]
    # The full report is in the passport's authority tier (issue 19 point 7), the public one keeps the summary.
    assert "workers" not in block["report"]
    assert block["report"]["energyKwh"] == 120000.0
    link = next(t for t in document["credentialSubject"]["cashmere"]["accessTiers"] if t["accessTier"] == "authority")
    tier = staff.get("/" + link["id"].split("/", 3)[3]).get_json(force=True)
    assert tier["credentialSubject"]["cashmere"]["codeOfPractice"]["report"]["workers"] == {
        "women": 31, "men": 9, "total": 40}
    dossier = msme.get("/msme/dossier.json").get_json()
    assert dossier["commitments"]["ethics"] == "No gifts to inspectors"
    assert dossier["reports"][0]["energyKwh"] == 120000.0
    dashboard = text(staff.get("/dashboard"))
    assert "Women in the programme" in dashboard
    assert "31 / 40" in dashboard


def test_commitments_are_written_once(demo_app: Flask) -> None:
    from marketplace.practice import services

    with demo_app.app_context():
        org = db.session.scalar(select(m.Organisation).filter_by(slug=SLUG))
        [first, *_] = services.declare(org.id, dict.fromkeys(services.CommitmentArea, "Text"), None)
        db.session.commit()
        first.text = "Changed"
        with pytest.raises(PracticeError):
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Commitment)) == 4


def _accepted_report(app: Flask, name: str) -> int:
    """The demo MSME renamed in Mongolian Cyrillic, with commitments and one accepted report."""
    from decimal import Decimal

    from marketplace.practice import services

    with app.app_context():
        org = db.session.scalar(select(m.Organisation).filter_by(slug=SLUG))
        org.name = name
        services.declare(org.id, {area: f"Бодлого: {area.value}" for area in services.CommitmentArea}, None)
        report = services.submit_report(org.id, services.ReportInput(
            year=dt.date.today().year - 1, energy_kwh=Decimal("120000"), water_m3=Decimal("3400.5"),  # noqa: DTZ011
            wastewater_treated=True, wastewater_note="Тунгаах сав", chemicals_management="SDS for all dyes",
            workers_women=31, workers_men=9, incidents=2, incidents_note="Minor cuts"), None)
        services.review(report, accept=True, staff=None)
        db.session.commit()
        return org.id


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    return " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(data)).pages)


def test_dossier_pdf_holds_the_json_facts_in_cyrillic(demo_app: Flask) -> None:
    name = "Хангай Сүлжмэл ХХК"
    _accepted_report(demo_app, name)
    msme = _client(demo_app, MSME)
    response = msme.get("/msme/dossier.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith(f'attachment; filename="dossier-{SLUG}-')
    assert response.headers["Content-Disposition"].endswith('.pdf"')
    assert response.data.startswith(b"%PDF-")
    body = _pdf_text(response.data)
    assert name in body
    for expected in ("Energy used", "120,000 kWh", "3,400.5 m³", "Тунгаах сав", "31 women, 9 men (40 in all)",
                     "Workplace incidents", "2: Minor cuts", "Бодлого: ethics", "Accepted on",
                     "Anti-corruption and business ethics"):
        assert expected in body, expected
    # The same facts as the JSON dossier.
    document = msme.get("/msme/dossier.json").get_json()
    assert document["organisation"]["name"] == name
    assert document["reports"][0]["incidents"] == 2
    # Union staff may download any MSME's dossier, in the staff member's language.
    staff = _client(demo_app, STAFF)
    german = staff.get(f"/msme/{SLUG}/dossier.pdf?lang=de")
    assert german.status_code == 200
    assert german.mimetype == "application/pdf"
    assert name in _pdf_text(german.data)
    assert "Energy used" not in _pdf_text(german.data)
    assert staff.get(f"/msme/{SLUG}/dossier.json").get_json()["organisation"]["name"] == name
    assert msme.get(f"/msme/{SLUG}/dossier.pdf").status_code == 200


def test_dossier_pdf_is_refused_to_everyone_else(demo_app: Flask) -> None:
    from tests import factories

    msme_id = _accepted_report(demo_app, "Хангай")
    with demo_app.app_context():
        other = factories.user_with_role(m.Role.msme_editor, email="other-msme@example.com")
        assert msme_id not in other.organisation_ids(m.Role.msme_editor)
    other_client = demo_app.test_client()
    assert sign_in(other_client, "other-msme@example.com").status_code == 302
    assert other_client.get(f"/msme/{SLUG}/dossier.pdf").status_code == 404  # another MSME's member
    buyer = _client(demo_app, ("buyer@demo.example", "demo-buyer-2026"))
    assert buyer.get(f"/msme/{SLUG}/dossier.pdf").status_code == 403  # the central check
    assert demo_app.test_client().get(f"/msme/{SLUG}/dossier.pdf").status_code == 302  # to sign in
    staff = _client(demo_app, STAFF)
    assert staff.get("/msme/jinst-golden-fleece/dossier.pdf").status_code == 404  # not an MSME
    assert staff.get("/msme/no-such-msme/dossier.pdf").status_code == 404


def test_dossier_pdf_without_its_font_is_a_clear_503(demo_app: Flask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _accepted_report(demo_app, "Хангай")
    demo_app.config["PDF_FONT_DIR"] = str(tmp_path)  # an empty folder: no DejaVu files
    response = _client(demo_app, MSME).get("/msme/dossier.pdf")
    assert response.status_code == 503
    assert "Traceback" not in text(response)
