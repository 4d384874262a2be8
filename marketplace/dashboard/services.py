"""What each role's dashboard shows: that role's own, real data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.accounts.models import Membership, Role, User
from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.orders.models import OPEN_STAGES, Order
from marketplace.organisations.models import Organisation
from marketplace.products.models import Product, ProductStatus
from marketplace.union import charts


def buyer(organisation_id: int) -> dict[str, Any]:
    orders = db.session.scalars(
        select(Order).where(Order.buyer_id == organisation_id).order_by(Order.created_at.desc(), Order.id.desc())
        .options(selectinload(Order.lines))
    ).all()
    return {"orders": orders, "open_orders": [o for o in orders if o.stage in OPEN_STAGES]}


def msme(organisation_id: int) -> dict[str, Any]:
    products = db.session.scalars(
        select(Product).where(Product.organisation_id == organisation_id).order_by(Product.sku)
    ).all()
    by_status: dict[ProductStatus, int] = dict.fromkeys(ProductStatus, 0)
    for product in products:
        by_status[product.status] += 1
    return {"products": products, "by_status": by_status, "charts": charts.msme_sales(organisation_id)}


def cooperative(organisation_id: int, today: dt.date) -> dict[str, Any]:
    organisation = db.session.get(Organisation, organisation_id)
    lots = db.session.scalars(
        select(Lot).where(Lot.cooperative_id == organisation_id).order_by(Lot.season.desc(), Lot.code)
    ).all()
    certificates = db.session.scalars(
        select(Certificate).where(Certificate.holder_id == organisation_id).order_by(Certificate.valid_to.desc())
    ).all()
    return {
        "organisation": organisation,
        "lots": lots,
        "available_kg": sum((lot.available_kg for lot in lots), start=0),
        "reserved_kg": sum((lot.reserved_kg for lot in lots), start=0),
        "certificates": certificates,
        "today": today,
    }


def certifier(organisation_id: int, today: dt.date) -> dict[str, Any]:
    certificates = db.session.scalars(
        select(Certificate).where(Certificate.issuer_id == organisation_id)
        .order_by(Certificate.valid_to).options(selectinload(Certificate.holder), selectinload(Certificate.scheme))
    ).all()
    counts: dict[CertificateStatus, int] = dict.fromkeys(CertificateStatus, 0)
    for certificate in certificates:
        counts[certificate.status_on(today)] += 1
    expiring = [
        c for c in certificates
        if c.status_on(today) is CertificateStatus.active and (c.valid_to - today).days <= 90
    ]
    return {"certificates": certificates, "counts": counts, "expiring": expiring, "today": today}


def admin() -> dict[str, Any]:
    users = db.session.scalars(
        select(User).order_by(User.email)
        .options(selectinload(User.memberships).selectinload(Membership.organisation))
    ).all()
    role_counts = dict(
        db.session.execute(select(Membership.role, func.count(Membership.id)).group_by(Membership.role)).all()
    )
    return {"users": users, "role_counts": {role: role_counts.get(role, 0) for role in Role}}
