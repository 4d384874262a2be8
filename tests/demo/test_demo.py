"""Demo content: complete, consistent with DESIGN.md, and loaded idempotently."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState
from marketplace.organisations.models import OrgKind
from tests.helpers import sign_in

ROOT = Path(__file__).resolve().parent.parent.parent
COUNTED = [m.Organisation, m.User, m.Membership, m.Lot, m.LotContribution, m.Certificate, m.Criterion,
           m.CertificationScheme, m.PastureUserGroup, m.Aimag, m.Soum, m.CooperativeProfile]


def _counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def test_demo_load_twice_does_not_duplicate(demo_app: Flask) -> None:
    """The first load is the session's demo template (``load_all`` on an empty database, which the command
    wraps); the command run again on it creates nothing."""
    with demo_app.app_context():
        after_first = _counts()
    assert after_first["Lot"] == 46
    second = demo_app.test_cli_runner().invoke(args=["demo", "load"])
    assert second.exit_code == 0, second.output
    assert "[1/4] reference data…" in second.output  # progress of the long command
    assert "[4/4] passports…" in second.output
    assert "Lot: 0 new, 46 kept" in second.output
    with demo_app.app_context():
        assert _counts() == after_first


def test_demo_content_covers_the_brief(demo_app: Flask) -> None:
    with demo_app.app_context():
        kinds = Counter(db.session.scalars(select(m.Organisation.kind)))
        assert kinds[OrgKind.union] == 1
        assert kinds[OrgKind.cooperative] >= 8
        assert kinds[OrgKind.msme] >= 6
        assert kinds[OrgKind.brand] >= 3
        assert kinds[OrgKind.certifier] >= 1
        assert all(db.session.scalars(select(m.Organisation.is_demo)))

        coop_aimags = set(db.session.scalars(
            select(m.Aimag.name_en).join(m.Organisation, m.Organisation.aimag_id == m.Aimag.id)
            .where(m.Organisation.kind == OrgKind.cooperative)
        ))
        assert len(coop_aimags) >= 4
        assert "Bayankhongor" in coop_aimags
        for profile in db.session.scalars(select(m.CooperativeProfile)):
            assert profile.pasture_user_groups, profile.organisation.slug
            assert profile.women_members <= profile.members

        lots = db.session.scalars(select(m.Lot)).all()
        assert len(lots) >= 40
        assert {lot.colour for lot in lots} == set(Colour)
        assert {lot.state for lot in lots} == set(FibreState)
        microns = sorted(lot.mean_diameter_um for lot in lots)
        assert microns[0] < 15
        assert microns[-1] > 16
        assert {u.roles.pop() for u in db.session.scalars(select(m.User))} == set(Role)
        assert db.session.scalar(select(func.count(m.Criterion.id)).join(m.CertificationScheme)
                                 .where(m.CertificationScheme.code == "SC")) == 25


def test_demo_figures_are_consistent_with_the_programme(demo_app: Flask) -> None:
    with demo_app.app_context():
        certified = db.session.scalar(select(func.sum(m.CooperativeProfile.certified_households)))
        assert certified <= 700  # 700 herders certified in the programme
        aimags = db.session.scalar(
            select(func.count(func.distinct(m.Organisation.aimag_id))).where(m.Organisation.kind == OrgKind.cooperative)
        )
        assert aimags <= 4  # the programme runs in 4 provinces
        for lot in db.session.scalars(select(m.Lot)):
            assert 14 <= lot.mean_diameter_um <= 19
            if lot.state is FibreState.dehaired:
                assert lot.hair_content_pct <= 0.3
                assert 34 <= lot.mean_length_mm <= 42
                assert lot.dehairing_yield_pct is None
            if lot.state is FibreState.greasy:
                assert 40 <= lot.dehairing_yield_pct <= 65
            assert lot.available_kg + lot.reserved_kg <= lot.net_kg
            assert sum(c.kg for c in lot.contributions) == lot.net_kg
            assert lot.herder_households <= sum(
                c.cooperative.cooperative.certified_households for c in lot.contributions
            )


def test_readme_lists_working_demo_credentials(demo_app: Flask) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*(\w+)\s*\|\s*`([^`]+@[^`]+)`\s*\|\s*`([^`]+)`\s*\|", readme, re.MULTILINE)
    assert {Role(role) for role, _, _ in rows} == set(Role)
    for _role, email, password in rows:
        client = demo_app.test_client()
        assert sign_in(client, email, password).status_code == 302, email
