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
