"""factory_boy factories of marketplace/organisations/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

from decimal import Decimal

import factory

from marketplace import models as m
from marketplace.organisations.models import OrgKind
from tests.factory_base import Base


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
