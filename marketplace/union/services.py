"""The Union's back-office: stock, orders, approvals and members at a glance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.orders.models import OPEN_STAGES, Order
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.products.models import Product, ProductStatus


def overview() -> dict[str, Any]:
    """Stock by specification, open orders, products awaiting approval, organisations by kind."""
    stock = db.session.execute(
        select(Lot.state, Lot.colour, func.count(Lot.id), func.sum(Lot.available_kg), func.sum(Lot.reserved_kg))
        .where(Lot.status == LotStatus.listed)
        .group_by(Lot.state, Lot.colour)
        .order_by(Lot.state, Lot.colour)
    ).all()
    open_orders = db.session.scalars(
        select(Order).where(Order.stage.in_(OPEN_STAGES)).order_by(Order.created_at.desc())
        .options(selectinload(Order.buyer))
    ).all()
    awaiting = db.session.scalars(
        select(Product).where(Product.status == ProductStatus.submitted).order_by(Product.created_at)
        .options(selectinload(Product.organisation))
    ).all()
    organisations = dict(
        db.session.execute(select(Organisation.kind, func.count(Organisation.id)).group_by(Organisation.kind)).all()
    )
    return {
        "stock": stock, "open_orders": open_orders, "awaiting": awaiting,
        "organisation_counts": {kind: organisations.get(kind, 0) for kind in OrgKind},
    }
