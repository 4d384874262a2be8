"""factory_boy factories, one per model, in ``tests/<domain>/factories.py`` beside that domain's tests (their base,
the test's own session, in ``tests/factory_base.py``). They commit through the test's own session.

This module re-exports them all, so ``from tests import factories`` and ``factories.LotFactory(...)`` work
everywhere. A new factory belongs in its domain's module; one added here still works (the names below are
those the factories use)."""

from __future__ import annotations

import datetime as dt  # noqa: F401
from decimal import Decimal  # noqa: F401

import factory  # noqa: F401
from factory.alchemy import SQLAlchemyModelFactory  # noqa: F401

from marketplace import models as m  # noqa: F401
from marketplace.accounts.services import TEST_PROFILE_HASHER  # noqa: F401
from marketplace.certification.models import AssuranceLevel, CustodyModel  # noqa: F401
from marketplace.db import today  # noqa: F401
from marketplace.lots.models import Colour, FibreState, Incoterm, LotStatus, PriceBasis, TestMethod  # noqa: F401
from marketplace.orders.models import OrderStage, QuoteStatus  # noqa: F401
from marketplace.organisations.models import OrgKind  # noqa: F401
from marketplace.passports.models import Granularity  # noqa: F401
from marketplace.payments.models import InvoiceKind, PaymentKind, ServiceKind  # noqa: F401
from marketplace.products.models import ProductStatus, StepKind  # noqa: F401
from tests.accounts.factories import MembershipFactory, UserFactory, UserSessionFactory, user_with_role  # noqa: F401
from tests.certification.factories import (  # noqa: F401
    AssessmentFactory,
    CertificateEventFactory,
    CertificateFactory,
    CertifierFactory,
    CriterionFactory,
    CriterionResultFactory,
    EvidenceFileFactory,
    HouseholdFactory,
    SchemeFactory,
    SchemeParticipantFactory,
)
from tests.factory_base import _PASSWORD_HASH, PASSWORD, Base, current_session, use_session  # noqa: F401
from tests.funds.factories import FundEntryFactory  # noqa: F401
from tests.jobs.factories import JobFactory, JobScheduleFactory  # noqa: F401
from tests.lots.factories import LotContributionFactory, LotFactory  # noqa: F401
from tests.notifications.factories import MailPreferenceFactory, NotificationFactory, OutgoingMailFactory  # noqa: F401
from tests.orders.factories import (  # noqa: F401
    AllocationAuditFactory,
    AllocationFactory,
    AllocationShareFactory,
    OrderEventFactory,
    OrderFactory,
    OrderLineFactory,
    QuoteFactory,
    QuoteRequestFactory,
    QuoteRequestLotFactory,
    ReservationFactory,
    SampleRequestFactory,
)
from tests.organisations.factories import (  # noqa: F401
    AimagFactory,
    CooperativeFactory,
    CooperativeProfileFactory,
    OrganisationFactory,
    PastureUserGroupFactory,
    SoumFactory,
)
from tests.passports.factories import (  # noqa: F401
    IssuedDocumentFactory,
    OrganisationKeyFactory,
    PassportCheckpointFactory,
    PassportFactory,
    PassportLogLeafFactory,
    PassportLogNodeFactory,
    PassportLogTileFactory,
    PassportLogTreeFactory,
    PassportVersionFactory,
    StatusListVersionFactory,
)
from tests.payments.factories import (  # noqa: F401
    ConsumerOrderFactory,
    ConsumerOrderLineFactory,
    ConsumerRefundFactory,
    ConsumerRefundLineFactory,
    ConsumerShipmentFactory,
    InvoiceFactory,
    PaymentFactory,
    ServiceOfferFactory,
    ServiceRequestFactory,
    ShippingZoneFactory,
    WebhookEventFactory,
)
from tests.practice.factories import CommitmentFactory, ParticipationEventFactory, PerformanceReportFactory  # noqa: F401
from tests.pricing.factories import GradePremiumFactory, PricePolicyFactory, ensure_policy  # noqa: F401
from tests.products.factories import (  # noqa: F401
    MsmeFactory,
    ProcessingStepFactory,
    ProductComponentFactory,
    ProductFactory,
    ProductImageFactory,
    ProductLineFactory,
    ProductSourceFactory,
    ProductVariantFactory,
    ProductVersionFactory,
    product_for_sale,
    variants_for,
)
from tests.search.factories import SearchOutboxFactory  # noqa: F401
