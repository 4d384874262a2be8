"""Lots imported from a laboratory's spreadsheet (XLSX or CSV).

Each row is read into the lot form (:class:`NewLotForm`: its ranges and types) and then checked by
``listing.check_new_lot``: the very rules of the form page (certificate, soum, dates, weights, fair-price
floor). Nothing is written until the person confirms; the import then lists every accepted row through
``listing.list_new_lot`` in the request's one transaction. A row whose lab report number (or lot code) is
already a lot of the cooperative is "already imported" and changes nothing, so importing a file twice
changes nothing the second time.

The file is read by ``sheets.py`` (shared with the product import): files are read, never run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import MultiDict

from marketplace.certification.models import Certificate
from marketplace.csv_export import to_csv, to_xlsx
from marketplace.extensions import db
from marketplace.i18n import LABELS
from marketplace.lots import listing, sheets
from marketplace.lots.forms import NewLotForm, lot_input
from marketplace.lots.models import Colour, FibreState, GoatSorting, Incoterm, Lot, PriceBasis, TestMethod
from marketplace.lots.sheets import (
    LOCALES,
    MAX_CELL,
    CellError,
    ImportFileError,
    Sheet,
    SheetRow,
    Table,
    read_date,
)
from marketplace.organisations.models import Organisation, Soum

# Columns that are not fields of the lot form.
EXTRA_LABELS: dict[str, Any] = {
    "lot_code": _l("Lot code (leave empty for a new lot)"),
    "cooperative": _l("Cooperative"),
    "soum": _l("Soum"),
    "certificate": _l("Certificate number"),
}
COLUMNS = (
    "lot_code", "cooperative", "lab_report_number", "lab_name", "test_method", "tested_on", "season", "soum",
    "herder_households", "colour", "sorting", "state", "mean_diameter_um", "diameter_cv_pct",
    "fibres_over_30um_pct", "mean_length_mm", "hair_content_pct", "dehairing_yield_pct", "vegetable_matter_pct",
    "moisture_regain_pct", "net_kg", "bags", "min_order_kg", "sample_size_g", "currency", "price", "premium",
    "price_basis", "incoterm", "incoterm_place", "deposit_pct", "price_valid_until", "herder_price_mnt",
    "premium_to_herders_pct", "certificate",
)
OPTIONAL = frozenset({"lot_code", "cooperative", "dehairing_yield_pct", "herder_price_mnt",
                      "premium_to_herders_pct"})
FORM_FIELD = {"soum": "soum_id", "certificate": "certificate_id"}
COLUMN_OF = {v: k for k, v in FORM_FIELD.items()}
ENUMS: dict[str, Any] = {"colour": Colour, "sorting": GoatSorting, "state": FibreState, "price_basis": PriceBasis}
CODES: dict[str, tuple[str, ...]] = {
    "test_method": tuple(t.value for t in TestMethod), "incoterm": tuple(i.value for i in Incoterm),
    "currency": ("EUR", "USD"),
}
# Units a value may carry, and the factor to the form's unit.
UNITS: dict[str, dict[str, Decimal]] = {
    "mean_diameter_um": {"": Decimal(1), "µm": Decimal(1), "μm": Decimal(1), "um": Decimal(1),
                         "micron": Decimal(1), "microns": Decimal(1), "mm": Decimal(1000)},
    "mean_length_mm": {"": Decimal(1), "mm": Decimal(1), "cm": Decimal(10)},
    "net_kg": {"": Decimal(1), "kg": Decimal(1), "t": Decimal(1000)},
    "min_order_kg": {"": Decimal(1), "kg": Decimal(1), "t": Decimal(1000)},
    "sample_size_g": {"": Decimal(1), "g": Decimal(1), "kg": Decimal(1000)},
}
PERCENT = frozenset({"diameter_cv_pct", "fibres_over_30um_pct", "hair_content_pct", "dehairing_yield_pct",
                     "vegetable_matter_pct", "moisture_regain_pct", "deposit_pct", "premium_to_herders_pct"})
NUMBERS = PERCENT | frozenset(UNITS) | {"season", "herder_households", "bags", "price", "premium",
                                         "herder_price_mnt"}
DATES = frozenset({"tested_on", "price_valid_until"})


def column_label(key: str) -> str:
    if key in EXTRA_LABELS:
        return str(EXTRA_LABELS[key])
    return str(getattr(NewLotForm, key).args[0])


LOT_SHEET = Sheet(COLUMNS, OPTIONAL, column_label, _l("The file has a header row but no lots."))


def read_file(filename: str, data: bytes, sheet: Sheet | None = None) -> Table:
    """The rows of an uploaded file (a lot sheet unless told), as text. Raises ImportFileError."""
    return sheets.read_file(filename, data, sheet or LOT_SHEET)


def read_number(key: str, raw: str, units: dict[str, Decimal] | None = None) -> str:
    """A cell of the lot sheet as a number in the form's unit (``UNITS``; a % sign in a percentage)."""
    return sheets.read_number(raw, units or UNITS.get(key), percent=key in PERCENT)


_LABEL_LOOKUP: dict[str, dict[str, str]] = {}


def _enum_lookup(key: str) -> dict[str, str]:
    if key not in _LABEL_LOOKUP:
        names: dict[str, str] = {}
        for member in ENUMS[key]:
            names[member.value.lower()] = member.value
            names[member.value.replace("_", " ").lower()] = member.value
            for locale in LOCALES:
                with force_locale(locale):
                    names[str(LABELS.get(member.value, member.value)).strip().lower()] = member.value
        _LABEL_LOOKUP[key] = names
    return _LABEL_LOOKUP[key]


def _choice(key: str, raw: str) -> str:
    if key in ENUMS:
        value = _enum_lookup(key).get(raw.strip().lower())
        if value is None:
            raise CellError(_("“%(value)s” is not one of: %(choices)s.", value=raw,
                              choices=", ".join(m.value for m in ENUMS[key])))
        return value
    folded = raw.strip().upper()
    for code in CODES[key]:
        if folded == code.upper():
            return code
    raise CellError(_("“%(value)s” is not one of: %(choices)s.", value=raw, choices=", ".join(CODES[key])))


# Checking rows ---------------------------------------------------------------------------------


@dataclass
class Row(SheetRow):
    data: listing.LotInput | None = None


@dataclass
class Preview:
    cooperative: Organisation
    columns: list[str]
    rows: list[Row]
    # The soums (with their aimags) and certificates the rows name, held so that the session's identity map
    # (weak references) keeps them: each row's check and listing then finds them without a query.
    loaded: list[object] = field(default_factory=list, repr=False)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def blocking(self) -> list[Row]:
        return [r for r in self.rows if r.status == "error"]


def _soums(loaded: list[object]) -> dict[str, int]:
    found: dict[str, int] = {}
    for soum in db.session.scalars(select(Soum).options(joinedload(Soum.aimag))):
        loaded.append(soum)
        found.setdefault(soum.name_en.strip().lower(), soum.id)
        found.setdefault(soum.name_mn.strip().lower(), soum.id)
    return found


def _certificates(loaded: list[object]) -> dict[str, int]:
    found: dict[str, int] = {}
    for certificate in db.session.scalars(select(Certificate)):
        loaded.append(certificate)
        found[certificate.number.strip().upper()] = certificate.id
    return found


def check_rows(cooperative: Organisation, rows: list[tuple[int, dict[str, str]]], columns: list[str],
               skip: Iterable[int] = (), formulas: dict[int, list[str]] | None = None) -> Preview:
    """Every row checked by the lot form and ``listing.check_new_lot``; nothing is written."""
    skipped = set(skip)
    formulas = formulas or {}
    existing = {code: (report, coop) for code, report, coop in db.session.execute(
        select(Lot.code, Lot.lab_report_number, Lot.cooperative_id))}
    by_report = {report: code for code, (report, coop) in existing.items() if coop == cooperative.id}
    loaded: list[object] = []
    soums = _soums(loaded)
    certificates = _certificates(loaded)
    names = {cooperative.name.strip().lower(), cooperative.slug.lower()}
    seen: dict[str, int] = {}
    checked: list[Row] = []
    for number, values in rows:
        row = Row(number, dict(values), skipped=number in skipped)
        checked.append(row)
        for key in formulas.get(number, []):
            row.errors[key] = _("A formula: formulas are never run. Type the value itself.")
        code = values.get("lot_code", "").strip()
        report = values.get("lab_report_number", "").strip()
        if code:
            if code in existing and existing[code][1] == cooperative.id:
                row.existing = code
                continue
            row.errors["lot_code"] = _("There is no lot %(code)s of your cooperative: leave the lot code empty for a "
                                       "new lot.", code=code)
        elif report in by_report:
            row.existing = by_report[report]
            continue
        if report:
            if report in seen:
                row.errors["lab_report_number"] = _("The same lab report number as row %(row)d.", row=seen[report])
            seen.setdefault(report, number)
        coop = values.get("cooperative", "").strip()
        if coop and coop.lower() not in names:
            row.errors["cooperative"] = _("This row is for another cooperative (%(name)s): only %(own)s's lots can "
                                          "be imported here.", name=coop, own=cooperative.name)
        if row.skipped:
            continue
        _check_row(cooperative, row, soums, certificates)
    return Preview(cooperative, columns, checked, loaded)


def _cell_value(key: str, raw: str, soums: dict[str, int], certificates: dict[str, int]) -> str:
    """A cell as the lot form would receive it (units converted, names to ids). Raises CellError."""
    if not raw:
        return ""
    if len(raw) > MAX_CELL:
        raise CellError(_("Longer than %(n)d characters.", n=MAX_CELL))
    if key in NUMBERS:
        return read_number(key, raw)
    if key in DATES:
        return read_date(raw)
    if key in ENUMS or key in CODES:
        return _choice(key, raw)
    if key in ("soum", "certificate"):
        return _reference(key, raw, soums, certificates)
    return raw


def _reference(key: str, raw: str, soums: dict[str, int], certificates: dict[str, int]) -> str:
    if key == "soum":
        if raw.lower() not in soums:
            raise CellError(_("There is no soum called “%(name)s”.", name=raw))
        return str(soums[raw.lower()])
    if raw.upper() not in certificates:
        raise CellError(_("There is no certificate %(number)s.", number=raw))
    return str(certificates[raw.upper()])


def _check_row(cooperative: Organisation, row: Row, soums: dict[str, int], certificates: dict[str, int]) -> None:
    formdata: MultiDict[str, str] = MultiDict()
    for key in COLUMNS:
        if key in ("lot_code", "cooperative") or key in row.errors:
            continue
        try:
            formdata[FORM_FIELD.get(key, key)] = _cell_value(key, row.values.get(key, "").strip(), soums,
                                                             certificates)
        except CellError as error:
            row.errors[key] = str(error)
    if row.errors:
        return
    form = NewLotForm(formdata=formdata, meta={"csrf": False})
    form.soum_id.choices = []
    form.certificate_id.choices = []
    if not form.validate():
        for name, messages in form.errors.items():
            row.errors[COLUMN_OF.get(name, name)] = " ".join(str(m) for m in messages)
        return
    data = lot_input(form)
    problems = listing.check_new_lot(cooperative, data)
    for name, message in problems.items():
        row.errors[COLUMN_OF.get(name, name)] = message
    if not problems:
        row.data = data


def import_rows(preview: Preview) -> list[Lot]:
    """List every new row's lot in the current transaction. Refuses (ImportFileError) while a row has errors."""
    if preview.blocking:
        raise ImportFileError(_("Fix or skip the rows with errors before importing."))
    rows = [row.data for row in preview.rows if row.status == "new"]
    assert all(data is not None for data in rows)
    # Checked by check_rows; the passports are published as one batch once every lot is listed.
    return listing.list_checked_lots(preview.cooperative, [data for data in rows if data is not None])


# Carrying the rows from the preview to the confirmation ----------------------------------------


SALT = "lot-import"


def pack(user_id: int, cooperative_id: int, filename: str, table: Table) -> str:
    return sheets.serializer(SALT).dumps({
        "u": user_id, "c": cooperative_id, "f": filename[:120], "k": table.columns,
        "r": [[n, v] for n, v in table.rows], "x": {str(n): ks for n, ks in table.formulas.items()},
    })


def unpack(token: str, user_id: int) -> tuple[int, str, Table]:
    """The cooperative id, file name and rows of a preview this person made; ImportFileError when not."""
    try:
        payload = sheets.serializer(SALT).loads(token, max_age=sheets.TOKEN_MAX_AGE)
    except BadSignature as error:  # SignatureExpired is a BadSignature
        raise ImportFileError(_("The preview has expired or was changed: upload the file again.")) from error
    if payload.get("u") != user_id:
        raise ImportFileError(_("The preview has expired or was changed: upload the file again."))
    table = Table(list(payload["k"]), [(int(n), dict(v)) for n, v in payload["r"]],
                  {int(n): list(ks) for n, ks in payload["x"].items()})
    return int(payload["c"]), str(payload["f"]), table


# The template ----------------------------------------------------------------------------------


def template_header() -> list[str]:
    return [f"{column_label(k)} [{k}]" for k in COLUMNS if k != "cooperative"]


def template_example(cooperative: Organisation | None) -> list[str]:
    today = dt.date.today()  # noqa: DTZ011 (an example only)
    soum = ""
    certificate = ""
    if cooperative is not None:
        if cooperative.aimag_id is not None:
            soum = db.session.scalar(select(Soum.name_en).where(Soum.aimag_id == cooperative.aimag_id)
                                     .order_by(Soum.name_en)) or ""
        certs = listing.certificates_of(cooperative.id)
        certificate = certs[0].number if certs else ""
    example = {
        "lot_code": "", "lab_report_number": "LAB-2026-0001", "lab_name": "Fibre Testing Laboratory",
        "test_method": "IWTO-8", "tested_on": (today - dt.timedelta(days=14)).isoformat(),
        "season": str(today.year), "soum": soum, "herder_households": "20", "colour": "white",
        "sorting": "unsorted", "state": "greasy", "mean_diameter_um": "15.8", "diameter_cv_pct": "21.5",
        "fibres_over_30um_pct": "0.8", "mean_length_mm": "38", "hair_content_pct": "41.5",
        "dehairing_yield_pct": "45", "vegetable_matter_pct": "1.2", "moisture_regain_pct": "15",
        "net_kg": "600", "bags": "12", "min_order_kg": "100", "sample_size_g": "100", "currency": "EUR",
        "price": "48.00", "premium": "4.00", "price_basis": "greasy", "incoterm": "CPT",
        "incoterm_place": "Ulaanbaatar", "deposit_pct": "30",
        "price_valid_until": (today + dt.timedelta(days=120)).isoformat(), "herder_price_mnt": "",
        "premium_to_herders_pct": "60", "certificate": certificate,
    }
    return [example[k] for k in COLUMNS if k != "cooperative"]


def _accepted(key: str) -> str:
    if key in ENUMS:
        return ", ".join(f"{m.value} ({LABELS.get(m.value, m.value)})" for m in ENUMS[key])
    if key in CODES:
        return ", ".join(CODES[key])
    if key in UNITS:
        return _("a number; units: %(units)s", units=", ".join(u for u in UNITS[key] if u))
    if key in DATES:
        return _("a date: 2026-03-31, 31.03.2026 or 31/03/2026")
    if key in NUMBERS:
        return _("a number")
    return _("text")


def template_help() -> list[list[str]]:
    return [[f"{column_label(k)} [{k}]", _("optional") if k in OPTIONAL else _("required"), _accepted(k)]
            for k in COLUMNS]


def template_xlsx(cooperative: Organisation | None) -> bytes:
    return to_xlsx(template_header(), [template_example(cooperative)], title=str(_("Lots")),
                   more=[(str(_("Columns")), [_("Column"), _("Required"), _("Accepted values")], template_help())])


def template_csv(cooperative: Organisation | None) -> str:
    return to_csv(template_header(), [template_example(cooperative)])
