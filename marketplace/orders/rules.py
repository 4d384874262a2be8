"""The selling rules: each is one function, and every entry point calls it.

Entry points: the lot browser and its API (certificate rule, through the search filter built
from :func:`marketplace.certification.models.standing`), the lot page, sample and quote
requests, the staff answer, acceptance, allocation, the staff adjustment and confirmation.

1. :func:`certificate_problem`: a lot is offered, quoted, reserved or allocated only while its
   certificate is valid on that day (not suspended, revoked, expired or not yet valid).
2. :func:`price_problem`: every price that reaches a buyer is at least the season's floor
   plus the grade premium for that lot; the refusal names that minimum.
3. :func:`quantity_problem`: kg taken from a lot are within its available kg and at least its
   minimum order.
4. :meth:`marketplace.orders.allocation.Spec.matches` with :func:`stock_of` (fibre state,
   colour, micron, length, hair, season, tier, price basis) and :func:`mixed_kinds` (one order
   never mixes fibre states or price bases).

The functions return a message for the user (lazy, translated when shown) or None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l

from marketplace.certification.models import CertificateStanding
from marketplace.i18n import money
from marketplace.lots.models import Lot, LotStatus
from marketplace.orders import allocation as engine
from marketplace.pricing import services as pricing


def _kg(kg: Decimal) -> str:
    return f"{kg.normalize():f}"


def _money(minor: int, currency: str) -> str:
    return money(minor, currency)


# 1. Certificate --------------------------------------------------------------------------------

def certificate_standing(lot: Lot, day: dt.date) -> CertificateStanding:
    """The standing on ``day`` of the certificate behind the lot (uncertified when it has none)."""
    cert = lot.certificate
    if cert is None:
        return CertificateStanding.uncertified
    return cert.standing_on(day)


def certificate_problem(lot: Lot, day: dt.date) -> Any | None:
    """Why the lot cannot be offered, quoted, reserved or allocated on ``day``, or None."""
    if lot.status is not LotStatus.listed:
        return _l("Lot %(code)s is not available.", code=lot.code)
    standing = certificate_standing(lot, day)
    if standing is CertificateStanding.valid:
        return None
    if standing is CertificateStanding.uncertified:
        return _l("Lot %(code)s has no certificate, so it cannot be sold.", code=lot.code)
    # One whole sentence per standing: a translated label cannot be lower-cased into a sentence
    # (German nouns keep their capital).
    args = {"code": lot.code, "number": lot.certificate.number if lot.certificate else "", "date": day.isoformat()}
    sentences = {
        CertificateStanding.suspended: _l("The certificate of lot %(code)s (%(number)s) is suspended on %(date)s, "
                                          "so the lot cannot be sold.", **args),
        CertificateStanding.revoked: _l("The certificate of lot %(code)s (%(number)s) is revoked on %(date)s, so "
                                        "the lot cannot be sold.", **args),
        CertificateStanding.expired: _l("The certificate of lot %(code)s (%(number)s) has expired by %(date)s, so "
                                        "the lot cannot be sold.", **args),
    }
    return sentences.get(standing) or _l(
        "The certificate of lot %(code)s (%(number)s) is not yet valid on %(date)s, so the lot cannot be sold.",
        **args)


# 2. Price floor -------------------------------------------------------------------------------

def _floor_check(lot: Lot, currency: str, at: dt.datetime | None) -> pricing.PriceCheck | None:
    """The lot against the policy for its season in ``currency`` in force at ``at`` (None: now); None when no
    policy is published."""
    if at is None:
        policy = pricing.policy_in_force(lot.season, currency)
    else:
        policy = pricing.policy_at(lot.season, currency, at)
    return pricing.check(lot, policy) if policy is not None else None


def minimum_price(lot: Lot, currency: str, at: dt.datetime | None = None) -> tuple[int | None, int]:
    """(floor plus grade premium per kg for ``lot`` in ``currency``, season) — None when no policy is published.

    ``at``: the time the price was quoted; the policy revision in force then binds (None: the one in force now).
    """
    result = _floor_check(lot, currency, at)
    return (result.minimum_minor if result is not None else None), lot.season


def price_problem(lot: Lot, price_minor: int, currency: str, at: dt.datetime | None = None) -> Any | None:
    """Why ``price_minor`` per kg (in ``currency``, on the lot's price basis) cannot reach a buyer for ``lot``.

    ``at``: when the price was quoted to the buyer (the floor in force then binds); None: now. The comparison is
    :meth:`marketplace.pricing.services.PriceCheck.allows`, the one the listing rule uses.
    """
    result = _floor_check(lot, currency, at)
    if result is None:
        return _l("The Union has published no fair-price policy for season %(season)s in %(currency)s, so lot "
                  "%(code)s cannot be priced in %(currency)s.", season=lot.season, currency=currency, code=lot.code)
    if not result.allows(price_minor):
        return _l("%(price)s per kg is below the fair-price floor of %(floor)s per kg (floor plus grade premium, "
                  "season %(season)s policy) for lot %(code)s.", price=_money(price_minor, currency),
                  floor=_money(result.minimum_minor, currency), season=lot.season, code=lot.code)
    return None


# 3. Quantity ----------------------------------------------------------------------------------

def quantity_problem(lot: Lot, kg: Decimal, *, extra_kg: Decimal = Decimal(0)) -> Any | None:
    """Why ``kg`` cannot be taken from ``lot``: more than is free (plus ``extra_kg`` this order already
    holds on it) or less than its minimum order."""
    free = lot.available_kg + extra_kg
    if kg > free:
        return _l("Lot %(code)s has only %(kg)s kg available.", code=lot.code, kg=_kg(free))
    if kg < lot.min_order_kg:
        return _l("The minimum order of lot %(code)s is %(kg)s kg.", code=lot.code, kg=_kg(lot.min_order_kg))
    return None


def can_supply_minimum(lot: Lot, extra_kg: Decimal = Decimal(0)) -> bool:
    """Whether the lot still has at least its minimum order free."""
    return quantity_problem(lot, lot.min_order_kg, extra_kg=extra_kg) is None


# 4. Specification -----------------------------------------------------------------------------

def stock_of(lot: Lot, extra_kg: Decimal = Decimal(0)) -> engine.LotStock:
    """The lot as the specification rule and the allocation engine see it."""
    return engine.LotStock(
        lot_id=lot.id, micron=lot.mean_diameter_um, colour=lot.colour.value, length_mm=lot.mean_length_mm,
        hair_pct=lot.hair_content_pct, available_kg=lot.available_kg + extra_kg, state=lot.state.value,
        season=lot.season, tier=lot.certificate.tier if lot.certificate else None, basis=lot.price_basis.value,
    )


def mixed_kinds(lots: Iterable[Lot]) -> Any | None:
    """Why these lots cannot make one order: they differ in fibre state or price basis."""
    lots = list(lots)
    if len({lot.state for lot in lots}) > 1:
        return _l("These lots are of different fibre states (greasy, scoured, dehaired); one order holds one state.")
    if len({lot.price_basis for lot in lots}) > 1:
        return _l("These lots are priced on different bases (greasy, clean); one order holds one price basis.")
    return None


# All rules at once ---------------------------------------------------------------------------

def offer_problem(lot: Lot, day: dt.date) -> Any | None:
    """Why the lot cannot be offered to buyers (sampled or quoted) on ``day``: its certificate, or its
    listed price now below the season's floor plus grade premium (after a policy revision)."""
    return certificate_problem(lot, day) or price_problem(lot, lot.price_minor, lot.currency)


def sellable(
    lot: Lot, spec: engine.Spec, *, day: dt.date, price_minor: int | None = None, currency: str | None = None,
    extra_kg: Decimal = Decimal(0), quoted_at: dt.datetime | None = None,
) -> bool:
    """Whether the lot may take part: matches ``spec``, certificate valid on ``day``, at least its minimum
    order free (counting ``extra_kg`` this order holds on it), and ``price_minor`` at or above its floor
    (the floor in force at ``quoted_at`` when the price was quoted then, else today's)."""
    if certificate_problem(lot, day) is not None or not spec.matches(stock_of(lot)):
        return False
    if not can_supply_minimum(lot, extra_kg):
        return False
    return price_minor is None or price_problem(lot, price_minor, currency or lot.currency, quoted_at) is None
