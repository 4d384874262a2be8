"""A person reads the passport log from a passport page: newest entries first, the pages walked without
JavaScript, on a phone and on a desk, and nothing axe-core calls serious."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.helpers import page_width
from tests.site.test_accessibility import violations

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_reading_the_passport_log_page_by_page(live_server: LiveServer, chromium, width: int) -> None:  # type: ignore[no-untyped-def]
    from marketplace.extensions import db
    from marketplace.passports import log as merkle_log
    from marketplace.passports.models import Passport

    app = live_server.app
    with app.app_context():
        size = merkle_log.size()
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.lot_id.is_not(None))
                                      .order_by(Passport.id))
        newest = merkle_log.page(size - 1, 1)[0].passport_public_id
    context = chromium.new_context(viewport={"width": width, "height": 844 if width < 600 else 900},
                                   is_mobile=width < 600, has_touch=width < 600, locale="en-GB",
                                   java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/passports/{public_id}")
    page.get_by_role("link", name="Public log of versions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Passport log")
    table = page.get_by_role("table")
    expect(table).to_contain_text(f"Log entries {size - 24} to {size}, newest first (page 1 of")
    first = table.get_by_role("row").nth(1)
    expect(first.get_by_role("rowheader")).to_have_text(str(size))
    expect(first).to_contain_text("UTC")
    expect(first.get_by_role("link").first).to_have_attribute("href", f"/passports/{newest}")
    assert page_width(page) <= width  # no sideways scrolling
    page.get_by_role("link", name="Older").click()  # a plain link: JavaScript is off
    expect(page).to_have_url(f"{live_server.url}/passports/log/history?page=2")
    expect(page.get_by_role("table").get_by_role("row").nth(1).get_by_role("rowheader")).to_have_text(str(size - 25))
    expect(page.locator("[aria-current=page]")).to_have_text("2")
    assert page_width(page) <= width
    page.get_by_role("link", name="Newer").click()
    expect(page).to_have_url(f"{live_server.url}/passports/log/history?page=1")
    page.goto(f"{live_server.url}/passports/log/history?page=999999")
    expect(page.get_by_text("The passport log has no such page.")).to_be_visible()
    context.close()
    # axe-core runs as a script: a second visit with JavaScript on.
    context = chromium.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server.url}/passports/log/history?page=2")
    assert violations(page) == []
    context.close()
