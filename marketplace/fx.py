"""The Union's reference exchange rates: one dated source for every page and credential.

The rates are declared by the Union (settings ``FX_MNT_PER_UNIT`` and ``FX_RATES_AS_OF``), not live
market rates. The product page's "about … MNT", the review screen and the passport's herder share of
the retail price all convert through here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app

from marketplace.money import from_minor, minor_places


@dataclass(frozen=True)
class ReferenceRates:
    as_of: dt.date
    mnt_per_unit: dict[str, Decimal]  # tugriks for one major unit of each currency


def reference_rates() -> ReferenceRates:
    config = current_app.config
    return ReferenceRates(
        as_of=dt.date.fromisoformat(str(config["FX_RATES_AS_OF"])),
        mnt_per_unit={code: Decimal(str(rate)) for code, rate in config["FX_MNT_PER_UNIT"].items()},
    )


def to_mnt_minor(amount_minor: int, currency: str) -> int | None:
    """An indicative amount in MNT minor units, rounded to whole tugriks; None without a rate for ``currency``."""
    rate = reference_rates().mnt_per_unit.get(currency)
    if rate is None:
        return None
    major = Decimal(amount_minor).scaleb(-minor_places(currency)) * rate
    return int(major.quantize(Decimal(1), rounding=ROUND_HALF_UP)) * 10 ** minor_places("MNT")


# Conversion between currencies (the lot browser compares prices in EUR per clean kg).

COMPARISON_CURRENCY = "EUR"


def fx_rates() -> dict[str, Decimal]:
    """MNT per unit of each currency, as declared by the Union (not live rates)."""
    return reference_rates().mnt_per_unit


def convert_minor(minor: int, currency: str, to: str, rates: dict[str, Decimal] | None = None) -> int:
    """``minor`` units of ``currency`` in minor units of ``to``, at the reference rates (half up)."""
    if currency == to:
        return minor
    rates = rates if rates is not None else fx_rates()
    major = from_minor(minor, currency) * rates[currency] / rates[to]
    return int(major.scaleb(minor_places(to)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
