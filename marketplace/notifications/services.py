"""Render messages into the outbox (in the caller's transaction) and deliver the outbox over SMTP.

Services flush, never commit, except ``deliver``: the worker commits after each message it sends,
so a crash never sends a message twice nor forgets one that was sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from email.utils import formataddr
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale
from flask_mailman import EmailMultiAlternatives
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import Markup, escape
from sqlalchemy import func, select, update

from marketplace.accounts.models import Membership, Role, User
from marketplace.db import as_utc, utcnow
from marketplace.extensions import db, mail
from marketplace.jobs import services as jobs
from marketplace.notifications.messages import GROUPS, KINDS, Kind
from marketplace.notifications.models import MailPreference, MailStatus, Notification, OutgoingMail

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
LEASE = dt.timedelta(minutes=10)  # a claimed message is not picked again by another worker meanwhile
BACKOFF_FIRST = 30  # seconds before the first retry; doubled each time, at most BACKOFF_MAX
BACKOFF_MAX = 3600
DELIVER_JOB = "mail.deliver"


class MailAddressError(ValueError):
    """An address that cannot receive mail (malformed or over-long)."""


def clean_header(value: Any, limit: int = 300) -> str:
    """One line of text for a header: CR, LF and other control characters become spaces (no header
    injection through a name, a reference or a reason), trimmed to ``limit`` characters."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())[:limit]


def checked_address(address: str) -> str:
    """The address normalised, or MailAddressError (malformed, over-long, CR/LF)."""
    if not address or len(address) > 254 or _CONTROL.search(address):
        raise MailAddressError(address[:60])
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise MailAddressError(str(error)) from None


def site_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


def link(endpoint: str, **values: Any) -> str:
    """An absolute link on the public origin, in a request or in a CLI job alike."""
    if has_request_context():
        return site_url() + url_for(endpoint, **values)
    with current_app.test_request_context(base_url=site_url()):
        return site_url() + url_for(endpoint, **values)


def locale_of(user: User | None, fallback: str | None = None) -> str:
    locales = current_app.config["LOCALES"]
    for candidate in (user.locale if user else None, fallback):
        if candidate in locales:
            return str(candidate)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


class UnsubscribeLinkExpired(Exception):  # noqa: N818 (a kind of link, like BadSignature)
    """A genuine unsubscribe link older than UNSUBSCRIBE_MAX_AGE: the person manages preferences after sign-in."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="mail-unsubscribe")


def unsubscribe_token(user_id: int, group: str) -> str:
    return str(_serializer().dumps({"u": user_id, "g": group}))


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """(user id, group) of a valid link; None for a forged or malformed one; UnsubscribeLinkExpired for a
    genuine link past UNSUBSCRIBE_MAX_AGE seconds (signed with its time, so an old e-mail stops working)."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["UNSUBSCRIBE_MAX_AGE"])
    except SignatureExpired:
        raise UnsubscribeLinkExpired from None
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or data.get("g") not in GROUPS:
        return None
    return data["u"], data["g"]


def render(kind: Kind, *, locale: str, name: str, params: Mapping[str, Any], url: str,
           unsubscribe_url: str | None) -> tuple[str, str, str]:
    """(subject, text, html) of ``kind`` in ``locale``. Parameters are escaped in the HTML part."""
    with force_locale(locale):
        plain = values(params)
        subject = clean_header(str(kind.subject) % plain)
        shown = [str(line) for line in kind.lines if _has_values(str(line), plain)]
        lines = [line % plain for line in shown]
        # The translated line is escaped first, then each value is escaped by Markup's % formatting.
        html_lines = [Markup(escape(line)) % plain for line in shown]  # noqa: S704
        context = {
            "name": clean_header(name, 120), "subject": subject, "lines": lines, "html_lines": html_lines,
            "action": str(kind.action) if kind.action else None, "url": url, "site_url": site_url(),
            "site_name": current_app.config["SITE_NAME"], "essential": kind.essential,
            "preferences_url": link("notifications.preferences"), "unsubscribe_url": unsubscribe_url,
            "locale": locale,
        }
        text = render_template("email/message.txt", **context)
        html = render_template("email/message.html", **context)
    return subject, text, html


def values(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as one-line text, in the locale in force: a callable (an amount, a stage's label, a
    product's name) is called here, so that each recipient reads it in their own language."""
    return {key: clean_header(value() if callable(value) else value, 500) for key, value in params.items()}


def _has_values(msgid: str, params: Mapping[str, str]) -> bool:
    """A line naming an optional parameter (a reason, a note) is left out when that value is empty."""
    return all(params.get(key) for key in re.findall(r"%\((\w+)\)s", msgid))


def wants(user: User, kind: Kind) -> bool:
    if kind.essential or kind.group is None:
        return True
    choice = db.session.scalar(select(MailPreference.enabled).where(
        MailPreference.user_id == user.id, MailPreference.kind == kind.group))
    return choice is not False


def enqueue(kind_name: str, *, to_address: str, params: Mapping[str, Any], url: str, locale: str,
            to_name: str = "", user: User | None = None) -> OutgoingMail | None:
    """Render one message into the outbox (flushed with the caller's change). A malformed address is
    logged and skipped: it must never fail the change that caused the message."""
    kind = KINDS[kind_name]
    if _QUIET.get():
        return None
    try:
        address = checked_address(to_address)
    except MailAddressError as error:
        log.warning("Not sending %s: unusable address (%s)", kind_name, error)
        return None
    unsubscribe = link("notifications.unsubscribe", token=unsubscribe_token(user.id, kind.group)) \
        if user is not None and kind.group else None
    subject, text, html = render(kind, locale=locale, name=to_name, params=params, url=url,
                                 unsubscribe_url=unsubscribe)
    row = OutgoingMail(kind=kind_name, user_id=user.id if user else None, to_address=address,
                       to_name=clean_header(to_name, 120), locale=locale, subject=subject, text_body=text,
                       html_body=html, unsubscribe_url=unsubscribe, status=MailStatus.pending,
                       next_attempt_at=utcnow())
    db.session.add(row)
    db.session.flush()
    # The job that sends the outbox, in the same transaction (one pending job serves every new message).
    jobs.enqueue(DELIVER_JOB, key=DELIVER_JOB)
    return row


_QUIET: ContextVar[bool] = ContextVar("notifications_quiet", default=False)


@contextmanager
def quiet() -> Iterator[None]:
    """Record changes without telling anyone (loading the demo's history, say)."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def notify(user: User | None, kind_name: str, *, params: Mapping[str, Any], url: str) -> None:
    """Tell ``user``: a line in their notification list and, unless they switched it off, an e-mail.

    ``url`` is an absolute link on the site (``link(...)``). Deleted or closed accounts get nothing.
    """
    if user is None or not user.active or _QUIET.get():
        return
    kind = KINDS[kind_name]
    locale = locale_of(user)
    with force_locale(locale):
        title = clean_header(str(kind.subject) % values(params))
    path = urlsplit(url)._replace(scheme="", netloc="").geturl() or "/"
    db.session.add(Notification(user_id=user.id, kind=kind_name, title=title, url=path))
    if wants(user, kind):
        enqueue(kind_name, to_address=user.email, to_name=user.name, params=params, url=url, locale=locale, user=user)
    db.session.flush()


def notify_all(users: Iterable[User], kind_name: str, *, params: Mapping[str, Any], url: str) -> None:
    seen: set[int] = set()
    for user in users:
        if user.id not in seen:
            seen.add(user.id)
            notify(user, kind_name, params=params, url=url)


def members(organisation_id: int | None, *roles: Role) -> list[User]:
    """The active users of an organisation (with one of ``roles``, if given)."""
    if organisation_id is None:
        return []
    query = select(User).join(Membership).where(Membership.organisation_id == organisation_id, User.active)
    if roles:
        query = query.where(Membership.role.in_(roles))
    return list(db.session.scalars(query.order_by(User.id)).unique())


def staff() -> list[User]:
    return list(db.session.scalars(select(User).join(Membership).where(
        Membership.role.in_((Role.union_staff, Role.admin)), User.active).order_by(User.id)).unique())


# Delivery (the worker) ------------------------------------------------------------------------------

def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX))


def _permanent(error: BaseException) -> bool:
    """A 5xx answer about this message (refused recipient, sender or data): retrying will not help."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    code = getattr(error, "smtp_code", None)
    return isinstance(code, int) and code >= 500 and not isinstance(error, smtplib.SMTPServerDisconnected)


def _message(row: OutgoingMail, connection: Any) -> EmailMultiAlternatives:
    headers = {"Content-Language": row.locale, "Auto-Submitted": "auto-generated", "X-Notification-Kind": row.kind}
    if row.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{row.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    to = formataddr((row.to_name, row.to_address)) if row.to_name else row.to_address
    message = EmailMultiAlternatives(subject=clean_header(row.subject), body=row.text_body, to=[to],
                                     headers=headers, connection=connection)
    message.attach_alternative(row.html_body, "text/html")
    return message


def _failed(row: OutgoingMail, error: BaseException, now: dt.datetime, *, permanent: bool) -> str:
    row.attempts += 1
    row.last_error = clean_header(f"{type(error).__name__}: {error}", 500)
    if permanent or row.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        row.status = MailStatus.failed
        return "failed"
    row.status = MailStatus.pending
    row.next_attempt_at = now + backoff(row.attempts)
    return "retry"


def deliver(*, limit: int = 50, now: dt.datetime | None = None) -> Counter[str]:
    """Send the due messages of the outbox. Returns how many were sent, retried later, failed, dropped.

    An SMTP server that is down or refuses only postpones the messages (with backoff); nothing is lost.
    """
    now = now or utcnow()
    counts: Counter[str] = Counter()
    ids = list(db.session.scalars(select(OutgoingMail.id).where(
        OutgoingMail.status == MailStatus.pending, OutgoingMail.next_attempt_at <= now,
    ).order_by(OutgoingMail.id).limit(limit)))
    if not ids:
        return counts
    # Claim them (a lease), so that a second worker running meanwhile leaves them alone.
    claimed = db.session.execute(update(OutgoingMail).where(
        OutgoingMail.id.in_(ids), OutgoingMail.status == MailStatus.pending, OutgoingMail.next_attempt_at <= now,
    ).values(next_attempt_at=now + LEASE).returning(OutgoingMail.id))
    ids = sorted(claimed.scalars())
    db.session.commit()
    config = current_app.config
    connection = mail.get_connection(host=config["MAIL_SERVER"], port=config["MAIL_PORT"])
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        log.warning("SMTP server unreachable (%s): %d messages wait for the next attempt", error, len(ids))
        for row in db.session.scalars(select(OutgoingMail).where(OutgoingMail.id.in_(ids))):
            counts[_failed(row, error, now, permanent=False)] += 1
        db.session.commit()
        return counts
    try:
        for position, message_id in enumerate(ids):
            row = db.session.get(OutgoingMail, message_id)
            if row is None:
                continue
            if row.user_id is not None:
                user = db.session.get(User, row.user_id)
                if user is None or not user.active:
                    row.status, row.last_error = MailStatus.dropped, "The recipient's account no longer exists."
                    counts["dropped"] += 1
                    db.session.commit()
                    continue
            try:
                connection.send_messages([_message(row, connection)])
            except (OSError, smtplib.SMTPException) as error:
                counts[_failed(row, error, now, permanent=_permanent(error))] += 1
                db.session.commit()
                # (smtplib's errors are OSErrors too: only a lost connection, not an answer, stops the batch)
                if isinstance(error, smtplib.SMTPServerDisconnected) or not isinstance(error, smtplib.SMTPException):
                    # The connection is gone: the rest wait for the next run (their lease expires).
                    for rest in ids[position + 1:]:
                        db.session.execute(update(OutgoingMail).where(OutgoingMail.id == rest)
                                           .values(next_attempt_at=now))
                    db.session.commit()
                    break
                continue
            row.status, row.sent_at, row.last_error = MailStatus.sent, utcnow(), ""
            row.attempts += 1
            counts["sent"] += 1
            db.session.commit()
    finally:
        try:
            connection.close()
        except (OSError, smtplib.SMTPException):
            log.info("SMTP connection closed uncleanly")
    return counts


def next_due() -> dt.datetime | None:
    """When the earliest pending message is due (for the job that sends the outbox), or None."""
    found = db.session.scalar(select(func.min(OutgoingMail.next_attempt_at))
                              .where(OutgoingMail.status == MailStatus.pending))
    return None if found is None else as_utc(found)


def retry_failed() -> int:
    """Put the failed messages back in the queue (after fixing the SMTP settings, say)."""
    result = db.session.execute(update(OutgoingMail).where(OutgoingMail.status == MailStatus.failed)
                                .values(status=MailStatus.pending, attempts=0, next_attempt_at=utcnow()))
    db.session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def outbox_counts() -> dict[str, int]:
    rows = db.session.execute(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status))
    return {str(status): count for status, count in rows}


# In-app list -----------------------------------------------------------------------------------------

def unread_count(user_id: int) -> int:
    return int(db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)


def recent(user_id: int, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def mark_all_read(user_id: int) -> int:
    result = db.session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)).values(read_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def preferences(user_id: int) -> dict[str, bool]:
    chosen = dict(db.session.execute(select(MailPreference.kind, MailPreference.enabled)
                                     .where(MailPreference.user_id == user_id)).tuples().all())
    return {group: chosen.get(group, True) for group in GROUPS}


def set_preference(user_id: int, group: str, enabled: bool) -> None:
    if group not in GROUPS:
        raise ValueError(group)
    row = db.session.scalar(select(MailPreference).where(MailPreference.user_id == user_id,
                                                         MailPreference.kind == group))
    if row is None:
        db.session.add(MailPreference(user_id=user_id, kind=group, enabled=enabled))
    else:
        row.enabled = enabled
    db.session.flush()
