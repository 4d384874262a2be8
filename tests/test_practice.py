"""MSME Code of Practice: commitments, yearly reports, Union review, profile, passports, dossier, gender."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
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
    profile = text(demo_app.test_client().get(f"/organisations/{SLUG}"))
    assert "Guards on every dehairing machine" in profile
    assert "31 women, 9 men" in profile
    document = demo_app.test_client().get(f"/passports/{public_id}.json").get_json()
    block = document["credentialSubject"]["cashmere"]["codeOfPractice"]
    assert block["report"]["workers"] == {"women": 31, "men": 9, "total": 40}
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
