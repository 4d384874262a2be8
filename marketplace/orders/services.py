"""The orders domain's services, by use case; callers import them from here.

- ``common.py``: the errors and limits, the specification a request asks for, the lots that may be sold on
  it, and an order's live reservations;
- ``samples.py``: a buyer asks for a sample, staff send it;
- ``quotes.py``: quote requests (on a specification or on chosen lots), answers, declines, counter-offers;
- ``reserving.py``: accepting a quote: the order, its allocation among the cooperatives and its reservations;
  held reservations that ran out are given back;
- ``changes.py``: staff adjust or propose a change to an allocation (the buyer answers), then confirm it;
- ``fulfilment.py``: the stages after acceptance, shipping details, tracking;
- ``reporting.py``: who supplies an order, the season against the fair shares, why each lot took part or not,
  the staff order list.

Services take explicit arguments, flush and never commit. Stock changes happen only under the lot row locks
of :mod:`marketplace.orders.locking`.
"""

from __future__ import annotations

from marketplace.orders.changes import (
    CHANGE_ACCEPTED,
    CHANGE_PROPOSED,
    CHANGE_REJECTED,
    adjust_allocation,
    answer_change,
    confirm_allocation,
    pending_change,
    propose_change,
)
from marketplace.orders.common import (
    CHOSEN_BY_BUYER,
    CURRENCIES,
    DEFAULT_ALPHA,
    DEFAULT_HOLD,
    DEFAULT_MIN_SHIPMENT_KG,
    KG,
    MAX_ORDER_KG,
    MAX_QUOTE_LOTS,
    OrderError,
    QuoteInputError,
    active_reservations,
    check_quantity,
    lock_quote_request,
    matching_lots,
    order_kg,
    pin_kind,
    quoted_at,
    request_lot_ids,
    spec_of,
)
from marketplace.orders.fulfilment import (
    LATER_STAGES,
    SHIPPING_STAGES,
    advance,
    buyer_order,
    mark_deposit_paid,
    record_event,
    set_shipping,
    tracking,
)
from marketplace.orders.quotes import (
    MAX_PRICE_MINOR,
    LotChoice,
    QuoteInput,
    QuoteSummary,
    answer_quote,
    buyer_quote_request,
    buyer_quote_requests,
    counter_offer,
    decline_by_buyer,
    decline_quote,
    open_quote_requests,
    quote_summary,
    request_quote,
)
from marketplace.orders.reporting import (
    STAFF_ORDERS_PER_PAGE,
    LotWhy,
    SeasonRow,
    ShareWhy,
    Supply,
    explain_allocation,
    fair_weights,
    season_view,
    seasons,
    staff_orders,
    supply,
)
from marketplace.orders.reserving import (
    accept_quote,
    release_expired,
)
from marketplace.orders.samples import (
    buyer_samples,
    mark_sample_sent,
    open_samples,
    request_sample,
)

__all__ = [
    "CHANGE_ACCEPTED",
    "CHANGE_PROPOSED",
    "CHANGE_REJECTED",
    "CHOSEN_BY_BUYER",
    "CURRENCIES",
    "DEFAULT_ALPHA",
    "DEFAULT_HOLD",
    "DEFAULT_MIN_SHIPMENT_KG",
    "KG",
    "LATER_STAGES",
    "MAX_ORDER_KG",
    "MAX_PRICE_MINOR",
    "MAX_QUOTE_LOTS",
    "SHIPPING_STAGES",
    "STAFF_ORDERS_PER_PAGE",
    "LotChoice",
    "LotWhy",
    "OrderError",
    "QuoteInput",
    "QuoteInputError",
    "QuoteSummary",
    "SeasonRow",
    "ShareWhy",
    "Supply",
    "accept_quote",
    "active_reservations",
    "adjust_allocation",
    "advance",
    "answer_change",
    "answer_quote",
    "buyer_order",
    "buyer_quote_request",
    "buyer_quote_requests",
    "buyer_samples",
    "check_quantity",
    "confirm_allocation",
    "counter_offer",
    "decline_by_buyer",
    "decline_quote",
    "explain_allocation",
    "fair_weights",
    "lock_quote_request",
    "mark_deposit_paid",
    "mark_sample_sent",
    "matching_lots",
    "open_quote_requests",
    "open_samples",
    "order_kg",
    "pending_change",
    "pin_kind",
    "propose_change",
    "quote_summary",
    "quoted_at",
    "record_event",
    "release_expired",
    "request_lot_ids",
    "request_quote",
    "request_sample",
    "season_view",
    "seasons",
    "set_shipping",
    "spec_of",
    "staff_orders",
    "supply",
    "tracking",
]
