"""Users and their roles inside organisations."""

from __future__ import annotations

import datetime as dt
import enum

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, TimestampMixin, enum_column, utcnow
from marketplace.organisations.models import Organisation, OrgKind


class Role(enum.StrEnum):
    union_staff = "union_staff"
    cooperative_manager = "cooperative_manager"
    msme_editor = "msme_editor"
    brand_buyer = "brand_buyer"
    certifier = "certifier"
    admin = "admin"


# Which kind of organisation each role belongs to.
ROLE_ORG_KIND: dict[Role, OrgKind] = {
    Role.union_staff: OrgKind.union,
    Role.admin: OrgKind.union,
    Role.cooperative_manager: OrgKind.cooperative,
    Role.msme_editor: OrgKind.msme,
    Role.brand_buyer: OrgKind.brand,
    Role.certifier: OrgKind.certifier,
}


class User(UserMixin, TimestampMixin, Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Accounts made by the Union or the demo are confirmed; a sign-up is not until its link is followed.
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The sign-in this request came with (set by the session loader, never stored): Flask-Login's id.
    session_token = None  # str | None; a plain attribute, not a column

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Membership.id"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str | None:  # Flask-Login keeps this in the session and the remember-me cookie
        """The server-side session's token, never the user id: a revoked session row ends every copy
        of the cookie that names it (accounts/sessions.py)."""
        return self.session_token

    @property
    def roles(self) -> set[Role]:
        return {m.role for m in self.memberships}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def membership(self) -> Membership | None:
        """The user's first (primary) membership."""
        return self.memberships[0] if self.memberships else None

    @property
    def organisation(self) -> Organisation | None:
        return self.membership.organisation if self.membership else None

    def organisation_ids(self, *roles: Role) -> set[int]:
        return {m.organisation_id for m in self.memberships if not roles or m.role in roles}


class Membership(TimestampMixin, Base):
    """A user's role inside one organisation."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id", "role", name="uq_membership_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))

    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship()


class UserSession(TimestampMixin, Base):
    """One sign-in on one device. The cookie holds ``<id>.<secret>``; only the secret's SHA-256 is kept.

    Sign-out, "sign out everywhere" and a password change set ``revoked_at``; a replayed cookie then
    names a revoked row and is refused. A remember-me row is replaced by a new one each time the
    cookie brings the user back (rotation), so a stolen old cookie stops working.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship()
