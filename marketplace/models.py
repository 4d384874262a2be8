"""Imports every domain's models so that the metadata is complete (for Alembic and tests)."""

from marketplace.accounts.models import Membership, Role, User
from marketplace.certification.models import Certificate, CertificationScheme, Criterion
from marketplace.lots.models import Lot, LotContribution
from marketplace.orders.models import Order, OrderEvent, OrderLine
from marketplace.organisations.models import Aimag, CooperativeProfile, Organisation, PastureUserGroup, Soum
from marketplace.passports.models import Passport, PassportVersion
from marketplace.payments.models import Payment
from marketplace.products.models import (
    ProcessingStep,
    Product,
    ProductComponent,
    ProductImage,
    ProductLine,
    ProductSource,
    ProductVersion,
)

__all__ = [
    "Aimag", "Certificate", "CertificationScheme", "CooperativeProfile", "Criterion", "Lot",
    "LotContribution", "Membership", "Order", "OrderEvent", "OrderLine", "Organisation",
    "Passport", "PassportVersion", "PastureUserGroup", "Payment", "ProcessingStep", "Product",
    "ProductComponent", "ProductImage", "ProductLine", "ProductSource", "ProductVersion", "Role", "Soum", "User",
]
