"""factory_boy factories of marketplace/funds/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt

import factory

from marketplace import models as m
from tests.factory_base import Base
from tests.organisations.factories import CooperativeFactory


class FundEntryFactory(Base):
    """A payment entry in the premium ledger (the kind with the fewest required fields)."""

    class Meta:
        model = m.FundEntry

    cooperative = factory.SubFactory(CooperativeFactory)
    kind = "payment"
    amount_minor = 50000
    currency = "EUR"
    paid_on = dt.date(2026, 10, 1)
    reference = factory.Sequence(lambda n: f"TRF-{n:05d}")
    advance = True
