"""A consumer whose phone asks for Mongolian reads a passport in Mongolian, then switches to German."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_mongolian_visitor_switches_to_german(live_server: LiveServer, chromium) -> None:  # type: ignore[no-untyped-def]
    from marketplace.extensions import db
    from marketplace.lots.models import Lot
    from marketplace.passports.models import Passport

    with live_server.app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
    phone = chromium.new_context(locale="mn-MN", viewport={"width": 390, "height": 844}, is_mobile=True,
                                 extra_http_headers={"Accept-Language": "mn"})
    page = phone.new_page()
    page.goto(f"{live_server.url}/passports/{public_id}")
    expect(page.locator("html")).to_have_attribute("lang", "mn")
    expect(page.get_by_text("Бүтээгдэхүүний дижитал паспорт").first).to_be_visible()
    mean = page.get_by_role("row", name=re.compile("Ширхэгийн дундаж голч"))
    expect(mean).to_contain_text("16.7\u00a0µm")  # Mongolian writes a decimal point

    page.get_by_role("link", name="Deutsch").click()
    expect(page).to_have_url(re.compile(rf"/passports/{public_id}\?lang=de$"))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_text("Digitaler Produktpass").first).to_be_visible()
    mean = page.get_by_role("row", name=re.compile("Mittlerer Faserdurchmesser"))
    expect(mean).to_contain_text("16,7\u00a0µm")  # German writes a decimal comma; the unit stays
    phone.close()
