"""Environmental claims a consumer reads must be specific (EU Directive 2024/825, applying since 27 September
2026): no generic claim ("eco-friendly", "green", "sustainable" …) unless the same sentence states the
specific, proven fact behind it ("62 % of the fibre by weight is certified"). ``generic_claims`` names the
offending words of a text in any of the site's six languages; products call it when submitted and again
when approved and published (``products.workflow.submission_problems``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Generic environmental claims, per language (lower case). The directive's own examples (recital 9) and
# their usual translations; a proper name such as the Union's own is excepted below.
GENERIC: dict[str, tuple[str, ...]] = {
    "en": ("eco-friendly", "eco friendly", "environmentally friendly", "environment-friendly", "earth-friendly",
           "planet-friendly", "nature-friendly", "climate-friendly", "climate friendly", "climate neutral",
           "climate-neutral", "carbon neutral", "carbon-neutral", "ecological", "sustainable", "sustainably",
           "green choice", "green product", "go green", "eco-conscious", "conscious", "responsible",
           "gentle on the environment", "kind to the planet"),
    "fr": ("écologique", "éco-responsable", "écoresponsable", "respectueux de l'environnement",
           "respectueuse de l'environnement",
           "respectueuses de l'environnement", "durable", "neutre en carbone", "responsable", "vert et"),
    "de": ("umweltfreundlich", "nachhaltig", "ökologisch", "klimaneutral", "klimafreundlich", "naturfreundlich",
           "umweltschonend"),
    "it": ("ecologico", "ecologica", "ecologici", "ecologiche", "ecosostenibile", "ecosostenibili", "sostenibile",
           "sostenibili", "rispettoso dell'ambiente", "rispettosa dell'ambiente", "rispettosi dell'ambiente",
           "rispettose dell'ambiente", "a impatto zero", "climaticamente neutro", "amico dell'ambiente"),
    "zh": ("环保", "绿色", "可持续", "生态友好", "碳中和", "气候友好", "低碳"),
    "mn": ("байгальд ээлтэй", "экологийн", "тогтвортой", "эко", "ногоон бүтээгдэхүүн"),
}
# Names that contain a claim word but claim nothing themselves (a proper name, a scheme's title).
PROPER_NAMES = (
    "union of sustainable cashmere cooperatives", "sustainable cashmere cooperatives", "sustainable fibre alliance",
    "sustainability premium",
)
# The site's own proper names, in the six languages as its catalogues and pages give them: the Union's name, the
# certification scheme and its committee, the scheme's principle and fund titles, and China's regulated "green
# credit" (绿色信贷) bank screening. Only the site's own strings may use them (``site_claims``); a product text
# saying "cachemire durable" is still a generic claim.
SITE_NAMES = (
    *PROPER_NAMES,
    "sustainable cashmere union", "sustainable cashmere certification committee", "sustainable cashmere",
    "sustainable investment", "sustainable management of pastoral resources",
    "union des coopératives de cachemire durable", "cachemire durable", "investissement durable",
    "gestion durable des ressources pastorales",
    "union der nachhaltigen kaschmir-genossenschaften", "union der genossenschaften für nachhaltigen kaschmir",
    "nachhaltiges kaschmir", "nachhaltiger kaschmir", "nachhaltigkeitsprämie", "nachhaltige investitionen",
    "nachhaltige bewirtschaftung der weideressourcen",
    "unione delle cooperative di cashmere sostenibile", "unione delle cooperative del cashmere sostenibile",
    "cashmere sostenibile", "gestione sostenibile delle risorse pastorali", "premio di sostenibilità",
    "investimenti sostenibili",
    "тогтвортой ноолуурын хоршоодын холбоо", "тогтвортой ноолуурын холбоо", "тогтвортой ноолуур",
    "тогтвортой байдлын урамшуулал", "тогтвортой хөрөнгө оруулалт", "бэлчээрийн нөөцийн тогтвортой менежмент",
    "可持续羊绒合作社联合会", "可持续羊绒联合会", "可持续羊绒", "可持续溢价", "可持续投资",
    "草场资源可持续管理", "绿色信贷",
)
SENTENCE = re.compile(r"[^.!?。！？;\n]+")
# A specific, checkable fact in the same sentence: a figure (62 %, 3 kg, 2026) or a certificate number.
SPECIFIC = re.compile(r"\d")


def _pattern(term: str) -> re.Pattern[str]:
    if re.search(r"[\u4e00-\u9fff]", term):
        return re.compile(re.escape(term))  # Chinese has no spaces between words
    # Any ending (nachhaltiger, ecologiche, durables), never inside another word.
    return re.compile(r"(?<![\w-])" + re.escape(term) + r"\w*(?!-)", re.IGNORECASE)


PATTERNS = {locale: [(term, _pattern(term)) for term in terms] for locale, terms in GENERIC.items()}


def generic_claims(text: str, locale: str | None = None, names: Iterable[str] = PROPER_NAMES) -> list[str]:
    """The generic environmental claims in ``text`` (words of ``locale``, or of every language when None) that
    no specific fact in the same sentence backs, in the order they first appear, each once. ``names`` are
    proper names that contain a claim word but claim nothing."""
    ordered = sorted(names, key=len, reverse=True)
    found: list[tuple[int, str]] = []
    locales = [locale] if locale in PATTERNS else list(PATTERNS)
    for match in SENTENCE.finditer(text or ""):
        sentence = match.group(0)
        lowered = sentence.lower()
        for name in ordered:
            lowered = lowered.replace(name, " " * len(name))
        if SPECIFIC.search(lowered):
            continue
        for code in locales:
            for _term, pattern in PATTERNS[code]:
                hit = pattern.search(lowered)
                if hit:
                    found.append((match.start() + hit.start(), sentence[hit.start():hit.end()]))
    seen: list[str] = []
    for _at, word in sorted(found):
        if word.lower() not in (s.lower() for s in seen):
            seen.append(word)
    return seen


def claims_in(texts: Mapping[str, str] | Iterable[tuple[str, str]],
              names: Iterable[str] = PROPER_NAMES) -> dict[str, list[str]]:
    """Generic claims by locale in translated texts ({locale: text}); locales without any are left out. Each text
    is checked against its own language's words and English ones (often left untranslated)."""
    items = texts.items() if isinstance(texts, Mapping) else texts
    found: dict[str, list[str]] = {}
    for locale, text in items:
        words = generic_claims(text, locale, names)
        if locale != "en":
            words += [w for w in generic_claims(text, "en", names) if w.lower() not in (x.lower() for x in words)]
        if words:
            found[locale] = words
    return found


def site_claims(texts: Iterable[tuple[str, str | None, str]]) -> list[tuple[str, str, list[str]]]:
    """Generic claims in the site's own consumer-facing strings, given as (where, locale or None for any
    language, text): the offending (where, text, words), allowing the site's own proper names."""
    found = []
    for where, locale, text in texts:
        words = (claims_in({locale: text}, SITE_NAMES).get(locale, []) if locale
                 else generic_claims(text, None, SITE_NAMES))
        if words:
            found.append((where, text, words))
    return found
