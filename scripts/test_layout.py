"""Where each test file goes: ``tests/<domain>/`` mirrors ``marketplace/<domain>/``; ``tests/core/`` holds the
tests of marketplace's top-level modules (``marketplace/*.py``: config, storage, events, models, migrations …);
``tests/site/`` the tests that walk the whole site (route matrix, hostile input, fuzzing, accessibility, i18n,
security headers, benchmarks). Shared helpers (``conftest.py``, ``factories.py``, ``helpers.py``, ``crawl.py`` …)
stay in ``tests/``.

    python scripts/test_layout.py           # lists the test files not where this table puts them
    python scripts/test_layout.py --apply   # moves them (git mv) and rewrites what names them

``--apply`` moves each misplaced ``tests/test_*.py`` with ``git mv`` (so history follows), then rewrites
``tests.test_x`` imports in every test module, the depth of ``Path(__file__)`` in the moved files, and the
``tests/test_x.py`` paths in the docs and in ``tests/conftest.py``. ``tests/site/test_layout.py`` fails while a
test file is outside this layout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
GIT = shutil.which("git") or "/usr/bin/git"

# Directories of tests besides the domain packages (``marketplace/<name>/``).
EXTRA_DIRS = {"core", "site"}

# Files whose name does not say their place (checked first).
EXPLICIT = {
    "test_access.py": "site", "test_accessibility.py": "site", "test_benchmarks.py": "site",
    "test_browser.py": "site", "test_csp_browser.py": "site", "test_fuzz_forms.py": "site",
    "test_guard_plants_access.py": "site", "test_hostile_input.py": "site", "test_i18b_browser.py": "site",
    "test_i18n.py": "site", "test_invariants.py": "site", "test_keyboard.py": "site",
    "test_locale_browser.py": "site", "test_page_fit.py": "site", "test_programme_browser.py": "site",
    "test_route_matrix.py": "site", "test_security_headers.py": "site", "test_seo.py": "site",
    "test_typography.py": "site", "test_untranslated.py": "site", "test_layout.py": "site",
    "test_charts.py": "core", "test_charts_browser.py": "core", "test_claims.py": "core", "test_config.py": "core",
    "test_deploy.py": "core", "test_events.py": "core", "test_exports.py": "core", "test_hosts.py": "core",
    "test_migrations.py": "core", "test_module_size.py": "core", "test_models.py": "core",
    "test_observability.py": "core", "test_progress.py": "core", "test_shared_helpers.py": "core",
    "test_shared_state.py": "core", "test_storage.py": "core", "test_url_builders.py": "core",
    "test_allocation.py": "orders", "test_concurrency.py": "orders", "test_guards.py": "orders",
    "test_quote_lots.py": "orders", "test_selling_rules.py": "orders", "test_order_closing.py": "orders",
    "test_api_schemathesis.py": "api", "test_browser_search.py": "search",
    "test_certificate_ownership.py": "certification",
    "test_countries.py": "accounts", "test_sessions.py": "accounts",
    "test_mail.py": "notifications", "test_messages.py": "notifications",
    "test_profiles_and_cart.py": "organisations", "test_organisation_registration.py": "organisations",
    "test_circular_browser.py": "payments", "test_circular_services.py": "payments",
    "test_circular_terms.py": "payments", "test_service_browser.py": "payments",
    "test_guard_plants_funds_pricing.py": "funds", "test_gs1_browser.py": "passports",
    "test_gs1_resolver.py": "passports", "test_translated_notes.py": "passports",
    "test_worker_processes.py": "jobs", "test_working_copy_privacy.py": "products",
}
# Otherwise the first word after ``test_`` (or ``test_guard_plants_``) names the package, singular or plural.
WORDS = {"lot": "lots", "product": "products", "passport": "passports", "order": "orders", "shop": "payments",
         "payment": "payments", "untp070": "passports", "job": "jobs", "account": "accounts"}


def packages() -> set[str]:
    return {p.name for p in (ROOT / "marketplace").iterdir() if (p / "__init__.py").is_file()}


def destination(filename: str) -> str | None:
    """The directory under tests/ where a test file belongs, or None when the table cannot tell."""
    if filename in EXPLICIT:
        return EXPLICIT[filename]
    stem = filename.removesuffix(".py").removeprefix("test_").removeprefix("guard_plants_")
    word = stem.split("_", 1)[0]
    word = WORDS.get(word, word)
    return word if word in packages() else None


def allowed_dirs() -> set[str]:
    return packages() | EXTRA_DIRS


def test_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)


def misplaced() -> list[tuple[Path, str | None]]:
    """(file, where it belongs) for each test file not in its place; None: not in the table, place it by hand."""
    found = []
    for path in test_files():
        relative = path.relative_to(TESTS)
        where = destination(path.name)
        here = relative.parts[0] if len(relative.parts) == 2 else None
        if where is None and here in allowed_dirs():
            continue  # a new file already in a domain directory
        if here is None or here != where:
            found.append((path, where))
    return found


def _rewrite(path: Path, pairs: list[tuple[str, str]]) -> None:
    text = path.read_text(encoding="utf-8")
    new = text
    for old, replacement in pairs:
        new = re.sub(old, replacement, new)
    if new != text:
        path.write_text(new, encoding="utf-8")


def _deeper(text: str) -> str:
    """``Path(__file__)`` paths one directory deeper."""
    text = re.sub(r"(Path\(__file__\)(?:\.resolve\(\))?)((?:\.parent(?!s))+)", r"\1\2.parent", text)
    return re.sub(r"(Path\(__file__\)(?:\.resolve\(\))?\.parents\[)(\d)\]",
                  lambda m: f"{m.group(1)}{int(m.group(2)) + 1}]", text)


def apply() -> int:
    moves = misplaced()
    unknown = [p for p, where in moves if where is None]
    for path in unknown:
        print(f"not in the table, place it by hand: {path.relative_to(ROOT)}", file=sys.stderr)
    moved: dict[str, str] = {}
    for path, where in moves:
        if where is None:
            continue
        target = TESTS / where / path.name
        target.parent.mkdir(exist_ok=True)
        (target.parent / "__init__.py").touch()
        subprocess.run([GIT, "mv", str(path), str(target)], cwd=ROOT, check=True)  # noqa: S603 (our own paths)
        if len(path.relative_to(TESTS).parts) == 1:
            target.write_text(_deeper(target.read_text(encoding="utf-8")), encoding="utf-8")
        old = path.relative_to(TESTS).with_suffix("").as_posix().replace("/", ".")
        moved[old] = f"{where}.{path.stem}"
    # A moved file may still import a helper from a file moved earlier, by its old top-level name.
    count = len(moved)
    placed = {p.stem: ".".join(p.relative_to(TESTS).with_suffix("").parts) for p in test_files()}
    moved.update({stem: place for stem, place in placed.items() if "." in place and stem not in moved})
    if moved:
        names = [(rf"\btests\.{re.escape(old)}\b", f"tests.{new}") for old, new in moved.items()]
        names += [(rf"\bfrom tests import {re.escape(old)}\b", f"from tests.{new.rsplit('.', 1)[0]} import {old}")
                  for old, new in moved.items() if "." not in old]
        for module in TESTS.rglob("*.py"):
            _rewrite(module, names)
        paths = [(rf"\btests/{re.escape(old.replace('.', '/'))}\.py", f"tests/{new.replace('.', '/')}.py")
                 for old, new in moved.items()]
        docs = [*ROOT.glob("*.md"), *TESTS.glob("*.md"), ROOT / "dev", ROOT / "pyproject.toml",
                *(ROOT / "marketplace").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py"), *TESTS.rglob("*.py")]
        for doc in docs:
            if doc.is_file():
                _rewrite(doc, paths)
        subprocess.run([GIT, "add", "-A", "tests"], cwd=ROOT, check=True)  # noqa: S603 (fixed arguments)
    print(f"moved {count} test files; {len(unknown)} left to place by hand")
    return 1 if unknown else 0


def main(argv: list[str]) -> int:
    if "--apply" in argv:
        return apply()
    moves = misplaced()
    for path, where in moves:
        print(f"{path.relative_to(ROOT)} -> {f'tests/{where}/' if where else '(not in the table)'}")
    return 1 if moves else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
