"""Imports every domain's models so that the metadata is complete (for Alembic and tests)."""

from marketplace.accounts.models import Membership, Role, User, UserSession
from marketplace.certification.models import Certificate, CertificationScheme, Criterion
from marketplace.control.models import (
    Assessment,
    CertificateEvent,
    CriterionResult,
    EvidenceFile,
    Household,
    ParticipationEvent,
    SchemeParticipant,
)
from marketplace.funds.models import FundEntry
from marketplace.jobs.models import Job, JobSchedule
from marketplace.lots.models import Lot, LotContribution
from marketplace.notifications.models import MailPreference, Notification, OutgoingMail
from marketplace.orders.models import (
    Allocation,
    AllocationAudit,
    AllocationShare,
    Order,
    OrderEvent,
    OrderLine,
    Quote,
    QuoteRequest,
    QuoteRequestLot,
    Reservation,
    SampleRequest,
)
from marketplace.organisations.models import Aimag, CooperativeProfile, Organisation, PastureUserGroup, Soum
from marketplace.passports.log_models import (
    PassportCheckpoint,
    PassportLogLeaf,
    PassportLogNode,
    PassportLogTile,
    PassportLogTree,
)
from marketplace.passports.models import (
    IssuedDocument,
    OrganisationKey,
    Passport,
    PassportVersion,
    StatusListVersion,
)
from marketplace.payments.models import (
    ConsumerOrder,
    ConsumerOrderLine,
    ConsumerRefund,
    ConsumerRefundLine,
    ConsumerShipment,
    Invoice,
    Payment,
    ServiceOffer,
    ServiceRequest,
    ShippingZone,
    WebhookEvent,
)
from marketplace.practice.models import Commitment, PerformanceReport
from marketplace.pricing.models import GradePremium, PricePolicy
from marketplace.products.models import (
    ProcessingStep,
    Product,
    ProductComponent,
    ProductImage,
    ProductLine,
    ProductSource,
    ProductVariant,
    ProductVersion,
)
from marketplace.search.models import SearchOutbox

__all__ = [
    "Aimag",
    "Allocation",
    "AllocationAudit",
    "AllocationShare",
    "Assessment",
    "Certificate",
    "CertificateEvent",
    "CertificationScheme",
    "Commitment",
    "ConsumerOrder",
    "ConsumerOrderLine",
    "ConsumerRefund",
    "ConsumerRefundLine",
    "ConsumerShipment",
    "CooperativeProfile",
    "Criterion",
    "CriterionResult",
    "EvidenceFile",
    "FundEntry",
    "GradePremium",
    "Household",
    "Invoice",
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
    "PerformanceReport",
    "PricePolicy",
    "ProcessingStep",
    "Product",
    "ProductComponent",
    "ProductImage",
    "ProductLine",
    "ProductSource",
    "ProductVariant",
    "ProductVersion",
    "Quote",
    "QuoteRequest",
    "QuoteRequestLot",
    "Reservation",
    "Role",
    "SampleRequest",
    "SchemeParticipant",
    "SearchOutbox",
    "ServiceOffer",
    "ServiceRequest",
    "ShippingZone",
    "Soum",
    "User",
    "WebhookEvent",
]
__all__ += ["ParticipationEvent"]
__all__ += ["MailPreference", "Notification", "OutgoingMail", "UserSession"]
__all__ += ["PassportCheckpoint", "PassportLogLeaf", "PassportLogNode", "PassportLogTile", "PassportLogTree"]
__all__ += ["Job", "JobSchedule"]
__all__ += ["IssuedDocument", "OrganisationKey", "StatusListVersion"]
