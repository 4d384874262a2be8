"""factory_boy factories of marketplace/payments/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import factory

from marketplace import models as m
from marketplace.payments.models import InvoiceKind, PaymentKind, ServiceKind
from marketplace.products.models import ProductStatus
from tests.factory_base import Base
from tests.orders.factories import OrderFactory
from tests.products.factories import MsmeFactory, ProductFactory


class PaymentFactory(Base):
    class Meta:
        model = m.Payment

    order = factory.SubFactory(OrderFactory)
    kind = PaymentKind.deposit
    amount_minor = 375000
    currency = "EUR"
    provider_ref = factory.Sequence(lambda n: f"pi_test_{n}")


class ConsumerOrderFactory(Base):
    class Meta:
        model = m.ConsumerOrder

    reference = factory.Sequence(lambda n: f"consumer-{n:06d}")
    email = "shopper@example.com"
    currency = "EUR"
    total_minor = 29000
    form_id = factory.Sequence(lambda n: f"checkout-form-{n}")


class ConsumerOrderLineFactory(Base):
    class Meta:
        model = m.ConsumerOrderLine

    order = factory.SubFactory(ConsumerOrderFactory)
    product = factory.SubFactory(ProductFactory, status=ProductStatus.published)
    quantity = 1
    unit_price_minor = 29000


class WebhookEventFactory(Base):
    class Meta:
        model = m.WebhookEvent

    event_id = factory.Sequence(lambda n: f"evt_test_{n}")
    type = "payment_intent.succeeded"
    created = 1_700_000_000


class InvoiceFactory(Base):
    class Meta:
        model = m.Invoice

    order = factory.SubFactory(OrderFactory)
    year = 2026
    sequence = factory.Sequence(lambda n: n + 1)
    number = factory.LazyAttribute(lambda o: f"INV-{o.year}-{o.sequence:04d}")
    kind = InvoiceKind.deposit
    amount_minor = 10000
    currency = "EUR"


class ShippingZoneFactory(Base):
    class Meta:
        model = m.ShippingZone

    organisation = factory.SubFactory(MsmeFactory)
    name = "Europe"
    countries = factory.LazyFunction(lambda: ["FR", "DE", "IT"])
    rate_minor = 1500


class ConsumerShipmentFactory(Base):
    class Meta:
        model = m.ConsumerShipment

    order = factory.SubFactory(ConsumerOrderFactory)
    organisation = factory.SubFactory(MsmeFactory)


class ConsumerRefundFactory(Base):
    """What one refund of a shop order paid back (``payments.shop.refunds``): its Stripe refund and its parcel."""

    class Meta:
        model = m.ConsumerRefund

    shipment = factory.SubFactory(ConsumerShipmentFactory)
    payment = factory.SubFactory(PaymentFactory, order=None, kind=PaymentKind.refund, amount_minor=29000,
                                 consumer_order=factory.SelfAttribute("..shipment.order"),
                                 consumer_shipment=factory.SelfAttribute("..shipment"))
    request_key = factory.Sequence(lambda n: f"lines-form-{n}")


class ConsumerRefundLineFactory(Base):
    class Meta:
        model = m.ConsumerRefundLine

    refund = factory.SubFactory(ConsumerRefundFactory)
    line = factory.SubFactory(ConsumerOrderLineFactory, order=factory.SelfAttribute("..refund.shipment.order"),
                              shipment=factory.SelfAttribute("..refund.shipment"))
    quantity = 1
    amount_minor = 29000


class ServiceOfferFactory(Base):
    class Meta:
        model = m.ServiceOffer

    organisation = factory.SubFactory(MsmeFactory)
    kind = ServiceKind.repair
    what = factory.LazyFunction(lambda: {"en": "Darning and re-knitting of holes"})
    where = factory.LazyFunction(lambda: {"en": "Our workshop in Ulaanbaatar"})


class ServiceRequestFactory(Base):
    class Meta:
        model = m.ServiceRequest

    reference = factory.Sequence(lambda n: f"SR-2026-{n:06d}")
    product = factory.SubFactory(ProductFactory)
    organisation_id = factory.LazyAttribute(lambda o: o.product.organisation_id)
    kind = ServiceKind.repair
    email = factory.Sequence(lambda n: f"owner{n}@example.com")
