"""The fair-price policy: floors and grade premiums per season; no lot listed below its floor."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.demo.loader import load_all
from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState, LotStatus, PriceBasis
from marketplace.passports import services as passports
from marketplace.passports.untp import CONTEXT_TERMS
from marketplace.pricing import services as pricing
from marketplace.pricing.forms import premium_field_name
from marketplace.pricing.models import MicronBand, PolicyError
from tests import factories as f
from tests.helpers import csrf_token, sign_in, text

ROOT = Path(__file__).resolve().parent.parent.parent
PREMIUMS = {(MicronBand.ultrafine, Colour.white): 600, (MicronBand.fine, Colour.brown): 100}


def _policy(season: int = 2026, currency: str = "EUR", greasy: int = 3000, dehaired: int = 9500):  # type: ignore[no-untyped-def]
    policy = pricing.publish_policy(season=season, currency=currency, greasy_floor_minor=greasy,
                                    dehaired_floor_minor=dehaired, premiums=PREMIUMS)
    db.session.commit()
    return policy


def test_micron_bands_include_their_upper_bound() -> None:
    assert MicronBand.for_diameter(Decimal("15.5")) is MicronBand.ultrafine
    assert MicronBand.for_diameter(Decimal("15.6")) is MicronBand.fine
    assert MicronBand.for_diameter(Decimal("16.5")) is MicronBand.fine
    assert MicronBand.for_diameter(Decimal("16.6")) is MicronBand.standard


def test_a_lot_below_its_floor_cannot_be_listed_and_nothing_changes(app: Flask) -> None:
    with app.app_context():
        _policy()
        lot = f.LotFactory(status=LotStatus.draft, listed_at=None, price_minor=10099,
                           mean_diameter_um=Decimal("15.5"), colour=Colour.white)  # minimum 9500 + 600
        with pytest.raises(pricing.PricingError, match="below the fair-price floor"):
            pricing.list_lot(db.session.get(m.Lot, lot.id))
        db.session.rollback()
        lot = db.session.get(m.Lot, lot.id)
        assert lot.status is LotStatus.draft
        assert lot.price_policy_id is None
        assert lot.listed_at is None


def test_a_lot_at_its_floor_is_listed_under_the_policy(app: Flask) -> None:
    with app.app_context():
        policy_id = _policy().id
        lot_id = f.LotFactory(status=LotStatus.draft, listed_at=None, price_minor=10100,
                              mean_diameter_um=Decimal("15.5"), colour=Colour.white).id
        result = pricing.list_lot(db.session.get(m.Lot, lot_id))
        db.session.commit()
        db.session.expunge_all()
        lot = db.session.get(m.Lot, lot_id)
        assert result.minimum_minor == 10100
        assert result.ok
        assert lot.status is LotStatus.listed
        assert lot.price_policy_id == policy_id
        assert lot.listed_at


def test_greasy_lots_use_the_greasy_floor_and_a_yield_weighted_premium(app: Flask) -> None:
    with app.app_context():
        _policy()
        lot = f.LotFactory(state=FibreState.greasy, price_basis=PriceBasis.greasy, dehairing_yield_pct=Decimal("50"),
                           mean_diameter_um=Decimal("15.0"), colour=Colour.white, price_minor=3300)
        result = pricing.check(lot)
        assert result is not None
        assert (result.floor_minor, result.grade_premium_minor, result.minimum_minor) == (3000, 300, 3300)
        assert result.ok


def test_no_policy_for_the_season_or_currency_means_no_listing(app: Flask) -> None:
    with app.app_context():
        _policy(season=2025)
        lot = f.LotFactory(status=LotStatus.draft, listed_at=None, season=2026, currency="USD")
        with pytest.raises(pricing.PricingError, match="has not published a fair-price policy"):
            pricing.list_lot(lot)


def test_a_revision_is_a_new_policy_and_the_old_one_cannot_change(app: Flask) -> None:
    with app.app_context():
        first = _policy(dehaired=9500)
        second = _policy(dehaired=9800)
        assert (first.revision, second.revision) == (1, 2)
        assert pricing.policy_in_force(2026, "EUR").id == second.id
        first.dehaired_floor_minor = 1
        with pytest.raises(PolicyError):
            db.session.flush()
        db.session.rollback()
        premium = db.session.scalars(select(m.GradePremium)).first()
        db.session.delete(premium)
        with pytest.raises(PolicyError):
            db.session.flush()
        db.session.rollback()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"greasy_floor_minor": 3000, "dehaired_floor_minor": 2000}, "cannot be lower"),
    ({"greasy_floor_minor": 0, "dehaired_floor_minor": 2000}, "greater than zero"),
    ({"greasy_floor_minor": 3000, "dehaired_floor_minor": 9000, "currency": "E1"}, "ISO 4217"),
    ({"greasy_floor_minor": 3000, "dehaired_floor_minor": 9000, "season": 2099}, "season"),
    ({"greasy_floor_minor": 3000, "dehaired_floor_minor": 9000,
      "premiums": {(MicronBand.fine, Colour.grey): -1}}, "negative"),
])
def test_bad_policies_are_refused_and_write_nothing(app: Flask, kwargs: dict, message: str) -> None:
    with app.app_context():
        args = {"season": 2026, "currency": "EUR", "premiums": {}, **kwargs}
        with pytest.raises(pricing.PricingError, match=message):
            pricing.publish_policy(**args)
        assert db.session.scalar(select(func.count()).select_from(m.PricePolicy)) == 0


def test_every_listed_demo_lot_is_priced_at_or_above_its_floor(demo_app: Flask) -> None:
    with demo_app.app_context():
        seasons = set(db.session.scalars(select(m.PricePolicy.season)))
        assert {2025, 2026} <= seasons
        listed = list(db.session.scalars(select(m.Lot).where(m.Lot.status == LotStatus.listed)))
        assert listed
        for lot in listed:
            result = pricing.check(lot)
            assert result is not None, lot.code
            assert result.ok, lot.code
            assert lot.price_policy_id == result.policy.id, lot.code


def test_the_demo_loader_refuses_a_lot_below_its_floor(app: Flask, tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    lots = content / "demo" / "lots.csv"
    lines = lots.read_text(encoding="utf-8").splitlines(keepends=True)
    # USCC-2025-BKH-001: greasy, 41.58 EUR per kg; the 2025 greasy floor is 30.00 EUR.
    assert lines[1].startswith("USCC-2025-BKH-001,")
    assert ",4158,400,EUR," in lines[1]
    lines[1] = lines[1].replace(",4158,400,EUR,", ",2900,400,EUR,")
    lots.write_text("".join(lines), encoding="utf-8")
    with app.app_context():
        with pytest.raises(pricing.PricingError, match="USCC-2025-BKH-001"):
            load_all(content)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(m.Lot)) == 0


def test_the_policy_history_is_public(demo_app: Flask) -> None:
    response = demo_app.test_client().get("/fair-price")
    assert response.status_code == 200
    page = text(response)
    assert "Season 2026, EUR, revision 1" in page
    assert "Season 2025, USD, revision 1" in page
    assert "€95.00" in page  # the 2025 dehaired floor


def test_the_lot_passport_shows_the_policy_it_was_sold_under(demo_app: Flask) -> None:
    with demo_app.app_context():
        lot = db.session.scalar(select(m.Lot).filter_by(code="USCC-2025-BKH-001"))
        public_id = passports.passport_for(lot=lot).public_id
    for term in ("pricePolicy", "greasyFloorPerKg", "minimumPricePerKg", "micronBand", "gradePremiumPerKg"):
        assert term in CONTEXT_TERMS
    client = demo_app.test_client()
    document = client.get(f"/passports/{public_id}.json").get_json()
    policy = document["credentialSubject"]["cashmere"]["pricePolicy"]
    assert policy["season"] == 2025
    assert policy["greasyFloorPerKg"] == {"amount": 3000, "currency": "EUR"}
    # light grey, 16.7 µm (standard band): 1.00 EUR per kg dehaired × 42.4% yield
    assert policy["micronBand"] == "standard"
    assert policy["gradePremiumPerKg"]["amount"] == 42
    assert "pricePerKg" not in policy  # the lot's price is value-chain data (issue 19 point 7)
    staff = demo_app.test_client()
    sign_in(staff, "staff@demo.example", "demo-staff-2026")
    link = next(t for t in document["credentialSubject"]["cashmere"]["accessTiers"] if t["accessTier"] == "value-chain")
    tier = staff.get("/" + link["id"].split("/", 3)[3]).get_json(force=True)
    assert tier["credentialSubject"]["cashmere"]["pricePolicy"]["pricePerKg"]["amount"] == 4158
    page = text(client.get(f"/passports/{public_id}"))
    assert "Fair-price policy" in page
    assert "Lowest price allowed for this lot" in page
    assert "€30.00" in page  # the greasy floor of 2025


def _form(client, **overrides: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(client, "/union/fair-price"), "season": "2026", "currency": "EUR",
            "greasy_floor": "31.00", "dehaired_floor": "97.00", "published_on": "2026-06-01", "note": "Revised"}
    for band in MicronBand:
        for colour in Colour:
            data[premium_field_name(band, colour)] = "2.00"
    data.update(overrides)
    return data


def test_union_staff_publish_a_revision_from_the_form(demo_app: Flask) -> None:
    client = demo_app.test_client()
    sign_in(client, "staff@demo.example", "demo-staff-2026")
    response = client.post("/union/fair-price", data=_form(client))
    assert response.status_code == 303
    with demo_app.app_context():
        policy = pricing.policy_in_force(2026, "EUR")
        assert (policy.revision, policy.dehaired_floor_minor, policy.greasy_floor_minor) == (2, 9700, 3100)
        assert policy.premium_for(MicronBand.fine, Colour.grey) == 200
        assert policy.published_by.email == "staff@demo.example"
    assert "Season 2026, EUR, revision 2" in text(client.get("/fair-price"))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"dehaired_floor": "20.00"}, "cannot be lower"),
    ({"greasy_floor": "-1"}, "Number must be between 0.01"),
    ({"premium_fine_white": "abc"}, "Not a valid decimal value"),
    ({"season": "1999"}, "Number must be between 2000"),
])
def test_bad_policy_forms_are_refused_and_write_nothing(demo_app: Flask, overrides: dict, message: str) -> None:
    client = demo_app.test_client()
    sign_in(client, "staff@demo.example", "demo-staff-2026")
    with demo_app.app_context():
        before = db.session.scalar(select(func.count()).select_from(m.PricePolicy))
    response = client.post("/union/fair-price", data=_form(client, **overrides))
    assert response.status_code == 422
    assert message in text(response)
    with demo_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(m.PricePolicy)) == before


def test_only_union_staff_may_publish_a_policy(demo_app: Flask) -> None:
    client = demo_app.test_client()
    sign_in(client, "coop@demo.example", "demo-coop-2026")
    assert client.get("/union/fair-price").status_code == 403
