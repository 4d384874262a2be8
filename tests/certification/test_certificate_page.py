"""A certificate's public page (``/certificates/<number>``): what a consumer, a buyer or a program finds when it
follows a certificate from a passport. Its address is also the id the credentials give the certificate's claim
(``…#claim``) and assessment (``…#assessment``)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.certification import services
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.passports.models import Passport
from tests.conftest import LiveServer
from tests.helpers import page_width, text

NUMBER = "SC-2025-BKH-001"


def _listed_under(app: Flask, number: str) -> list[str]:
    with app.app_context():
        cert = db.session.scalar(select(Certificate).where(Certificate.number == number))
        return list(db.session.scalars(select(Lot.code).where(Lot.certificate_id == cert.id,
                                                              Lot.status == LotStatus.listed)))


def test_the_page_shows_the_certificate_its_status_and_the_lots_under_it(demo_app: Flask) -> None:
    lots = _listed_under(demo_app, NUMBER)
    assert lots
    page = text(demo_app.test_client().get(f"/certificates/{NUMBER}"))
    assert f"<h1>Certificate {NUMBER}</h1>" in page
    assert "Status now: Active" in page
    assert 'href="/organisations/jinst-golden-fleece">Jinst Golden Fleece Cooperative</a>' in page
    assert 'href="/organisations/s3c-demo">' in page
    assert 'href="/certification#scheme-SC-criteria"' in page
    assert 'id="claim"' in page
    assert 'id="assessment"' in page
    assert f'href="/certificates/{NUMBER}.json"' in page
    for code in lots:
        assert f'<a href="/lots/{code}">{code}</a>' in page


def test_a_suspension_shows_with_the_certifiers_reason_in_the_readers_language(demo_app: Flask) -> None:
    with demo_app.app_context():
        cert = db.session.scalar(select(Certificate).where(Certificate.number == NUMBER))
        services.change_status(cert, CertificateStatus.suspended, "Stocking above the agreed plan.",
                               {"de": "Viehbesatz über dem vereinbarten Plan."})
        db.session.commit()
    client = demo_app.test_client()
    english = text(client.get(f"/certificates/{NUMBER}"))
    assert "Status now: Suspended</strong>: Stocking above the agreed plan." in english
    german = text(client.get(f"/certificates/{NUMBER}?lang=de"))
    assert "Viehbesatz über dem vereinbarten Plan." in german
    assert "Status now" not in german
    assert "What it attests" not in german


def test_a_program_asking_for_json_ld_is_sent_to_the_credential_and_unknown_numbers_are_not_found(
        demo_app: Flask) -> None:
    client = demo_app.test_client()
    asked = client.get(f"/certificates/{NUMBER}", headers={"Accept": "application/ld+json"})
    assert asked.status_code == 303
    assert asked.location == f"/certificates/{NUMBER}.json"
    assert client.get(asked.location).get_json(force=True)["credentialSubject"]
    older = client.get(f"/certificates/{NUMBER}?untp=0.6.1&_external=1", headers={"Accept": "application/ld+json"})
    assert older.location == f"/certificates/{NUMBER}.json?untp=0.6.1"  # the form asked for, nothing else
    browser = client.get(f"/certificates/{NUMBER}", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 200
    assert client.get(f"/certificates/{NUMBER}", headers={"Accept": "*/*"}).status_code == 200  # as a passport
    profiled = client.get(f"/certificates/{NUMBER}", headers={"Accept": 'application/ld+json; profile="x"'})
    assert profiled.status_code == 303  # the one Accept parser of the negotiating routes (resolver.parse_accept)
    for number in ("SC-1999-NONE", "x" * 61, "<script>"):
        assert client.get(f"/certificates/{number}").status_code == 404


def test_a_steps_event_id_leads_to_its_event_and_a_hidden_step_is_not_found(demo_app: Flask) -> None:
    from marketplace.products.catalogue import step_public
    from marketplace.products.models import ProcessingStep

    with demo_app.app_context():
        steps = db.session.scalars(select(ProcessingStep)).all()
        shown = next(s.id for s in steps if step_public(s))
        hidden = [s.id for s in steps if not step_public(s)]
    client = demo_app.test_client()
    asked = client.get(f"/events/steps/{shown}?untp=0.6.1&_external=1")
    assert asked.status_code == 303
    assert asked.location == f"/events/steps/{shown}.json?untp=0.6.1"  # nothing else of the query is passed on
    event = client.get(asked.location).get_json(force=True)
    assert event["credentialSubject"][0]["id"].endswith(f"/events/steps/{shown}")
    assert client.get("/events/steps/999999").status_code == 404
    for step_id in hidden:  # a working copy's step, seen by its maker and the Union only
        assert client.get(f"/events/steps/{step_id}").status_code == 404


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_a_consumer_follows_the_certificate_from_a_passport(live_server: LiveServer, page: Page, width: int) -> None:
    app = live_server.app
    with app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/passports/{public_id}")
    page.get_by_role("heading", name="Certification", exact=True).click()  # the section opens
    page.get_by_role("link", name=NUMBER, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/certificates/{NUMBER}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Certificate {NUMBER}")
    expect(page.get_by_text("Status now: Active")).to_be_visible()
    expect(page.get_by_role("link", name="Jinst Golden Fleece Cooperative")).to_be_visible()
    lots = page.get_by_role("region", name="Lots listed under this certificate")
    expect(lots.get_by_role("link", name="USCC-2025-BKH-001")).to_be_visible()
    expect(lots).to_contain_text("Greasy (combed), 996 kg")
    assert page_width(page) <= width  # nothing scrolls sideways
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Deutsch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Zertifikat {NUMBER}")
    assert page_width(page) <= width
