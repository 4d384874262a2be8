"""Mongolian Cyrillic and Chinese render as real glyphs (not empty boxes) in pages and QR labels."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

# Draws each character in the page's own font stack and compares it with an unassigned
# private-use character, which every font draws as a "missing glyph" box.
RENDERS = """(chars) => {
  const font = getComputedStyle(document.body).fontFamily;
  const canvas = document.createElement('canvas'); canvas.width = canvas.height = 64;
  const ctx = canvas.getContext('2d');
  const draw = (ch) => { ctx.clearRect(0, 0, 64, 64); ctx.font = '48px ' + font; ctx.fillText(ch, 4, 52);
                         return ctx.getImageData(0, 0, 64, 64).data.join(','); };
  const missing = draw('\\uE000');
  return Object.fromEntries([...chars].map((ch) => [ch, draw(ch) !== missing]));
}"""


def test_mongolian_and_chinese_glyphs_render(live_server: LiveServer, page: Page) -> None:
    from marketplace.extensions import db
    from marketplace.passports.models import Passport

    with live_server.app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).order_by(Passport.id))
    for path in (f"/passports/{public_id}?lang=zh", f"/passports/{public_id}?lang=mn",
                 f"/passports/{public_id}/labels?lang=zh"):
        page.goto(live_server.url + path)
        rendered = page.evaluate(RENDERS, "өүӨҮ羊绒护照")
        assert all(rendered.values()), (path, rendered)
    assert "蒙古羊绒" in page.content()  # the hang tags carry the Chinese line
