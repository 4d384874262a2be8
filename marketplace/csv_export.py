"""CSV files that people open in a spreadsheet: one writer, and no cell is ever read as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell value: lists joined with "; ", None empty, and text a spreadsheet would run as a formula
    (starting with = + - @, a tab or a carriage return) prefixed with an apostrophe."""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value if v)
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return "" if value is None else value


def to_csv(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(str(h)) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


Sheet = tuple[str, Sequence[str], Iterable[Iterable[Any]]]


def to_xlsx(header: Sequence[str], rows: Iterable[Iterable[Any]], *, title: str = "Sheet",
            more: Sequence[Sheet] = ()) -> bytes:
    """The same table as :func:`to_csv` as an XLSX workbook, every cell through :func:`safe_cell` (no cell is
    ever a formula); ``more`` adds further sheets (title, header, rows)."""
    workbook = Workbook(write_only=True)
    for name, head, body in ((title, header, rows), *more):
        sheet = workbook.create_sheet(_sheet_title(name))
        sheet.append([_xlsx_cell(h) for h in head])
        for row in body:
            sheet.append([_xlsx_cell(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _sheet_title(name: str) -> str:
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in str(name)).strip()
    return (cleaned or "Sheet")[:31]


def _xlsx_cell(value: Any) -> Any:
    value = safe_cell(value)
    if isinstance(value, str):
        # openpyxl writes any text starting with "=" as a formula: safe_cell has prefixed those already.
        return "".join(c for c in value if c in "\t\n\r" or ord(c) >= 32)  # XML forbids other control characters
    if isinstance(value, bool | int | float | Decimal) or hasattr(value, "isoformat"):
        return value
    return str(value)
