"""The Union's back-office: stock, orders, approvals and members at a glance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from marketplace.db import today
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.funds.models import EntryKind, FundEntry
from marketplace.lots.models import Lot, LotStatus
from marketplace.orders import services as orders
from marketplace.orders.models import OPEN_STAGES, Order
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.practice.services import gender_figures
from marketplace.products.models import Product, ProductStatus

MICRON_BANDS = (15, 16, 17)  # upper bounds (µm) of the fineness bands; above the last: coarser


def overview() -> dict[str, Any]:
    """Stock by specification, open orders, products awaiting approval, organisations by kind."""
    # The specification buyers ask for: state, colour and fineness (mean fibre diameter, in bands).
    band = case(*((Lot.mean_diameter_um <= upper, index) for index, upper in enumerate(MICRON_BANDS)),
                else_=len(MICRON_BANDS))
    stock = db.session.execute(
        select(Lot.state, Lot.colour, band, func.count(Lot.id), func.sum(Lot.available_kg),
               func.sum(Lot.reserved_kg))
        .where(Lot.status == LotStatus.listed)
        .group_by(Lot.state, Lot.colour, band)
        .order_by(Lot.state, Lot.colour, band)
    ).all()
    open_orders = db.session.scalars(
        select(Order).where(Order.stage.in_(OPEN_STAGES)).order_by(Order.created_at.desc(), Order.id.desc())
        .options(selectinload(Order.buyer))
    ).all()
    awaiting = db.session.scalars(
        select(Product).where(Product.status == ProductStatus.submitted).order_by(Product.created_at, Product.id)
        .options(selectinload(Product.organisation))
    ).all()
    organisations = dict(
        db.session.execute(select(Organisation.kind, func.count(Organisation.id)).group_by(Organisation.kind)).all()
    )
    return {
        "stock": stock, "micron_bands": MICRON_BANDS, "open_orders": open_orders, "awaiting": awaiting,
        "organisation_counts": {kind: organisations.get(kind, 0) for kind in OrgKind},
        **orders_overview(),
    }


def premiums() -> list[dict[str, Any]]:
    """Premium due to each cooperative and premium paid, per currency: derived from the funds ledger."""
    return [{"cooperative": b.cooperative, "currency": b.currency, "due_minor": b.due_minor,
             "paid_minor": b.paid_minor, "outstanding_minor": b.outstanding_minor} for b in funds.balances()]


def orders_overview() -> dict[str, Any]:
    """What the Union dashboard adds for quotes and allocations."""
    season = today().year
    return {
        "open_quotes": orders.open_quote_requests(),
        "season": season,
        "season_rows": [r for r in orders.season_view(season) if r.allocated_kg or r.fair_kg],
        "premiums": premiums(),
        "gender": _gender(),
    }


def _gender() -> dict[str, Any]:
    return gender_figures()


def record_premium_payment(*, cooperative_id: int, amount_minor: int, currency: str, paid_on: Any,
                           staff: Any, note: str = "", reference: str = "", advance: bool = False) -> Any:
    """Record premium the Union has paid to a cooperative, as an entry of the funds ledger.

    The same transfer sent twice (a double-submitted form: same cooperative, bank reference,
    amount, currency and date) is recorded once: the first entry is returned.
    """
    same = db.session.scalar(select(FundEntry).where(
        FundEntry.cooperative_id == cooperative_id, FundEntry.kind == EntryKind.payment,
        FundEntry.reference == (reference or "").strip()[:120], FundEntry.amount_minor == amount_minor,
        FundEntry.currency == currency, FundEntry.paid_on == paid_on,
    ).limit(1))
    if same is not None:
        return same

    return funds.record_payment(cooperative_id=cooperative_id, amount_minor=amount_minor, currency=currency,
                                paid_on=paid_on, reference=reference, advance=advance, staff=staff, note=note)


def cooperative_choices() -> list[tuple[int, str]]:
    return list(db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.kind == OrgKind.cooperative)
        .order_by(Organisation.name)
    ).tuples())
