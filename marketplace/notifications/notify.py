"""One function per event worth telling someone about. Domains call these with one line each
(issue 13 may move the calls onto domain events); each finds its recipients, its link and its
parameters, and hands them to ``services.notify`` / ``services.enqueue`` in the caller's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marketplace.accounts.models import User
from marketplace.notifications.services import enqueue, link, locale_of, members, notify, notify_all, staff

if TYPE_CHECKING:
    from marketplace.organisations.models import Organisation


# Accounts ------------------------------------------------------------------------------------------------

def verify_email(user: User, token: str) -> None:
    """Sent to the address being confirmed, whatever the user's preferences (no in-app line: not signed in)."""
    enqueue("verify_email", to_address=user.email, to_name=user.name, user=user, locale=locale_of(user),
            params={}, url=link("accounts.verify_email", token=token))


def signup_existing(user: User) -> None:
    enqueue("signup_existing", to_address=user.email, to_name=user.name, user=user, locale=locale_of(user),
            params={}, url=link("accounts.password_reset"))


def password_reset(user: User, token: str) -> None:
    enqueue("password_reset", to_address=user.email, to_name=user.name, user=user, locale=locale_of(user),
            params={}, url=link("accounts.password_reset_confirm", token=token))


def password_changed(user: User) -> None:
    notify(user, "password_changed", params={}, url=link("accounts.password_reset"))


def organisation_to_verify(organisation: Organisation) -> None:
    notify_all(staff(), "organisation_to_verify", params={"organisation": organisation.name},
               url=link("accounts.verification_queue"))


def organisation_verified(organisation: Organisation) -> None:
    notify_all(members(organisation.id), "organisation_verified", params={"organisation": organisation.name},
               url=link("dashboard.index"))
