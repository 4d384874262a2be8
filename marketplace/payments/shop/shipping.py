"""Each MSME's shipping zones and rates; a cart makes one shipment per MSME at its zone's rate."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.orders.services import OrderError
from marketplace.organisations.models import Organisation
from marketplace.payments.models import (
    ShippingZone,
)
from marketplace.payments.shop.addresses import AddressError
from marketplace.payments.shop.cart import CartLine


def zone_for(organisation_id: int, country: str) -> ShippingZone | None:
    """The MSME's zone for ``country``: one that lists it, else its rest-of-the-world zone, else none."""
    zones = list(db.session.scalars(select(ShippingZone).where(ShippingZone.organisation_id == organisation_id)
                                    .order_by(ShippingZone.id)))
    listed = next((z for z in zones if country in (z.countries or [])), None)
    return listed or next((z for z in zones if z.rest_of_world), None)


@dataclass
class ShipmentQuote:
    organisation: Organisation
    lines: list[CartLine]
    zone: ShippingZone | None

    @property
    def shipping_minor(self) -> int:
        return self.zone.rate_minor if self.zone else 0

    @property
    def goods_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)


def shipments_for(lines: list[CartLine], country: str) -> list[ShipmentQuote]:
    """One shipment per MSME in the cart, each at its zone's rate for ``country`` (``zone`` None: no shipping)."""
    by_org: dict[int, list[CartLine]] = {}
    for line in lines:
        by_org.setdefault(line.organisation_id, []).append(line)
    quotes = []
    for org_id, org_lines in sorted(by_org.items()):
        org = db.session.get(Organisation, org_id)
        assert org is not None
        quotes.append(ShipmentQuote(org, org_lines, zone_for(org_id, country) if country else None))
    return quotes


def _check_shipping(quotes: list[ShipmentQuote], country: str, currency: str) -> None:
    for quote in quotes:
        if quote.zone is None:
            raise AddressError({"country": str(_l("%(maker)s does not ship to this country. Remove its items or "
                                                  "choose another address.", maker=quote.organisation.name))})
        if quote.zone.currency != currency:
            raise OrderError(_l("%(maker)s's shipping rate is in another currency: buy its items separately.",
                                maker=quote.organisation.name), 422)


def zones_of(organisation_id: int) -> list[ShippingZone]:
    return list(db.session.scalars(select(ShippingZone).where(ShippingZone.organisation_id == organisation_id)
                                   .order_by(ShippingZone.id)))


def save_zone(organisation_id: int, zone_id: int | None, *, name: str, countries: list[str], rest_of_world: bool,
              rate_minor: int, days_min: int, days_max: int, known: set[str]) -> ShippingZone:
    """Add or change one of the MSME's shipping zones; refused (nothing written) when a rule is broken."""
    if not name.strip() or len(name.strip()) > 80:
        raise OrderError(_l("Name the zone, in at most 80 characters."), 422)
    unknown = sorted(set(countries) - known)
    if unknown:
        raise OrderError(_l("Not ISO 3166 country codes: %(codes)s.", codes=", ".join(unknown)[:100]), 422)
    if not countries and not rest_of_world:
        raise OrderError(_l("List the zone's countries, or make it the zone for the rest of the world."), 422)
    if not 0 <= rate_minor <= 100_000_00 or not 0 <= days_min <= days_max <= 120:
        raise OrderError(_l("Check the rate and the delivery days (from at most until, both 0 to 120)."), 422)
    zones = zones_of(organisation_id)
    zone = None
    if zone_id is not None:
        zone = next((z for z in zones if z.id == zone_id), None)
        if zone is None:
            raise OrderError(_l("There is no such zone among yours."), 404)
    others = [z for z in zones if z is not zone]
    taken = sorted({c for z in others for c in (z.countries or [])} & set(countries))
    if taken:
        raise OrderError(_l("Already in another of your zones: %(codes)s.", codes=", ".join(taken)), 422)
    if rest_of_world and any(z.rest_of_world for z in others):
        raise OrderError(_l("Another of your zones is already the rest of the world."), 422)
    if zone is None:
        zone = ShippingZone(organisation_id=organisation_id)
        db.session.add(zone)
    zone.name, zone.countries, zone.rest_of_world = name.strip(), sorted(set(countries)), rest_of_world
    zone.rate_minor, zone.currency, zone.days_min, zone.days_max = rate_minor, "EUR", days_min, days_max
    db.session.flush()
    return zone
