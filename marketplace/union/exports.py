"""Staff downloads of orders and consumer sales, as CSV or XLSX through the one helper (``csv_export``).

The same filter as the screen: ``open`` gives the open orders the dashboard lists; a stage or status
narrows to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from marketplace import csv_export
from marketplace.extensions import db
from marketplace.money import from_minor
from marketplace.orders.models import OPEN_STAGES, Order, OrderLine, OrderStage
from marketplace.passports.models import Passport, PassportVersion
from marketplace.payments.models import ConsumerOrder, ConsumerOrderLine, ConsumerOrderStatus

ORDER_HEADER = ["reference", "placed_at", "buyer", "stage", "currency", "incoterm", "incoterm_place", "deposit_pct",
                "kg", "total", "lots"]
SALES_HEADER = ["reference", "created_at", "status", "currency", "total", "items"]
PASSPORT_HEADER = ["public_id", "kind", "subject", "granularity", "versions", "current_version", "issued_at",
                   "revoked_reason", "url"]


class ExportFilterError(ValueError):
    pass


def orders(stage: str = "") -> list[Order]:
    # Each order's buyer and each line's lot come with the orders: a fixed number of queries, whatever the rows.
    query = select(Order).options(
        joinedload(Order.buyer), selectinload(Order.lines).joinedload(OrderLine.lot),
    ).order_by(Order.created_at.desc(), Order.id.desc())
    if stage == "open":
        query = query.where(Order.stage.in_(OPEN_STAGES))
    elif stage:
        if stage not in OrderStage.__members__:
            raise ExportFilterError(stage)
        query = query.where(Order.stage == OrderStage(stage))
    return list(db.session.scalars(query))


def consumer_sales(status: str = "") -> list[ConsumerOrder]:
    query = select(ConsumerOrder).options(
        selectinload(ConsumerOrder.lines).joinedload(ConsumerOrderLine.product)).order_by(
        ConsumerOrder.created_at.desc(), ConsumerOrder.id.desc())
    if status:
        if status not in ConsumerOrderStatus.__members__:
            raise ExportFilterError(status)
        query = query.where(ConsumerOrder.status == ConsumerOrderStatus(status))
    return list(db.session.scalars(query))


def passports(kind: str = "") -> list[Passport]:
    # Only the versions' numbers and dates, not their credentials; the lot or product in the same query.
    query = select(Passport).options(
        joinedload(Passport.lot), joinedload(Passport.product),
        selectinload(Passport.versions).load_only(PassportVersion.number, PassportVersion.issued_at),
    ).order_by(Passport.id)
    if kind == "lot":
        query = query.where(Passport.lot_id.is_not(None))
    elif kind == "product":
        query = query.where(Passport.product_id.is_not(None))
    elif kind:
        raise ExportFilterError(kind)
    return list(db.session.scalars(query))


def passport_rows(items: Iterable[Passport], base_url: str) -> list[list[Any]]:
    rows = []
    for p in items:
        current = p.current
        subject = p.lot.code if p.lot else (p.product.sku if p.product else "")
        rows.append([
            p.public_id, "lot" if p.lot_id else "product", subject,
            p.granularity.value, len(p.versions), current.number if current else "",
            current.issued_at.isoformat() if current else "", p.revoked_reason, f"{base_url}/passports/{p.public_id}",
        ])
    return rows


def order_rows(items: Iterable[Order]) -> list[list[Any]]:
    return [[
        o.reference, o.created_at.isoformat() if o.created_at else "", o.buyer.name, o.stage.value, o.currency,
        o.incoterm.value, o.incoterm_place, o.deposit_pct, sum((line.kg for line in o.lines), 0),
        str(from_minor(o.total_minor, o.currency)), [line.lot.code for line in o.lines],
    ] for o in items]


def sales_rows(items: Iterable[ConsumerOrder]) -> list[list[Any]]:
    return [[
        s.reference, s.created_at.isoformat() if s.created_at else "", s.status.value, s.currency,
        str(from_minor(s.total_minor, s.currency)), [f"{line.product.sku} × {line.quantity}" for line in s.lines],
    ] for s in items]


def render(fmt: str, header: list[str], rows: list[list[Any]], title: str) -> bytes:
    if fmt == "xlsx":
        return csv_export.to_xlsx(header, rows, title=title)
    return csv_export.to_csv(header, rows).encode()
