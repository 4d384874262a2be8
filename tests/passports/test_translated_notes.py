"""User-entered texts shown on passports, per language (issue 23): an MSME's method note on a processing
step and a certifier's reason for suspending a certificate are stored with their translations, and a
passport shows each in the page's language, or in English marked as such (``lang="en"`` and a visible,
translated "(in English)")."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marketplace.accounts.models import Role
from marketplace.certification.models import Certificate
from marketplace.extensions import db
from marketplace.passports.models import Passport
from marketplace.products.models import ProcessingStep, Product, ProductStatus
from tests.helpers import csrf_token, sign_in, text
from tests.site.test_access import DEMO_PASSWORDS, DEMO_USERS

NOTE_EN = "Energy read from the meter of the spinning mill, May 2026."
NOTE_FR = "Énergie relevée sur le compteur de la filature, mai 2026."
REASON_EN = "Overgrazing found in two pasture-user groups at the spring audit."
REASON_MN = "Хаврын аудитаар хоёр бэлчээр ашиглагчдын бүлэгт хэт бэлчээрлэлт илэрсэн."


def _client(app: Flask, role: Role) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, DEMO_USERS[role], DEMO_PASSWORDS[role]).status_code == 302
    return client


def _shown(html: str, needle: str) -> str:
    """The markup around ``needle`` on the page (the list item or paragraph holding it)."""
    at = html.index(needle)
    return html[html.rfind("<", 0, at - 40 if at > 40 else 0):at + len(needle) + 120]


def add_translated_step(app: Flask) -> tuple[int, str]:
    """The demo MSME adds a finishing step with a method note and its French translation, submits the
    product and the Union approves it: the product's passport is republished. (product id, passport id)"""
    msme = _client(app, Role.msme_editor)
    with app.app_context():
        product = db.session.scalars(select(Product).where(Product.status == ProductStatus.published,
                                                           Product.organisation.has(slug="khangai-knitwear"))
                                     .order_by(Product.id)).first()
        last = db.session.scalars(select(ProcessingStep).where(ProcessingStep.product_id == product.id,
                                                               ProcessingStep.removed.is_(False))
                                  .order_by(ProcessingStep.performed_on.desc())).first()
        product_id, facility_id = product.id, product.organisation_id
        kg = last.kg_out if last else product.sources[0].kg
        day = (last.performed_on if last else dt.date(2026, 9, 1)) + dt.timedelta(days=1)
    token = csrf_token(msme, f"/workspace/products/{product_id}")
    response = msme.post(f"/workspace/products/{product_id}/steps", data={
        "csrf_token": token, "kind": "finishing", "facility_id": str(facility_id), "performed_on": day.isoformat(),
        "kg_in": str(kg), "kg_out": str(kg), "energy_kwh": "4.5", "energy_basis": "measured",
        "source_note": NOTE_EN, "source_note_fr": NOTE_FR})
    assert response.status_code in (302, 303), text(response)[:2000]
    assert msme.post(f"/workspace/products/{product_id}/submit", data={"csrf_token": token}).status_code in (302, 303)
    staff = _client(app, Role.union_staff)
    approved = staff.post(f"/union/products/{product_id}/approve",
                          data={"csrf_token": csrf_token(staff, "/union/products")})
    assert approved.status_code in (302, 303), text(approved)[:2000]
    with app.app_context():
        step = db.session.scalars(select(ProcessingStep).where(ProcessingStep.source_note == NOTE_EN)).one()
        assert step.source_note_translations == {"fr": NOTE_FR}
        public_id = db.session.scalars(select(Passport.public_id).where(Passport.product_id == product_id)).one()
    return product_id, public_id


def test_a_method_note_shows_in_the_page_language_or_marked_as_english(demo_app: Flask) -> None:
    _product_id, public_id = add_translated_step(demo_app)
    client = demo_app.test_client()
    french = text(client.get(f"/passports/{public_id}?lang=fr"))
    assert NOTE_FR in french
    assert NOTE_EN not in french
    german = text(client.get(f"/passports/{public_id}?lang=de"))
    shown = _shown(german, NOTE_EN)
    assert '<span lang="en">' + NOTE_EN in shown
    assert re.search(r'class="fallback">\(auf Englisch\)', shown), shown
    english = text(client.get(f"/passports/{public_id}?lang=en"))
    assert NOTE_EN in english
    assert 'class="fallback"' not in _shown(english, NOTE_EN)


def suspend_with_translation(app: Flask) -> str:
    """The demo certifier suspends a certificate it issued, with the reason in English and Mongolian."""
    certifier = _client(app, Role.certifier)
    with app.app_context():
        cert = db.session.scalars(select(Certificate).where(Certificate.issuer.has(slug="s3c-demo"),
                                                            Certificate.status == "active")
                                  .order_by(Certificate.number)).first()
        number = cert.number
    page = f"/certificates/{number}/manage"
    response = certifier.post(page, data={"csrf_token": csrf_token(certifier, page), "status": "suspended",
                                          "reason": REASON_EN, "reason_mn": REASON_MN})
    assert response.status_code in (302, 303), text(response)[:2000]
    with app.app_context():
        cert = db.session.scalars(select(Certificate).filter_by(number=number)).one()
        assert (cert.status_reason, cert.status_reason_translations) == (REASON_EN, {"mn": REASON_MN})
    return number


def _passport_of(app: Flask, number: str) -> str:
    from marketplace.passports import services

    with app.app_context():
        for passport in db.session.scalars(select(Passport).order_by(Passport.id)):
            if passport.current and number in {c.number for c in services.claimed_certificates(passport)}:
                return passport.public_id
    raise AssertionError(f"no passport relies on {number}")


def test_a_suspension_reason_shows_in_the_page_language_or_marked_as_english(demo_app: Flask) -> None:
    number = suspend_with_translation(demo_app)
    public_id = _passport_of(demo_app, number)
    client = demo_app.test_client()
    mongolian = text(client.get(f"/passports/{public_id}?lang=mn"))
    assert REASON_MN in mongolian
    assert REASON_EN not in mongolian
    french = text(client.get(f"/passports/{public_id}?lang=fr"))
    assert french.count(REASON_EN) == 2  # the alert on top and the certificate's section
    assert '<span lang="en">' + REASON_EN in french
    assert re.search(r'class="fallback">\(en anglais\)', _shown(french, REASON_EN))


def test_a_new_reason_drops_the_translations_of_the_previous_one(demo_app: Flask) -> None:
    number = suspend_with_translation(demo_app)
    certifier = _client(demo_app, Role.certifier)
    page = f"/certificates/{number}/manage"
    certifier.post(page, data={"csrf_token": csrf_token(certifier, page), "status": "active",
                               "reason": "Corrective actions verified on site in June."})
    with demo_app.app_context():
        cert = db.session.scalars(select(Certificate).filter_by(number=number)).one()
        assert cert.status_reason_translations == {}
