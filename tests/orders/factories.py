"""factory_boy factories of marketplace/orders/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from marketplace import models as m
from marketplace.db import today
from marketplace.lots.models import Incoterm
from marketplace.orders.models import OrderStage, QuoteStatus
from tests.factory_base import Base
from tests.lots.factories import LotFactory
from tests.organisations.factories import CooperativeFactory, OrganisationFactory
from tests.pricing.factories import ensure_policy


class OrderFactory(Base):
    class Meta:
        model = m.Order

    reference = factory.Sequence(lambda n: f"ORD-{n:05d}")
    buyer = factory.SubFactory(OrganisationFactory)
    currency = "EUR"
    incoterm = Incoterm.FCA
    incoterm_place = "Ulaanbaatar"


class OrderLineFactory(Base):
    class Meta:
        model = m.OrderLine

    order = factory.SubFactory(OrderFactory)
    lot = factory.SubFactory(LotFactory)
    kg = Decimal("100")
    price_minor = 12500
    premium_minor = 800


class OrderEventFactory(Base):
    class Meta:
        model = m.OrderEvent

    order = factory.SubFactory(OrderFactory)
    stage = OrderStage.quote_requested


class SampleRequestFactory(Base):
    class Meta:
        model = m.SampleRequest

    lot = factory.SubFactory(LotFactory)
    buyer = factory.SubFactory(OrganisationFactory)
    address = "1 rue de la Paix, Paris"
    form_id = factory.Sequence(lambda n: f"sample-form-{n}")


class QuoteRequestFactory(Base):
    class Meta:
        model = m.QuoteRequest

    buyer = factory.SubFactory(OrganisationFactory)
    lot = factory.SubFactory(LotFactory)
    kg = Decimal("100")
    incoterm = Incoterm.FCA
    incoterm_place = "Ulaanbaatar"
    currency = "EUR"
    form_id = factory.Sequence(lambda n: f"quote-form-{n}")


class QuoteRequestLotFactory(Base):
    """A lot chosen in a quote request on several lots, with its own kg."""

    class Meta:
        model = m.QuoteRequestLot

    request = factory.SubFactory(QuoteRequestFactory, lot=None)
    lot = factory.SubFactory(LotFactory)
    kg = Decimal("100")


class QuoteFactory(Base):
    """A quote answering a request (the request is marked as quoted)."""

    class Meta:
        model = m.Quote

    request = factory.SubFactory(QuoteRequestFactory, status=QuoteStatus.quoted,
                                 answered_at=factory.LazyFunction(lambda: dt.datetime.now(dt.UTC)))
    price_minor = 12500
    premium_minor = 800
    currency = "EUR"
    valid_until = factory.LazyFunction(lambda: today() + dt.timedelta(days=30))
    deposit_pct = 30

    @factory.post_generation
    def fair_price(obj: m.Quote, create: bool, extracted: object, **_kwargs: object) -> None:  # noqa: N805
        """A quote is only ever sent under a published fair-price policy: make sure one is in force
        (floors 30.00 and 95.00, no grade premium) for its lots' seasons (or the lot factory's season)."""
        if create and extracted is not False:
            for season in {lot.season for lot in obj.request.lots} or {LotFactory.season}:
                ensure_policy(season, obj.currency)


class ReservationFactory(Base):
    class Meta:
        model = m.Reservation

    order = factory.SubFactory(OrderFactory)
    lot = factory.SubFactory(LotFactory)
    kg = Decimal("100")


class AllocationFactory(Base):
    class Meta:
        model = m.Allocation

    order = factory.SubFactory(OrderFactory)
    season = 2026
    alpha = Decimal("0.5")
    min_shipment_kg = Decimal("20")
    unit_kg = Decimal("1")


class AllocationShareFactory(Base):
    class Meta:
        model = m.AllocationShare

    allocation = factory.SubFactory(AllocationFactory)
    cooperative = factory.SubFactory(CooperativeFactory)
    weight = Decimal("1")
    eligible_kg = Decimal("500")
    cap_kg = Decimal("500")
    target_kg = Decimal("100")
    engine_kg = Decimal("100")
    kg = Decimal("100")


class AllocationAuditFactory(Base):
    class Meta:
        model = m.AllocationAudit

    allocation = factory.SubFactory(AllocationFactory)
    action = "proposed"
