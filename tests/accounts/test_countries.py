"""Sign-up offers every ISO 3166-1 country, named in the page's language (Babel's CLDR data)."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.organisations.models import Organisation
from tests.helpers import csrf_token, text


def test_sign_up_lists_every_country_in_the_page_language(app: Flask) -> None:
    client = app.test_client()
    english = text(client.get("/signup"))
    select_html = english[english.index('name="country"'):english.index("</select>", english.index('name="country"'))]
    codes = re.findall(r'<option[^>]*value="([A-Z]{2})"', select_html)
    assert len(codes) == len(set(codes)) == 249
    assert codes[0] == "MN"
    for code in ("KE", "PE", "NZ", "KZ", "AQ"):
        assert code in codes
    for not_a_country in ("EU", "UN", "ZZ", "XK", "QO"):
        assert not_a_country not in codes
    assert ">Kenya<" in select_html
    mongolian = text(client.get("/signup?lang=mn"))
    assert ">Монгол<" in mongolian
    assert ">Кени<" in mongolian


def test_sign_up_from_a_country_that_was_missing_before(app: Flask) -> None:
    client = app.test_client()
    data = {"name": "Wanjiru Kamau", "email": "wanjiru@loom.example", "password": "a long enough password",
            "confirm": "a long enough password", "account_type": "brand_buyer", "organisation": "Loom Nairobi",
            "country": "KE", "registration_number": "PVT-2015/123456"}
    signed_up = client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")})
    assert signed_up.status_code == 200
    assert "Check your e-mail" in text(signed_up)
    with app.app_context():
        assert db.session.scalar(select(Organisation.country).where(Organisation.name == "Loom Nairobi")) == "KE"
    with app.app_context():
        organisations = db.session.scalar(select(func.count(Organisation.id)))
    refused = client.post("/signup", data={**data, "email": "x@loom.example", "country": "EU",
                                           "csrf_token": csrf_token(client, "/signup")})
    assert refused.status_code == 422, refused.status_code
    with app.app_context():  # nothing written for the refused sign-up
        assert db.session.scalar(select(func.count(Organisation.id))) == organisations
