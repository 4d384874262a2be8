"""Absolute URLs, always from ``PUBLIC_BASE_URL``: never from the request's Host header.

Links in credentials, the OpenAPI ``servers`` entry, Stripe's return URL and the webhook address
given to localstripe all go through here, so a forged Host cannot re-point any of them. (Flask's
``TRUSTED_HOSTS``, set from the same setting, also answers a forged Host with 400.)
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def public_base_url() -> str:
    """The site's public origin, without a trailing slash."""
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


def absolute_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` on the public origin."""
    return public_base_url() + url_for(endpoint, **values)
