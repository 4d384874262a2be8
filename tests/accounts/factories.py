"""factory_boy factories of marketplace/accounts/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt

import factory

from marketplace import models as m
from tests.factory_base import _PASSWORD_HASH, Base
from tests.organisations.factories import OrganisationFactory


class UserFactory(Base):
    class Meta:
        model = m.User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    password_hash = _PASSWORD_HASH


class MembershipFactory(Base):
    class Meta:
        model = m.Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = m.Role.brand_buyer


def user_with_role(role: m.Role, organisation: m.Organisation | None = None, **kwargs: object) -> m.User:
    """A user holding ``role`` in ``organisation`` (a new one of the right kind by default)."""
    from marketplace.accounts.models import ROLE_ORG_KIND

    if organisation is None:
        organisation = OrganisationFactory(kind=ROLE_ORG_KIND[role])
    user = UserFactory(**kwargs)
    MembershipFactory(user=user, organisation=organisation, role=role)
    return user


class UserSessionFactory(Base):
    class Meta:
        model = m.UserSession

    user = factory.SubFactory(UserFactory)
    secret_hash = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=12))
