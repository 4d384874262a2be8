"""factory_boy factories, one per model. They commit through the test's own session."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from marketplace import models as m
from marketplace.accounts.services import TEST_PROFILE_HASHER
from marketplace.certification.models import AssuranceLevel, CustodyModel
from marketplace.db import today
from marketplace.lots.models import Colour, FibreState, Incoterm, LotStatus, PriceBasis, TestMethod
from marketplace.orders.models import OrderStage, QuoteStatus
from marketplace.organisations.models import OrgKind
from marketplace.passports.models import Granularity
from marketplace.payments.models import InvoiceKind, PaymentKind, ServiceKind
from marketplace.products.models import ProductStatus, StepKind

_state: dict[str, Session | None] = {"session": None}
PASSWORD = "correct horse battery"
_PASSWORD_HASH = TEST_PROFILE_HASHER.hash(PASSWORD)  # as the test profile's app hashes it


def use_session(session: Session | None) -> None:
    _state["session"] = session


def current_session() -> Session:
    session = _state["session"]
    if session is None:
        raise RuntimeError("Factories need the app fixture")
    return session


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = current_session
        sqlalchemy_session_persistence = "commit"


class AimagFactory(Base):
    class Meta:
        model = m.Aimag
        sqlalchemy_get_or_create = ("code",)

    code = "BKH"
    name_en = "Bayankhongor"
    name_mn = "Баянхонгор"
    centre_en = "Bayankhongor"
    centre_mn = "Баянхонгор"
    centre_lat = Decimal("46.19")
    centre_lon = Decimal("100.72")
    latin_variants = "Bayanhongor|Bayan-Khongor"


class SoumFactory(Base):
    class Meta:
        model = m.Soum

    aimag = factory.SubFactory(AimagFactory)
    name_en = factory.Sequence(lambda n: f"Soum {n}")
    name_mn = factory.Sequence(lambda n: f"Сум {n}")
    lat = Decimal("45.41")
    lon = Decimal("100.58")


class OrganisationFactory(Base):
    class Meta:
        model = m.Organisation

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = OrgKind.brand
    country = "FR"


class CooperativeFactory(OrganisationFactory):
    kind = OrgKind.cooperative
    country = "MN"
    soum = factory.SubFactory(SoumFactory)
    aimag = factory.SelfAttribute("soum.aimag")


class CooperativeProfileFactory(Base):
    class Meta:
        model = m.CooperativeProfile

    organisation = factory.SubFactory(CooperativeFactory)
    members = 150
    women_members = 70
    herder_households = 130
    certified_households = 60
    declared_capacity_kg = Decimal("6000")
    carrying_capacity_su = 70000
    actual_stocking_su = 66000


class PastureUserGroupFactory(Base):
    class Meta:
        model = m.PastureUserGroup

    cooperative = factory.SubFactory(CooperativeProfileFactory)
    soum = factory.SelfAttribute("cooperative.organisation.soum")
    name = factory.Sequence(lambda n: f"PUG {n}")
    households = 30
    area_ha = 30000
    rangeland_agreement_ref = "RUA-TEST-1"
    carrying_capacity_su = 30000
    actual_stocking_su = 28000


class UserFactory(Base):
    class Meta:
        model = m.User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    password_hash = _PASSWORD_HASH


class MembershipFactory(Base):
    class Meta:
        model = m.Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = m.Role.brand_buyer


class SchemeFactory(Base):
    class Meta:
        model = m.CertificationScheme
        sqlalchemy_get_or_create = ("code",)

    code = "SC"
    name = "Sustainable Cashmere"
    version = "2.1"
    owner = "S3C"
    tiers = "Entry|Advanced"


class CriterionFactory(Base):
    class Meta:
        model = m.Criterion

    scheme = factory.SubFactory(SchemeFactory)
    code = factory.Sequence(lambda n: f"SC-{n}")
    position = factory.Sequence(int)
    principle = "Sustainable management of pastoral resources"
    title = "Herd size within the livestock adjustment plan"


class CertifierFactory(OrganisationFactory):
    kind = OrgKind.certifier
    country = "MN"


class CertificateFactory(Base):
    class Meta:
        model = m.Certificate

    number = factory.Sequence(lambda n: f"SC-TEST-{n:04d}")
    scheme = factory.SubFactory(SchemeFactory)
    holder = factory.SubFactory(CooperativeFactory)
    issuer = factory.SubFactory(CertifierFactory)
    tier = "Entry"
    assurance_level = AssuranceLevel.s3c_external
    custody_model = CustodyModel.segregated
    valid_from = dt.date(2025, 1, 1)
    valid_to = dt.date(2030, 12, 31)


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


class MsmeFactory(OrganisationFactory):
    kind = OrgKind.msme
    country = "MN"


class ProductLineFactory(Base):
    class Meta:
        model = m.ProductLine

    organisation = factory.SubFactory(MsmeFactory)
    slug = factory.Sequence(lambda n: f"line-{n}")
    name = factory.LazyFunction(lambda: {"en": "Undyed essentials"})


class ProductFactory(Base):
    class Meta:
        model = m.Product

    line = factory.SubFactory(ProductLineFactory)
    organisation = factory.SelfAttribute("line.organisation")
    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.LazyFunction(lambda: {"en": "Crew-neck sweater"})
    fibre_composition = factory.LazyFunction(lambda: {"cashmere": "100"})
    weight_g = Decimal("280")
    price_minor = 29000
    status = ProductStatus.draft


class ProductSourceFactory(Base):
    class Meta:
        model = m.ProductSource

    product = factory.SubFactory(ProductFactory)
    lot = factory.SubFactory(LotFactory)
    kg = Decimal("10")


class ProcessingStepFactory(Base):
    class Meta:
        model = m.ProcessingStep

    product = factory.SubFactory(ProductFactory)
    kind = StepKind.spinning
    facility = factory.SubFactory(MsmeFactory)
    performed_on = dt.date(2026, 8, 1)
    kg_in = Decimal("10")
    kg_out = Decimal("9.2")


class ProductComponentFactory(Base):
    class Meta:
        model = m.ProductComponent

    product = factory.SubFactory(ProductFactory)
    component = factory.SubFactory(ProductFactory, status=ProductStatus.published, published_number=1)
    kg = Decimal("5")


class ProductImageFactory(Base):
    class Meta:
        model = m.ProductImage

    product = factory.SubFactory(ProductFactory)
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    original_ext = "png"
    width = 1280
    height = 960
    alt = factory.LazyFunction(lambda: {"en": "A crew-neck sweater, flat"})


class ProductVersionFactory(Base):
    class Meta:
        model = m.ProductVersion

    product = factory.SubFactory(ProductFactory, status=ProductStatus.published, published_number=1)
    number = 1
    organisation_id = factory.SelfAttribute("product.organisation_id")
    line_id = factory.SelfAttribute("product.line_id")
    snapshot = factory.LazyFunction(lambda: {"name": {"en": "Crew-neck sweater"}})


def product_for_sale(**kwargs: object) -> m.Product:
    """A published product with its current version (what consumers can buy): snapshot of name, maker, price."""
    product = ProductFactory(status=ProductStatus.published, published_number=1, **kwargs)
    session = current_session()
    if not session.query(m.ShippingZone).filter_by(organisation_id=product.organisation_id).count():
        session.add(m.ShippingZone(organisation_id=product.organisation_id, name="Everywhere", rest_of_world=True,
                                   rate_minor=0, currency=product.currency))
        session.commit()
    ProductVersionFactory(product=product, snapshot={
        "name": dict(product.name), "organisation": {"name": product.organisation.name},
        "price_minor": product.price_minor, "currency": product.currency})
    return product


def variants_for(product: m.Product, stock: dict[str, int]) -> list[m.ProductVariant]:
    """Sizes of ``product`` with their stock (``{"S": 2, "M": 0}``)."""
    session = current_session()
    rows = [m.ProductVariant(product_id=product.id, size=size, stock=count, position=n)
            for n, (size, count) in enumerate(stock.items())]
    session.add_all(rows)
    session.commit()
    return rows


class PassportFactory(Base):
    class Meta:
        model = m.Passport

    public_id = factory.Sequence(lambda n: f"pp-{n:06d}")
    lot = factory.SubFactory(LotFactory)
    granularity = Granularity.batch
    status_index = factory.Sequence(lambda n: 1000 + n)


class PassportVersionFactory(Base):
    class Meta:
        model = m.PassportVersion

    passport = factory.SubFactory(PassportFactory)
    number = 1
    credential = factory.LazyFunction(lambda: {"type": ["VerifiableCredential"]})
    content_hash = "0" * 64


class OrganisationKeyFactory(Base):
    """A key row (the public half only matters to tests; the private part is not a real ciphertext)."""

    class Meta:
        model = m.OrganisationKey
        exclude = ("organisation",)

    organisation = factory.SubFactory(OrganisationFactory)
    organisation_id = factory.SelfAttribute("organisation.id")
    number = factory.Sequence(lambda n: n + 1)
    public_jwk = factory.LazyFunction(lambda: {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43})
    private_encrypted = "not-a-ciphertext"


class IssuedDocumentFactory(Base):
    class Meta:
        model = m.IssuedDocument
        exclude = ("issuer",)

    kind = "dcc"
    subject = factory.Sequence(lambda n: f"CERT-{n:04d}")
    number = 1
    issuer = factory.SubFactory(OrganisationFactory)
    issuer_id = factory.SelfAttribute("issuer.id")
    key_id = "did:web:example.org:orgs:x#key-1"
    change_hash = "0" * 64
    body = "{}"
    digest = "z"
    jwt = ""
    body_061 = "{}"
    jwt_061 = ""


class StatusListVersionFactory(Base):
    class Meta:
        model = m.StatusListVersion

    purpose = "revocation"
    number = factory.Sequence(lambda n: n + 1)
    encoded_list = "u"
    valid_from = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
    valid_until = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    body = "{}"
    jwt = ""


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


class PaymentFactory(Base):
    class Meta:
        model = m.Payment

    order = factory.SubFactory(OrderFactory)
    kind = PaymentKind.deposit
    amount_minor = 375000
    currency = "EUR"
    provider_ref = factory.Sequence(lambda n: f"pi_test_{n}")


class SearchOutboxFactory(Base):
    class Meta:
        model = m.SearchOutbox

    index_name = "lots"
    key = "1"


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


def user_with_role(role: m.Role, organisation: m.Organisation | None = None, **kwargs: object) -> m.User:
    """A user holding ``role`` in ``organisation`` (a new one of the right kind by default)."""
    from marketplace.accounts.models import ROLE_ORG_KIND

    if organisation is None:
        organisation = OrganisationFactory(kind=ROLE_ORG_KIND[role])
    user = UserFactory(**kwargs)
    MembershipFactory(user=user, organisation=organisation, role=role)
    return user


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


class SchemeParticipantFactory(Base):
    class Meta:
        model = m.SchemeParticipant

    organisation = factory.SubFactory(CooperativeFactory)
    scheme = factory.SubFactory(SchemeFactory)


class HouseholdFactory(Base):
    class Meta:
        model = m.Household

    cooperative = factory.SubFactory(CooperativeFactory)
    reference = factory.Sequence(lambda n: f"HH-{n:04d}")


class AssessmentFactory(Base):
    class Meta:
        model = m.Assessment

    level = "self_evaluation"
    scheme = factory.SubFactory(SchemeFactory)
    cooperative = factory.SubFactory(CooperativeFactory)
    household = factory.SubFactory(HouseholdFactory, cooperative=factory.SelfAttribute("..cooperative"))
    actor_organisation = factory.SelfAttribute("cooperative")
    performed_on = dt.date(2026, 5, 1)
    outcome = "passed"


class CriterionResultFactory(Base):
    class Meta:
        model = m.CriterionResult

    assessment = factory.SubFactory(AssessmentFactory)
    criterion = factory.SubFactory(CriterionFactory, scheme=factory.SelfAttribute("..assessment.scheme"))
    result = "compliant"


class EvidenceFileFactory(Base):
    class Meta:
        model = m.EvidenceFile

    assessment = factory.SubFactory(AssessmentFactory)
    key = factory.Sequence(lambda n: f"evidence/{n:064d}.pdf")
    media_type = "application/pdf"
    size_bytes = 1000
    sha256 = factory.Sequence(lambda n: f"{n:064d}")


class CertificateEventFactory(Base):
    class Meta:
        model = m.CertificateEvent

    certificate = factory.SubFactory(CertificateFactory)
    action = "renew"
    old_status = "active"
    new_status = "active"
    tier = "Entry"


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


class UserSessionFactory(Base):
    class Meta:
        model = m.UserSession

    user = factory.SubFactory(UserFactory)
    secret_hash = factory.Sequence(lambda n: f"{n:064x}")
    expires_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=12))


class OutgoingMailFactory(Base):
    class Meta:
        model = m.OutgoingMail

    kind = "password_changed"
    to_address = factory.Sequence(lambda n: f"person{n}@example.com")
    subject = "Your password was changed"
    text_body = "Your password was changed."
    html_body = "<p>Your password was changed.</p>"


class NotificationFactory(Base):
    class Meta:
        model = m.Notification

    user_id = factory.LazyFunction(lambda: UserFactory().id)
    kind = "password_changed"
    title = "Your password was changed"


class MailPreferenceFactory(Base):
    class Meta:
        model = m.MailPreference

    user_id = factory.LazyFunction(lambda: UserFactory().id)
    kind = "quote_reminder"
    enabled = False


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


class ProductVariantFactory(Base):
    class Meta:
        model = m.ProductVariant

    product = factory.SubFactory(ProductFactory)
    size = factory.Sequence(lambda n: f"S{n}")
    stock = 5


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


class JobFactory(Base):
    class Meta:
        model = m.Job

    kind = "jobs.cleanup"


class JobScheduleFactory(Base):
    class Meta:
        model = m.JobSchedule

    name = factory.Sequence(lambda n: f"schedule-{n}")
    next_run_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))


class PassportLogLeafFactory(Base):
    class Meta:
        model = m.PassportLogLeaf

    index = factory.Sequence(lambda n: 100_000 + n)
    kind = "status"
    passport_public_id = factory.Sequence(lambda n: f"p{n:015x}")
    data = "{}"
    leaf_hash = factory.Sequence(lambda n: f"{n:064x}")


class PassportLogTreeFactory(Base):
    class Meta:
        model = m.PassportLogTree

    id = factory.Sequence(lambda n: 1000 + n)


class PassportLogNodeFactory(Base):
    class Meta:
        model = m.PassportLogNode

    level = 30  # far above any demo or test log's levels
    index = factory.Sequence(lambda n: n)
    hash = factory.Sequence(lambda n: f"{n:064x}")


class PassportCheckpointFactory(Base):
    class Meta:
        model = m.PassportCheckpoint

    tree_size = 0
    root_hash = factory.Sequence(lambda n: f"{n:064x}")
    timestamp = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
    jws = "header.payload.signature"
