"""Product data rules: GTIN check digits, fibre composition, ISO 3758 care symbols, yields."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l

from marketplace.products.models import StepKind

# ISO 3758:2023 care symbols, by code. The code is stored; the label is shown.
CARE_SYMBOLS = {
    "wash-30": _l("Machine wash at 30 °C"),
    "wash-30-gentle": _l("Machine wash at 30 °C, gentle cycle"),
    "wash-40": _l("Machine wash at 40 °C"),
    "wash-hand": _l("Hand wash only, at most 40 °C"),
    "wash-no": _l("Do not wash"),
    "bleach-no": _l("Do not bleach"),
    "bleach-oxygen": _l("Oxygen bleach only"),
    "tumble-no": _l("Do not tumble dry"),
    "tumble-low": _l("Tumble dry at low temperature"),
    "dry-flat": _l("Dry flat"),
    "dry-flat-shade": _l("Dry flat in the shade"),
    "dry-line": _l("Line dry"),
    "iron-low": _l("Iron at low temperature, at most 110 °C"),
    "iron-medium": _l("Iron at medium temperature, at most 150 °C"),
    "iron-no": _l("Do not iron"),
    "pro-dry-p": _l("Professional dry cleaning in tetrachloroethene (P)"),
    "pro-dry-p-gentle": _l("Professional dry cleaning (P), gentle process"),
    "pro-dry-f": _l("Professional dry cleaning in hydrocarbons (F)"),
    "pro-dry-no": _l("Do not dry clean"),
    "pro-wet-w": _l("Professional wet cleaning (W)"),
    "pro-wet-w-gentle": _l("Professional wet cleaning (W), gentle process"),
    "pro-wet-no": _l("Do not wet clean"),
}

FIBRES = {
    "cashmere": _l("Cashmere"),
    "recycled_cashmere": _l("Recycled cashmere"),
    "yak": _l("Yak down"),
    "camel": _l("Camel hair"),
    "wool": _l("Wool"),
    "silk": _l("Silk"),
    "cotton": _l("Cotton"),
    "polyamide": _l("Polyamide"),
    "elastane": _l("Elastane"),
}

# Dehairing removes guard hair and dirt: below 25% or above 70% of the input is not physically credible.
DEHAIRING_YIELD_RANGE = (Decimal(25), Decimal(70))


def gtin_check_digit(body: str) -> int:
    """The check digit for the digits of a GTIN without its last digit (GS1 mod-10)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_is_valid(value: str) -> bool:
    """GS1 check digit for GTIN-8, -12, -13 and -14."""
    if not value.isascii() or not value.isdigit() or len(value) not in (8, 12, 13, 14):
        return False
    return gtin_check_digit(value[:-1]) == int(value[-1])


def gtin14(value: str) -> str:
    """A valid GTIN-8, -12, -13 or -14 as the 14-digit GTIN the site stores and GS1 Digital Link uses
    (padded with leading zeros, which keeps the check digit right)."""
    return value.zfill(14)


def parse_composition(text: str) -> dict[str, str]:
    """``cashmere: 95`` per line → {"cashmere": "95"}; raises ValueError with a message for the user."""
    result: dict[str, Decimal] = {}
    lines = [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
    if not lines:
        raise ValueError(_l("Give at least one fibre and its percentage, e.g. “cashmere: 100”."))
    for line in lines:
        fibre, sep, pct = line.partition(":")
        fibre = fibre.strip().lower().replace(" ", "_")
        if not sep or fibre not in FIBRES:
            raise ValueError(_l("“%(line)s” is not a known fibre with a percentage. Known fibres: %(fibres)s.",
                                line=line, fibres=", ".join(FIBRES)))
        try:
            value = Decimal(pct.strip().rstrip("%").strip())
        except InvalidOperation:
            raise ValueError(_l("“%(line)s” has no valid percentage.", line=line)) from None
        if not value.is_finite() or value <= 0 or value > 100:
            raise ValueError(_l("Each percentage must be above 0 and at most 100 (“%(line)s”).", line=line))
        if fibre in result:
            raise ValueError(_l("%(fibre)s is listed twice.", fibre=fibre))
        result[fibre] = value
    total = sum(result.values(), Decimal(0))
    if total != 100:
        raise ValueError(_l("The fibre composition adds up to %(total)s%%; it must total exactly 100%%.",
                            total=f"{total.normalize():f}"))
    return {fibre: f"{pct.normalize():f}" for fibre, pct in result.items()}


def format_composition(composition: dict[str, str]) -> str:
    return "\n".join(f"{fibre}: {pct}" for fibre, pct in composition.items())


def yield_problem(kind: StepKind, step_label: str, kg_in: Decimal, kg_out: Decimal) -> str | None:
    """Why a step's kg in → kg out is physically impossible, naming the step and the limit; or None."""
    if kg_in <= 0 or kg_out <= 0:
        return str(_l("%(step)s: kg in and kg out must both be above zero.", step=step_label))
    if kg_out > kg_in:
        return str(_l(
            "%(step)s: %(out)s kg out is more than %(in)s kg in. A processing step cannot add fibre; "
            "the limit is 100%% yield.", step=step_label, out=kg_out, **{"in": kg_in},
        ))
    if kind is StepKind.dehairing:
        low, high = DEHAIRING_YIELD_RANGE
        pct = (kg_out * 100 / kg_in).quantize(Decimal("0.1"))
        if not low <= pct <= high:
            return str(_l(
                "%(step)s: a yield of %(pct)s%% is outside the possible range for dehairing, %(low)s–%(high)s%%.",
                step=step_label, pct=pct, low=low, high=high,
            ))
    return None


# --- circular services (repair, take-back, resale) -------------------------------------------------------

SERVICE_KINDS = ("repair", "take_back", "resale")
LANGUAGES = ("en", "mn", "fr", "de", "it", "zh")


def circular_terms(raw: Any) -> dict[str, dict[str, Any]]:
    """A product's circular services in their one structured form, whatever form they were stored in.

    Each service offered is ``{"conditions": {locale: text}, "price_minor": int | None, "currency": "EUR"}``
    (``price_minor`` None: free of charge); a service not offered is absent. Versions published before the
    services were structured hold one English text per service (``{"repair": "Free repair …"}``): read as
    its English conditions, with no price stated. The credential's form (``price: {amount, currency}``) is read
    too, so that the passport page shows what the published version says.
    """
    terms: dict[str, dict[str, Any]] = {}
    if not isinstance(raw, dict):
        return terms
    for kind in SERVICE_KINDS:
        if kind not in raw:
            continue
        value = raw[kind]
        if isinstance(value, dict):
            texts = value.get("conditions") if isinstance(value.get("conditions"), dict) else {}
            conditions = {code: str(texts[code]).strip() for code in LANGUAGES
                          if isinstance(texts.get(code), str) and texts[code].strip()}
            stated = value.get("price") if isinstance(value.get("price"), dict) else {}  # the credential's form
            price = value.get("price_minor", stated.get("amount"))
            price_minor = price if isinstance(price, int) and not isinstance(price, bool) and price >= 0 else None
            currency = value.get("currency", stated.get("currency"))
            currency = currency if isinstance(currency, str) and len(currency) == 3 else "EUR"
        else:
            text = str(value or "").strip()
            conditions, price_minor, currency = ({"en": text} if text else {}), None, "EUR"
        terms[kind] = {"conditions": conditions, "price_minor": price_minor, "currency": currency}
    return terms
