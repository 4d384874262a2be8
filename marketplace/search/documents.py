"""Search documents built from the database: listed lots and published products."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from marketplace.certification.models import Certificate, CertificateStanding, CertificateStatus, standing
from marketplace.db import today
from marketplace.lots.models import Lot, LotContribution, LotStatus
from marketplace.money import COMPARISON_CURRENCY, convert_minor, from_minor
from marketplace.organisations.models import Aimag, Organisation, Soum
from marketplace.products.models import Product, ProductSource
from marketplace.search.port import Document

BATCH = 2000


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


def _published_snapshot(product: Product) -> dict[str, Any] | None:
    """What consumers see: the published version's frozen snapshot (an edit in progress is not public)."""
    for version in product.versions:
        if version.number == product.published_number:
            return version.snapshot
    return None


def product_document(product: Product) -> Document | None:
    snap = _published_snapshot(product)
    if snap is None:
        return None
    lot_ids = {source["lot_id"] for source in snap["sources"]}
    aimags: dict[str, list[str]] = {}
    soums: dict[int, list[str]] = {}
    for source in product.sources:
        if source.lot_id in lot_ids:
            aimags.setdefault(source.lot.aimag.code, [source.lot.aimag.name_en, source.lot.aimag.name_mn])
            soums.setdefault(source.lot.soum_id, [source.lot.soum.name_en, source.lot.soum.name_mn])
    fibres = sorted(snap["fibre_composition"] or {})
    version = next(v for v in product.versions if v.number == product.published_number)
    return {
        "id": str(product.id),
        "sku": snap["sku"],
        "name": dict(snap["name"] or {}),
        "names": [v for v in (snap["name"] or {}).values() if v],
        "descriptions": [v for v in (snap["description"] or {}).values() if v],
        "msme": product.organisation.slug,
        "msme_name": snap["organisation"]["name"],
        "recycled": snap["recycled_origin"],
        "recycled_pct": float(snap["recycled_pct"] or 0),
        "dyed": "yes" if snap["dyed"] else "no",
        "fibre": fibres,
        "fibres": fibres,
        "aimag": list(aimags),
        "aimag_names": [name for names in aimags.values() for name in names],
        "soum_names": [name for names in soums.values() for name in names],
        "price": float(from_minor(snap["price_minor"], snap["currency"])),
        "price_minor": snap["price_minor"],
        "currency": snap["currency"],
        "published_at": version.published_at.timestamp(),
    }


def _product_options() -> list[Any]:
    return [
        selectinload(Product.organisation),
        selectinload(Product.versions),
        selectinload(Product.sources).selectinload(ProductSource.lot).selectinload(Lot.aimag),
        selectinload(Product.sources).selectinload(ProductSource.lot).selectinload(Lot.soum),
    ]


def documents_for(session: Session, index_name: str, keys: Sequence[str]) -> dict[str, Document | None]:
    """The current document for each key, or None when the row is gone or not searchable."""
    ids = sorted({int(k) for k in keys if k.isdigit()})
    found: dict[str, Document | None] = dict.fromkeys(keys)
    if index_name == "lots":
        rows = session.scalars(select(Lot).where(Lot.id.in_(ids)).options(*_lot_options()))
        for lot in rows:
            found[str(lot.id)] = lot_document(lot) if lot.status is LotStatus.listed else None
    elif index_name == "products":
        products = session.scalars(select(Product).where(Product.id.in_(ids)).options(*_product_options()))
        for product in products:
            found[str(product.id)] = product_document(product)
    return found


def count_all(session: Session, index_name: str) -> int:
    from sqlalchemy import func

    if index_name == "lots":
        return session.scalar(select(func.count()).where(Lot.status == LotStatus.listed)) or 0
    return session.scalar(select(func.count()).where(Product.published_number.is_not(None))) or 0


def all_documents(session: Session, index_name: str) -> Iterator[Document]:
    """Every searchable document, in batches (so 100k lots never sit in memory at once)."""
    if index_name == "lots":
        refs = References.load(session)
        yield from _batched(session, select(Lot).where(Lot.status == LotStatus.listed),
                            Lot, [selectinload(Lot.contributions)], lambda lot: lot_document(lot, refs))
    else:
        yield from _batched(session, select(Product).where(Product.published_number.is_not(None)),
                            Product, _product_options(), product_document)


def _batched(session: Session, stmt: Any, model: Any, options: list[Any], build: Any) -> Iterator[Document]:
    last = 0
    while True:
        batch = session.scalars(stmt.where(model.id > last).order_by(model.id).limit(BATCH).options(*options)).all()
        if not batch:
            return
        for row in batch:
            document = build(row)
            if document is not None:
                yield document
        last = batch[-1].id  # the session holds clean rows weakly: each batch is freed once done
