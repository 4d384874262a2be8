"""The lots index: its spec, a listed lot's search document, and which changes make documents stale.

Registered with the search package by ``create_app`` (``SOURCE``); the lot page's queries are in services.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, selectinload

from marketplace.certification.models import Certificate, CertificateStanding, CertificateStatus, standing
from marketplace.db import today
from marketplace.fx import COMPARISON_CURRENCY, convert_minor
from marketplace.lots.models import Lot, LotContribution, LotStatus
from marketplace.money import from_minor
from marketplace.organisations.models import Aimag, Organisation, Soum
from marketplace.search.port import Document, IndexSpec
from marketplace.search.sources import IndexSource, batched

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
    recency="listed_at",
)


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@dataclass
class References:
    """Places, organisations and certificates by id, loaded once for a whole rebuild."""

    aimags: dict[int, Aimag]
    soums: dict[int, Soum]
    organisations: dict[int, Organisation]
    certificates: dict[int, Certificate]

    @classmethod
    def load(cls, session: Session) -> References:
        return cls(
            {a.id: a for a in session.scalars(select(Aimag))},
            {s.id: s for s in session.scalars(select(Soum))},
            {o.id: o for o in session.scalars(select(Organisation))},
            {c.id: c for c in session.scalars(select(Certificate).options(selectinload(Certificate.scheme)))},
        )


def lot_document(lot: Lot, refs: References | None = None) -> Document:
    if refs is None:
        cooperative, aimag, soum, cert = lot.cooperative, lot.aimag, lot.soum, lot.certificate
        partners = [part.cooperative for part in lot.contributions]
    else:
        cooperative, aimag, soum = (
            refs.organisations[lot.cooperative_id], refs.aimags[lot.aimag_id], refs.soums[lot.soum_id],
        )
        cert = refs.certificates.get(lot.certificate_id) if lot.certificate_id else None
        partners = [refs.organisations[part.cooperative_id] for part in lot.contributions]
    cooperatives = {cooperative.slug: cooperative.name}
    for partner in partners:
        cooperatives.setdefault(partner.slug, partner.name)
    doc: Document = {
        "id": str(lot.id),
        "code": lot.code,
        "cooperative": list(cooperatives),
        "cooperative_names": list(cooperatives.values()),
        "aimag": aimag.code,
        "aimag_names": [aimag.name_en, aimag.name_mn],
        "soum_names": [soum.name_en, soum.name_mn],
        "colour": lot.colour.value,
        "colour_words": lot.colour.value.replace("_", " "),
        "state": lot.state.value,
        "sorting": lot.sorting.value.replace("_", " "),
        "season": str(lot.season),
        "season_text": str(lot.season),
        "micron": float(lot.mean_diameter_um),
        "micron_class": str(int(lot.mean_diameter_um)),
        "length_mm": float(lot.mean_length_mm),
        "hair_pct": float(lot.hair_content_pct),
        "yield_pct": _num(lot.dehairing_yield_pct),
        "available_kg": float(lot.available_kg),
        "min_order_kg": float(lot.min_order_kg),
        "price_minor": lot.price_minor,
        "premium_minor": lot.premium_minor,
        "clean_price_minor": lot.clean_price_minor,
        "currency": lot.currency,
        "price_basis": lot.price_basis.value,
        "price_per_kg": float(from_minor(lot.price_minor, lot.currency)),
        # The comparable price: EUR per kg of clean fibre, at the Union's reference rates.
        "price_eur_clean_minor": (eur := convert_minor(lot.clean_price_minor, lot.currency, COMPARISON_CURRENCY)),
        "price_eur_clean": float(from_minor(eur, COMPARISON_CURRENCY)),
        "premium_per_kg": float(from_minor(lot.premium_minor, lot.currency)),
        "listed_at": lot.listed_at.timestamp() if lot.listed_at else 0.0,
        "herder_households": lot.herder_households,
    }
    if cert is not None:
        doc.update(
            scheme=cert.scheme.code, scheme_name=cert.scheme.name, tier=cert.tier, certificate_number=cert.number,
            certificate_record_status=cert.status.value, certificate_valid_from=cert.valid_from.isoformat(),
            certificate_valid_to=cert.valid_to.isoformat(),
            # The index form of the certificate rule: see certificate_ranges.
            certificate_active=1.0 if cert.status is CertificateStatus.active else 0.0,
            certificate_from_day=float(cert.valid_from.toordinal()),
            certificate_to_day=float(cert.valid_to.toordinal()),
        )
    doc["certificate_status"] = certificate_status_of(doc, today()).value
    return doc


def certificate_status_of(doc: Document, day: dt.date) -> CertificateStanding:
    """A lot document's certificate standing on ``day`` (the one rule, from the stored status and dates)."""
    valid_from, valid_to = doc.get("certificate_valid_from"), doc.get("certificate_valid_to")
    return standing(
        doc.get("certificate_record_status"), dt.date.fromisoformat(valid_from) if valid_from else None,
        dt.date.fromisoformat(valid_to) if valid_to else None, day,
    )


def certificate_ranges(day: dt.date) -> dict[str, tuple[float | None, float | None]]:
    """The search filter keeping only lots whose certificate is valid on ``day``.

    The same rule as :func:`marketplace.certification.models.standing` returning ``valid``: stored
    status active (not suspended, revoked or marked expired) and ``valid_from <= day <= valid_to``.
    A lot without a certificate has none of these fields, so it is left out too.
    """
    ordinal = float(day.toordinal())
    return {"certificate_active": (1.0, 1.0), "certificate_from_day": (None, ordinal),
            "certificate_to_day": (ordinal, None)}


def _lot_options() -> list[Any]:
    return [
        selectinload(Lot.aimag), selectinload(Lot.soum), selectinload(Lot.cooperative),
        selectinload(Lot.certificate).selectinload(Certificate.scheme),
        selectinload(Lot.contributions).selectinload(LotContribution.cooperative),
    ]


def documents_for(session: Session, keys: Sequence[str]) -> dict[str, Document | None]:
    ids = sorted({int(k) for k in keys if k.isdigit()})
    found: dict[str, Document | None] = dict.fromkeys(keys)
    for lot in session.scalars(select(Lot).where(Lot.id.in_(ids)).options(*_lot_options())):
        found[str(lot.id)] = lot_document(lot) if lot.status is LotStatus.listed else None
    return found


def count_all(session: Session) -> int:
    return session.scalar(select(func.count()).where(Lot.status == LotStatus.listed)) or 0


def all_documents(session: Session) -> Iterator[Document]:
    refs = References.load(session)
    yield from batched(session, select(Lot).where(Lot.status == LotStatus.listed),
                       Lot, [selectinload(Lot.contributions)], lambda lot: lot_document(lot, refs))


def changed_keys(obj: Any, conn: Connection, dirty: bool) -> Iterable[str]:
    """A lot document shows the lot, its contributions, its certificate and its cooperatives' names."""
    if isinstance(obj, Lot):
        return [str(obj.id)]
    if isinstance(obj, LotContribution):
        return [str(obj.lot_id)]
    if isinstance(obj, Certificate) and obj.id is not None:
        return [str(i) for i in conn.scalars(select(Lot.id).where(Lot.certificate_id == obj.id))]
    if isinstance(obj, Organisation) and dirty:  # its name shows on its own lots and on lots it contributed to
        partnered = select(LotContribution.lot_id).where(LotContribution.cooperative_id == obj.id)
        return [str(i) for i in conn.scalars(
            select(Lot.id).where((Lot.cooperative_id == obj.id) | Lot.id.in_(partnered)))]
    return []


SOURCE = IndexSource(spec=LOTS, documents_for=documents_for, all_documents=all_documents, count_all=count_all,
                     changed_keys=changed_keys)
