"""Account rules: password hashing and strength, sign-up, e-mail confirmation, password reset and
change, authentication. Services flush, never commit."""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from zxcvbn import zxcvbn

from marketplace import events
from marketplace.accounts import sessions
from marketplace.accounts.models import ROLE_ORG_KIND, Membership, Role, User
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.organisations.models import Organisation
from marketplace.organisations.services import check_registration_number, unique_slug

_STANDARD = PasswordHasher()  # argon2-cffi's recommended cost (RFC 9106's second choice)
# The test profile alone hashes at argon2id's lowest cost: the same code, well under a millisecond a hash
# (the test suite signs in thousands of times). It is chosen by the profile, never by a setting.
TEST_PROFILE_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
# Verifying against this keeps the timing the same when the e-mail is unknown.
_DUMMY_HASH = {id(h): h.hash("not-a-real-password") for h in (_STANDARD, TEST_PROFILE_HASHER)}


def _hasher() -> PasswordHasher:
    return TEST_PROFILE_HASHER if has_app_context() and current_app.config.get("ENV") == "test" else _STANDARD

# Roles a visitor may give themselves when signing up; other roles are granted by the Union.
SELF_SERVICE_ROLES = (Role.brand_buyer, Role.msme_editor)


PASSWORD_MIN_LENGTH = 12
PASSWORD_MIN_SCORE = 3  # zxcvbn's 0-4 scale: 3 is "safely unguessable" against an offline-throttled attack


class EmailTakenError(ValueError):
    pass


class WeakPasswordError(ValueError):
    """Too short, or too easy to guess (common, breached, or close to the person's own name or address)."""


class UnconfirmedEmailError(ValueError):
    """The password is right but the address was never confirmed."""


class TokenError(ValueError):
    """A reset or confirmation link that is forged, expired or already used."""


def check_password(password: str, *hints: str) -> None:
    """The one password rule (sign-up, reset, change): at least 12 characters and not guessable by
    zxcvbn's offline lists of common and breached passwords, words and names, and the person's own
    name, e-mail and organisation (``hints``)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPasswordError("short")
    inputs = [part for hint in hints if hint for part in [hint, *hint.replace("@", " ").replace(".", " ").split()]]
    if zxcvbn(password[:100], user_inputs=inputs)["score"] < PASSWORD_MIN_SCORE:
        raise WeakPasswordError("guessable")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None."""
    user = find_user(email)
    hasher = _hasher()
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH[id(hasher)], password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if user.email_verified_at is None:
        raise UnconfirmedEmailError(user.email)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = utcnow()
    db.session.flush()
    return user


def create_user(email: str, name: str, password: str, organisation: Organisation, role: Role) -> User:
    if find_user(email) is not None:
        raise EmailTakenError(email)
    if ROLE_ORG_KIND[role] is not organisation.kind:
        raise ValueError(f"A {role} must belong to a {ROLE_ORG_KIND[role]} organisation")
    user = User(email=normalise_email(email), name=name.strip(), password_hash=hash_password(password))
    user.memberships.append(Membership(organisation=organisation, role=role))
    db.session.add(user)
    db.session.flush()
    return user


def sign_up(
    *,
    email: str, name: str, password: str, organisation_name: str, role: Role, country: str,
    registration_number: str = "", locale: str | None = None,
) -> User | None:
    """A new buyer or MSME account, with a new, unverified organisation of the matching kind, and an
    e-mail to confirm the address. For an address that already has an account nothing is created and
    its owner is told by e-mail instead: the page the visitor sees is the same either way (None here).

    Raises WeakPasswordError or organisations.services.RegistrationNumberError for bad input.
    """
    if role not in SELF_SERVICE_ROLES:
        raise ValueError("This role cannot be chosen at sign-up")
    kind = ROLE_ORG_KIND[role]
    check_password(password, email, name, organisation_name)
    number = check_registration_number(registration_number, country, kind)
    existing = find_user(email)
    if existing is not None:
        events.signup_existing.send(existing)
        return None
    organisation = Organisation(
        name=organisation_name.strip(),
        slug=unique_slug(organisation_name),
        kind=kind,
        country=country,
        registration_number=number,
    )
    db.session.add(organisation)
    user = create_user(email, name, password, organisation, role)
    # Both columns default to "now" for accounts the Union makes; a sign-up starts with neither
    # (set after the insert: SQLAlchemy applies a column default over an explicit None).
    organisation.verified_at = None  # until Union staff check it (organisations.services.verify)
    user.email_verified_at = None
    user.locale = locale
    db.session.flush()
    events.verify_email.send(user, args=(email_token(user),))
    events.organisation_to_verify.send(organisation)
    return user


# Signed links: e-mail confirmation and password reset ---------------------------------------------------

def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _password_stamp(user: User) -> str:
    """Changes whenever the password does: a reset link stops working once used (single use)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def email_token(user: User) -> str:
    return str(_serializer("verify-email").dumps({"u": user.id, "e": user.email}))


def reset_token(user: User) -> str:
    return str(_serializer("password-reset").dumps({"u": user.id, "s": _password_stamp(user)}))


def _load(salt: str, token: str, max_age: int) -> dict[str, object]:
    try:
        data = _serializer(salt).loads(token[:500], max_age=max_age)
    except SignatureExpired:
        raise TokenError("expired") from None
    except BadSignature:
        raise TokenError("invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise TokenError("invalid")
    return data


def confirm_email(token: str) -> User:
    """Mark the address confirmed; TokenError for a forged or expired link or a changed address."""
    data = _load("verify-email", token, current_app.config["EMAIL_VERIFY_MAX_AGE"])
    user = db.session.get(User, data["u"])
    if user is None or user.email != data.get("e") or not user.active:
        raise TokenError("invalid")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        db.session.flush()
    return user


def resend_confirmation(email: str) -> None:
    """Send the confirmation link again to an unconfirmed account (silently nothing otherwise)."""
    user = find_user(email)
    if user is not None and user.active and user.email_verified_at is None:
        events.verify_email.send(user, args=(email_token(user),))


def request_password_reset(email: str) -> None:
    """E-mail a reset link to the account with this address, if there is one; the caller shows the
    same answer either way."""
    user = find_user(email)
    if user is not None and user.active:
        events.password_reset.send(user, args=(reset_token(user),))


def user_for_reset(token: str) -> User:
    """The user a reset link is for; TokenError when forged, expired or already used."""
    data = _load("password-reset", token, current_app.config["PASSWORD_RESET_MAX_AGE"])
    user = db.session.get(User, data["u"])
    if user is None or not user.active or data.get("s") != _password_stamp(user):
        raise TokenError("used")
    return user


def set_password(user: User, password: str, *, keep_session_of: User | None = None) -> None:
    """Change the password (checked by ``check_password``), end every other session and tell the user."""
    check_password(password, user.email, user.name)
    user.password_hash = hash_password(password)
    if user.email_verified_at is None:  # following a link sent to the address proves it is theirs
        user.email_verified_at = utcnow()
    sessions.revoke_all(user.id, keep=keep_session_of)
    db.session.flush()
    events.password_changed.send(user)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
