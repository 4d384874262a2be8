"""A cooperative lists a new lot: checked against its certificate and the season's fair-price floor.

The lot is written, priced and listed through ``pricing.list_lot`` (which records the policy it is
sold under), and its passport is published, in one transaction. The search outbox row is written by
the same flush, as for every other change to a lot. Any refusal raises before anything is added.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select

from marketplace import events
from marketplace.certification.models import Certificate
from marketplace.db import today
from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.lots.models import (
    Colour,
    FibreState,
    GoatSorting,
    Incoterm,
    Lot,
    LotContribution,
    LotStatus,
    PriceBasis,
    TestMethod,
)
from marketplace.organisations.models import Organisation, Soum
from marketplace.pricing import services as pricing


class ListingInputError(ValueError):
    """Bad input for a new lot: a message per form field; nothing is written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass
class LotInput:
    season: int
    soum_id: int
    herder_households: int
    colour: Colour
    sorting: GoatSorting
    state: FibreState
    mean_diameter_um: Decimal
    diameter_cv_pct: Decimal
    fibres_over_30um_pct: Decimal
    mean_length_mm: Decimal
    hair_content_pct: Decimal
    dehairing_yield_pct: Decimal | None
    vegetable_matter_pct: Decimal
    moisture_regain_pct: Decimal
    test_method: TestMethod
    lab_name: str
    lab_report_number: str
    tested_on: dt.date
    net_kg: Decimal
    bags: int
    min_order_kg: Decimal
    sample_size_g: int
    currency: str
    price_minor: int
    premium_minor: int
    price_basis: PriceBasis
    incoterm: Incoterm
    incoterm_place: str
    deposit_pct: Decimal
    price_valid_until: dt.date
    certificate_id: int
    herder_price_minor: int | None = None
    premium_to_herders_pct: Decimal | None = None


def certificates_of(cooperative_id: int) -> list[Certificate]:
    """The cooperative's certificates that a lot may be listed under today."""
    day = today()
    return [c for c in db.session.scalars(select(Certificate).filter_by(holder_id=cooperative_id)
                                          .order_by(Certificate.valid_to.desc())) if c.valid_on(day)]


def _check(cooperative: Organisation, data: LotInput) -> tuple[dict[str, str], Soum | None]:
    errors: dict[str, str] = {}
    day = today()
    cert = db.session.get(Certificate, data.certificate_id) if data.certificate_id else None
    if cert is None:
        errors["certificate_id"] = _("Choose one of your cooperative's certificates.")
    elif cert.holder_id != cooperative.id:
        errors["certificate_id"] = _("Certificate %(number)s is not your cooperative's: a lot can only be listed "
                                     "under the cooperative's own certificate.", number=cert.number)
    elif not cert.valid_on(day):
        errors["certificate_id"] = _("Certificate %(number)s is %(status)s today: no lot can be listed under it.",
                                     number=cert.number, status=label(cert.status_on(day)))
    soum = db.session.get(Soum, data.soum_id) if data.soum_id else None
    if soum is None:
        errors["soum_id"] = _("Choose the soum the fibre comes from.")
    if data.season > day.year:
        errors["season"] = _("The combing season cannot be in the future.")
    if data.tested_on > day:
        errors["tested_on"] = _("The test date cannot be in the future.")
    if data.price_valid_until < day:
        errors["price_valid_until"] = _("The price must be valid until today or later.")
    if data.state is FibreState.greasy and data.dehairing_yield_pct is None:
        errors["dehairing_yield_pct"] = _("Give the dehairing yield of greasy fibre.")
    if data.min_order_kg > data.net_kg:
        errors["min_order_kg"] = _("The minimum order cannot be more than the lot's net weight.")
    if data.bags > data.net_kg:
        errors["bags"] = _("A bag holds at least 1 kg: check the number of bags.")
    return errors, soum


def _next_code(season: int, aimag_code: str) -> str:
    """The next number of the season and aimag. Lots are never deleted, so the numbers are 1..count and the next
    is count + 1 (one count, not every code read: an import of 1,000 lots would read half a million); should
    count + 1 be taken (numbers with a gap), the first free number."""
    prefix = f"USCC-{season}-{aimag_code}-"
    count = db.session.scalar(select(func.count()).select_from(Lot).where(Lot.code.startswith(prefix))) or 0
    candidate = f"{prefix}{count + 1:03d}"
    if db.session.scalar(select(Lot.id).where(Lot.code == candidate)) is None:
        return candidate
    taken = set(db.session.scalars(select(Lot.code).where(Lot.code.startswith(prefix))))  # numbers with a gap
    n = 1
    while f"{prefix}{n:03d}" in taken:
        n += 1
    return f"{prefix}{n:03d}"


def _unsaved_lot(cooperative: Organisation, data: LotInput, soum: Soum, code: str) -> Lot:
    values = {k: v for k, v in data.__dict__.items() if k != "soum_id"}
    return Lot(
        code=code, cooperative_id=cooperative.id, aimag_id=soum.aimag_id,
        soum_id=soum.id, status=LotStatus.draft, available_kg=data.net_kg, reserved_kg=Decimal(0),
        herder_price_currency="MNT", **values,
    )


def check_new_lot(cooperative: Organisation, data: LotInput) -> dict[str, str]:
    """Every rule a new lot must meet (certificate, soum, dates, weights, fair-price floor): a message per field,
    empty when the lot may be listed. Writes nothing; the form and the spreadsheet import both call it."""
    errors, soum = _check(cooperative, data)
    if errors:
        return errors
    assert soum is not None
    # The floor is checked on an unsaved lot, so a refusal writes nothing at all.
    lot = _unsaved_lot(cooperative, data, soum, code="")
    if pricing.problem(lot) is None:
        return {}
    lot.code = _next_code(data.season, soum.aimag.code)  # the message names the code the lot would get
    problem = pricing.problem(lot)
    return {"price": problem} if problem else {}


def list_new_lot(cooperative: Organisation, data: LotInput) -> Lot:
    """Create and list the cooperative's lot, with its passport. Raises ListingInputError, writing nothing."""
    errors = check_new_lot(cooperative, data)
    if errors:
        raise ListingInputError(errors)
    return list_checked_lot(cooperative, data)


class _Codes:
    """The next codes of many new lots (an import): what ``_next_code`` gives each lot in turn, with each season and
    aimag's taken codes read once rather than counted and probed for every lot."""

    def __init__(self) -> None:
        self.taken: dict[str, set[str]] = {}

    def next(self, season: int, aimag_code: str) -> str:
        prefix = f"USCC-{season}-{aimag_code}-"
        if prefix not in self.taken:
            self.taken[prefix] = set(db.session.scalars(select(Lot.code).where(Lot.code.startswith(prefix))))
        taken = self.taken[prefix]
        code = f"{prefix}{len(taken) + 1:03d}"
        n = 1
        while code in taken:  # numbers with a gap: the first free number, as _next_code
            code = f"{prefix}{n:03d}"
            n += 1
        taken.add(code)
        return code


def list_checked_lots(cooperative: Organisation, rows: list[LotInput]) -> list[Lot]:
    """``list_checked_lot`` for many rows (the spreadsheet import): the lots are listed one by one, then announced
    once (``events.lots_listed``), so that their passports are published as one batch in this transaction."""
    codes = _Codes()
    lots = [list_checked_lot(cooperative, data, announce=False, codes=codes) for data in rows]
    if lots:
        events.lots_listed.send(cooperative, lots=lots)
    return lots


def list_checked_lot(cooperative: Organisation, data: LotInput, *, announce: bool = True,
                     codes: _Codes | None = None) -> Lot:
    """``list_new_lot`` for data that ``check_new_lot`` accepted earlier in this same transaction (the spreadsheet
    import checks every row, then lists them: the rules are not run twice). The price floor still refuses.
    ``announce=False``: the caller sends ``events.lots_listed`` for all its lots (``list_checked_lots``)."""
    soum = db.session.get(Soum, data.soum_id)
    assert soum is not None
    code = codes.next(data.season, soum.aimag.code) if codes is not None else _next_code(data.season, soum.aimag.code)
    lot = _unsaved_lot(cooperative, data, soum, code=code)
    lot.contributions.append(LotContribution(cooperative_id=cooperative.id, kg=data.net_kg,
                                             herder_households=data.herder_households))
    db.session.add(lot)
    db.session.flush()
    pricing.list_lot(lot)
    if announce:
        events.lot_listed.send(lot)  # passports publish the lot's passport
    return lot
