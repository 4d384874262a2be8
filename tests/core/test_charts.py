"""Charts drawn on the server (issue 22, point 4): accessible SVG with the same numbers in a table."""

from __future__ import annotations

import re

from flask import Flask

from marketplace.charts import PALETTE, Series, bar
from marketplace.union import charts as union_charts
from tests.crawl import sign_in_demo


def _contrast(hex_colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    lum = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (lum + 0.05)


def test_palette_has_aa_contrast_against_white() -> None:
    assert all(_contrast(c) >= 4.5 for c in PALETTE)


def test_a_chart_is_labelled_svg_without_style_or_script(app: Flask) -> None:
    with app.test_request_context():
        chart = bar("Stock <by> state", "Kilograms & more", ["a", "b"], [Series("Greasy", [1.0, None])],
                    fmt=lambda v: f"{v:.0f} kg")
    svg = str(chart.svg)
    assert svg.startswith("<svg")
    assert 'role="img"' in svg
    ids = re.search(r'aria-labelledby="([^"]+)"', svg).group(1).split()  # type: ignore[union-attr]
    assert all(f'id="{i}"' in svg for i in ids)
    assert "<title" in svg
    assert "Stock &lt;by&gt; state" in svg
    assert "Kilograms &amp; more" in svg
    for forbidden in ("<style", "<script", "style=", "<!--"):
        assert forbidden not in svg
    assert chart.header == ["", "Greasy"]
    assert chart.rows == [["a", "1 kg"], ["b", ""]]


def test_staff_see_stock_sales_and_premium_charts(demo_app: Flask) -> None:
    client = sign_in_demo(demo_app, "union_staff")
    page = client.get("/union/charts")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('role="img"') >= 4
    assert "Stock available by fineness and state" in html
    assert "Premium due and paid per cooperative" in html
    assert html.count("<details>") == html.count('role="img"')
    assert "(Ulaanbaatar" in html or "ULAT" in html or "GMT+8" in html or "+08" in html


def test_a_cooperative_profile_shows_stocking_and_premium_charts(demo_app: Flask) -> None:
    from marketplace.extensions import db
    from marketplace.organisations.models import Organisation, OrgKind

    with demo_app.app_context():
        slug = db.session.scalars(
            db.select(Organisation.slug).where(Organisation.kind == OrgKind.cooperative).order_by(Organisation.id)
        ).first()
    html = demo_app.test_client().get(f"/organisations/{slug}").get_data(as_text=True)
    assert "Stocking against carrying capacity" in html
    assert html.count('role="img"') >= 1
    assert "The numbers in a table" in html


def test_an_msme_sees_its_sales_chart_or_why_not(demo_app: Flask) -> None:
    html = sign_in_demo(demo_app, "msme_editor").get("/dashboard").get_data(as_text=True)
    assert "Your consumer sales by month" in html or "No paid consumer sale of your products yet" in html


def test_with_no_stock_the_page_says_so_instead_of_an_empty_chart(app: Flask) -> None:
    with app.test_request_context():
        assert union_charts.stock().empty
        assert union_charts.sales() == []
        assert union_charts.premiums() == []
        assert union_charts.msme_sales(1) == []


def test_the_retail_price_split_of_a_passport(app: Flask) -> None:
    """Issue 22: on a product passport, where the retail price goes, as one bar with its table."""
    cashmere = {
        "itemsInBatch": 4, "overallYield": {"greasyKg": {"value": 2}},
        "fairPricing": {
            "premiumPerKg": {"amount": 400, "currency": "EUR"}, "premiumToHerders": 60,
            "herderShareOfPrice": {"value": 10, "retailPrice": {"amount": 10000, "currency": "EUR"}},
        },
    }
    with app.test_request_context():
        chart = union_charts.price_split(cashmere)
        assert chart is not None
        # 400 minor per greasy kg × 2 kg ÷ 4 items = 2.00 EUR of 100.00 EUR: 2 %, split 60/40.
        assert chart.rows == [["Retail price", "10.0\xa0%", "1.2\xa0%", "0.8\xa0%", "88.0\xa0%"]]
        assert chart.header[1:] == ["Paid to the herders for the fibre", "Premium to the herders",
                                    "Premium to the cooperative's funds", "Processing, the MSME and the shop"]
        assert 'role="img"' in chart.svg
        assert union_charts.price_split({"fairPricing": {}}) is None
        assert union_charts.price_split(None) is None
        # The public passport: the premium per kg sits in the value-chain tier, its share of the price is public.
        public = {**cashmere, "fairPricing": {**cashmere["fairPricing"], "premiumShareOfPrice": {"value": 2}}}
        del public["fairPricing"]["premiumPerKg"]
        assert union_charts.price_split(public).rows == chart.rows


def test_a_product_passport_shows_where_the_retail_price_goes(demo_app: Flask) -> None:
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.passports.models import Passport

    with demo_app.app_context():
        ids = list(db.session.scalars(select(Passport.public_id).where(Passport.product_id.is_not(None))))
    pages = [demo_app.test_client().get(f"/passports/{public_id}").get_data(as_text=True) for public_id in ids]
    shown = [page for page in pages if "Where the retail price goes" in page]
    assert shown, "no demo product passport shows the retail price bar"
    assert all('role="img"' in page and "Processing, the MSME and the shop" in page for page in shown)
    assert all("Premium to the herders" in page for page in shown)  # from the public premiumShareOfPrice
