"""factory_boy factories of marketplace/certification/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt

import factory

from marketplace import models as m
from marketplace.certification.models import AssuranceLevel, CustodyModel
from marketplace.organisations.models import OrgKind
from tests.factory_base import Base
from tests.organisations.factories import CooperativeFactory, OrganisationFactory


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
