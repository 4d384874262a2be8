from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import Membership, Role, User
from marketplace.accounts.services import hash_password, verify_password
from marketplace.extensions import db
from marketplace.notifications import services
from marketplace.organisations.models import Organisation, OrgKind
from tests import factories
from tests.helpers import csrf_token, sign_in, text

GOOD_SIGNUP = {
    "name": "Giulia Bianchi",
    "email": "Giulia@Filati.example",
    "password": "loom saffron teapot glacier",
    "confirm": "loom saffron teapot glacier",
    "account_type": "brand_buyer",
    "organisation": "Filati Bianchi",
    "country": "IT",
    "registration_number": "IT00743110157",
}


def _counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count(User.id))),
            db.session.scalar(select(func.count(Organisation.id))),
            db.session.scalar(select(func.count(Membership.id))),
        )


def _confirmation_link(app: Flask, mailbox) -> str:  # type: ignore[no-untyped-def]
    with app.app_context():
        services.deliver()
    body = mailbox.messages[-1].get_body(preferencelist=("plain",)).get_content()
    return next(line for line in body.splitlines() if "/verify/" in line).removeprefix("http://127.0.0.1:5000")


@pytest.mark.parametrize(("profile", "cost"), [("production", "m=65536,t=3,p=4"), ("dev", "m=65536,t=3,p=4"),
                                              (None, "m=65536,t=3,p=4"), ("test", "m=8,t=1,p=1")])
def test_only_the_test_profile_hashes_passwords_at_the_lowest_cost(profile: str | None, cost: str) -> None:
    """The suite's cheap hashing is the test profile's alone: every other profile (and code outside an app)
    hashes at argon2-cffi's recommended cost."""
    bare = Flask(__name__)
    bare.config["ENV"] = profile
    with bare.app_context():
        hashed = hash_password("correct horse battery")
        assert hashed.startswith(f"$argon2id$v=19${cost}$")
        assert verify_password(hashed, "correct horse battery")
        assert not verify_password(hashed, "correct horse battery!")


def test_sign_up_creates_an_unverified_buyer_who_confirms_the_address_then_signs_in(app: Flask, mailbox) -> None:
    client = app.test_client()
    response = client.post("/signup", data={**GOOD_SIGNUP, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 200
    assert "Check your e-mail" in text(response)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "giulia@filati.example"))
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert user.roles == {Role.brand_buyer}
        assert user.organisation.kind is OrgKind.brand
        assert user.organisation.country == "IT"
        assert user.organisation.registration_number == "IT00743110157"
        assert user.organisation.verified_at is None  # until the Union verifies it
        assert user.email_verified_at is None
    assert client.get("/dashboard").status_code == 302  # not signed in by signing up
    response = sign_in(client, "giulia@filati.example", GOOD_SIGNUP["password"])
    assert response.status_code == 422
    assert "Confirm your e-mail address first" in text(response)
    link = _confirmation_link(app, mailbox)
    assert mailbox.messages[-1]["To"] == "Giulia Bianchi <giulia@filati.example>"
    response = client.get(link)
    assert response.status_code == 302
    assert sign_in(client, "giulia@filati.example", GOOD_SIGNUP["password"]).status_code == 302
    assert "Giulia Bianchi" in text(client.get("/dashboard"))
    assert client.get(link[:-2] + "xx").status_code == 400  # a forged link


def test_sign_up_as_msme_with_a_mongolian_registration_number(app: Flask) -> None:
    client = app.test_client()
    data = {**GOOD_SIGNUP, "account_type": "msme_editor", "email": "tsetseg@knit.example", "country": "MN",
            "registration_number": "6543210"}
    assert client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")}).status_code == 200
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
    assert "Use at least 12 characters." in html
    assert "Not a valid choice" in html  # the account type: staff roles are not self-service
    assert "Please correct the following" in html
    assert _counts(app) == before


@pytest.mark.parametrize(("password", "why"), [
    ("password1234", "too easy to guess"),  # a common password
    ("qwertyuiop123", "too easy to guess"),  # a keyboard walk
    ("giulia bianchi", "too easy to guess"),  # the person's own name
    ("aaaaaaaaaaaaaaa", "too easy to guess"),
    ("short one", "Use at least 12 characters."),
])
def test_weak_passwords_are_refused_at_sign_up(app: Flask, password: str, why: str) -> None:
    client = app.test_client()
    before = _counts(app)
    data = {**GOOD_SIGNUP, "password": password, "confirm": password}
    response = client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 422
    assert why in text(response)
    assert _counts(app) == before


@pytest.mark.parametrize(("country", "number"), [
    ("IT", "IT00743110158"),  # wrong check digit
    ("IT", "FR40303265045"),  # a valid VAT number of another country
    ("DE", "12345"),
    ("MN", "65432"),  # a Mongolian registration number has 7 digits
])
def test_bad_registration_numbers_are_refused(app: Flask, country: str, number: str) -> None:
    client = app.test_client()
    before = _counts(app)
    data = {**GOOD_SIGNUP, "country": country, "registration_number": number}
    response = client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 422
    assert "right format or check digit" in text(response)
    assert _counts(app) == before


def test_sign_up_with_a_taken_email_looks_the_same_and_tells_the_owner_by_email(app: Flask, mailbox) -> None:
    factories.UserFactory(email="giulia@filati.example")
    client = app.test_client()
    before = _counts(app)
    response = client.post("/signup", data={**GOOD_SIGNUP, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 200
    assert "Check your e-mail" in text(response)
    assert "already" not in text(response)
    assert _counts(app) == before
    with app.app_context():
        services.deliver()
    assert mailbox.messages[-1]["Subject"] == "Someone tried to create an account with your address"


def test_an_expired_confirmation_link_is_refused_and_a_new_one_can_be_asked_for(app: Flask, mailbox) -> None:
    client = app.test_client()
    client.post("/signup", data={**GOOD_SIGNUP, "csrf_token": csrf_token(client, "/signup")})
    link = _confirmation_link(app, mailbox)
    app.config["EMAIL_VERIFY_MAX_AGE"] = -1
    response = client.get(link)
    assert response.status_code == 400
    assert "no longer works" in text(response)
    with app.app_context():
        assert db.session.scalar(select(User.email_verified_at).where(User.email == "giulia@filati.example")) is None
    app.config["EMAIL_VERIFY_MAX_AGE"] = 3600
    statuses = []
    for _ in range(6):
        fresh = app.test_client()
        token = csrf_token(fresh, "/verify")
        statuses.append(fresh.post("/verify", data={"email": "giulia@filati.example", "csrf_token": token}).status_code)
    assert statuses == [200] * 5 + [429]  # rate-limited per address
    assert client.get(_confirmation_link(app, mailbox)).status_code == 302


def test_sign_up_is_rate_limited(app: Flask) -> None:
    client = app.test_client()
    statuses = []
    for n in range(6):
        data = {**GOOD_SIGNUP, "email": f"giulia{n}@filati.example"}
        statuses.append(client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")}).status_code)
    assert statuses == [200] * 5 + [429]


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
