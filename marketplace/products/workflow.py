"""The approval workflow: submit, check, approve and publish an immutable version (announced to the
passports through marketplace/events.py), or reject."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import events
from marketplace.claims import claims_in
from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.products.editing import ProductError
from marketplace.products.models import (
    Product,
    ProductSource,
    ProductStatus,
    ProductVersion,
)


def submission_problems(product: Product) -> list[str]:
    problems = []
    if product.production_date is None:
        problems.append(str(_l("Give the production date.")))
    if not product.sources and not product.components:
        problems.append(str(_l("Link at least one certified lot or yarn batch the product was made from.")))
    if not product.steps:
        problems.append(str(_l("Record at least one processing step.")))
    if not product.images:
        problems.append(str(_l("Add at least one picture.")))
    problems += claim_problems(product)
    return problems


def claim_problems(product: Product) -> list[str]:
    """Generic environmental claims in what a consumer reads (name and description, every language): refused
    at submission and again at approval and publication (EU Directive 2024/825), naming the words."""
    found: dict[str, list[str]] = {}
    for texts in (product.name or {}, product.description or {}):
        for locale, words in claims_in(texts).items():
            found.setdefault(locale, [])
            found[locale] += [w for w in words if w not in found[locale]]
    return [str(_l("Generic environmental claims are not allowed (EU Directive 2024/825) in the %(language)s text: "
                   "%(words)s. State the specific, proven fact instead, for example “62 %% of the fibre by weight "
                   "is certified”.", language=locale, words=", ".join(f"“{w}”" for w in words)))
            for locale, words in sorted(found.items())]


def submit(product: Product, now: dt.datetime) -> None:
    if product.status not in (ProductStatus.draft, ProductStatus.rejected):
        raise ProductError(_l("Only a draft can be submitted for approval."))
    problems = submission_problems(product)
    if problems:
        raise ProductError(" ".join(problems))
    product.status = ProductStatus.submitted
    product.submitted_at = now
    product.rejection_reason = ""
    db.session.flush()
    events.product_submitted.send(product)


def awaiting_approval() -> list[Product]:
    return list(db.session.scalars(
        select(Product).where(Product.status == ProductStatus.submitted)
        .order_by(Product.submitted_at, Product.id).options(selectinload(Product.organisation))
    ))


@dataclass(frozen=True)
class CertificateCheck:
    source: ProductSource
    valid: bool
    reason: str


def certificate_checks(product: Product) -> list[CertificateCheck]:
    """For each source lot: is its certificate valid on the production date, and if not, why."""
    checks = []
    dated = [(source, product.production_date) for source in product.sources]
    for link in product.components:  # a batch's own lots, checked on the batch's production date
        dated += [(source, link.component.production_date) for source in link.component.sources]
    for source, day in dated:
        certificate = source.lot.certificate
        if day is None:
            checks.append(CertificateCheck(source, False, str(_l("The product has no production date."))))
        elif certificate is None:
            reason = str(_l("Lot %(code)s has no certificate.", code=source.lot.code))
            checks.append(CertificateCheck(source, False, reason))
        elif certificate.valid_on(day):
            checks.append(CertificateCheck(source, True, str(_l(
                "Certificate %(number)s is valid on %(day)s (%(start)s to %(end)s).",
                number=certificate.number, day=day.isoformat(), start=certificate.valid_from.isoformat(),
                end=certificate.valid_to.isoformat(),
            ))))
        elif day < certificate.valid_from:
            checks.append(CertificateCheck(source, False, str(_l(
                "Certificate %(number)s was not yet valid on %(day)s: it is valid from %(start)s.",
                number=certificate.number, day=day.isoformat(), start=certificate.valid_from.isoformat(),
            ))))
        else:
            status = certificate.status_on(day)
            reason = f" {certificate.status_reason}" if certificate.status_reason else ""
            checks.append(CertificateCheck(source, False, str(_l(
                "Certificate %(number)s is %(status)s on %(day)s (valid %(start)s to %(end)s).",
                number=certificate.number, status=label(status).lower(), day=day.isoformat(),
                start=certificate.valid_from.isoformat(), end=certificate.valid_to.isoformat(),
            )) + reason))
    return checks


def approval_problems(product: Product) -> list[str]:
    if product.status is not ProductStatus.submitted:
        return [str(_l("Only a submitted product can be approved."))]
    problems = submission_problems(product)
    problems += [check.reason for check in certificate_checks(product) if not check.valid]
    return problems


def approve(product: Product, approver_id: int | None, now: dt.datetime) -> ProductVersion:
    """Approve and publish: freeze the working copy into a new, immutable version."""
    problems = approval_problems(product)
    if problems:
        raise ProductError(" ".join(problems))
    product.status = ProductStatus.approved
    version = publish(product, approver_id, now)
    events.product_approved.send(product)
    return version


def publish(product: Product, approver_id: int | None, now: dt.datetime) -> ProductVersion:
    snap = snapshot(product)
    version = ProductVersion(
        product_id=product.id, number=product.version, organisation_id=product.organisation_id,
        line_id=product.line_id, published_at=now, approved_by_id=approver_id,
        recycled=product.recycled_pct > 0, dyed=product.dyed, repairable="repair" in (product.circular_services or {}),
        snapshot=snap,
    )
    db.session.add(version)
    product.published_number = product.version
    product.status = ProductStatus.published
    product.rejection_reason = ""
    db.session.flush()
    db.session.expire(product, ["versions"])
    events.product_published.send(product, version=version)  # passports publish the product's passport
    return version


def reject(product: Product, reason: str) -> None:
    reason = reason.strip()
    if product.status is not ProductStatus.submitted:
        raise ProductError(_l("Only a submitted product can be rejected."))
    if not reason:
        raise ProductError(_l("Give the reason for the rejection, so that the MSME can correct the product."), "reason")
    product.status = ProductStatus.rejected
    product.rejection_reason = reason
    db.session.flush()
    events.product_rejected.send(product)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def snapshot(product: Product) -> dict[str, Any]:
    """Everything a consumer is shown about this version, frozen as JSON."""
    line, org = product.line, product.organisation
    return {
        "product_id": product.id, "number": product.version, "sku": product.sku, "gtin": product.gtin,
        "name": dict(product.name), "description": dict(product.description or {}),
        "line": {
            "id": line.id, "slug": line.slug, "name": dict(line.name), "description": dict(line.description or {}),
        },
        "organisation": {"id": org.id, "slug": org.slug, "name": org.name, "city": org.city},
        "fibre_composition": dict(product.fibre_composition), "recycled_pct": _dec(product.recycled_pct),
        "recycled_origin": product.recycled_origin.value, "dyed": product.dyed,
        "care_codes": list(product.care_codes or []), "sizes": list(product.sizes or []),
        "weight_g": _dec(product.weight_g), "price_minor": product.price_minor, "currency": product.currency,
        "circular_services": dict(product.circular_services or {}),
        "production_date": product.production_date.isoformat() if product.production_date else None,
        "batch_code": product.batch_code,
        "images": [
            {"id": i.id, "sha256": i.sha256, "width": i.width, "height": i.height, "alt": dict(i.alt or {})}
            for i in product.images
        ],
        "sources": [
            {
                "lot_id": s.lot.id, "lot_code": s.lot.code, "kg": _dec(s.kg), "state": s.lot.state.value,
                "colour": s.lot.colour.value, "season": s.lot.season, "cooperative": s.lot.cooperative.name,
                "aimag": s.lot.aimag.name_en, "soum": s.lot.soum.name_en,
                "certificate": None if s.lot.certificate is None else {
                    "number": s.lot.certificate.number, "valid_from": s.lot.certificate.valid_from.isoformat(),
                    "valid_to": s.lot.certificate.valid_to.isoformat(),
                    "assurance_level": s.lot.certificate.assurance_level.value,
                    "custody_model": s.lot.certificate.custody_model.value,
                },
            }
            for s in product.sources
        ],
        "components": [
            {
                "product_id": c.component.id, "sku": c.component.sku, "name": dict(c.component.name),
                "organisation": c.component.organisation.name, "batch_code": c.component.batch_code,
                "version": c.component.published_number, "kg": _dec(c.kg),
                "lots": [s.lot.code for s in c.component.sources],
            }
            for c in product.components
        ],
        "steps": [
            {
                "kind": s.kind.value,
                "facility": {"id": s.facility.id, "name": s.facility.name, "city": s.facility.city},
                "performed_on": s.performed_on.isoformat(), "kg_in": _dec(s.kg_in), "kg_out": _dec(s.kg_out),
                "yield_pct": _dec(s.yield_pct),
                "energy_kwh": _dec(s.energy_kwh), "energy_basis": s.energy_basis.value if s.energy_basis else None,
                "water_l": _dec(s.water_l), "water_basis": s.water_basis.value if s.water_basis else None,
                "co2e_kg": _dec(s.co2e_kg), "co2e_basis": s.co2e_basis.value if s.co2e_basis else None,
                "source_note": s.source_note,
                "source_note_translations": s.source_note_translations or {},
            }
            for s in product.steps
        ],
    }
