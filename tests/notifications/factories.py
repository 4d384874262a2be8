"""factory_boy factories of marketplace/notifications/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import factory

from marketplace import models as m
from tests.accounts.factories import UserFactory
from tests.factory_base import Base


class OutgoingMailFactory(Base):
    class Meta:
        model = m.OutgoingMail

    kind = "password_changed"
    to_address = factory.Sequence(lambda n: f"person{n}@example.com")
    subject = "Your password was changed"
    text_body = "Your password was changed."
    html_body = "<p>Your password was changed.</p>"


class NotificationFactory(Base):
    class Meta:
        model = m.Notification

    user_id = factory.LazyFunction(lambda: UserFactory().id)
    kind = "password_changed"
    title = "Your password was changed"


class MailPreferenceFactory(Base):
    class Meta:
        model = m.MailPreference

    user_id = factory.LazyFunction(lambda: UserFactory().id)
    kind = "quote_reminder"
    enabled = False
