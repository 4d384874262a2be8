"""factory_boy factories of marketplace/lots/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from marketplace import models as m
from marketplace.lots.models import Colour, FibreState, Incoterm, LotStatus, PriceBasis, TestMethod
from tests.certification.factories import CertificateFactory
from tests.factory_base import Base
from tests.organisations.factories import CooperativeFactory


class LotFactory(Base):
    class Meta:
        model = m.Lot

    code = factory.Sequence(lambda n: f"TEST-LOT-{n:04d}")
    cooperative = factory.SubFactory(CooperativeFactory)
    soum = factory.SelfAttribute("cooperative.soum")
    aimag = factory.SelfAttribute("cooperative.aimag")
    season = 2026
    herder_households = 20
    colour = Colour.white
    state = FibreState.dehaired
    status = LotStatus.listed
    listed_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
    mean_diameter_um = Decimal("15.5")
    diameter_cv_pct = Decimal("20.5")
    fibres_over_30um_pct = Decimal("0.60")
    mean_length_mm = Decimal("38.0")
    hair_content_pct = Decimal("0.20")
    dehairing_yield_pct = None
    vegetable_matter_pct = Decimal("0.05")
    moisture_regain_pct = Decimal("15.0")
    test_method = TestMethod.iwto_8
    lab_name = "Test lab"
    lab_report_number = factory.Sequence(lambda n: f"R-{n}")
    tested_on = dt.date(2026, 7, 1)
    net_kg = Decimal("500")
    bags = 20
    available_kg = Decimal("500")
    reserved_kg = Decimal("0")
    min_order_kg = Decimal("50")
    sample_size_g = 100
    price_minor = 12500
    premium_minor = 800
    currency = "EUR"
    price_basis = PriceBasis.clean
    incoterm = Incoterm.FCA
    incoterm_place = "Ulaanbaatar"
    deposit_pct = Decimal("30")
    price_valid_until = dt.date(2027, 6, 30)
    certificate = factory.SubFactory(CertificateFactory, holder=factory.SelfAttribute("..cooperative"))


class LotContributionFactory(Base):
    class Meta:
        model = m.LotContribution

    lot = factory.SubFactory(LotFactory)
    cooperative = factory.SelfAttribute("lot.cooperative")
    kg = Decimal("500")
    herder_households = 20
