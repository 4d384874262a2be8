"""Lot discovery through the search port, and lot lookups from the database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select
from sqlalchemy.orm import selectinload

from marketplace import csv_export
from marketplace.certification.models import CertificationScheme
from marketplace.db import today
from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.lots.models import Colour, FibreState, Lot, LotContribution, LotStatus
from marketplace.lots.query import intersect, parse_text
from marketplace.lots.search import LOTS, certificate_ranges, certificate_status_of
from marketplace.organisations.models import Aimag, Organisation
from marketplace.passports.models import Passport
from marketplace.search import engine as search
from marketplace.search.port import SearchQuery, SearchResult
from marketplace.urls import public_base_url

PAGE_SIZE = 20
MAX_COMPARE = 4
EXPORT_LIMIT = 10_000
FACETS = ("colour", "state", "aimag", "cooperative", "scheme", "tier", "season")
RANGES: dict[str, tuple[str, str | None]] = {
    "micron": ("micron_min", "micron_max"),
    "length_mm": ("length_min", "length_max"),
    "price_eur_clean": ("price_min", "price_max"),  # EUR per clean kg: one basis for every lot
    "available_kg": ("available_min", None),
}
SORTS = {"price": "price_eur_clean", "-price": "-price_eur_clean", "micron": "micron", "newest": "-listed_at"}


@dataclass(frozen=True)
class LotSearch:
    """What the buyer asked for, in the URL's terms."""

    q: str = ""
    facets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    bounds: Mapping[str, Decimal | None] = field(default_factory=dict)  # URL name → value
    sort: str = ""
    page: int = 1
    include_invalid: bool = False  # also lots whose certificate is not valid today (hidden by default)

    @classmethod
    def from_form(cls, data: Mapping[str, Any]) -> LotSearch:
        facets = {name: tuple(str(v) for v in data.get(name) or ()) for name in FACETS}
        bounds = {n: data.get(n) for pair in RANGES.values() for n in pair if n}
        return cls(
            q=(data.get("q") or "").strip(), facets={k: v for k, v in facets.items() if v},
            bounds={k: v for k, v in bounds.items() if v is not None},
            sort=data.get("sort") or "", page=data.get("page") or 1,
            include_invalid=bool(data.get("include_invalid")),
        )

    def to_query(self, per_page: int = PAGE_SIZE, page: int | None = None) -> SearchQuery:
        ranges: dict[str, tuple[float | None, float | None]] = {}
        if not self.include_invalid:  # the certificate rule: only lots that can be sold today
            ranges.update(certificate_ranges(today()))
        for name, (low, high) in RANGES.items():
            lo = self.bounds.get(low)
            hi = self.bounds.get(high) if high else None
            if lo is not None or hi is not None:
                ranges[name] = (None if lo is None else float(lo), None if hi is None else float(hi))
        typed = parse_text(self.q)  # numbers, units and colour words of any language → words and ranges
        for name, bounds in typed.ranges.items():
            intersect(ranges, name, bounds)
        sort = SORTS.get(self.sort) or (None if typed.text else SORTS["newest"])
        return SearchQuery(
            text=typed.text, filters=dict(self.facets), ranges=ranges, sort=sort,
            page=page or self.page, per_page=per_page,
        )

    def without(self, part: str, value: str | None = None) -> LotSearch:
        """The same search with one filter (or one facet value) relaxed."""
        if part == "q":
            return replace(self, q="", page=1)
        if part in self.facets:
            kept = tuple(v for v in self.facets[part] if value is not None and v != value)
            facets = {k: v for k, v in self.facets.items() if k != part}
            if kept:
                facets[part] = kept
            return replace(self, facets=facets, page=1)
        return replace(self, bounds={k: v for k, v in self.bounds.items() if k != part}, page=1)

    def active(self) -> list[tuple[str, str | None]]:
        parts: list[tuple[str, str | None]] = [("q", None)] if self.q else []
        parts += [(name, value) for name, values in self.facets.items() for value in values]
        parts += [(name, None) for name in self.bounds]
        return parts

    def args(self) -> dict[str, Any]:
        """The query string of this search (for links)."""
        out: dict[str, Any] = {}
        if self.q:
            out["q"] = self.q
        out.update({k: list(v) for k, v in self.facets.items()})
        out.update({k: str(v) for k, v in self.bounds.items()})
        if self.sort:
            out["sort"] = self.sort
        if self.include_invalid:
            out["include_invalid"] = "1"
        return out


@dataclass(frozen=True)
class Suggestion:
    part: str
    value: str | None
    total: int
    args: dict[str, Any]


@dataclass
class LotResults:
    result: SearchResult
    facets: dict[str, dict[str, int]]
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def hits(self) -> list[dict[str, Any]]:
        return self.result.hits

    @property
    def total(self) -> int:
        return self.result.total

    @property
    def page(self) -> int:
        return self.result.page

    @property
    def pages(self) -> int:
        return self.result.pages


def find_lots(wanted: LotSearch, suggest: bool = True) -> LotResults:
    """One page of lots, with facet counts where each facet ignores its own selection.

    The page's searches go together (one round trip on a server engine): the main query, one count
    per selected facet and, on such an engine, the relaxed queries that suggest what to drop when
    nothing matches (an in-process engine runs those only when they are needed). ``suggest=False``
    (the JSON API, which shows no suggestions) sends none of them.
    """
    main, counts, loosened = page_queries(wanted, speculative=suggest and search.batched())
    found = search.search_many(LOTS, [main, *counts, *(query for _s, query in loosened)])
    result = found[0]
    if result.total and result.page > result.pages:
        result = search.search(LOTS, replace(main, page=result.pages))
    facets = dict(result.facets)
    for name, counted in zip(wanted.facets, found[1:1 + len(counts)], strict=True):
        facets[name] = counted.facets.get(name, {})
    if result.total:
        suggestions: list[Suggestion] = []
    elif loosened:
        suggestions = _best(loosened, found[1 + len(counts):])
    elif suggest:
        suggestions = relax(wanted)
    else:
        suggestions = []
    with_status(result.hits)
    return LotResults(result, facets, suggestions)


def page_queries(wanted: LotSearch, speculative: bool,
                 ) -> tuple[SearchQuery, list[SearchQuery], list[tuple[Suggestion, SearchQuery]]]:
    """The searches of a lot page: the main query, a count per selected facet and (``speculative``) the
    relaxed queries behind the suggestions, which an empty result shows."""
    # A selected facet is counted without its own selection, so the main query skips it.
    unselected = tuple(name for name in LOTS.facets if name not in wanted.facets)
    main = replace(wanted.to_query(), facet_names=unselected)
    counts = [replace(wanted.without(name).to_query(per_page=0, page=1), sort=None, facet_names=(name,))
              for name in wanted.facets]  # counts for the other values of a facet ignore its own selection
    return main, counts, _loosened(wanted) if speculative else []


def _loosened(wanted: LotSearch) -> list[tuple[Suggestion, SearchQuery]]:
    """Each single filter dropped, with the query that counts what would then match."""
    out = []
    for part, value in wanted.active():
        looser = wanted.without(part, value)
        query = replace(looser.to_query(per_page=1, page=1), sort=None, with_facets=False)
        out.append((Suggestion(part, value, 0, looser.args()), query))
    return out


def _best(loosened: list[tuple[Suggestion, SearchQuery]], found: list[SearchResult], limit: int = 3,
          ) -> list[Suggestion]:
    totals = [replace(s, total=r.total) for (s, _q), r in zip(loosened, found, strict=True) if r.total]
    return sorted(totals, key=lambda s: -s.total)[:limit]


PASSPORT_IDS_KEPT = 100_000
# One statement for every page (the ids as one expanding parameter): SQLAlchemy builds its cache key and
# finds its compiled form once, instead of walking twenty literal values on every search.
_PASSPORT_IDS = select(Passport.lot_id, Passport.public_id).where(Passport.lot_id.in_(bindparam("ids", expanding=True)))


def _passport_ids(lot_ids: list[int]) -> dict[int, str]:
    """Each lot's passport public id. A passport's id never changes and a passport is never deleted, so the
    ids found are kept in the process (per app): a search page with known lots does not touch the database."""
    known: dict[int, str] = current_app.extensions.setdefault("lot_passport_ids", {})
    wanted = [i for i in lot_ids if i not in known]
    if wanted:
        if len(known) > PASSPORT_IDS_KEPT:
            known.clear()
        known.update(db.session.execute(_PASSPORT_IDS, {"ids": wanted}).all())
    return {i: known[i] for i in lot_ids if i in known}


def with_status(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each lot hit its certificate status today (computed, never the indexed one) and its passport URL."""
    day = today()
    ids = [int(hit["id"]) for hit in hits if str(hit.get("id", "")).isdigit()]
    passports = _passport_ids(ids)
    root = public_base_url()
    for hit in hits:
        hit["certificate_status"] = certificate_status_of(hit, day).value
        for internal in ("certificate_record_status", "certificate_active", "certificate_from_day",
                         "certificate_to_day"):
            hit.pop(internal, None)  # the index's form of the rule; certificate_status is the answer
        public_id = passports.get(int(hit["id"])) if str(hit.get("id", "")).isdigit() else None
        hit["passport_url"] = f"{root}/passports/{public_id}" if public_id else None
    return hits


def relax(wanted: LotSearch, limit: int = 3) -> list[Suggestion]:
    """For an empty result: which single filter to drop, and how many lots that would show."""
    loosened = _loosened(wanted)
    return _best(loosened, [search.search(LOTS, query) for _s, query in loosened], limit)


def export_rows(wanted: LotSearch) -> Iterable[dict[str, Any]]:
    query = replace(wanted.to_query(per_page=EXPORT_LIMIT, page=1), with_facets=False)
    return with_status(search.search(LOTS, query).hits)


CSV_COLUMNS = [
    ("code", _l("Lot")), ("cooperative_names", _l("Cooperatives")), ("aimag_names", _l("Aimag")),
    ("soum_names", _l("Soum")), ("season", _l("Combing season")), ("colour", _l("Colour")), ("state", _l("State")),
    ("micron", _l("Mean fibre diameter (µm)")), ("length_mm", _l("Mean length (mm)")),
    ("hair_pct", _l("Hair content (%)")), ("yield_pct", _l("Dehairing yield (%)")),
    ("available_kg", _l("Available (kg)")), ("min_order_kg", _l("Minimum order (kg)")),
    ("price_per_kg", _l("Price (currency per kg)")), ("currency", _l("Currency (ISO 4217)")),
    ("price_basis", _l("Price basis")), ("price_eur_clean", _l("Comparable price (EUR per clean kg)")),
    ("premium_per_kg", _l("Sustainability premium (currency per kg)")),
    ("scheme_name", _l("Certification scheme")), ("tier", _l("Certification tier")),
    ("certificate_number", _l("Certificate")), ("certificate_status", _l("Certificate status")),
    ("passport_url", _l("Passport")),
]


def to_csv(hits: Iterable[dict[str, Any]]) -> str:
    return csv_export.to_csv(export_header(), export_table(hits))


def to_xlsx(hits: Iterable[dict[str, Any]]) -> bytes:
    """The same table as :func:`to_csv`, as an XLSX workbook (the same formula escaping)."""
    return csv_export.to_xlsx(export_header(), export_table(hits), title="lots")


def export_header() -> list[str]:
    return [str(label) for _key, label in CSV_COLUMNS]


def export_table(hits: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    def row(hit: dict[str, Any]) -> list[Any]:
        values = dict(hit)
        values["aimag_names"] = (hit.get("aimag_names") or [""])[0]
        values["soum_names"] = (hit.get("soum_names") or [""])[0]
        values["certificate_status"] = label(hit["certificate_status"]) if hit.get("certificate_status") else ""
        return [values.get(key) for key, _ in CSV_COLUMNS]

    return (row(hit) for hit in hits)


# Labels for facet values ----------------------------------------------------------------

def facet_labels() -> dict[str, dict[str, str]]:
    aimags = {code: f"{en} ({mn})" for code, en, mn in db.session.execute(
        select(Aimag.code, Aimag.name_en, Aimag.name_mn))}
    coops = dict(db.session.execute(select(Organisation.slug, Organisation.name)).all())
    schemes = dict(db.session.execute(select(CertificationScheme.code, CertificationScheme.name)).all())
    return {"aimag": aimags, "cooperative": coops, "scheme": schemes}


def facet_options(results: LotResults, wanted: LotSearch) -> dict[str, list[tuple[str, int, bool]]]:
    """For each facet: (value, count, checked), every enum value for colour and state."""
    options: dict[str, list[tuple[str, int, bool]]] = {}
    for name in FACETS:
        counts = dict(results.facets.get(name, {}))
        chosen = set(wanted.facets.get(name, ()))
        if name == "colour":
            values = [c.value for c in Colour]
        elif name == "state":
            values = [s.value for s in FibreState]
        else:
            values = sorted(set(counts) | chosen, reverse=name == "season")
        options[name] = [(v, counts.get(v, 0), v in chosen) for v in values]
    return options


# Database lookups -----------------------------------------------------------------------

def get_listed(code: str) -> Lot | None:
    return db.session.scalar(
        select(Lot)
        .where(Lot.code == code, Lot.status == LotStatus.listed)
        .options(
            selectinload(Lot.contributions).selectinload(LotContribution.cooperative),
            selectinload(Lot.certificate),
        )
    )


def listed_under(certificate_id: int) -> list[Lot]:
    """The listed lots whose fibre a certificate covers (its public page lists them), by code."""
    return list(db.session.scalars(
        select(Lot).where(Lot.certificate_id == certificate_id, Lot.status == LotStatus.listed).order_by(Lot.code)))


def listed_by_codes(codes: Iterable[str]) -> list[Lot]:
    wanted = list(dict.fromkeys(codes))
    lots = db.session.scalars(
        select(Lot).where(Lot.code.in_(wanted), Lot.status == LotStatus.listed).options(
            selectinload(Lot.aimag), selectinload(Lot.soum), selectinload(Lot.cooperative),
            selectinload(Lot.certificate),
        )
    ).all()
    by_code = {lot.code: lot for lot in lots}
    return [by_code[c] for c in wanted if c in by_code]
