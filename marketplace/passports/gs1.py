"""GTIN check digits and GS1 Digital Link paths (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _

# Application identifiers we resolve, in the order GS1 Digital Link requires.
AI_NAMES = {"01": "GTIN", "10": "batch/lot", "21": "serial number"}  # for code; messages name them via _()
_ALLOWED_CHARS = re.compile(r"^[!%-?A-Z_a-z\"]{1,20}$")  # GS1 AI encodable character set 82


class DigitalLinkError(ValueError):
    """A malformed Digital Link path; the message names the problem."""


def gtin_check_digit(body: str) -> int:
    """The check digit for the digits of a GTIN without its last digit (GS1 mod-10)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_valid_gtin(gtin: str) -> bool:
    return gtin.isdigit() and len(gtin) in (8, 12, 13, 14) and gtin_check_digit(gtin[:-1]) == int(gtin[-1])


def normalise_gtin(gtin: str) -> str:
    """GTIN-8/12/13/14 as the 14-digit form used in Digital Link URIs."""
    return gtin.zfill(14)


@dataclass(frozen=True)
class DigitalLink:
    gtin: str  # 14 digits
    lot: str | None = None
    serial: str | None = None

    def path(self) -> str:
        parts = [f"/01/{self.gtin}"]
        if self.lot:
            parts.append(f"/10/{self.lot}")
        if self.serial:
            parts.append(f"/21/{self.serial}")
        return "".join(parts)


def parse_path(path: str) -> DigitalLink:
    """Parse ``/01/{gtin}[/10/{lot}][/21/{serial}]``; raise DigitalLinkError naming what is wrong."""
    segments = path.strip("/").split("/")
    if len(segments) % 2:
        raise DigitalLinkError(_("Each GS1 application identifier must be followed by a value."))
    pairs = list(zip(segments[::2], segments[1::2], strict=True))
    keys = [ai for ai, _ in pairs]
    for ai in keys:
        if ai not in AI_NAMES:
            raise DigitalLinkError(_("Unknown or unsupported GS1 application identifier (%(ai)s).", ai=ai[:8]))
    if keys[0] != "01":
        raise DigitalLinkError(_("A Digital Link path must start with the GTIN (01)."))
    if len(set(keys)) != len(keys):
        raise DigitalLinkError(_("An application identifier appears twice."))
    order = ["01", "10", "21"]
    if keys != [k for k in order if k in keys]:
        raise DigitalLinkError(_("The qualifiers are in the wrong order: it must be 01, then 10, then 21."))
    values = dict(pairs)
    gtin = values["01"]
    if not gtin.isdigit():
        raise DigitalLinkError(_("The GTIN must contain digits only."))
    if len(gtin) not in (8, 12, 13, 14):
        raise DigitalLinkError(_("The GTIN must have 8, 12, 13 or 14 digits."))
    if not is_valid_gtin(gtin):
        expected = gtin_check_digit(gtin[:-1])
        raise DigitalLinkError(_("The GTIN check digit is wrong (expected %(digit)s).", digit=expected))
    for ai in ("10", "21"):
        if ai in values and not _ALLOWED_CHARS.match(values[ai]):
            raise DigitalLinkError(_("The batch or lot number must be 1 to 20 GS1 characters.") if ai == "10"
                                   else _("The serial number must be 1 to 20 GS1 characters."))
    return DigitalLink(normalise_gtin(gtin), values.get("10"), values.get("21"))
