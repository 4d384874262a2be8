"""Reading an uploaded spreadsheet (XLSX or CSV) into rows of text, for every import (lots here, products in
``products/imports.py``): the limits, the header row matched to a kind of import's columns (:class:`Sheet`),
numbers and dates as people write them, and the preview row every import shows.

Files are read, never run: formulas are refused cell by cell, workbooks with macros, password-protected or
damaged ones as a whole, with a message naming the row and column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import URLSafeTimedSerializer
from openpyxl import load_workbook

MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 60 * 1024 * 1024  # an XLSX is a zip: refuse "zip bombs" before opening
MAX_ROWS = 2000
MAX_CELL = 200
TOKEN_MAX_AGE = 2 * 60 * 60  # seconds a preview may wait for its confirmation
LOCALES = ("en", "mn", "fr", "de", "it", "zh")
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%Y.%m.%d", "%d-%m-%Y", "%Y年%m月%d日",
                "%d %b %Y", "%d %B %Y", "%Y%m%d")
_NUMBER = re.compile(r"^\s*([+-]?\d[\d\s\u00a0\u202f']*(?:[.,]\d+)?)\s*([^\d\s]*)\s*$")
_KEY = re.compile(r"\[([a-z0-9_]+)\]\s*$")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (not a spreadsheet, too large, wrong columns): nothing is read."""


@dataclass(frozen=True)
class Sheet:
    """What a kind of import expects: its column keys, which may be left out, and each column's label."""

    columns: tuple[str, ...]
    optional: frozenset[str]
    label: Any  # key -> the column's name for people
    empty: Any  # the message for a file with a header row only


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# Reading the file ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        unpacked = sum(i.file_size for i in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as error:
        raise ImportFileError(_("The file is damaged: it cannot be opened as an XLSX workbook.")) from error
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise ImportFileError(_("The workbook contains macros. Macros are never run: save it as an .xlsx "
                                "workbook without macros and upload it again."))
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(_("The workbook is too large once unpacked: split it into smaller files."))
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
        sheet = workbook.worksheets[0]
        yield from (list(row) for row in sheet.iter_rows(values_only=True))
    except ImportFileError:
        raise
    except Exception as error:  # openpyxl raises many kinds of error on a damaged workbook
        raise ImportFileError(_("The file is damaged: it cannot be read as an XLSX workbook.")) from error


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            content = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFileError(_("The CSV file is not in UTF-8: save it as “CSV UTF-8” and upload it again."))
    if "\x00" in content:
        raise ImportFileError(_("This is not a spreadsheet: upload an .xlsx workbook or a .csv file."))
    first = content.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    try:
        yield from csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    except csv.Error as error:
        raise ImportFileError(_("The CSV file cannot be read: %(error)s", error=str(error))) from error


@dataclass
class Table:
    columns: list[str]  # the column keys, in the file's order
    rows: list[tuple[int, dict[str, str]]]  # spreadsheet row number, raw text by column key
    formulas: dict[int, list[str]] = field(default_factory=dict)  # row number → columns holding a formula


def _suffix(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def read_file(filename: str, data: bytes, sheet: Sheet) -> Table:
    """The rows of an uploaded file, as text. Raises ImportFileError with a message for the person."""
    if not data:
        raise ImportFileError(_("The file is empty."))
    if len(data) > MAX_BYTES:
        raise ImportFileError(_("The file is larger than %(mb)d MB: split it into smaller files.",
                                mb=MAX_BYTES // (1024 * 1024)))
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_("The workbook is password-protected or in the old .xls format: save it as an "
                                ".xlsx workbook without a password and upload it again."))
    if data.startswith(b"PK\x03\x04"):
        source = _xlsx_rows(data)
    elif filename.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise ImportFileError(_("The file is damaged: it cannot be opened as an XLSX workbook."))
    elif b"\x00" in data[:4096] or _suffix(filename) not in ("csv", "txt", "tsv", ""):
        raise ImportFileError(_("This is not a spreadsheet: upload an .xlsx workbook or a .csv file."))
    else:
        source = _csv_rows(data)
    return _table(source, sheet)


def _header_key(cell: str, columns: tuple[str, ...]) -> str | None:
    match = _KEY.search(cell)
    if match:
        key = match.group(1)
    else:
        key = re.sub(r"[^a-z0-9]+", "_", cell.strip().lower()).strip("_")
    return key if key in columns else None


def _table(source: Iterable[list[Any]], sheet: Sheet) -> Table:
    columns: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    formulas: dict[int, list[str]] = {}
    for number, cells in enumerate(source, start=1):
        texts = [_text(c) for c in cells]
        if not any(texts):
            continue
        if columns is None:
            columns = _columns(texts, sheet)
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportFileError(_("The file has more than %(n)d rows: split it into smaller files.", n=MAX_ROWS))
        values: dict[str, str] = {}
        for key, cell in zip(columns, texts, strict=False):
            if not key:
                continue
            if cell.startswith("="):  # kept out of the rows: a formula is never run nor stored
                formulas.setdefault(number, []).append(key)
            values[key] = "" if cell.startswith("=") else cell[: MAX_CELL + 1]
        rows.append((number, values))
    if columns is None:
        raise ImportFileError(_("The file has no header row: start from the template."))
    if not rows:
        raise ImportFileError(str(sheet.empty))
    return Table([c for c in columns if c], rows, formulas)


def _columns(header: list[str], sheet: Sheet) -> list[str]:
    keys: list[str] = []
    for index, cell in enumerate(header):
        if not cell:
            keys.append("")
            continue
        key = _header_key(cell, sheet.columns)
        if key is None:
            raise ImportFileError(_("Column %(column)s, “%(name)s”, is not one of the template's columns: "
                                    "start from the template.", column=column_letter(index), name=cell[:60]))
        if key in keys:
            raise ImportFileError(_("Column %(column)s, “%(name)s”, appears twice.",
                                    column=column_letter(index), name=cell[:60]))
        keys.append(key)
    missing = [sheet.label(k) for k in sheet.columns if k not in sheet.optional and k not in keys]
    if missing:
        raise ImportFileError(_("The file lacks these columns: %(names)s. Start from the template.",
                                names="; ".join(missing)))
    return keys


# Reading a cell --------------------------------------------------------------------------------


class CellError(ValueError):
    pass


def read_number(raw: str, units: dict[str, Decimal] | None = None, *, percent: bool = False) -> str:
    """A number as the form reads it (decimal comma or point, thousands spaces), converted from its unit;
    ``percent``: a % sign is allowed."""
    match = _NUMBER.match(raw.replace("%", "") if percent else raw)
    if not match:
        raise CellError(_("“%(value)s” is not a number.", value=raw))
    digits, unit = match.groups()
    digits = re.sub(r"[\s\u00a0\u202f']", "", digits)
    if "," in digits and "." not in digits:
        digits = digits.replace(",", ".")
    units = units or {"": Decimal(1)}
    factor = units.get(unit) or units.get(unit.lower())
    if factor is None:
        raise CellError(_("Unknown unit “%(unit)s”: use %(units)s.", unit=unit,
                          units=", ".join(u for u in units if u)) if len(units) > 1
                        else _("“%(value)s” is not a number.", value=raw))
    try:
        value = Decimal(digits) * factor
    except InvalidOperation as error:
        raise CellError(_("“%(value)s” is not a number.", value=raw)) from error
    return format(value.normalize(), "f")


def read_date(raw: str) -> str:
    for pattern in DATE_FORMATS:
        try:
            return dt.datetime.strptime(raw, pattern).date().isoformat()  # noqa: DTZ007 (a calendar day)
        except ValueError:
            continue
    raise CellError(_("“%(value)s” is not a date: write it as 2026-03-31 or 31.03.2026.", value=raw))


@dataclass
class SheetRow:
    """One row of an import's preview (lots here, products in products/imports.py)."""

    number: int
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    existing: str | None = None  # what the row names when it is already imported
    skipped: bool = False

    @property
    def status(self) -> str:
        if self.existing:
            return "unchanged"
        if self.skipped:
            return "skipped"
        return "error" if self.errors else "new"


def serializer(salt: str) -> URLSafeTimedSerializer:
    """Signs a preview's rows with the time they were read: a confirmation after TOKEN_MAX_AGE is refused."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)
