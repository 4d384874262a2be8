"""Account rules: password hashing, sign-up and authentication. Services flush, never commit."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from marketplace.accounts.models import ROLE_ORG_KIND, Membership, Role, User
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.organisations.models import Organisation
from marketplace.organisations.services import unique_slug

_hasher = PasswordHasher()
# Verifying against this keeps the timing the same when the e-mail is unknown.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

# Roles a visitor may give themselves when signing up; other roles are granted by the Union.
SELF_SERVICE_ROLES = (Role.brand_buyer, Role.msme_editor)


class EmailTakenError(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None."""
    user = find_user(email)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
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
    email: str, name: str, password: str, organisation_name: str, role: Role, country: str
) -> User:
    """A new buyer or MSME account, with a new organisation of the matching kind."""
    if role not in SELF_SERVICE_ROLES:
        raise ValueError("This role cannot be chosen at sign-up")
    if find_user(email) is not None:
        raise EmailTakenError(email)
    kind = ROLE_ORG_KIND[role]
    organisation = Organisation(
        name=organisation_name.strip(),
        slug=unique_slug(organisation_name),
        kind=kind,
        country=country,
    )
    db.session.add(organisation)
    return create_user(email, name, password, organisation, role)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
