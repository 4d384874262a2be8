"""What a buyer types in the lot search box, read before it goes to a search engine.

Engines match words; buyers type numbers with units and colour words in their own language. This
module turns a free-text query into words the index holds plus numeric ranges, so that every engine
(embedded and Meilisearch) answers the same:

- micron: "15 micron", "15µm", "15 µm", "15mic" and a bare "15" (10 to 25) mean 15.0–15.9 µm;
  "16.3" or "16,3" means 16.3 µm; "15-16 µm" means 15.0–16.9 µm; "≤16", "<16", "≥15", ">15" are bounds.
- length: "38 mm", "35-40mm", ">36mm" (a unit is required).
- colour and state words of the six languages (the facets' own labels, from the catalogues, plus a
  few trade words) become the index's words: "цагаан" → white, "бор" → brown, "blanc" → white.

Anything else is left as typed. Lot codes (USCC-2025-BKH-001) are never read as numbers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from babel.support import Translations

from marketplace.i18n import LABELS
from marketplace.lots.models import Colour, FibreState
from marketplace.search.port import fold

Range = tuple[float | None, float | None]

MICRON_LIMITS = (10.0, 25.0)  # a bare number in this span is a fibre diameter
CLASS_WIDTH = 0.95  # "15 µm" is the class 15.0–15.9 (values are stored to one decimal)
HALF_STEP = 0.04  # "16.3" is 16.3 give or take less than half the last decimal
NUMBER = r"(\d{1,3}(?:[.,]\d{1,2})?)"
MICRON_UNIT = (r"(?:micromètres?|micrometres?|micrometers?|mikrometer|micrometri|micrometro|microns?|micras?|"
               r"mikron|микроны?|микрон|µm|μm|um|mic|mkm|мкм|微米)")  # longest first
LENGTH_UNIT = r"(?:mm|мм|毫米)"
DASH = r"(?:-|–|—|~|\.\.|to|bis|à|a|al|до|至|到)"
LESS = ("≤", "<=", "=<", "<", "under", "below", "max")
COMPARATOR = r"(≤|<=|=<|≥|>=|=>|<|>|under|below|over|above|max|min)"
_EDGE_L = r"(?<![\w.,-])"  # a number standing alone: not inside a lot code or another number
_EDGE_R = r"(?![\w-]|[.,]\d|\s*(?:kg|кг|g|%|cm|mm|мм|eur|usd|mnt|€|\$|₮))"  # nor a weight, share or price


@dataclass(frozen=True)
class ParsedText:
    """The words for the engine and the ranges read from the text."""

    text: str
    ranges: dict[str, Range] = field(default_factory=dict)


def _num(raw: str) -> float:
    return float(raw.replace(",", "."))


def _decimals(raw: str) -> int:
    return len(re.split(r"[.,]", raw)[1]) if re.search(r"[.,]", raw) else 0


def _around(raw: str) -> Range:
    """A number as typed: an integer is its whole class, a decimal the value itself."""
    value = _num(raw)
    if not _decimals(raw):
        return value, value + CLASS_WIDTH
    step = HALF_STEP * 10 ** (1 - _decimals(raw))
    return value - step, value + step


def _between(low: str, high: str) -> Range:
    return _around(low)[0], _around(high)[1]


def _bound(op: str, raw: str) -> Range:
    value = _num(raw)
    strict = op in ("<", ">", "under", "below", "over", "above")
    if op in LESS:
        return None, value - (HALF_STEP if strict else 0)
    return value + (HALF_STEP if strict else 0), None


def intersect(ranges: dict[str, Range], name: str, new: Range) -> None:
    """Narrow ``ranges[name]`` to ``new`` as well (every bound applies)."""
    low, high = ranges.get(name, (None, None))
    lows = [round(v, 4) for v in (low, new[0]) if v is not None]
    highs = [round(v, 4) for v in (high, new[1]) if v is not None]
    ranges[name] = (max(lows) if lows else None, min(highs) if highs else None)


def _patterns(unit: str, bare: bool) -> list[tuple[re.Pattern[str], str]]:
    """(pattern, kind) in the order they are tried; ``bare``: a number without its unit counts."""
    optional = f"(?:\\s*{unit})" + ("?" if bare else "")
    return [
        (re.compile(f"{_EDGE_L}{NUMBER}\\s*{DASH}\\s*{NUMBER}{optional}{_EDGE_R}", re.I), "between"),
        (re.compile(f"(?<![\\w<>=≤≥]){COMPARATOR}\\s*{NUMBER}{optional}{_EDGE_R}", re.I), "bound"),
        (re.compile(f"{_EDGE_L}{NUMBER}{optional}{_EDGE_R}", re.I), "around"),
    ]


MICRON = _patterns(MICRON_UNIT, bare=True)
LENGTH = _patterns(LENGTH_UNIT, bare=False)


def _plausible(parts: tuple[str, ...], has_unit: bool) -> bool:
    numbers = [p for p in parts if p and re.fullmatch(NUMBER, p)]
    if has_unit:
        return True
    if any(re.match(r"0\d", p) for p in numbers):
        return False  # "015" is part of a code, not a diameter
    return all(MICRON_LIMITS[0] <= _num(p) <= MICRON_LIMITS[1] for p in numbers)


def _read_numbers(text: str, name: str, patterns: list[tuple[re.Pattern[str], str]], unit: str,
                  ranges: dict[str, Range]) -> str:
    unit_re = re.compile(unit + r"\s*$", re.I)
    for pattern, kind in patterns:
        def replace(match: re.Match[str], kind: str = kind) -> str:
            groups = match.groups()
            if not _plausible(groups if kind != "bound" else groups[1:], bool(unit_re.search(match.group(0)))):
                return match.group(0)
            found = (_between(*groups) if kind == "between" else _bound(groups[0].lower(), groups[1])
                     if kind == "bound" else _around(groups[0]))
            intersect(ranges, name, found)
            return " "
        text = pattern.sub(replace, text)
    return text


# Colour and state words ------------------------------------------------------------------

TRADE_WORDS = {  # words the catalogues do not hold (folded)
    "gray": "grey", "light gray": "light grey", "raw": "greasy", "combed": "greasy", "washed": "scoured",
    "de-haired": "dehaired", "weiss": "white", "grau": "grey", "braun": "brown", "hellgrau": "light grey",
    "blanc": "white", "gris": "grey", "brun": "brown", "bianco": "white", "grigio": "grey", "marrone": "brown",
    "хар бор": "brown", "цайвар": "light grey",
}
_PARENS = re.compile(r"\s*\(([^)]*)\)")


def _msgid(text: object) -> str:
    args = getattr(text, "_args", None)
    return str(args[0]) if args else str(text)


@functools.cache
def vocabulary(translations_dir: str, locales: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(folded phrase, index words) for every colour and state label in every language, longest first.

    "Greasy (combed)" gives "greasy (combed)", "greasy" and "combed"."""

    words: dict[str, str] = dict(TRADE_WORDS)
    for value in [*(c.value for c in Colour), *(s.value for s in FibreState)]:
        msgid = _msgid(LABELS[value])
        for locale in locales:
            shown = msgid if locale == "en" else Translations.load(translations_dir, [locale]).gettext(msgid)
            phrase = fold(shown).strip()
            target = value.replace("_", " ")
            words.setdefault(phrase, target)
            words.setdefault(_PARENS.sub("", phrase).strip(), target)
            for inner in _PARENS.findall(phrase):
                words.setdefault(inner.strip(), target)
    return tuple(sorted(((k, v) for k, v in words.items() if k), key=lambda kv: -len(kv[0])))


def _is_cjk(phrase: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in phrase)


def _read_words(text: str, vocab: tuple[tuple[str, str], ...]) -> str:
    """The text with each colour or state word in the index's words (folded); unchanged when it has none."""
    folded = changed = fold(text)
    for phrase, target in vocab:
        if phrase == target or phrase not in changed:
            continue
        edge_l, edge_r = ("", "") if _is_cjk(phrase) else (r"(?<![^\W_])", r"(?![^\W_])")
        changed = re.sub(edge_l + re.escape(phrase) + edge_r, f" {target} ", changed)
    return text if changed == folded else changed


DEFAULT_TRANSLATIONS = str(Path(__file__).resolve().parent.parent / "translations")
DEFAULT_LOCALES = ("en", "mn", "fr", "de", "it", "zh")


def parse_text(text: str, translations_dir: str = DEFAULT_TRANSLATIONS,
               locales: tuple[str, ...] = DEFAULT_LOCALES) -> ParsedText:
    """The engine's words and the ranges in what the buyer typed (a copy: the caller may change it).

    A search page reads its text once per query it sends (the main one, one count per ticked facet, one per
    suggestion), and buyers repeat searches, so the last texts read are kept."""
    parsed = _parse_text(text, translations_dir, locales)
    return ParsedText(parsed.text, dict(parsed.ranges))


@functools.lru_cache(maxsize=1024)
def _parse_text(text: str, translations_dir: str, locales: tuple[str, ...]) -> ParsedText:
    ranges: dict[str, Range] = {}
    rest = _read_numbers(text, "length_mm", LENGTH, LENGTH_UNIT, ranges)  # first: "20 mm" is no diameter
    rest = _read_numbers(rest, "micron", MICRON, MICRON_UNIT, ranges)
    rest = _read_words(rest, vocabulary(translations_dir, locales))
    return ParsedText(" ".join(rest.split()), ranges)
