"""An organisation's registration number, changed after sign-up by its own manager or by Union staff
(issue 18 review): checked as at sign-up, and a number the organisation changes itself is checked by the
Union again."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.organisations.models import Organisation
from tests.helpers import csrf_token, sign_in, text
from tests.site.test_access import DEMO_PASSWORDS, DEMO_USERS


def _org(app: Flask, slug: str) -> Organisation:
    with app.app_context():
        org = db.session.scalar(select(Organisation).filter_by(slug=slug))
        db.session.expunge(org)
        return org


def _client(app: Flask, role: Role):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert sign_in(client, DEMO_USERS[role], DEMO_PASSWORDS[role]).status_code == 302
    return client


def _post(client, slug: str, number: str):  # type: ignore[no-untyped-def]
    return client.post(f"/organisations/{slug}/registration",
                       data={"registration_number": number, "csrf_token": csrf_token(client)})


def _verify(app: Flask, slug: str) -> None:
    from marketplace.organisations import services

    with app.app_context():
        services.verify(db.session.scalar(select(Organisation).filter_by(slug=slug)))
        db.session.commit()


def test_the_msme_manager_changes_its_number_and_the_union_checks_it_again(demo_app: Flask) -> None:
    _verify(demo_app, "khangai-knitwear")
    client = _client(demo_app, Role.msme_editor)
    page = client.get("/organisations/khangai-knitwear/registration")
    assert page.status_code == 200
    assert "VAT or registration number" in text(page)
    response = _post(client, "khangai-knitwear", "765 4321")
    assert response.status_code == 302
    org = _org(demo_app, "khangai-knitwear")
    assert org.registration_number == "7654321"
    assert org.verified_at is None  # back in the Union's queue
    assert "checks it again" in text(client.get(response.headers["Location"]))


@pytest.mark.parametrize(("slug", "role", "number"), [
    ("khangai-knitwear", Role.msme_editor, "12AB"),  # not a 7-digit state registration number
    ("khangai-knitwear", Role.msme_editor, "12345678"),
    ("maison-lune", Role.brand_buyer, "FR40303265046"),  # French VAT number with a wrong check digit
    ("maison-lune", Role.brand_buyer, "DE136695976"),  # a valid German VAT number, but the buyer is French
    ("maison-lune", Role.union_staff, "FR4030326504"),  # staff are checked the same way
])
def test_a_wrong_number_is_refused_and_changes_nothing(demo_app: Flask, slug: str, role: Role, number: str) -> None:
    before = _org(demo_app, slug)
    response = _post(_client(demo_app, role), slug, number)
    assert response.status_code == 422
    assert "right format or check digit" in text(response)
    after = _org(demo_app, slug)
    assert (after.registration_number, after.verified_at) == (before.registration_number, before.verified_at)


def test_the_brand_buyer_gives_a_checked_vat_number(demo_app: Flask) -> None:
    response = _post(_client(demo_app, Role.brand_buyer), "maison-lune", "40 303 265 045")
    assert response.status_code == 302
    assert _org(demo_app, "maison-lune").registration_number == "FR40303265045"


def test_staff_correct_a_number_and_the_verification_stays(demo_app: Flask) -> None:
    _verify(demo_app, "khangai-knitwear")
    queue = _client(demo_app, Role.union_staff).get("/staff/verifications")
    assert queue.status_code == 200
    staff = _client(demo_app, Role.union_staff)
    assert staff.get("/organisations/jinst-golden-fleece/registration").status_code == 200
    assert _post(staff, "khangai-knitwear", "7000001").status_code == 302
    org = _org(demo_app, "khangai-knitwear")
    assert org.registration_number == "7000001"
    assert org.verified_at is not None


def test_only_the_organisations_own_members_and_staff_reach_it(demo_app: Flask) -> None:
    before = _org(demo_app, "jinst-golden-fleece").registration_number
    msme = _client(demo_app, Role.msme_editor)
    assert msme.get("/organisations/jinst-golden-fleece/registration").status_code == 404
    assert _post(msme, "jinst-golden-fleece", "7654321").status_code == 404
    assert _client(demo_app, Role.certifier).get("/organisations/jinst-golden-fleece/registration").status_code == 403
    assert _org(demo_app, "jinst-golden-fleece").registration_number == before
    profile = _client(demo_app, Role.cooperative_manager).get("/organisations/jinst-golden-fleece")
    assert "/organisations/jinst-golden-fleece/registration" in text(profile)
    assert "/organisations/jinst-golden-fleece/registration" not in text(msme.get("/organisations/jinst-golden-fleece"))
