"""Organisation rules and queries."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from stdnum import exceptions
from stdnum.cn import uscc
from stdnum.eu import vat as eu_vat
from stdnum.gb import vat as gb_vat
from stdnum.jp import cn as jp_cn
from stdnum.us import ein

from marketplace import events
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.organisations.models import PUBLIC_PROFILE_KINDS, Organisation, OrgKind


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60] or "organisation"


def unique_slug(name: str) -> str:
    base = slugify(name)
    slug, n = base, 1
    while db.session.scalar(select(Organisation.id).where(Organisation.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def get_by_slug(slug: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.slug == slug))


REGISTER_ORDER = (OrgKind.union, OrgKind.cooperative, OrgKind.msme, OrgKind.certifier)


def public_register() -> list[tuple[OrgKind, list[Organisation]]]:
    """The Union's register of members and partners as anyone may read it: every organisation with a public
    profile, by role (brand buyers are customers, not listed), each with its number in the register (its slug),
    in which the Union's identity anchors name them."""
    found = db.session.scalars(select(Organisation).where(Organisation.kind.in_(PUBLIC_PROFILE_KINDS))
                               .order_by(Organisation.name, Organisation.id)).all()
    groups = [(kind, [o for o in found if o.kind is kind]) for kind in REGISTER_ORDER]
    return [(kind, members) for kind, members in groups if members]


# Registration numbers ---------------------------------------------------------------------------------

# Mongolian legal entities carry a 7-digit state registration number (python-stdnum has no Mongolian
# module and the register publishes no check digit, so the format is checked here and staff check the
# number against the state register before verifying).
_OTHER_REGISTRATION = re.compile(r"[A-Z0-9]{4,30}")
_MN_REGISTRATION = re.compile(r"\d{7}")
EU_COUNTRIES = frozenset(["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
                          "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"])


class RegistrationNumberError(ValueError):
    """A VAT or registration number with the wrong format or check digit (the message says which)."""


def check_registration_number(number: str, country: str, kind: OrgKind) -> str:
    """The number in its compact form, or RegistrationNumberError.

    Brand buyers in the EU give their VAT number (format and check digit by python-stdnum's ``eu.vat``,
    country prefix matching the organisation's country); elsewhere the country's company or tax number
    (GB VAT, China's unified social credit code, Japan's corporate number, US EIN). MSMEs give their
    Mongolian state registration number.
    """

    raw = (number or "").strip()
    if not raw or len(raw) > 40:
        raise RegistrationNumberError("missing")
    if kind is OrgKind.msme or country == "MN":
        compact = re.sub(r"[\s-]", "", raw)
        if not _MN_REGISTRATION.fullmatch(compact):
            raise RegistrationNumberError("mn-format")
        return compact
    validators = {"GB": gb_vat, "CN": uscc, "JP": jp_cn, "US": ein}
    try:
        if country in EU_COUNTRIES:
            compact = eu_vat.validate(raw if raw[:2].isalpha() else country + raw)
            prefix = "EL" if country == "GR" else country
            if not compact.startswith(prefix):
                raise RegistrationNumberError("country")
            return str(compact)
        if country in validators:
            return str(validators[country].validate(raw))
    except exceptions.InvalidChecksum:
        raise RegistrationNumberError("checksum") from None
    except exceptions.ValidationError:
        raise RegistrationNumberError("format") from None
    # Elsewhere (python-stdnum has no check for that country's register): letters, digits and the usual
    # separators, checked by the Union's staff before the organisation is verified.
    compact = re.sub(r"[\s.\-/]", "", raw).upper()
    if not _OTHER_REGISTRATION.fullmatch(compact):
        raise RegistrationNumberError("format")
    return compact


def unverified(kinds: tuple[OrgKind, ...] = (OrgKind.brand, OrgKind.msme)) -> list[Organisation]:
    """Organisations waiting for the Union's verification, oldest first."""
    return list(db.session.scalars(select(Organisation).where(
        Organisation.verified_at.is_(None), Organisation.kind.in_(kinds)).order_by(Organisation.id)))


def verify(organisation: Organisation) -> None:
    """Union staff checked the organisation: it may now order samples and accept quotes."""

    if organisation.verified_at is None:
        organisation.verified_at = utcnow()
        db.session.flush()
        events.organisation_verified.send(organisation)


def verification_problem(organisation_id: int) -> Any | None:
    """The one check for what an unverified organisation may not do (order samples, accept quotes):
    None when it may, else the message to show."""

    verified = db.session.scalar(select(Organisation.verified_at).where(Organisation.id == organisation_id))
    if verified is None:
        return _l("The Union has not verified your organisation yet. You can browse and request quotes; "
                  "ordering samples and accepting quotes open once it is verified (usually within two working days).")
    return None


# Kinds whose registration number the Union checks before verifying them (the verification queue's kinds).
VERIFIED_KINDS = (OrgKind.brand, OrgKind.msme)


def change_registration_number(organisation: Organisation, number: str, *, by_staff: bool) -> bool:
    """The one rule for changing a registration number after sign-up (the organisation's page and the staff
    screen): the number is checked as at sign-up (``check_registration_number``, RegistrationNumberError
    and nothing changed when wrong). A number changed by the organisation itself needs the Union's check
    again: a verified brand or MSME goes back to the verification queue. Staff checked the number they
    enter, so their change keeps the verification. True when the number changed."""

    compact = check_registration_number(number, organisation.country, organisation.kind)
    if compact == organisation.registration_number:
        return False
    organisation.registration_number = compact
    if not by_staff and organisation.kind in VERIFIED_KINDS:
        organisation.verified_at = None
    db.session.flush()
    events.organisation_changed.send(organisation)
    return True
