"""CSV files that people open in a spreadsheet: one writer, and no cell is ever read as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

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
