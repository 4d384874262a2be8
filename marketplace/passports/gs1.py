"""GTIN check digits and GS1 Digital Link URI paths (pure functions).

The syntax follows the GS1 Digital Link URI standard: ``/01/{gtin}[/22/{cpv}][/10/{batch}][/21/{serial}]``,
each value percent-encoded, so a batch holding a slash arrives as ``%2F`` and is decoded here, after the
path has been split into its segments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.products.rules import gtin14, gtin_check_digit, gtin_is_valid

# Application identifiers we resolve, in the order GS1 Digital Link requires (01, then its key qualifiers).
AI_ORDER = ("01", "22", "10", "21")
MAX_LENGTH = {"22": 20, "10": 20, "21": 20}
_CSET82 = re.compile(r"^[!%-?A-Z_a-z\"]+$")  # GS1 AI encodable character set 82
# Characters left as they are in a Digital Link path segment (RFC 3986 unreserved and a few sub-delims);
# everything else, the slash included, is percent-encoded.
_SAFE = "!'()*+,-.:;=_~"

__all__ = ["AI_LABELS", "DigitalLink", "DigitalLinkError", "gtin_check_digit", "is_valid_gtin", "is_valid_qualifier",
           "normalise_gtin", "parse_path"]


# The names the error messages use, translated.
AI_LABELS = {"01": _l("GTIN"), "22": _l("consumer product variant"), "10": _l("batch or lot number"),
             "21": _l("serial number")}


class DigitalLinkError(ValueError):
    """A malformed Digital Link path; the message names the problem."""


def is_valid_gtin(gtin: str) -> bool:
    return gtin_is_valid(gtin)


def normalise_gtin(gtin: str) -> str:
    """GTIN-8/12/13/14 as the 14-digit form used in Digital Link URIs and stored by the site."""
    return gtin14(gtin)


@dataclass(frozen=True)
class DigitalLink:
    gtin: str  # 14 digits
    lot: str | None = None
    serial: str | None = None
    variant: str | None = None

    def path(self) -> str:
        """The canonical path: GTIN-14, qualifiers in order, each value percent-encoded."""
        parts = [f"/01/{self.gtin}"]
        for ai, value in (("22", self.variant), ("10", self.lot), ("21", self.serial)):
            if value:
                parts.append(f"/{ai}/{quote(value, safe=_SAFE)}")
        return "".join(parts)


def _decode(value: str, ai: str) -> str:
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        message = _("The %(name)s holds a percent-encoding that is not UTF-8.", name=AI_LABELS[ai])
        raise DigitalLinkError(message) from None


def _check_keys(keys: list[str]) -> None:
    for ai in keys:
        if ai not in AI_ORDER:
            raise DigitalLinkError(_("Unknown or unsupported GS1 application identifier (%(ai)s).", ai=ai[:8]))
    if keys[0] != "01":
        raise DigitalLinkError(_("A Digital Link path must start with the GTIN (01)."))
    if len(set(keys)) != len(keys):
        raise DigitalLinkError(_("An application identifier appears twice."))
    if keys != [k for k in AI_ORDER if k in keys]:
        raise DigitalLinkError(_("The qualifiers are in the wrong order: it must be 01, then 22, 10 and 21."))


def _check_gtin(gtin: str) -> None:
    if not gtin.isdigit() or not gtin.isascii():
        raise DigitalLinkError(_("The GTIN must contain digits only."))
    if len(gtin) not in (8, 12, 13, 14):
        raise DigitalLinkError(_("The GTIN must have 8, 12, 13 or 14 digits."))
    if not is_valid_gtin(gtin):
        raise DigitalLinkError(_("The GTIN check digit is wrong (expected %(digit)s).",
                                 digit=gtin_check_digit(gtin[:-1])))


def _check_qualifier(ai: str, value: str) -> None:
    limit = MAX_LENGTH[ai]
    if not value:
        raise DigitalLinkError(_("The %(name)s is empty.", name=AI_LABELS[ai]))
    if len(value) > limit:
        raise DigitalLinkError(_("The %(name)s is longer than the standard allows (%(n)s characters).",
                                 name=AI_LABELS[ai], n=limit))
    if not _CSET82.match(value):
        raise DigitalLinkError(_("The %(name)s holds characters outside the GS1 character set.", name=AI_LABELS[ai]))


def is_valid_qualifier(ai: str, value: str) -> bool:
    """Whether ``value`` may stand as the value of key qualifier ``ai`` (22, 10 or 21) in a Digital Link."""
    try:
        _check_qualifier(ai, value)
    except DigitalLinkError:
        return False
    return True


def parse_path(path: str) -> DigitalLink:
    """Parse a raw (still percent-encoded) ``/01/{gtin}[/22/{cpv}][/10/{lot}][/21/{serial}]``;
    raise DigitalLinkError naming what is wrong."""
    segments = path.strip("/").split("/")
    if len(segments) % 2:
        raise DigitalLinkError(_("Each GS1 application identifier must be followed by a value."))
    pairs = list(zip(segments[::2], segments[1::2], strict=True))
    _check_keys([ai for ai, _ in pairs])
    values = {ai: _decode(value, ai) for ai, value in pairs}
    _check_gtin(values["01"])
    for ai in MAX_LENGTH:
        if ai in values:
            _check_qualifier(ai, values[ai])
    return DigitalLink(normalise_gtin(values["01"]), values.get("10"), values.get("21"), values.get("22"))
