"""No module of the application is over 400 lines (issue 13, point 3: split the big modules by concern).

A module that grows past the limit is split by concern (as ``passports`` was into publishing, status, verification,
page cache and one module per credential type), not exempted here."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent.parent / "marketplace"
LIMIT = 400


def _lines(path: Path) -> int:
    with path.open("rb") as source:
        return sum(1 for _line in source)


def test_no_module_is_over_400_lines() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 200, len(modules)  # the whole package, not an empty folder
    over = {str(path.relative_to(PACKAGE)): n for path in modules if (n := _lines(path)) > LIMIT}
    assert over == {}
