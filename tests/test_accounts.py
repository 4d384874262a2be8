from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import Membership, Role, User
from marketplace.extensions import db
from marketplace.organisations.models import Organisation, OrgKind
from tests import factories
from tests.helpers import csrf_token, sign_in, text

GOOD_SIGNUP = {
    "name": "Giulia Bianchi",
    "email": "Giulia@Filati.example",
    "password": "a long enough password",
    "confirm": "a long enough password",
    "account_type": "brand_buyer",
    "organisation": "Filati Bianchi",
    "country": "IT",
}


def _counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count(User.id))),
            db.session.scalar(select(func.count(Organisation.id))),
            db.session.scalar(select(func.count(Membership.id))),
        )


def test_sign_up_creates_a_buyer_and_their_organisation(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/signup", data={**GOOD_SIGNUP, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "giulia@filati.example"))
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert user.roles == {Role.brand_buyer}
        assert user.organisation.kind is OrgKind.brand
        assert user.organisation.country == "IT"
    assert "Giulia Bianchi" in text(client.get("/dashboard"))


def test_sign_up_as_msme(app: Flask) -> None:
    client = app.test_client()
    data = {**GOOD_SIGNUP, "account_type": "msme_editor", "email": "tsetseg@knit.example", "country": "MN"}
    assert client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")}).status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "tsetseg@knit.example"))
        assert user.organisation.kind is OrgKind.msme


def test_malformed_sign_up_rerenders_with_field_errors_and_writes_nothing(app: Flask) -> None:
    client = app.test_client()
    before = _counts(app)
    bad = {
        **GOOD_SIGNUP, "email": "not-an-email", "password": "short", "confirm": "different",
        "account_type": "union_staff", "country": "XX",
    }
    response = client.post("/signup", data={**bad, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 422
    html = text(response)
    assert 'aria-invalid="true"' in html
    assert "Use at least 10 characters." in html
    assert "Not a valid choice" in html  # the account type: staff roles are not self-service
    assert "Please correct the following" in html
    assert _counts(app) == before


def test_sign_up_with_a_taken_email_is_refused(app: Flask) -> None:
    factories.UserFactory(email="giulia@filati.example")
    client = app.test_client()
    before = _counts(app)
    response = client.post("/signup", data={**GOOD_SIGNUP, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 422
    assert "already exists" in text(response)
    assert _counts(app) == before


def test_sign_in_and_out(app: Flask) -> None:
    user = factories.user_with_role(Role.brand_buyer, email="camille@maison.example")
    client = app.test_client()
    response = sign_in(client, "Camille@Maison.example")
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200
    token = csrf_token(client, "/dashboard")
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    assert client.get("/dashboard").status_code == 302
    assert user.id


def test_wrong_password_is_refused_without_saying_which_part_is_wrong(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email="camille@maison.example")
    client = app.test_client()
    response = sign_in(client, "camille@maison.example", "wrong password")
    assert response.status_code == 422
    assert "do not match an account" in text(response)
    response = sign_in(client, "nobody@maison.example", "wrong password")
    assert "do not match an account" in text(response)
    assert client.get("/dashboard").status_code == 302


def test_inactive_user_cannot_sign_in(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email="gone@maison.example", active=False)
    client = app.test_client()
    assert sign_in(client, "gone@maison.example").status_code == 422


def test_sign_in_is_rate_limited(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email="camille@maison.example")
    client = app.test_client()
    statuses = [sign_in(client, "camille@maison.example", f"guess {n}").status_code for n in range(12)]
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]
    response = sign_in(client, "camille@maison.example")
    assert response.status_code == 429
    assert "Too many attempts" in text(response)


def test_sign_in_redirects_only_to_local_paths(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email="camille@maison.example")
    client = app.test_client()
    for target, expected in [("/lots?colour=white", "/lots?colour=white"), ("//evil.example/x", "/dashboard"),
                             ("https://evil.example/", "/dashboard")]:
        token = csrf_token(client)
        response = client.post("/signin", data={
            "email": "camille@maison.example", "password": factories.PASSWORD, "next": target, "csrf_token": token,
        })
        assert response.headers["Location"] == expected
        client.post("/signout", data={"csrf_token": csrf_token(client, "/dashboard")})


def test_anonymous_visitor_is_sent_to_sign_in(app: Flask) -> None:
    response = app.test_client().get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signin?next=/dashboard"
