"""The consumer shop: cart lines (product and size), stock, shipping addresses, zones and shipments.

The rules live here once and every entry point (cart, checkout, webhook, the MSME's inbox) calls them:
- what can be bought is a product's current published version (``for_sale``), in one of its sizes when it has any;
- stock is taken at checkout, when the PaymentIntent is made, by one conditional ``UPDATE`` per size
  (``stock >= quantity``): two buyers of the last item can never both have it, on SQLite or PostgreSQL;
  it is given back when the payment is cancelled or the order is cancelled and refunded;
- an address is checked against its country's rules (Google's i18n address data, shipped offline);
- each MSME in the cart ships its own part at the rate of its zone for the destination;
- a paid order is refunded parcel by parcel (``refund_parcel``: cancelled before it ships, or returned) or line by
  line (``refund_lines``: one of two sweaters came back), and a refund Stripe reported failed is tried again
  (``retry_refund``); each by ``plan_refund``, the one rule: a unit is refunded once, never more than was paid for
  it nor than the payment has left.

By concern: ``cart.py``, ``addresses.py``, ``shipping.py``, ``checkout.py`` (and stock), ``orders.py`` (the
consumer's order page, the MSME's inbox, sales), ``refunds.py``. This module is their one import point.
"""

from __future__ import annotations

from marketplace.payments.shop.addresses import EU, Address, AddressError, check_address, duties_note
from marketplace.payments.shop.cart import (
    MAX_CART_LINES,
    MAX_CART_QUANTITY,
    CartLine,
    add_to_cart,
    cart_lines,
    for_sale,
    remove_from_cart,
    update_cart,
)
from marketplace.payments.shop.checkout import (
    STALE_AFTER,
    Checkout,
    checkout,
    give_back_stock,
    mark_paid,
    new_reference,
    payment_cancelled,
    release_stale,
    take_stock,
)
from marketplace.payments.shop.orders import (
    INBOX_CSV_HEADER,
    SHIPMENT_FLOW,
    ConsumerSales,
    cancellable,
    consumer_sales,
    inbox,
    inbox_csv_rows,
    move_shipment,
    order_by_token,
    order_token,
    purchase_payment,
    shipment_of,
    shipped_any,
)
from marketplace.payments.shop.refunds import (
    LINE_REFUNDS_FROM,
    PARCEL_REFUNDS,
    RefundPlan,
    item_name,
    parcel_minor,
    parse_quantities,
    plan_refund,
    refund_lines,
    refund_of,
    refund_parcel,
    refundable_minor,
    refunded_minor,
    refunded_units,
    refunds_of,
    retried,
    retry_refund,
)
from marketplace.payments.shop.shipping import ShipmentQuote, save_zone, shipments_for, zone_for, zones_of

__all__ = [
    "EU",
    "INBOX_CSV_HEADER",
    "LINE_REFUNDS_FROM",
    "MAX_CART_LINES",
    "MAX_CART_QUANTITY",
    "PARCEL_REFUNDS",
    "SHIPMENT_FLOW",
    "STALE_AFTER",
    "Address",
    "AddressError",
    "CartLine",
    "Checkout",
    "ConsumerSales",
    "RefundPlan",
    "ShipmentQuote",
    "add_to_cart",
    "cancellable",
    "cart_lines",
    "check_address",
    "checkout",
    "consumer_sales",
    "duties_note",
    "for_sale",
    "give_back_stock",
    "inbox",
    "inbox_csv_rows",
    "item_name",
    "mark_paid",
    "move_shipment",
    "new_reference",
    "order_by_token",
    "order_token",
    "parcel_minor",
    "parse_quantities",
    "payment_cancelled",
    "plan_refund",
    "purchase_payment",
    "refund_lines",
    "refund_of",
    "refund_parcel",
    "refundable_minor",
    "refunded_minor",
    "refunded_units",
    "refunds_of",
    "release_stale",
    "remove_from_cart",
    "retried",
    "retry_refund",
    "save_zone",
    "shipment_of",
    "shipments_for",
    "shipped_any",
    "take_stock",
    "update_cart",
    "zone_for",
    "zones_of",
]
