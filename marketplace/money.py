"""Money amounts: major units typed by people ↔ integer minor units (ISO 4217) stored by the site.

One rule everywhere: an amount with more decimals than its currency has (120.019 EUR) is refused,
never truncated or rounded. Forms check it with :func:`marketplace.forms_common.MoneyPlaces`, which
calls :func:`check_places`; routes convert with :func:`to_minor`, which applies the same check.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision


class AmountPrecisionError(ValueError):
    """The amount has more decimals than the currency allows."""

    def __init__(self, amount: Decimal, currency: str, places: int) -> None:
        super().__init__(f"{amount} has more than {places} decimals for {currency}")
        self.amount, self.currency, self.places = amount, currency, places


def minor_places(currency: str) -> int:
    """How many decimals the currency has (2 for EUR, USD and MNT; 0 for JPY)."""
    return get_currency_precision(currency)


def check_places(amount: Decimal | int, currency: str) -> None:
    places = minor_places(currency)
    value = Decimal(amount)
    if not value.is_finite():
        raise AmountPrecisionError(value, currency, places)
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise AmountPrecisionError(value, currency, places)


def to_minor(amount: Decimal | int, currency: str) -> int:
    """``amount`` in major units as integer minor units; refuses more decimals than ``currency`` has."""
    check_places(amount, currency)
    return int(Decimal(amount).scaleb(minor_places(currency)))


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units as a major-unit decimal (12001 EUR → 120.01), to fill a form."""
    return Decimal(minor).scaleb(-minor_places(currency))


# Conversion: the Union's declared reference rates (config ``FX_MNT_PER_UNIT``) are the one source.

COMPARISON_CURRENCY = "EUR"


def fx_rates() -> dict[str, Decimal]:
    """MNT per unit of each currency, as declared by the Union (not live rates)."""
    from flask import current_app

    return {code: Decimal(str(rate)) for code, rate in current_app.config["FX_MNT_PER_UNIT"].items()}


def convert_minor(minor: int, currency: str, to: str, rates: dict[str, Decimal] | None = None) -> int:
    """``minor`` units of ``currency`` in minor units of ``to``, at the reference rates (half up)."""
    if currency == to:
        return minor
    rates = rates if rates is not None else fx_rates()
    major = from_minor(minor, currency) * rates[currency] / rates[to]
    return int(major.scaleb(minor_places(to)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
