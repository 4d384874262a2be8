"""The two indexes, lots and published products, and the place-name synonyms both engines use."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from marketplace.search.port import IndexSpec, fold

LOTS = IndexSpec(
    name="lots",
    searchable=(
        "code", "aimag_names", "soum_names", "colour_words", "state", "micron_class", "cooperative_names",
        "scheme_name", "tier", "season_text", "certificate_number", "sorting",
    ),
    facets=("colour", "state", "aimag", "cooperative", "scheme", "tier", "season"),
    numbers=("micron", "length_mm", "price_per_kg", "price_eur_clean", "available_kg", "listed_at",
             "certificate_active", "certificate_from_day", "certificate_to_day"),
    sortable=("micron", "price_per_kg", "price_eur_clean", "listed_at", "available_kg"),
    place_fields=("aimag_names", "soum_names"),
)

PRODUCTS = IndexSpec(
    name="products",
    searchable=("names", "sku", "msme_name", "fibres", "aimag_names", "soum_names", "descriptions"),
    facets=("msme", "recycled", "dyed", "fibre", "aimag"),
    numbers=("price", "recycled_pct", "published_at"),
    sortable=("price", "published_at"),
    place_fields=("aimag_names", "soum_names"),
)

SPECS = {spec.name: spec for spec in (LOTS, PRODUCTS)}


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
