"""Passport reads: a passport by id or GTIN, the certificates its claims rest on, the public base URL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import memo
from marketplace.certification.models import Certificate
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.organisations.models import Aimag
from marketplace.passports.models import (
    Passport,
)
from marketplace.products.models import ProcessingStep, Product, ProductSource, ProductStatus
from marketplace.products.services import step_visible
from marketplace.urls import public_base_url


def base_url() -> str:
    return public_base_url()


def _msme_certificates(product: Product) -> list[Certificate]:
    return list(db.session.scalars(
        select(Certificate).where(Certificate.holder_id == product.organisation_id).order_by(Certificate.valid_from)
    ))


def get_passport(public_id: str) -> Passport | None:
    if len(public_id) > 40:
        return None
    return db.session.scalar(
        select(Passport).where(Passport.public_id == public_id).options(selectinload(Passport.versions))
    )


def passport_for_gtin(gtin: str, lot_code: str | None) -> Passport | None:
    """The passport of the published product with this GTIN-14 (and batch, when one is asked for).
    GTINs are stored as GTIN-14 (products.services normalises them at input; migration 0014 the rest)."""
    stmt = select(Product).where(Product.gtin == gtin, Product.status == ProductStatus.published)
    products = db.session.scalars(stmt.order_by(Product.id)).all()
    if lot_code:
        products = [p for p in products if p.batch_code == lot_code]
    if not products:
        return None
    return db.session.scalar(select(Passport).where(Passport.product_id == products[0].id))


def claimed_certificates(passport: Passport) -> list[Certificate]:
    """The certificates a passport's claims rest on, read live."""
    # The ids first, then the rows: DISTINCT over whole rows fails on PostgreSQL (a JSON column has no equality).
    if passport.lot_id is not None:
        ids = select(Lot.certificate_id).where(Lot.id == passport.lot_id)
    else:
        ids = (select(Lot.certificate_id).join(ProductSource, ProductSource.lot_id == Lot.id)
               .where(ProductSource.product_id == passport.product_id))
    stmt = select(Certificate).where(Certificate.id.in_(ids)).order_by(Certificate.id)
    return list(db.session.scalars(stmt.options(selectinload(Certificate.scheme), selectinload(Certificate.issuer))))


def passport_certificates(passport: Passport) -> list[Certificate]:
    """Every certificate a passport claims: those of its lots and, for a product, its maker's."""
    if passport.lot is not None:  # a lot's claims are its certificate's: read once per batch (a lot import)
        return memo.once(("lot_certificates", passport.lot.certificate_id), lambda: claimed_certificates(passport))
    found = {cert.number: cert for cert in claimed_certificates(passport)}
    if passport.product is not None:
        for cert in _msme_certificates(passport.product):
            found.setdefault(cert.number, cert)
    return list(found.values())


def processing_step(step_id: int, organisation_ids: list[int] | None = None, staff: bool = False
                    ) -> ProcessingStep | None:
    """A step a published passport links to; a working-copy step only for its MSME and Union staff."""
    step = db.session.get(ProcessingStep, step_id)
    if step is None or not step_visible(step, organisation_ids or [], staff):
        return None
    return step


def aimag_centres() -> list[Aimag]:
    return list(db.session.scalars(select(Aimag).order_by(Aimag.code)))
