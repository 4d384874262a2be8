"""The tests mirror the package: every test file is in ``tests/<domain>/`` (a ``marketplace/<domain>/`` package),
``tests/core/`` (marketplace's top-level modules) or ``tests/site/`` (whole-site walks), where the table of
``scripts/test_layout.py`` puts it. ``python scripts/test_layout.py --apply`` moves a misplaced file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _layout() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_layout_table", ROOT / "scripts" / "test_layout.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_test_file_lies_outside_the_layout() -> None:
    layout = _layout()
    misplaced = [f"{path.relative_to(ROOT)} -> tests/{where or '?'}/" for path, where in layout.misplaced()]
    assert not misplaced, "move them with `python scripts/test_layout.py --apply`: " + ", ".join(misplaced)


def test_every_test_directory_is_a_package_named_after_a_domain_or_core_or_site() -> None:
    layout = _layout()
    directories = {p.parent for p in layout.test_files()}
    for directory in directories:
        relative = directory.relative_to(ROOT / "tests")
        assert len(relative.parts) == 1, relative
        assert relative.parts[0] in layout.allowed_dirs(), relative
        assert (directory / "__init__.py").is_file(), f"{relative} needs an __init__.py (module names stay unique)"


def test_the_check_sees_a_test_file_at_the_top_level(tmp_path: Path) -> None:
    """Planted: a new tests/test_x.py is reported (with where it belongs), and so is a file in a folder that is
    no domain."""
    layout = _layout()
    layout.TESTS = tmp_path
    (tmp_path / "lots").mkdir()
    (tmp_path / "lots" / "test_lot_listing.py").write_text("")
    assert layout.misplaced() == []
    (tmp_path / "test_lot_prices.py").write_text("")
    (tmp_path / "misc").mkdir()
    (tmp_path / "misc" / "test_whatever.py").write_text("")
    assert [(p.relative_to(tmp_path).as_posix(), where) for p, where in layout.misplaced()] == [
        ("misc/test_whatever.py", None), ("test_lot_prices.py", "lots")]
