"""The programme's mechanisms in Chromium: the three control levels end in a certificate; a payment
and a fund split are recorded and the lot's passport shows them (the demo sale made the premium due)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.passports import services as passports
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

JINST = "jinst-golden-fleece"
LOT = "USCC-2025-BKH-001"


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/signin")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def _all_compliant(page: Page) -> None:
    # The control form may still be loading after the click that opened it:
    # wait for it, or `.all()` would see the previous page's zero radios.
    expect(page.get_by_role("button", name="Record the control")).to_be_visible()
    radios = page.locator("input[type=radio][value=compliant]")
    expect(radios.first).to_be_visible()
    for radio in radios.all():
        radio.check()


def test_control_levels_payment_split_and_passport(  # type: ignore[no-untyped-def]
    demo_app: Flask, live_server: LiveServer, page: Page, chromium,
) -> None:
    url = live_server.url
    with demo_app.app_context():
        lot = db.session.scalar(select(m.Lot).filter_by(code=LOT))
        public_id = passports.passport_for(lot=lot).public_id
    _sign_in(page, url, "coop@demo.example", "demo-coop-2026")

    # Cooperative manager: a household, its self-evaluation and internal control.
    page.goto(url + "/cooperative/control")
    page.get_by_label("Household reference in the cooperative's register").fill("JGF-017")
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".flashes")).to_contain_text("Household JGF-017 registered")
    for step in ("Self-evaluation", "Internal control"):
        page.locator("tr", has_text="JGF-017").get_by_role("link", name=step).click()
        _all_compliant(page)
        page.get_by_label("Passed").check()
        page.get_by_role("button", name="Record the control").click()
        expect(page.locator(".flashes")).to_contain_text("recorded for household JGF-017")
    expect(page.locator("main")).to_contain_text("1 pre-certified household: JGF-017")

    # The certifier renews the certificate at the Entry tier.
    certifier_context = chromium.new_context(locale="en-GB")
    certifier = certifier_context.new_page()
    _sign_in(certifier, url, "certifier@demo.example", "demo-certifier-2026")
    certifier.goto(url + "/certifier/control")
    certifier.locator("tr", has_text="Jinst Golden Fleece").get_by_role("link").click()
    _all_compliant(certifier)
    certifier.get_by_label("Renew the certificate").check()
    certifier.get_by_label("Tier").select_option("Entry")
    certifier.get_by_label("Valid until (when issuing or renewing)").fill(
        (dt.date.today() + dt.timedelta(days=700)).isoformat())  # noqa: DTZ011
    certifier.get_by_role("button", name="Record the control").click()
    expect(certifier.locator(".flashes")).to_contain_text("Certificate SC-2025-BKH-001 is Active")
    certifier_context.close()

    # Union staff record a payment against the premium due from the demo sale.
    staff_context = chromium.new_context(locale="en-GB")
    staff = staff_context.new_page()
    _sign_in(staff, url, "staff@demo.example", "demo-staff-2026")
    staff.goto(url + "/union/season")
    staff.get_by_label("Cooperative").select_option(label="Jinst Golden Fleece Cooperative")
    staff.get_by_label("Amount paid").fill("500.00")
    staff.get_by_label("Paid on").fill(dt.date.today().isoformat())  # noqa: DTZ011
    staff.get_by_label("Bank or transfer reference").fill("TRF-2026-0042")
    staff.get_by_role("button", name="Record the payment").click()
    expect(staff.locator(".flashes")).to_contain_text("Premium payment recorded")
    staff_context.close()

    # The cooperative splits its 2025 premium across its funds.
    page.goto(url + "/cooperative/funds")
    page.get_by_label("Season (year of the premium)").fill("2025")
    for label, value in (("Sustainable investment (%)", "35"), ("Fodder (%)", "25"), ("Risk management (%)", "15"),
                         ("Pasture-user group co-funding (%)", "15"), ("Social fund (%)", "10")):
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Record the split").click()
    expect(page.locator(".flashes")).to_contain_text("The split of the 2025 premium is recorded")

    # The job worker republishes the passports that show the ledger (./dev run runs one beside the site).
    with demo_app.app_context():
        jobs.run_pending()
    # The lot's passport shows the certificate, the premium due and paid, and the split.
    page.goto(f"{url}/passports/{public_id}")
    ledger = page.locator("section", has=page.get_by_role("heading", name="Premium paid to the cooperatives"))
    expect(ledger).to_contain_text("€1,200.00")
    expect(ledger).to_contain_text("€600.00")  # the demo's €100.00 and today's €500.00
    expect(ledger).to_contain_text("Sustainable investment: 35")
    expect(page.locator("main")).to_contain_text("Entry")
