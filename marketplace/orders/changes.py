"""Changing and confirming an allocation: staff adjust the shares (audited), or propose a change the
buyer accepts or rejects; staff confirm once the deposit is paid."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace import events
from marketplace.accounts.models import User
from marketplace.db import today, utcnow
from marketplace.extensions import db
from marketplace.orders import allocation as engine
from marketplace.orders import rules
from marketplace.orders.common import (
    OrderError,
    active_reservations,
    matching_lots,
    order_kg,
    order_price,
    pin_kind,
    quoted_at,
    request_lot_ids,
    spec_of,
)
from marketplace.orders.fulfilment import record_event
from marketplace.orders.locking import lock_lots, lock_order
from marketplace.orders.models import (
    AllocationAudit,
    AllocationStatus,
    Order,
    OrderStage,
    QuoteRequest,
    ReservationStatus,
)
from marketplace.orders.reserving import give_back, reserve_shares, shares_snapshot


def adjust_allocation(order: Order, *, staff: User, kg_by_coop: dict[int, Decimal], reason: str) -> None:
    """Change the shares by hand, with a reason; the reservations follow. Audited."""
    allocation = order.allocation
    if allocation is None or allocation.status is AllocationStatus.confirmed:
        raise OrderError(_l("Only a proposed allocation can be adjusted."))
    if not reason.strip():
        raise OrderError(_l("Give a reason for the adjustment."), 422)
    total = order_kg(order)
    if any(kg < 0 for kg in kg_by_coop.values()):
        raise OrderError(_l("A share cannot be negative."), 422)
    if sum(kg_by_coop.values(), Decimal(0)) != total:
        raise OrderError(_l("The shares must add up to the order, %(kg)s kg.", kg=f"{total.normalize():f}"), 422)
    request = db.session.scalar(select(QuoteRequest).where(QuoteRequest.order_id == order.id))
    if request is not None and request.kg_per_lot:
        raise OrderError(_l("The buyer chose the kg of each lot: this allocation cannot be changed."), 409)
    if request is not None:
        pin_kind(request, [], order)  # an older request: the kind of the lots the order holds
    spec = spec_of(request) if request else engine.Spec()
    price = order_price(order, request)
    day = today()
    held: dict[int, Decimal] = defaultdict(Decimal)
    for r in active_reservations(order):
        held[r.lot_id] += r.kg
    when = quoted_at(order, request)
    candidate_ids = {lot.id for lot in matching_lots(spec, request_lot_ids(request), day=day, price_minor=price,
                                                     currency=order.currency, extra_kg=held, quoted_at=when)}
    candidate_ids |= set(held)
    lots = lock_lots(candidate_ids)
    before = shares_snapshot(allocation)
    expires = min((r.expires_at for r in active_reservations(order) if r.expires_at), default=None)
    now = utcnow()
    for reservation in active_reservations(order):
        give_back(reservation, ReservationStatus.released, now)
    shares = {s.cooperative_id: s for s in allocation.shares}
    for cid, kg in kg_by_coop.items():
        if cid not in shares:
            raise OrderError(_l("That cooperative has no matching stock for this order."), 422)
        free = sum((lot.available_kg for lot in lots if lot.cooperative_id == cid
                    and rules.sellable(lot, spec, day=day, price_minor=price, currency=order.currency,
                                       quoted_at=when)), Decimal(0))
        if kg > free:
            raise OrderError(_l("%(name)s has only %(kg)s kg of matching stock free.",
                                name=shares[cid].cooperative.name, kg=f"{free.normalize():f}"), 422)
        shares[cid].kg = kg
    reserve_shares(order, lots, {c: k for c, k in kg_by_coop.items() if k > 0}, request, expires, day=day,
                   for_staff=True)
    allocation.audit.append(AllocationAudit(actor=staff, action="adjusted", reason=reason.strip(),
                                            before=before, after=shares_snapshot(allocation)))
    db.session.flush()


CHANGE_PROPOSED, CHANGE_ACCEPTED, CHANGE_REJECTED = "change_proposed", "change_accepted", "change_rejected"


def pending_change(order: Order) -> AllocationAudit | None:
    """The change staff proposed that the buyer has not answered yet, or None."""
    allocation = order.allocation
    if allocation is None:
        return None
    pending = None
    for entry in allocation.audit:
        if entry.action == CHANGE_PROPOSED:
            pending = entry
        elif entry.action in (CHANGE_ACCEPTED, CHANGE_REJECTED):
            pending = None
    return pending


def propose_change(order: Order, *, staff: User, kg_by_coop: dict[int, Decimal], reason: str) -> AllocationAudit:
    """Staff want other shares (other lots) for an accepted order: the buyer consents first.

    The change is tried now and undone (every rule is checked: a change that could not be made is refused
    at once); it is made only when the buyer accepts it (:func:`answer_change`).
    """
    if pending_change(order) is not None:
        raise OrderError(_l("A change already waits for the buyer's answer."))
    allocation = order.allocation
    before = shares_snapshot(allocation) if allocation is not None else {}
    savepoint = db.session.begin_nested()
    try:
        adjust_allocation(order, staff=staff, kg_by_coop=kg_by_coop, reason=reason)
    finally:
        savepoint.rollback()
    assert order.allocation is not None
    entry = AllocationAudit(actor=staff, action=CHANGE_PROPOSED, reason=reason.strip(), before=before,
                            after={str(cid): f"{kg.normalize():f}" for cid, kg in kg_by_coop.items() if kg > 0})
    order.allocation.audit.append(entry)
    db.session.flush()
    return entry


def answer_change(order: Order, *, buyer: User, accept: bool) -> None:
    """The buyer accepts (the change is made, under every rule) or rejects (nothing changes) a proposal."""
    proposal = pending_change(order)
    if proposal is None:
        raise OrderError(_l("No change waits for your answer."))
    allocation = order.allocation
    assert allocation is not None
    if accept:
        kg_by_coop = {s.cooperative_id: Decimal(proposal.after.get(str(s.cooperative_id), "0"))
                      for s in allocation.shares}
        adjust_allocation(order, staff=buyer, kg_by_coop=kg_by_coop, reason=proposal.reason)
    allocation.audit.append(AllocationAudit(actor=buyer, action=CHANGE_ACCEPTED if accept else CHANGE_REJECTED,
                                            reason=proposal.reason, before=proposal.before, after=proposal.after))
    db.session.flush()


def confirm_allocation(order: Order, *, staff: User) -> None:
    allocation = lock_order(order).allocation  # two staff confirming at once: the second waits, then is refused
    if allocation is None or allocation.status is AllocationStatus.confirmed:
        raise OrderError(_l("This allocation is already confirmed."))
    if pending_change(order) is not None:
        raise OrderError(_l("A proposed change waits for the buyer's answer: confirm once the buyer has answered."))
    no_deposit = order.deposit_pct == 0 and order.stage is OrderStage.accepted
    if order.stage is not OrderStage.deposit_paid and not no_deposit:
        raise OrderError(_l("The allocation can be confirmed once the deposit is paid."))
    day = today()
    prices = {line.lot_id: line.price_minor for line in order.lines}
    request = db.session.scalar(select(QuoteRequest).where(QuoteRequest.order_id == order.id))
    when = quoted_at(order, request)  # the floor the buyer was quoted under binds, not a later revision
    for reservation in active_reservations(order):
        lot = reservation.lot
        problem = (rules.certificate_problem(lot, day)
                   or rules.quantity_problem(lot, reservation.kg, extra_kg=reservation.kg)
                   or rules.price_problem(lot, prices.get(lot.id, 0), order.currency, when))
        if problem is not None:
            raise OrderError(_l("%(problem)s The allocation was not confirmed; adjust it first.", problem=problem))
    allocation.status = AllocationStatus.confirmed
    allocation.confirmed_by = staff
    allocation.confirmed_at = utcnow()
    for reservation in active_reservations(order):
        reservation.status = ReservationStatus.firm
        reservation.expires_at = None
    allocation.audit.append(AllocationAudit(actor=staff, action="confirmed", before=shares_snapshot(allocation),
                                            after=shares_snapshot(allocation)))
    record_event(order, OrderStage.allocated, staff)
    events.allocation_confirmed.send(allocation, actor=staff)  # funds: premium becomes due to each cooperative
