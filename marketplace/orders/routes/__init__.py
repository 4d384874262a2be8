"""Buyers: samples, quote requests, acceptance, order tracking and the deposit (blueprint ``orders``).

``common.py`` holds the blueprint, its hooks and the helpers its views share; the views are in ``quotes.py``
(samples and quotes) and ``order_pages.py`` (an order's page, its documents and card payments).
"""

from __future__ import annotations

from marketplace.orders.routes import order_pages, quotes
from marketplace.orders.routes.common import bp

__all__ = ["bp", "order_pages", "quotes"]
