"""Server-side sessions: each sign-in is a ``user_session`` row; the cookie carries ``<id>.<secret>``.

Flask-Login keeps ``User.get_id()`` (that token) in the signed session cookie and, with remember-me,
in the remember cookie. ``load`` accepts a token only while its row is neither revoked nor expired,
so signing out (which revokes the row) refuses every copy of the old cookie, and "sign out
everywhere" or a password change revokes the other devices' rows.

Remember-me rows are bounded (REMEMBER_DAYS) and rotate: when the remember cookie brings a user
back in a new browser session, its row is revoked and a new one issued in a fresh cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from flask import Flask, current_app, has_request_context, request, session
from sqlalchemy import Select, select, update
from sqlalchemy.orm import joinedload

from marketplace.accounts.models import User, UserSession
from marketplace.db import utcnow
from marketplace.extensions import db


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _lifetime(remember: bool) -> dt.timedelta:
    config = current_app.config
    return dt.timedelta(days=config["REMEMBER_DAYS"]) if remember else \
        dt.timedelta(hours=config["SESSION_LIFETIME_HOURS"])


def start(user: User, *, remember: bool) -> str:
    """A new session row for ``user``; sets and returns its token (what Flask-Login will store)."""
    secret = secrets.token_urlsafe(32)
    agent = request.headers.get("User-Agent", "")[:200] if has_request_context() else ""
    row = UserSession(user_id=user.id, secret_hash=_hash(secret), remember=remember,
                      expires_at=utcnow() + _lifetime(remember), user_agent=agent)
    db.session.add(row)
    db.session.flush()
    user.session_token = f"{row.id}.{secret}"
    return user.session_token


def _live(token: str) -> tuple[Select, str] | None:
    """The query for the live row a token names, and the token's secret; None for a malformed token."""
    number, _, secret = token.partition(".")
    if not number.isdigit() or len(number) > 18 or not secret or len(secret) > 100:
        return None
    return select(UserSession).where(
        UserSession.id == int(number), UserSession.revoked_at.is_(None), UserSession.expires_at > utcnow()), secret


def _matches(row: UserSession, secret: str) -> bool:
    return hmac.compare_digest(row.secret_hash, _hash(secret))


def _row(token: str) -> UserSession | None:
    """The live row a token names, or None (malformed, unknown, forged, revoked or expired)."""
    live = _live(token)
    if live is None:
        return None
    query, secret = live
    row = db.session.scalar(query)
    return row if row is not None and _matches(row, secret) else None


def load(token: str) -> User | None:
    """Flask-Login's user loader: the active user of a live session. The row, its user and the user's memberships
    (their roles, which nearly every signed-in page reads) come in one query: it runs on every signed-in request."""
    live = _live(token)
    if live is None:
        return None
    query, secret = live
    found = db.session.execute(query.add_columns(User).join(User, User.id == UserSession.user_id)
                               .options(joinedload(User.memberships))).unique().first()
    if found is None or not _matches(found[0], secret):
        return None
    user = found[1]
    if not user.active:
        return None
    user.session_token = token
    return user


def current_row(user: User) -> UserSession | None:
    return _row(user.session_token) if user.session_token else None


def revoke(user: User) -> None:
    """End the session this request came with."""
    row = current_row(user)
    if row is not None:
        row.revoked_at = utcnow()
        db.session.flush()


def revoke_all(user_id: int, *, keep: User | None = None) -> int:
    """End every session of a user (but the one ``keep`` signed in with, if given)."""
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    kept = current_row(keep) if keep is not None else None
    if kept is not None:
        query = query.where(UserSession.id != kept.id)
    result = db.session.execute(query.values(revoked_at=utcnow()))
    db.session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def active_sessions(user_id: int) -> list[UserSession]:
    return list(db.session.scalars(select(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None), UserSession.expires_at > utcnow(),
    ).order_by(UserSession.id.desc())))


def rotate(sender: Flask, user: User, **_: object) -> None:
    """The remember cookie signed the user in again: replace its row by a new one (new cookie)."""
    old = current_row(user)
    if old is None:
        return
    old.revoked_at = utcnow()
    token = start(user, remember=True)
    session["_user_id"] = token
    session["_remember"] = "set"  # Flask-Login writes the new remember cookie with the response
    session["_remember_seconds"] = int(_lifetime(True).total_seconds())


