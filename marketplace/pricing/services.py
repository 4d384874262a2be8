"""Publish price policies, price lots against them, and list lots only at or above the floor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask import g, has_app_context
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.accounts.models import User
from marketplace.db import today, utcnow
from marketplace.extensions import db
from marketplace.i18n import money
from marketplace.lots.models import Colour, FibreState, Lot, LotStatus, PriceBasis
from marketplace.pricing.models import GradePremium, MicronBand, PricePolicy


class PricingError(ValueError):
    """Bad input for a policy, or a lot that cannot be listed: the message is shown to the user."""


@dataclass(frozen=True)
class PriceCheck:
    """A lot's price set against the policy in force for its season and currency."""

    policy: PricePolicy
    band: MicronBand
    floor_minor: int  # the floor for the lot's fibre (greasy or dehaired)
    grade_premium_minor: int  # the grade premium, on the lot's price basis
    price_minor: int

    @property
    def minimum_minor(self) -> int:
        return self.floor_minor + self.grade_premium_minor

    def allows(self, price_minor: int) -> bool:
        """The floor rule, the one comparison for listing and selling: at least floor plus grade premium."""
        return price_minor >= self.minimum_minor

    @property
    def ok(self) -> bool:
        return self.allows(self.price_minor)

    @property
    def margin_minor(self) -> int:
        return self.price_minor - self.minimum_minor


def policy_in_force(season: int, currency: str) -> PricePolicy | None:
    """The latest revision of the policy for ``season`` in ``currency``.

    Read once per request or command (an allocation checks the floor of every candidate lot);
    ``publish_policy`` forgets what was read.
    """
    known = g.setdefault(_IN_FORCE, {}) if has_app_context() else {}
    if (season, currency) in known:
        return known[season, currency]
    policy = db.session.scalar(
        select(PricePolicy).where(PricePolicy.season == season, PricePolicy.currency == currency)
        .order_by(PricePolicy.revision.desc()).limit(1)
    )
    if policy is not None:  # "none yet" is read again: a policy may be published meanwhile
        known[season, currency] = policy
    return policy


_IN_FORCE = "pricing_policies_in_force"


def policy_at(season: int, currency: str, at: dt.datetime) -> PricePolicy | None:
    """The revision of the policy for ``season`` in ``currency`` that was in force at ``at`` (the latest
    one recorded by then): a quote stays bound by the floor it was given under. A quote recorded before
    any revision (older data) is held to the first one."""
    same = (PricePolicy.season == season, PricePolicy.currency == currency)
    return db.session.scalar(
        select(PricePolicy).where(*same, PricePolicy.created_at <= at).order_by(PricePolicy.revision.desc()).limit(1)
    ) or db.session.scalar(select(PricePolicy).where(*same).order_by(PricePolicy.revision).limit(1))


def history() -> list[PricePolicy]:
    """Every policy ever published, newest season first, each revision in turn."""
    return list(db.session.scalars(
        select(PricePolicy).options(selectinload(PricePolicy.premiums))
        .order_by(PricePolicy.season.desc(), PricePolicy.currency, PricePolicy.revision.desc())
    ))


def check(lot: Lot, policy: PricePolicy | None = None) -> PriceCheck | None:
    """How the lot's price stands against the policy (None when no policy is published for it).

    A dehaired lot is held to the dehaired floor; greasy and scoured fibre to the greasy floor.
    Grade premiums are set per kg of dehaired fibre: a lot priced per kg greasy owes them in
    proportion to its dehairing yield.
    """
    policy = policy or policy_in_force(lot.season, lot.currency)
    if policy is None:
        return None
    band = MicronBand.for_diameter(lot.mean_diameter_um)
    floor = policy.dehaired_floor_minor if lot.state is FibreState.dehaired else policy.greasy_floor_minor
    premium = Decimal(policy.premium_for(band, lot.colour))
    if lot.price_basis is PriceBasis.greasy and lot.dehairing_yield_pct:
        premium = premium * lot.dehairing_yield_pct / 100
    premium_minor = int(premium.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return PriceCheck(policy, band, floor, premium_minor, lot.price_minor)


def problem(lot: Lot) -> str | None:
    """Why the lot cannot be listed at its price, or None when it can."""
    result = check(lot)
    if result is None:
        return _("The Union has not published a fair-price policy for season %(season)s in %(currency)s, "
                 "so lot %(code)s cannot be listed yet.", season=lot.season, currency=lot.currency, code=lot.code)
    if not result.ok:
        return _("Lot %(code)s is priced at %(price)s per kg, below the fair-price floor of %(minimum)s per kg "
                 "for its grade (season %(season)s policy). Raise the price to list it.",
                 code=lot.code, price=_money(result.price_minor, lot.currency),
                 minimum=_money(result.minimum_minor, lot.currency), season=lot.season)
    return None


def _money(minor: int, currency: str) -> str:
    return money(minor, currency)


def list_lot(lot: Lot) -> PriceCheck:
    """List (publish) a lot for sale, recording the policy it is priced under. Raises PricingError."""
    message = problem(lot)
    if message:
        raise PricingError(message)
    result = check(lot)
    assert result is not None
    lot.status = LotStatus.listed
    lot.price_policy_id = result.policy.id
    if lot.listed_at is None:
        lot.listed_at = utcnow()
    db.session.flush()
    return result


def publish_policy(
    *, season: int, currency: str, greasy_floor_minor: int, dehaired_floor_minor: int,
    premiums: Mapping[tuple[MicronBand, Colour], int], published_on: dt.date | None = None, note: str = "",
    staff: User | None = None,
) -> PricePolicy:
    """Publish a new revision of the policy for ``season`` in ``currency``. Raises PricingError."""
    currency = (currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise PricingError(_("The currency must be a three-letter ISO 4217 code, such as EUR."))
    if not 2000 <= season <= today().year + 1:
        raise PricingError(_("The season must be a year from 2000 to next year."))
    if greasy_floor_minor <= 0 or dehaired_floor_minor <= 0:
        raise PricingError(_("Floor prices must be greater than zero."))
    if dehaired_floor_minor < greasy_floor_minor:
        raise PricingError(_("The floor for dehaired fibre cannot be lower than the floor for greasy fibre."))
    if any(v < 0 for v in premiums.values()):
        raise PricingError(_("Grade premiums cannot be negative."))
    revision = (db.session.scalar(
        select(func.max(PricePolicy.revision)).where(PricePolicy.season == season, PricePolicy.currency == currency)
    ) or 0) + 1
    policy = PricePolicy(
        season=season, currency=currency, revision=revision, greasy_floor_minor=greasy_floor_minor,
        dehaired_floor_minor=dehaired_floor_minor, published_on=published_on or today(), note=note,
        published_by=staff,
    )
    db.session.add(policy)
    db.session.flush()
    if has_app_context():
        g.pop(_IN_FORCE, None)  # this revision is now the one in force
    for band in MicronBand:
        for colour in Colour:
            db.session.add(GradePremium(policy_id=policy.id, band=band, colour=colour,
                                        premium_minor=int(premiums.get((band, colour), 0))))
    db.session.flush()
    db.session.refresh(policy)
    return policy


def same_policy(policy: PricePolicy, *, greasy_floor_minor: int, dehaired_floor_minor: int,
                premiums: Mapping[tuple[MicronBand, Colour], int]) -> bool:
    """Whether ``policy`` already says exactly this (so loading the demo twice publishes nothing new)."""
    return (policy.greasy_floor_minor == greasy_floor_minor and policy.dehaired_floor_minor == dehaired_floor_minor
            and all(policy.premium_for(b, c) == int(premiums.get((b, c), 0)) for b in MicronBand for c in Colour))
