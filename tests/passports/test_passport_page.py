"""The passport page for a phone first: summary card, folding sections, the page's language, care symbols,
one currency per figure and enough significant figures."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.helpers import page_width, text


def _product_passport(app: Flask, sku: str) -> str:
    from marketplace.extensions import db
    from marketplace.passports.models import Passport
    from marketplace.products.models import Product

    with app.app_context():
        return str(db.session.scalar(select(Passport.public_id).join(Product).where(Product.sku == sku)))


def _msme_name(app: Flask, sku: str, locale: str) -> str:
    from marketplace.extensions import db
    from marketplace.products.models import Product

    with app.app_context():
        product = db.session.scalar(select(Product).where(Product.sku == sku))
        assert product is not None
        version = next(v for v in product.versions if v.number == product.published_number)
        return str(version.snapshot["name"].get(locale, ""))


def test_summary_sections_language_care_currency_and_figures(demo_client: FlaskClient) -> None:
    app = demo_client.application
    public_id = _product_passport(app, "KK-UE-CREW-LG")
    html = text(demo_client.get(f"/passports/{public_id}?lang=mn"))
    start = html.index('<header class="passport-summary">')
    summary = html[start:html.index("</header>", start)]
    name = _msme_name(app, "KK-UE-CREW-LG", "mn")
    assert name
    assert f"<h1>{name}</h1>" in summary  # the MSME's own Mongolian name, not the English one
    for part in ('class="summary-photo"', "Баянхонгор", "status-active", "kg CO₂e", 'href="/products/'):
        assert part in summary, part
    assert html.count("<details") >= 6
    assert html.count("<details open>") == 1  # only the journey; the rest fold away on a phone
    # Care: ISO 3758 symbols with their words, never the stored codes.
    assert html.count('class="care-symbol"') == 6
    assert "wash-hand" not in html
    assert "pro-dry-p-gentle" not in html
    # One currency per figure: the herders' share of the retail price, in the retail currency. What they were paid
    # per item (in tögrög) is value-chain data (issue 19 point 7): not on the public page.
    share = re.search(r"11\.2\s%(.*?)</dd>", html[html.index('id="price-h"'):], re.S)
    assert share is not None
    assert "€" in share.group(1)
    assert "MNT" not in share.group(1)
    assert "3,900" not in html
    # Three significant figures in the processing steps: 34.0 → 17.0 kg keeps its decimal.
    assert re.search(r'<td class="num">34\.0</td><td class="num">17\.0</td>', html)


def test_a_lot_passport_names_the_lot_in_the_page_language(demo_client: FlaskClient) -> None:
    from marketplace.extensions import db
    from marketplace.lots.models import Lot
    from marketplace.passports.models import Passport

    with demo_client.application.app_context():
        public_id = db.session.scalar(select(Passport.public_id).join(Lot).where(Lot.code == "USCC-2025-BKH-001"))
    heading = re.search(r"<h1>(.*?)</h1>", text(demo_client.get(f"/passports/{public_id}?lang=fr")), re.S)
    assert heading is not None
    assert "lot USCC-2025-BKH-001" in heading.group(1)
    assert "cashmere" not in heading.group(1)  # French words, not the credential's English


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_a_consumer_opens_the_passport_sections_without_javascript(live_server: LiveServer, chromium: Browser,
                                                                   width: int) -> None:
    public_id = _product_passport(live_server.app, "KK-UE-CREW-LG")
    context = chromium.new_context(viewport={"width": width, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/passports/{public_id}")
    summary = page.locator(".passport-summary")
    expect(summary.get_by_role("heading", level=1)).to_be_visible()
    expect(summary.get_by_text("Footprint per item")).to_be_visible()
    assert summary.bounding_box()["y"] < 400  # type: ignore[index]  # the summary comes first
    care = page.locator(".care-list span", has_text="Hand wash only, at most 40 °C")
    expect(care).to_be_hidden()  # folded away
    page.get_by_role("heading", name="Circularity and care").click()
    expect(care).to_be_visible()
    expect(page.locator("svg.care-symbol").first).to_be_visible()
    assert page_width(page) <= width
    context.close()
