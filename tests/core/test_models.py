"""Model rules: exact money and masses, constraints, immutable passport versions, one factory per model."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.certification.models import CertificateStatus
from marketplace.db import Base
from marketplace.extensions import db
from marketplace.lots.models import Lot, PriceBasis
from marketplace.passports.models import ImmutableVersionError, PassportVersion
from tests import factories


def test_every_model_has_a_factory() -> None:
    models = {mapper.class_ for mapper in Base.registry.mappers}
    covered = {
        f._meta.model for f in vars(factories).values()
        if isinstance(f, type) and issubclass(f, factories.Base) and f._meta.model is not None
    }
    assert models - covered == set()


def test_masses_and_lab_values_are_exact_decimals(app: Flask) -> None:
    lot = factories.LotFactory(net_kg=Decimal("1234.567"), available_kg=Decimal("1234.567"),
                               mean_diameter_um=Decimal("15.3"))
    with app.app_context():
        stored = db.session.get(Lot, lot.id)
        assert stored.net_kg == Decimal("1234.567")
        assert isinstance(stored.net_kg, Decimal)
        assert stored.mean_diameter_um == Decimal("15.3")
        assert isinstance(stored.price_minor, int)


def test_clean_equivalent_price_is_greasy_price_over_yield(app: Flask) -> None:
    lot = factories.LotFactory(price_basis=PriceBasis.greasy, price_minor=4500,
                               dehairing_yield_pct=Decimal("50.0"))
    assert lot.clean_price_minor == 9000
    clean = factories.LotFactory(price_basis=PriceBasis.clean, price_minor=12500)
    assert clean.clean_price_minor == 12500


def test_stock_can_never_exceed_the_net_weight(app: Flask) -> None:
    with pytest.raises(IntegrityError):
        factories.LotFactory(net_kg=Decimal(100), available_kg=Decimal(80), reserved_kg=Decimal(30))
    factories.current_session().rollback()
    with pytest.raises(IntegrityError):
        factories.LotFactory(available_kg=Decimal(-1))


def test_certificate_status_on_a_date(app: Flask) -> None:
    cert = factories.CertificateFactory(valid_from=dt.date(2025, 1, 1), valid_to=dt.date(2026, 12, 31))
    assert cert.status_on(dt.date(2026, 6, 1)) is CertificateStatus.active
    assert cert.valid_on(dt.date(2026, 6, 1))
    assert cert.status_on(dt.date(2027, 1, 1)) is CertificateStatus.expired
    assert not cert.valid_on(dt.date(2024, 12, 31))
    cert.status = CertificateStatus.suspended
    assert cert.status_on(dt.date(2026, 6, 1)) is CertificateStatus.suspended


def test_published_passport_version_cannot_change(app: Flask) -> None:
    version = factories.PassportVersionFactory()
    with app.app_context():
        stored = db.session.scalar(select(PassportVersion).where(PassportVersion.id == version.id))
        stored.credential = {"tampered": True}
        with pytest.raises(ImmutableVersionError):
            db.session.flush()
        db.session.rollback()
        stored = db.session.get(PassportVersion, version.id)
        db.session.delete(stored)
        with pytest.raises(ImmutableVersionError):
            db.session.flush()


def test_order_total_in_minor_units(app: Flask) -> None:
    line = factories.OrderLineFactory(kg=Decimal("100.5"), price_minor=12000, premium_minor=800)
    assert line.total_minor == 1_286_400
    assert line.order.total_minor == 1_286_400


def test_cooperative_stocking_ratio(app: Flask) -> None:
    profile = factories.CooperativeProfileFactory(carrying_capacity_su=50000, actual_stocking_su=55000)
    assert profile.stocking_ratio == Decimal("1.10")
    factories.PastureUserGroupFactory(cooperative=profile)
    assert profile.women_share == Decimal("46.7")
