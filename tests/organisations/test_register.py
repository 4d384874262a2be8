"""The Union's register of members and partners (``/organisations/``): the register the identity anchors name
(their ``idScheme``), readable by anyone, in every language, on a phone and a desktop."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace import models as m
from marketplace.organisations.models import PUBLIC_PROFILE_KINDS, OrgKind
from tests.conftest import LiveServer
from tests.helpers import page_width, text


def test_the_register_lists_every_public_organisation_with_its_number_and_date(demo_app: Flask) -> None:
    from marketplace.extensions import db

    with demo_app.app_context():
        organisations = db.session.scalars(select(m.Organisation)).all()
        listed = {o.slug: o.registered_on for o in organisations if o.kind in PUBLIC_PROFILE_KINDS}
        private = [o.slug for o in organisations if o.kind is OrgKind.brand]
    assert listed
    assert private
    page = text(demo_app.test_client().get("/organisations/"))
    for slug, registered in listed.items():
        row = page.split(f'<a href="/organisations/{slug}">', 1)[1].split("</tr>", 1)[0]
        assert f"<code>{slug}</code>" in row
        assert f"{registered:%Y}" in row
        assert "(Ulaanbaatar" in row  # a date names its zone
    assert not [slug for slug in private if f"/organisations/{slug}" in page]  # customers stay private
    for kind in ("union", "cooperative", "msme", "certifier"):
        assert f'id="kind-{kind}"' in page


@pytest.mark.parametrize("locale", ["mn", "fr", "de", "it", "zh"])
def test_the_register_speaks_every_language(demo_app: Flask, locale: str) -> None:
    page = text(demo_app.test_client().get(f"/organisations/?lang={locale}"))
    assert "Register of members and partners" not in page
    assert "Number in the register" not in page


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_a_reader_finds_the_register_and_an_issuer_in_it(live_server: LiveServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live_server.url + "/")
    page.get_by_role("contentinfo").get_by_role("link", name="Register of members and partners").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Register of members and partners")
    certifiers = page.get_by_role("region", name="Certifier")
    expect(certifiers.get_by_role("row", name=re.compile("s3c-demo"))).to_contain_text("(Ulaanbaatar")
    assert page_width(page) <= width  # nothing scrolls sideways
    certifiers.get_by_role("row", name=re.compile("s3c-demo")).get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/organisations/s3c-demo$"))
