"""A shopper scans a hang tag: the QR's GS1 Digital Link opens the passport, on a phone and on a desk."""

from __future__ import annotations

import io
import urllib.request

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.helpers import page_width

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_scanning_a_hang_tag_opens_the_product_passport(live_server: LiveServer, chromium, width: int) -> None:  # type: ignore[no-untyped-def]
    import zxingcpp
    from PIL import Image

    from marketplace.extensions import db
    from marketplace.passports.models import Passport
    from marketplace.products.models import Product, ProductStatus

    app = live_server.app
    with app.app_context():
        product = db.session.scalars(select(Product).where(Product.status == ProductStatus.published,
                                                           Product.gtin.is_not(None)).order_by(Product.id)).first()
        public_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product.id))
        name, gtin = product.name["en"], product.gtin
    with urllib.request.urlopen(f"{live_server.url}/passports/{public_id}/qr.png") as response:  # noqa: S310 (local)
        uri = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.read())).convert("L"))[0].text
    assert f"/01/{gtin}/10/" in uri
    context = chromium.new_context(viewport={"width": width, "height": 844 if width < 600 else 900},
                                   is_mobile=width < 600, has_touch=width < 600, locale="en-GB")
    page = context.new_page()
    # The phone opens the Digital Link; the resolver sends it on to the passport.
    page.goto(live_server.url + uri.removeprefix(app.config["PUBLIC_BASE_URL"]))
    expect(page).to_have_url(f"{live_server.url}/passports/{public_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    assert page_width(page) <= width  # no sideways scrolling
    # A mistyped code gets a page that says what is wrong, not a crash.
    page.goto(f"{live_server.url}/01/{gtin[:-1]}{(int(gtin[-1]) + 1) % 10}")
    expect(page.get_by_text("check digit is wrong")).to_be_visible()
    assert page_width(page) <= width
    context.close()
