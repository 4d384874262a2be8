"""Journeys at 390 px and 1280 px: a manager corrects its registration number; a certifier suspends a
certificate with a translated reason and an MSME records a step with a translated method note, and
readers see both on the passport in their language, or in English marked as such."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.accounts.models import Role
from tests.conftest import LiveServer
from tests.helpers import csrf_token, page_width, sign_in
from tests.passports.test_translated_notes import NOTE_EN, NOTE_FR, REASON_EN, REASON_MN, _passport_of
from tests.site.test_access import DEMO_PASSWORDS, DEMO_USERS

pytestmark = pytest.mark.browser


def _page(chromium: Any, width: int) -> Page:
    context = chromium.new_context(viewport={"width": width, "height": 844 if width < 600 else 900},
                                   is_mobile=width < 600, has_touch=width < 600, locale="en-GB")
    return context.new_page()


def _sign_in(page: Page, url: str, role: Role) -> None:
    page.goto(url + "/signin")
    page.get_by_label("E-mail").fill(DEMO_USERS[role])
    page.get_by_label("Password").fill(DEMO_PASSWORDS[role])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def _fits(page: Page, width: int) -> None:
    assert page_width(page) <= width


@pytest.mark.parametrize("width", [390, 1280])
def test_a_manager_corrects_its_registration_number(live_server: LiveServer, chromium: Any, width: int) -> None:
    page = _page(chromium, width)
    _sign_in(page, live_server.url, Role.msme_editor)
    page.goto(live_server.url + "/organisations/khangai-knitwear")
    page.get_by_role("link", name=re.compile(r"Registration number: .*\(change\)")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Registration number of")
    _fits(page, width)
    page.get_by_label("VAT or registration number").fill("12AB")
    page.get_by_role("button", name="Save the registration number").click()
    expect(page.get_by_text("right format or check digit").first).to_be_visible()
    _fits(page, width)
    page.get_by_label("VAT or registration number").fill("765 4321")
    page.get_by_role("button", name="Save the registration number").click()
    expect(page.get_by_text("The Union checks it again").first).to_be_visible()
    expect(page.locator("dd code")).to_have_text("7654321")
    _fits(page, width)
    page.context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_translated_reason_and_method_note_reach_the_passport(live_server: LiveServer, chromium: Any,
                                                              width: int) -> None:
    from marketplace.certification.models import Certificate
    from marketplace.extensions import db
    from marketplace.passports.models import Passport
    from marketplace.products.models import ProcessingStep, Product, ProductStatus

    app = live_server.app
    with app.app_context():
        number = db.session.scalars(select(Certificate.number).where(
            Certificate.issuer.has(slug="s3c-demo"), Certificate.status == "active")
            .order_by(Certificate.number)).first()
        product = db.session.scalars(select(Product).where(
            Product.status == ProductStatus.published, Product.organisation.has(slug="khangai-knitwear"))
            .order_by(Product.id)).first()
        last = db.session.scalars(select(ProcessingStep).where(
            ProcessingStep.product_id == product.id, ProcessingStep.removed.is_(False))
            .order_by(ProcessingStep.performed_on.desc())).first()
        product_id, kg, day = product.id, last.kg_out, last.performed_on.toordinal() + 1
    import datetime as dt

    # The certifier suspends the certificate, with the reason in English and Mongolian.
    page = _page(chromium, width)
    _sign_in(page, live_server.url, Role.certifier)
    page.goto(f"{live_server.url}/certificates/{number}/manage")
    page.get_by_label("Suspend").check()
    page.get_by_label("Reason, shown on every affected passport").fill(REASON_EN)
    page.get_by_text("Translations of the reason").click()
    page.get_by_label("Reason (Mongolian)").fill(REASON_MN)
    _fits(page, width)
    page.get_by_role("button", name="Save the status").click()
    expect(page.get_by_text(f"Certificate {number} is now").first).to_be_visible()
    page.context.close()

    # The MSME records a finishing step with its method note in English and French.
    page = _page(chromium, width)
    _sign_in(page, live_server.url, Role.msme_editor)
    page.goto(f"{live_server.url}/workspace/products/{product_id}")
    page.locator("#kind").select_option("finishing")
    page.locator("#performed_on").fill(dt.date.fromordinal(day).isoformat())
    page.locator("#kg_in").fill(str(kg))
    page.locator("#kg_out").fill(str(kg))
    page.get_by_label("Source of the figures", exact=True).fill(NOTE_EN)
    page.get_by_text("Translations of the source of the figures").click()
    page.get_by_label("Source of the figures (French)").fill(NOTE_FR)
    _fits(page, width)
    page.get_by_role("button", name="Record the step").click()
    expect(page.get_by_text("Processing step recorded.").first).to_be_visible()
    page.context.close()
    # Submitted and approved (the review flows have their own browser tests).
    with app.test_client() as msme:
        sign_in(msme, DEMO_USERS[Role.msme_editor], DEMO_PASSWORDS[Role.msme_editor])
        msme.post(f"/workspace/products/{product_id}/submit",
                  data={"csrf_token": csrf_token(msme, f"/workspace/products/{product_id}")})
    with app.test_client() as staff:
        sign_in(staff, DEMO_USERS[Role.union_staff], DEMO_PASSWORDS[Role.union_staff])
        assert staff.post(f"/union/products/{product_id}/approve",
                          data={"csrf_token": csrf_token(staff, "/union/products")}).status_code == 302
    with app.app_context():
        product_passport = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product_id))
    suspended_passport = _passport_of(app, number)

    # Readers: in Mongolian the reason is Mongolian; in French it is English, marked, and the note French.
    reader = _page(chromium, width)
    reader.goto(f"{live_server.url}/passports/{suspended_passport}?lang=mn")
    expect(reader.get_by_role("alert")).to_contain_text(REASON_MN)
    _fits(reader, width)
    reader.goto(f"{live_server.url}/passports/{suspended_passport}?lang=fr")
    alert = reader.get_by_role("alert")
    expect(alert.locator('span[lang="en"]')).to_have_text(REASON_EN)
    expect(alert.get_by_text("(en anglais)")).to_be_visible()
    reader.goto(f"{live_server.url}/passports/{product_passport}?lang=fr")
    expect(reader.get_by_text(NOTE_FR)).to_be_attached()
    reader.goto(f"{live_server.url}/passports/{product_passport}?lang=it")
    note = reader.locator('.step-notes span[lang="en"]', has_text=NOTE_EN)
    expect(note).to_be_attached()
    expect(reader.locator(".step-notes li", has_text=NOTE_EN).get_by_text("(in inglese)")).to_be_attached()
    _fits(reader, width)
    reader.context.close()
