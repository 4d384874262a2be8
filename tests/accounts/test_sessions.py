"""Sessions that really end, remember-me that is bounded, rotated and revocable, password reset and change."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from marketplace.accounts import sessions
from marketplace.accounts.models import Role, User, UserSession
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.notifications import services
from tests import factories
from tests.helpers import csrf_token, sign_in, statements_run, text

EMAIL = "camille@maison.example"
NEW_PASSWORD = "walnut orbit lantern quietly"


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive UTC datetimes back, PostgreSQL aware ones."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _remembered(client: FlaskClient, email: str = EMAIL) -> None:
    response = client.post("/signin", data={"email": email, "password": factories.PASSWORD, "remember": "y",
                                            "csrf_token": csrf_token(client)})
    assert response.status_code == 302


def _with_cookie(app: Flask, name: str, value: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie(name, value)
    return client


def _cookie(client: FlaskClient, name: str) -> str:
    cookie = client.get_cookie(name)
    assert cookie is not None, name
    return cookie.value


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/dashboard").status_code == 200


def _sign_out(client: FlaskClient, path: str = "/signout") -> None:
    assert client.post(path, data={"csrf_token": csrf_token(client, "/account")}).status_code == 302


def test_sign_out_refuses_a_replayed_session_cookie(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    assert sign_in(client, EMAIL).status_code == 302
    old = _cookie(client, "session")
    assert _signed_in(_with_cookie(app, "session", old))  # a copy of the cookie works while signed in
    _sign_out(client)
    assert not _signed_in(client)
    assert not _signed_in(_with_cookie(app, "session", old))  # … and not after sign-out
    with app.app_context():
        assert db.session.scalar(select(UserSession.revoked_at)) is not None


def test_the_session_cookie_holds_no_user_id_and_a_forged_token_is_refused(app: Flask) -> None:
    user = factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)  # what Flask-Login stored before: a bare user id
    assert not _signed_in(client)
    with client.session_transaction() as session:
        session["_user_id"] = "1.forged-secret"
    assert not _signed_in(client)


def test_a_live_session_with_a_forged_secret_is_refused(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    assert sign_in(client, EMAIL).status_code == 302
    with client.session_transaction() as session:
        number, _, secret = session["_user_id"].partition(".")
    forged = app.test_client()
    with forged.session_transaction() as session:
        session["_user_id"] = f"{number}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"  # the live row's id
    assert not _signed_in(forged)
    with forged.session_transaction() as session:
        session["_user_id"] = f"{number}.{secret}"
    assert _signed_in(forged)  # the same id with its own secret: signed in


def test_a_signed_in_request_reads_its_session_user_and_roles_in_one_query(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    assert sign_in(client, EMAIL).status_code == 302
    with client.session_transaction() as session:
        token = session["_user_id"]
    with app.test_request_context():
        with statements_run(db.engine) as statements:
            user = sessions.load(token)
            roles = user.roles if user is not None else set()  # what nearly every signed-in page reads next
        assert user is not None
        assert user.email == EMAIL
        assert roles == {Role.brand_buyer}  # the roles came with it
        assert len(statements) == 1, statements


def test_remember_me_is_bounded_rotates_and_an_old_cookie_is_refused(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    _remembered(client)
    remember = _cookie(client, "remember_token")
    with app.app_context():
        row = db.session.scalar(select(UserSession))
        assert row.remember
        lifetime = _utc(row.expires_at) - _utc(row.created_at)
        assert dt.timedelta(days=29) < lifetime <= dt.timedelta(days=30, minutes=1)
    # A new browser session with only the remember cookie: signed in, with a new (rotated) cookie.
    browser = _with_cookie(app, "remember_token", remember)
    assert _signed_in(browser)
    rotated = _cookie(browser, "remember_token")
    assert rotated != remember
    # The old remember cookie no longer works (a stolen copy is useless once the owner came back) …
    assert not _signed_in(_with_cookie(app, "remember_token", remember))
    # … the rotated one does.
    assert _signed_in(_with_cookie(app, "remember_token", rotated))


def test_sign_out_revokes_the_remember_me_cookie(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    _remembered(client)
    remember = _cookie(client, "remember_token")
    _sign_out(client)
    assert not _signed_in(_with_cookie(app, "remember_token", remember))


def test_an_expired_session_is_refused(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    _remembered(client)
    remember = _cookie(client, "remember_token")
    with app.app_context():
        db.session.execute(update(UserSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
    assert not _signed_in(client)
    assert not _signed_in(_with_cookie(app, "remember_token", remember))


def test_sign_out_everywhere_ends_every_device(app: Flask) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    laptop, phone = app.test_client(), app.test_client()
    assert sign_in(laptop, EMAIL).status_code == 302
    _remembered(phone)
    phone_remember = _cookie(phone, "remember_token")
    assert "Where you are signed in" in text(laptop.get("/account"))
    _sign_out(laptop, "/signout/everywhere")
    assert not _signed_in(laptop)
    assert not _signed_in(phone)
    assert not _signed_in(_with_cookie(app, "remember_token", phone_remember))


def test_changing_the_password_ends_the_other_sessions_and_sends_an_email(app: Flask, mailbox) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    laptop, phone = app.test_client(), app.test_client()
    assert sign_in(laptop, EMAIL).status_code == 302
    _remembered(phone)
    token = csrf_token(laptop, "/password/change")
    wrong = laptop.post("/password/change", data={"current": "not it", "password": NEW_PASSWORD,
                                                  "confirm": NEW_PASSWORD, "csrf_token": token})
    assert wrong.status_code == 422
    assert "not your current password" in text(wrong)
    weak = laptop.post("/password/change", data={"current": factories.PASSWORD, "password": "password1234",
                                                 "confirm": "password1234", "csrf_token": token})
    assert weak.status_code == 422
    assert _signed_in(phone)
    response = laptop.post("/password/change", data={"current": factories.PASSWORD, "password": NEW_PASSWORD,
                                                     "confirm": NEW_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert _signed_in(laptop)  # this device stays signed in
    assert not _signed_in(phone)
    assert sign_in(app.test_client(), EMAIL, NEW_PASSWORD).status_code == 302
    with app.app_context():
        services.deliver()
    assert [m["Subject"] for m in mailbox.messages] == ["Your password was changed"]


def _reset_link(app: Flask, mailbox) -> str:  # type: ignore[no-untyped-def]
    with app.app_context():
        services.deliver()
    body = mailbox.messages[-1].get_body(preferencelist=("plain",)).get_content()
    return next(line for line in body.splitlines() if "/password/reset/" in line).removeprefix("http://127.0.0.1:5000")


def _ask_reset(client: FlaskClient, email: str) -> str:
    token = csrf_token(client, "/password/reset")
    response = client.post("/password/reset", data={"email": email, "csrf_token": token})
    assert response.status_code == 200
    return text(response)


def test_password_reset_answers_the_same_for_unknown_addresses_and_sends_nothing(app: Flask, mailbox) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    known = _ask_reset(app.test_client(), EMAIL)
    unknown = _ask_reset(app.test_client(), "nobody@maison.example")
    assert known.replace(EMAIL, "X") == unknown.replace("nobody@maison.example", "X")
    with app.app_context():
        services.deliver()
    assert [rcpt for _, rcpt in mailbox.envelopes] == [[EMAIL]]


def test_a_reset_link_works_once_and_signs_out_every_session(app: Flask, mailbox) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    phone = app.test_client()
    _remembered(phone)
    client = app.test_client()
    _ask_reset(client, EMAIL)
    link = _reset_link(app, mailbox)
    assert mailbox.messages[-1]["Subject"] == "Reset your password"
    assert client.get(link).status_code == 200
    token = csrf_token(client, link)
    weak = client.post(link, data={"password": "password1234", "confirm": "password1234", "csrf_token": token})
    assert weak.status_code == 422
    response = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert not _signed_in(phone)
    assert sign_in(app.test_client(), EMAIL, NEW_PASSWORD).status_code == 302
    assert sign_in(app.test_client(), EMAIL).status_code == 422  # the old password is gone
    # Used once: the same link now refuses, with a clear page and nothing changed.
    again = client.post(link, data={"password": "another fine phrase here", "confirm": "another fine phrase here",
                                    "csrf_token": token})
    assert again.status_code == 400
    assert "no longer works" in text(again)
    assert sign_in(app.test_client(), EMAIL, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("tamper", ["expired", "forged", "garbage"])
def test_expired_forged_or_garbage_reset_links_are_refused(app: Flask, mailbox, tamper: str) -> None:
    factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    _ask_reset(client, EMAIL)
    link = _reset_link(app, mailbox)
    if tamper == "expired":
        app.config["PASSWORD_RESET_MAX_AGE"] = -1
    elif tamper == "forged":
        link = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    else:
        link = "/password/reset/" + "x" * 3000
    response = client.get(link)
    assert response.status_code == 400
    assert "no longer works" in text(response)
    with app.app_context():
        assert services.outbox_counts() == {"sent": 1}  # nothing else happened


def test_reset_requests_are_rate_limited_per_address(app: Flask) -> None:
    statuses = []
    for _ in range(6):
        client = app.test_client()
        token = csrf_token(client, "/password/reset")
        statuses.append(client.post("/password/reset", data={"email": EMAIL, "csrf_token": token}).status_code)
    assert statuses == [200] * 5 + [429]


def test_a_deactivated_user_is_signed_out_at_once(app: Flask) -> None:
    user = factories.user_with_role(Role.brand_buyer, email=EMAIL)
    client = app.test_client()
    assert sign_in(client, EMAIL).status_code == 302
    with client.session_transaction() as session:
        token = session["_user_id"]
    with app.app_context():
        db.session.get(User, user.id).active = False
        db.session.commit()
    assert not _signed_in(client)
    with app.test_request_context():  # the loader itself refuses (not only Flask-Login's is_authenticated)
        assert sessions.load(token) is None
