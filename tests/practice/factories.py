"""factory_boy factories of marketplace/practice/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

from decimal import Decimal

import factory

from marketplace import models as m
from tests.certification.factories import SchemeFactory
from tests.factory_base import Base
from tests.organisations.factories import CooperativeFactory
from tests.products.factories import MsmeFactory


class CommitmentFactory(Base):
    class Meta:
        model = m.Commitment

    msme = factory.SubFactory(MsmeFactory)
    area = "labour"
    text = "Written contracts for every worker"


class PerformanceReportFactory(Base):
    class Meta:
        model = m.PerformanceReport

    msme = factory.SubFactory(MsmeFactory)
    year = 2025
    energy_kwh = Decimal("100000")
    water_m3 = Decimal("3000")
    wastewater_treated = True
    workers_women = 20
    workers_men = 10
    incidents = 0


class ParticipationEventFactory(Base):
    class Meta:
        model = m.ParticipationEvent

    organisation = factory.SubFactory(CooperativeFactory)
    scheme = factory.SubFactory(SchemeFactory)
    action = "enrolled"
