"""Demo orders: one delivered order of the 2025 season and one open quote request (idempotent)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState, Incoterm, Lot, PriceBasis
from marketplace.orders.models import (
    Allocation,
    AllocationAudit,
    AllocationShare,
    AllocationStatus,
    Order,
    OrderEvent,
    OrderLine,
    OrderStage,
    QuoteRequest,
    QuoteRequestLot,
)
from marketplace.organisations.models import Organisation
from marketplace.payments.models import Invoice, InvoiceKind, Payment, PaymentKind, PaymentStatus

DEMO_ORDER = "ORD-DEMO-2025-001"
_UTC = dt.UTC


def load_demo_orders(report: Any, upsert: Any) -> None:
    buyer = db.session.scalar(select(Organisation).filter_by(slug="maison-lune"))
    buyer_user = db.session.scalar(select(User).filter_by(email="buyer@demo.example"))
    staff = db.session.scalar(select(User).filter_by(email="staff@demo.example"))
    lot = db.session.scalar(select(Lot).filter_by(code="USCC-2025-BKH-001"))
    if buyer is None or lot is None:
        return
    upsert(QuoteRequest, report, {"form_id": "demo-quote-request-1"}, {
        "buyer_id": buyer.id, "requested_by_id": buyer_user.id if buyer_user else None,
        "kg": Decimal("400"), "incoterm": Incoterm.CPT, "incoterm_place": "Paris Charles de Gaulle",
        "currency": "EUR", "max_micron": Decimal("16.0"), "colour": Colour.white,
        "fibre_state": FibreState.dehaired, "price_basis": PriceBasis.clean,
        "message": "Demo request: white fibre for a spring knitwear line.",
    })
    _demo_multi_lot_request(report, upsert, buyer, buyer_user)
    if db.session.scalar(select(Order).filter_by(reference=DEMO_ORDER)) is not None:
        return
    order = upsert(Order, report, {"reference": DEMO_ORDER}, {
        "buyer_id": buyer.id, "placed_by_id": buyer_user.id if buyer_user else None, "stage": OrderStage.delivered,
        "currency": "EUR", "incoterm": Incoterm.CPT, "incoterm_place": "Milan Malpensa", "deposit_pct": 30,
    })
    order.lines.append(OrderLine(lot=lot, kg=Decimal("300"), price_minor=lot.price_minor,
                                 premium_minor=lot.premium_minor))
    start = dt.datetime(2025, 10, 6, 9, 0, tzinfo=_UTC)
    actors = {OrderStage.quote_requested: buyer_user, OrderStage.accepted: buyer_user, OrderStage.deposit_paid: None}
    for days, stage in enumerate(
        [OrderStage.quote_requested, OrderStage.quoted, OrderStage.accepted, OrderStage.deposit_paid,
         OrderStage.allocated, OrderStage.collected, OrderStage.dehaired_tested, OrderStage.shipped,
         OrderStage.delivered]
    ):
        order.events.append(OrderEvent(stage=stage, at=start + dt.timedelta(days=4 * days),
                                       actor=actors.get(stage, staff)))
    allocation = Allocation(order=order, season=2025, alpha=Decimal("0.5"), min_shipment_kg=Decimal(20),
                            unit_kg=Decimal(1), status=AllocationStatus.confirmed, confirmed_by=staff,
                            confirmed_at=start + dt.timedelta(days=16))
    allocation.shares.append(AllocationShare(
        cooperative_id=lot.cooperative_id, weight=Decimal(1), eligible_kg=Decimal(300), cap_kg=Decimal(300),
        target_kg=Decimal(300), engine_kg=Decimal(300), kg=Decimal(300),
    ))
    allocation.audit.append(AllocationAudit(actor=staff, action="confirmed", at=start + dt.timedelta(days=16),
                                            after={str(lot.cooperative_id): "300"}))
    db.session.add(allocation)
    deposit = int(order.total_minor * 30 / 100)
    db.session.add(Payment(order=order, kind=PaymentKind.deposit, status=PaymentStatus.succeeded,
                           amount_minor=deposit, currency="EUR", provider_ref="pi_demo_ORD_DEMO_2025_001"))
    # Closed: shipped with its documents, invoiced, and the balance received by bank transfer.
    order.carrier, order.tracking_number = "DHL Global Forwarding", "AWB 176-20251030"
    order.shipped_on, order.expected_on = dt.date(2025, 11, 3), dt.date(2025, 11, 7)
    db.session.add_all([
        Invoice(number="INV-2025-0001", year=2025, sequence=1, order=order, kind=InvoiceKind.deposit,
                amount_minor=deposit, currency="EUR", issued_at=start + dt.timedelta(days=12)),
        Invoice(number="INV-2025-0002", year=2025, sequence=2, order=order, kind=InvoiceKind.final,
                amount_minor=order.total_minor - deposit, currency="EUR", issued_at=start + dt.timedelta(days=24),
                issued_by=staff),
        Payment(order=order, kind=PaymentKind.balance, status=PaymentStatus.succeeded,
                amount_minor=order.total_minor - deposit, currency="EUR", provider="bank",
                provider_ref="bank:DEMO-SEPA-2025-001"),
    ])
    db.session.flush()


def _demo_multi_lot_request(report: Any, upsert: Any, buyer: Organisation, buyer_user: User | None) -> None:
    """One open quote request on two chosen lots, with the kg wanted from each (idempotent)."""
    lots = [db.session.scalar(select(Lot).filter_by(code=code)) for code in ("USCC-2025-GAL-013", "USCC-2025-ARK-017")]
    if any(lot is None for lot in lots):
        return
    request = upsert(QuoteRequest, report, {"form_id": "demo-quote-request-2"}, {
        "buyer_id": buyer.id, "requested_by_id": buyer_user.id if buyer_user else None,
        "kg": Decimal("500"), "incoterm": Incoterm.DAP, "incoterm_place": "Biella", "currency": "EUR",
        "message": "Demo request: brown and light grey fibre from two cooperatives for a natural-colour capsule.",
    })
    if not request.items:
        request.items = [QuoteRequestLot(lot=lots[0], kg=Decimal("300")),
                         QuoteRequestLot(lot=lots[1], kg=Decimal("200"))]
        db.session.flush()
