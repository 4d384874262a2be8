"""Imports every domain's models so that the metadata is complete (for Alembic and tests)."""

from marketplace.accounts.models import Membership, Role, User
from marketplace.certification.models import Certificate, CertificationScheme, Criterion
from marketplace.lots.models import Lot, LotContribution
from marketplace.orders.models import (
    Allocation,
    AllocationAudit,
    AllocationShare,
    Order,
    OrderEvent,
    OrderLine,
    Quote,
    QuoteRequest,
    Reservation,
    SampleRequest,
)
from marketplace.organisations.models import Aimag, CooperativeProfile, Organisation, PastureUserGroup, Soum
from marketplace.passports.models import Passport, PassportVersion
from marketplace.payments.models import ConsumerOrder, ConsumerOrderLine, Payment, PremiumPayment, WebhookEvent
from marketplace.products.models import ProcessingStep, Product, ProductLine, ProductSource

__all__ = [
    "Aimag",
    "Allocation",
    "AllocationAudit",
    "AllocationShare",
    "Certificate",
    "CertificationScheme",
    "ConsumerOrder",
    "ConsumerOrderLine",
    "CooperativeProfile",
    "Criterion",
    "Lot",
    "LotContribution",
    "Membership",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Organisation",
    "Passport",
    "PassportVersion",
    "PastureUserGroup",
    "Payment",
    "PremiumPayment",
    "ProcessingStep",
    "Product",
    "ProductLine",
    "ProductSource",
    "Quote",
    "QuoteRequest",
    "Reservation",
    "Role",
    "SampleRequest",
    "Soum",
    "User",
    "WebhookEvent",
]
