"""Transactional e-mail: the outbox written with the change, delivered over real SMTP (aiosmtpd on
loopback), retried through an outage, in the recipient's language, safe against header injection."""

from __future__ import annotations

import datetime as dt
import re
import socket
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import Role, User
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.notifications import notify, services
from marketplace.notifications.models import MailStatus, Notification, OutgoingMail
from tests import factories


def _outbox(app: Flask) -> list[OutgoingMail]:
    with app.app_context():
        return list(db.session.scalars(select(OutgoingMail).order_by(OutgoingMail.id)))


def _deliver(app: Flask, **kwargs: Any) -> dict[str, int]:
    with app.app_context(), app.test_request_context():
        return dict(services.deliver(**kwargs))


def _body(message: Any, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, subtype
    return str(part.get_content())


def _later(minutes: int) -> dt.datetime:
    return utcnow() + dt.timedelta(minutes=minutes)


def _buyer(locale: str = "en", **kwargs: Any) -> User:
    return factories.user_with_role(Role.brand_buyer, locale=locale, **kwargs)


def test_a_message_is_written_with_the_change_and_delivered_with_text_html_and_headers(app: Flask, mailbox) -> None:
    user = _buyer(name="Camille Martin", email="camille@maison.example")
    with app.test_request_context():
        notify.password_changed(db.session.get(User, user.id))
        notify.organisation_verified(db.session.get(User, user.id).organisation)
        db.session.commit()
    assert [m.status for m in _outbox(app)] == [MailStatus.pending, MailStatus.pending]
    assert _deliver(app) == {"sent": 2}
    assert [m.status for m in _outbox(app)] == [MailStatus.sent, MailStatus.sent]
    assert len(mailbox.messages) == 2
    message = mailbox.messages[0]
    assert message["Subject"] == "Your password was changed"
    assert message["To"] == "Camille Martin <camille@maison.example>"
    assert "Union of Sustainable Cashmere Cooperatives" in message["From"]
    assert mailbox.envelopes[0][1] == ["camille@maison.example"]
    text = _body(message, "plain")
    html = _body(message, "html")
    assert "Hello Camille Martin," in text
    assert "Hello Camille Martin," in html
    assert "http://127.0.0.1:5000/password/reset" in text  # the link back, on the public origin
    assert 'href="http://127.0.0.1:5000"' in html  # the site's name links home
    assert "List-Unsubscribe" not in message  # essential: cannot be switched off
    # The in-app list got the same news.
    with app.app_context():
        titles = db.session.scalars(select(Notification.title).where(Notification.user_id == user.id)).all()
    assert "Your password was changed" in titles


def test_non_essential_mail_carries_list_unsubscribe_that_works_in_one_click(app: Flask, mailbox) -> None:
    user = _buyer(email="giulia@filati.example")
    with app.test_request_context():
        services.notify(db.session.get(User, user.id), "sample_sent", params={"lot": "USCC-1"},
                        url=services.link("orders.my_quotes"))
        db.session.commit()
    _deliver(app)
    message = mailbox.messages[0]
    unsubscribe = message["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith("http://127.0.0.1:5000/notifications/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    client = app.test_client()
    path = unsubscribe.removeprefix("http://127.0.0.1:5000")
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with app.test_request_context():
        services.notify(db.session.get(User, user.id), "sample_sent", params={"lot": "USCC-2"},
                        url=services.link("orders.my_quotes"))
        db.session.commit()
    assert len(_outbox(app)) == 1  # switched off: no second e-mail …
    with app.app_context():  # … but the in-app line is still there
        assert db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == user.id)) == 2
    assert client.post(path[:-3] + "xyz").status_code == 404  # a forged token changes nothing


def test_an_expired_unsubscribe_link_changes_nothing_and_offers_the_preferences_after_sign_in(app: Flask) -> None:
    """Issue 15: unsubscribe links are signed with their time and stop working after UNSUBSCRIBE_MAX_AGE."""
    import time

    from tests.helpers import PASSWORD, csrf_token

    user = _buyer(email="old.mail@filati.example")
    with app.test_request_context():
        path = f"/notifications/unsubscribe/{services.unsubscribe_token(user.id, 'orders')}"
    app.config["UNSUBSCRIBE_MAX_AGE"] = 1
    client = app.test_client()
    assert client.get(path).status_code == 200  # fresh: it works
    time.sleep(2.2)
    for response in (client.get(path), client.post(path, data={"List-Unsubscribe": "One-Click"})):
        assert response.status_code == 410
        page = response.get_data(as_text=True)
        assert "This link has expired" in page
        assert "Sign in and manage e-mail preferences" in page
    with app.app_context():
        assert services.preferences(user.id)["orders"] is True  # nothing changed
    [signin] = re.findall(r'href="([^"]*/signin\?next=[^"]*)"', page)
    assert "preferences" in signin
    done = client.post(signin, data={"email": "old.mail@filati.example", "password": PASSWORD,
                                     "csrf_token": csrf_token(client), "next": "/notifications/preferences"})
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/notifications/preferences")


@pytest.mark.parametrize(("locale", "subject", "greeting"), [
    ("en", "Your password was changed", "Hello"),
    ("fr", "Votre mot de passe a été modifié", "Bonjour"),
    ("de", "Ihr Passwort wurde geändert", "Hallo"),
    ("it", "La tua password è stata modificata", "Ciao"),
    ("mn", "Таны нууц үг солигдлоо", "Сайн байна уу"),
    ("zh", "您的密码已更改", "您好"),
])
def test_the_message_is_in_the_recipients_language(app: Flask, mailbox, locale: str, subject: str,
                                                   greeting: str) -> None:
    user = _buyer(locale=locale)
    with app.test_request_context():
        notify.password_changed(db.session.get(User, user.id))
        db.session.commit()
    _deliver(app)
    message = mailbox.messages[0]
    assert message["Subject"] == subject
    assert message["Content-Language"] == locale
    assert greeting in _body(message, "plain")
    assert f'lang="{locale}"' in _body(message, "html")


def test_an_smtp_outage_loses_nothing_and_everything_is_delivered_afterwards(app: Flask, mailbox,
                                                                            record_property) -> None:  # type: ignore[no-untyped-def]
    users = [_buyer(email=f"buyer{n}@maison.example") for n in range(5)]
    with app.test_request_context():
        for user in users:
            notify.password_changed(db.session.get(User, user.id))
        db.session.commit()
    with socket.socket() as s:  # a port nobody listens on: the SMTP server is down
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    app.config["MAIL_PORT"] = dead
    assert _deliver(app) == {"retry": 5}
    rows = _outbox(app)
    assert {r.status for r in rows} == {MailStatus.pending}
    assert {r.attempts for r in rows} == {1}
    assert all("Connection refused" in r.last_error or "Errno" in r.last_error for r in rows)
    assert _deliver(app) == {}  # backing off: not due yet
    assert _deliver(app, now=_later(1)) == {"retry": 5}
    assert {r.attempts for r in _outbox(app)} == {2}
    # The server is back: all five are delivered, none twice.
    app.config["MAIL_PORT"] = mailbox_port()
    assert _deliver(app, now=_later(5)) == {"sent": 5}
    assert sorted(rcpt[0] for _, rcpt in mailbox.envelopes) == sorted(u.email for u in users)
    assert _deliver(app, now=_later(60)) == {}
    record_property("outage", f"{len(users)} messages written during the outage, {len(mailbox.messages)} delivered")


def test_a_server_refusing_with_4xx_is_retried_and_5xx_recipients_fail_for_good(app: Flask, mailbox) -> None:
    user = _buyer()
    with app.test_request_context():
        notify.password_changed(db.session.get(User, user.id))
        db.session.commit()
    mailbox.refuse = True
    assert _deliver(app) == {"retry": 1}
    mailbox.refuse = False
    assert _deliver(app, now=_later(1)) == {"sent": 1}
    assert len(mailbox.messages) == 1


def test_a_recipient_the_server_does_not_know_fails_at_once_and_the_others_go(app: Flask, mailbox) -> None:
    gone = _buyer(email="gone@maison.example")
    fine = _buyer(email="fine@maison.example")
    with app.test_request_context():
        notify.password_changed(db.session.get(User, gone.id))
        notify.password_changed(db.session.get(User, fine.id))
        db.session.commit()
    mailbox.unknown.add("gone@maison.example")
    assert _deliver(app) == {"failed": 1, "sent": 1}
    failed = _outbox(app)[0]
    assert failed.status is MailStatus.failed
    assert "550" in failed.last_error
    assert [rcpt for _, rcpt in mailbox.envelopes] == [["fine@maison.example"]]


def test_after_the_last_attempt_a_message_is_kept_as_failed_and_can_be_queued_again(app: Flask, mailbox) -> None:
    user = _buyer()
    app.config["MAIL_MAX_ATTEMPTS"] = 2
    with app.test_request_context():
        notify.password_changed(db.session.get(User, user.id))
        db.session.commit()
    mailbox.refuse = True
    _deliver(app)
    assert _deliver(app, now=_later(2)) == {"failed": 1}
    assert _outbox(app)[0].status is MailStatus.failed
    mailbox.refuse = False
    runner = app.test_cli_runner()
    assert "1 messages queued again" in runner.invoke(args=["mail", "retry"]).output
    assert "1 sent" in runner.invoke(args=["mail", "send"]).output
    assert "1 sent" in runner.invoke(args=["mail", "outbox"]).output
    assert len(mailbox.messages) == 1


def test_a_user_deleted_between_enqueue_and_send_is_dropped_not_sent(app: Flask, mailbox) -> None:
    user = _buyer()
    other = _buyer(email="stays@maison.example")
    with app.test_request_context():
        notify.password_changed(db.session.get(User, user.id))
        notify.password_changed(db.session.get(User, other.id))
        db.session.commit()
        db.session.delete(db.session.get(User, user.id))
        db.session.commit()
    assert _deliver(app) == {"dropped": 1, "sent": 1}
    assert [rcpt for _, rcpt in mailbox.envelopes] == [["stays@maison.example"]]
    assert _outbox(app)[0].last_error == "The recipient's account no longer exists."


def test_names_and_values_cannot_inject_headers(app: Flask, mailbox) -> None:
    user = _buyer(name="Eve\r\nBcc: victim@example.com")
    with app.test_request_context():
        services.notify(db.session.get(User, user.id), "quote_declined",
                        params={"ref": "Q-1\r\nBcc: victim@example.com", "reason": "<script>x</script>"},
                        url=services.link("orders.my_quotes"))
        db.session.commit()
    assert _deliver(app) == {"sent": 1}
    message = mailbox.messages[0]
    assert message["Bcc"] is None
    assert mailbox.envelopes[0][1] == [user.email]
    assert message["Subject"] == "Your quote request Q-1 Bcc: victim@example.com was declined"
    assert "\n" not in message["To"]
    assert "<script>" not in _body(message, "html")
    assert "&lt;script&gt;" in _body(message, "html")


@pytest.mark.parametrize("address", ["not-an-address", "a" * 250 + "@example.com", "x@example.com\r\nBcc: y@z.com"])
def test_an_unusable_address_is_skipped_without_failing_the_change(app: Flask, address: str) -> None:
    with app.test_request_context():
        assert services.enqueue("password_changed", to_address=address, params={}, url="http://x", locale="en") is None
    assert _outbox(app) == []


def mailbox_port() -> int:
    from tests.conftest import SMTP

    return int(SMTP["port"])


def test_a_request_never_waits_for_or_fails_on_smtp(app: Flask) -> None:
    from tests.helpers import csrf_token

    _buyer(email="camille@maison.example")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        app.config["MAIL_PORT"] = s.getsockname()[1]  # nothing listens: SMTP is down
    client = app.test_client()
    response = client.post("/password/reset", data={"email": "camille@maison.example",
                                                    "csrf_token": csrf_token(client, "/password/reset")})
    assert response.status_code == 200
    assert [(m.kind, m.status) for m in _outbox(app)] == [("password_reset", MailStatus.pending)]


def test_the_demo_content_tells_no_one(demo_app: Flask) -> None:
    with demo_app.app_context():
        assert db.session.scalar(select(func.count(OutgoingMail.id))) == 0
        assert db.session.scalar(select(func.count(Notification.id))) == 0
