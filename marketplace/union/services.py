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
        **orders_overview(),
    }


def premiums() -> list[dict[str, Any]]:
    """Premium due to each cooperative (confirmed allocations × premium per kg) and premium paid, per currency."""
    from collections import defaultdict
    from decimal import ROUND_HALF_UP, Decimal

    from marketplace.orders.models import Allocation, AllocationShare, AllocationStatus, OrderLine
    from marketplace.payments.models import PremiumPayment

    due: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    rows = db.session.execute(
        select(AllocationShare.cooperative_id, AllocationShare.kg, Order.currency, func.max(OrderLine.premium_minor))
        .join(Allocation, AllocationShare.allocation_id == Allocation.id)
        .join(Order, Allocation.order_id == Order.id)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Allocation.status == AllocationStatus.confirmed, AllocationShare.kg > 0)
        .group_by(AllocationShare.cooperative_id, AllocationShare.allocation_id, AllocationShare.kg, Order.currency)
    ).all()
    for coop_id, kg, currency, premium in rows:
        due[(coop_id, currency)] += kg * premium
    paid = {
        (coop_id, currency): total for coop_id, currency, total in db.session.execute(
            select(PremiumPayment.cooperative_id, PremiumPayment.currency, func.sum(PremiumPayment.amount_minor))
            .group_by(PremiumPayment.cooperative_id, PremiumPayment.currency)
        ).all()
    }
    keys = sorted(set(due) | set(paid))
    names = dict(db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_({k[0] for k in keys}))
    ).all())
    result = []
    for coop_id, currency in keys:
        owed = int(due.get((coop_id, currency), Decimal(0)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        settled = int(paid.get((coop_id, currency), 0) or 0)
        result.append({"cooperative": names.get(coop_id, ""), "currency": currency, "due_minor": owed,
                       "paid_minor": settled, "outstanding_minor": owed - settled})
    return sorted(result, key=lambda r: (r["cooperative"], r["currency"]))


def orders_overview() -> dict[str, Any]:
    """What the Union dashboard adds for quotes and allocations."""
    from marketplace.db import today
    from marketplace.orders import services as orders

    season = today().year
    return {
        "open_quotes": orders.open_quote_requests(),
        "season": season,
        "season_rows": [r for r in orders.season_view(season) if r.allocated_kg or r.fair_kg],
        "premiums": premiums(),
    }


def record_premium_payment(*, cooperative_id: int, amount_minor: int, currency: str, paid_on: Any,
                           staff: Any, note: str = "") -> Any:
    """Record premium the Union has paid to a cooperative."""
    from marketplace.payments.models import PremiumPayment

    payment = PremiumPayment(cooperative_id=cooperative_id, amount_minor=amount_minor, currency=currency,
                             paid_on=paid_on, recorded_by_id=staff.id, note=note.strip())
    db.session.add(payment)
    db.session.flush()
    return payment


def cooperative_choices() -> list[tuple[int, str]]:
    return list(db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.kind == OrgKind.cooperative)
        .order_by(Organisation.name)
    ).tuples())
