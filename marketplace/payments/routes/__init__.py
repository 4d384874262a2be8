"""The payments blueprint (``payments``): the Stripe webhook, the consumer shop and circular services.

``common.py`` holds the blueprint and what its views share; the views are in ``buying.py`` (webhook, cart,
checkout, payment), ``parcels.py`` (the consumer's order page, the MSME's inbox, the Union's list, whole-parcel
refunds), ``refunds.py`` (some of a parcel's lines, a failed refund tried again), ``circular.py`` (repair,
take-back, resale) and ``shipping.py`` (the MSME's zones and rates).
"""

from __future__ import annotations

from marketplace.payments.gateway import gateway
from marketplace.payments.routes import buying, circular, parcels, refunds, shipping
from marketplace.payments.routes.buying import card_entry
from marketplace.payments.routes.common import bp

__all__ = ["bp", "buying", "card_entry", "circular", "gateway", "parcels", "refunds", "shipping"]
