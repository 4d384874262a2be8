"""The place-name synonyms both engines use (each index's spec is in its domain's search.py)."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from marketplace.search.port import fold


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@functools.cache
def place_synonyms(reference_dir: str) -> tuple[tuple[str, ...], ...]:
    """Groups of equivalent place names (folded), from aimags.csv and soums.csv.

    An aimag's group holds its English and Cyrillic names and every Latin variant people use;
    a soum's group holds its English and Cyrillic names and the English name without diacritics.
    """
    groups: list[tuple[str, ...]] = []
    folder = Path(reference_dir)
    for row in _csv(folder / "aimags.csv"):
        names = [row["name_en"], row["name_mn"], *row["latin_variants"].split("|")]
        groups.append(_group(names))
    for row in _csv(folder / "soums.csv"):
        groups.append(_group([row["name_en"], row["name_mn"]]))
    return tuple(g for g in groups if len(g) > 1)


def _group(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        if name.strip():
            seen.setdefault(fold(name.strip()), None)
            seen.setdefault(fold(name.strip()).replace("-", " "), None)
    return tuple(seen)


@functools.lru_cache(maxsize=4096)
def expand_place(name: str, groups: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    """Every name equivalent to ``name`` (itself included)."""
    key = fold(name.strip())
    for group in groups:
        if key in group or key.replace("-", " ") in group:
            return group
    return (name,)
