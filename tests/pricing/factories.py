"""factory_boy factories of marketplace/pricing/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt

import factory

from marketplace import models as m
from marketplace.lots.models import Colour
from tests.factory_base import Base, current_session


class PricePolicyFactory(Base):
    class Meta:
        model = m.PricePolicy

    season = factory.Sequence(lambda n: 2000 + n)
    currency = "EUR"
    revision = 1
    greasy_floor_minor = 3000
    dehaired_floor_minor = 9500
    published_on = dt.date(2026, 5, 15)
    note = ""


def ensure_policy(season: int = 2026, currency: str = "EUR", **kwargs: object) -> m.PricePolicy:
    """The fair-price policy for ``season`` in ``currency``: the one published, or a new one."""
    from sqlalchemy import select

    found = current_session().scalar(select(m.PricePolicy).filter_by(season=season, currency=currency)
                                     .order_by(m.PricePolicy.revision.desc()).limit(1))
    return found or PricePolicyFactory(season=season, currency=currency, **kwargs)


class GradePremiumFactory(Base):
    class Meta:
        model = m.GradePremium

    policy = factory.SubFactory(PricePolicyFactory)
    band = "fine"
    colour = Colour.white
    premium_minor = 400
