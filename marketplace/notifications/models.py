"""The mail outbox, in-app notifications and per-user e-mail preferences."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, TimestampMixin, enum_column, utcnow


class MailStatus(enum.StrEnum):
    pending = "pending"  # waiting for the worker (again, after a failed attempt)
    sent = "sent"  # accepted by the SMTP server
    failed = "failed"  # refused for good, or still failing after MAIL_MAX_ATTEMPTS; kept, `mail retry` re-queues
    dropped = "dropped"  # the recipient's account was deleted or closed before it was sent


class OutgoingMail(TimestampMixin, Base):
    """One rendered message waiting for (or past) delivery."""

    __tablename__ = "outgoing_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    # No foreign key: the account may be deleted between enqueueing and sending (the worker drops it then).
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(120), default="")
    locale: Mapped[str] = mapped_column(String(5), default="en")
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    unsubscribe_url: Mapped[str | None] = mapped_column(String(500))  # non-essential mail only
    status: Mapped[MailStatus] = mapped_column(enum_column(MailStatus, 10), default=MailStatus.pending, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(TimestampMixin, Base):
    """A line in a signed-in user's notification list."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(500), default="")
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class MailPreference(Base):
    """A user's choice for one kind of non-essential e-mail (no row: the default, on)."""

    __tablename__ = "mail_preference"
    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_mail_preference_user_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
