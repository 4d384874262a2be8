"""Lot queries from the database (the search issue adds a search index on top)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState, Lot, LotContribution, LotStatus
from marketplace.organisations.models import Aimag

PAGE_SIZE = 20

_SORTS = {
    "newest": (Lot.listed_at.desc(), Lot.id.desc()),
    "price": (Lot.price_minor.asc(), Lot.id.asc()),
    "-price": (Lot.price_minor.desc(), Lot.id.asc()),
    "micron": (Lot.mean_diameter_um.asc(), Lot.id.asc()),
}


@dataclass(frozen=True)
class LotQuery:
    colours: tuple[Colour, ...] = ()
    states: tuple[FibreState, ...] = ()
    aimags: tuple[str, ...] = ()  # aimag codes
    seasons: tuple[int, ...] = ()
    micron_min: Decimal | None = None
    micron_max: Decimal | None = None
    sort: str = "newest"
    page: int = 1


@dataclass(frozen=True)
class LotPage:
    lots: list[Lot]
    total: int
    page: int
    pages: int


def _filtered(query: LotQuery) -> Select[tuple[Lot]]:
    stmt = select(Lot).where(Lot.status == LotStatus.listed)
    if query.colours:
        stmt = stmt.where(Lot.colour.in_(query.colours))
    if query.states:
        stmt = stmt.where(Lot.state.in_(query.states))
    if query.aimags:
        stmt = stmt.join(Aimag, Lot.aimag_id == Aimag.id).where(Aimag.code.in_(query.aimags))
    if query.seasons:
        stmt = stmt.where(Lot.season.in_(query.seasons))
    if query.micron_min is not None:
        stmt = stmt.where(Lot.mean_diameter_um >= query.micron_min)
    if query.micron_max is not None:
        stmt = stmt.where(Lot.mean_diameter_um <= query.micron_max)
    return stmt


def list_lots(query: LotQuery) -> LotPage:
    stmt = _filtered(query)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(query.page, pages)
    lots = db.session.scalars(
        stmt.order_by(*_SORTS.get(query.sort, _SORTS["newest"]))
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
        .options(
            selectinload(Lot.aimag), selectinload(Lot.soum), selectinload(Lot.cooperative),
            selectinload(Lot.certificate),
        )
    ).all()
    return LotPage(list(lots), total, page, pages)


def get_listed(code: str) -> Lot | None:
    return db.session.scalar(
        select(Lot)
        .where(Lot.code == code, Lot.status == LotStatus.listed)
        .options(
            selectinload(Lot.contributions).selectinload(LotContribution.cooperative),
            selectinload(Lot.certificate),
        )
    )


def aimag_choices() -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(Aimag.code, Aimag.name_en, Aimag.name_mn)
        .where(Aimag.id.in_(select(Lot.aimag_id).where(Lot.status == LotStatus.listed)))
        .order_by(Aimag.name_en)
    ).all()
    return [(code, f"{en} ({mn})") for code, en, mn in rows]


def season_choices() -> list[int]:
    return list(
        db.session.scalars(
            select(Lot.season).where(Lot.status == LotStatus.listed).distinct().order_by(Lot.season.desc())
        )
    )
