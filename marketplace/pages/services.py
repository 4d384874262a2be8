"""Content pages (markdown in content/pages) and the figures on the home page."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import markdown
from flask import current_app
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.certification.models import CertificationScheme
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.organisations.models import CooperativeProfile, Organisation, OrgKind


@dataclass(frozen=True)
class ContentPage:
    slug: str
    title: str
    body: Markup
    locale: str  # the locale the text is really in (English when not translated)


@functools.lru_cache(maxsize=64)
def _render(path: Path, mtime: float) -> tuple[str, str]:
    source = path.read_text(encoding="utf-8")
    title, _, body = source.partition("\n")
    html = markdown.markdown(body, extensions=["tables", "attr_list", "toc"], output_format="html")
    return title.lstrip("# ").strip(), html


def content_page(slug: str, locale: str) -> ContentPage | None:
    folder = Path(current_app.config["CONTENT_DIR"]) / "pages"
    for candidate in (locale, "en"):
        path = folder / f"{slug}.{candidate}.md"
        if path.is_file():
            title, html = _render(path, path.stat().st_mtime)
            # Content files are ours (committed in the repo), not user input.
            return ContentPage(slug, title, Markup(html), candidate)  # noqa: S704
    return None


def home_figures() -> dict[str, Any]:
    listed = Lot.status == LotStatus.listed
    stock = db.session.execute(
        select(func.count(Lot.id), func.coalesce(func.sum(Lot.available_kg), 0)).where(listed)
    ).one()
    coops = db.session.execute(
        select(
            func.count(CooperativeProfile.organisation_id),
            func.coalesce(func.sum(CooperativeProfile.certified_households), 0),
        )
    ).one()
    msmes = db.session.scalar(select(func.count(Organisation.id)).where(Organisation.kind == OrgKind.msme))
    latest = db.session.scalars(
        select(Lot).where(listed).order_by(Lot.listed_at.desc(), Lot.id.desc()).limit(4)
        .options(selectinload(Lot.aimag), selectinload(Lot.cooperative))
    ).all()
    return {
        "lot_count": stock[0],
        "available_kg": Decimal(stock[1]),
        "cooperative_count": coops[0],
        "certified_households": coops[1],
        "msme_count": msmes,
        "latest_lots": latest,
    }


def schemes_with_criteria() -> list[CertificationScheme]:
    return list(
        db.session.scalars(
            select(CertificationScheme).order_by(CertificationScheme.code).options(
                selectinload(CertificationScheme.criteria)
            )
        )
    )
