"""Security headers on every response, through flask-talisman, plus ``no-store`` on signed-in pages.

The Content-Security-Policy allows no inline script, no eval and no inline style anywhere: every
script and stylesheet is a file under ``static/``. Stripe.js (script, frames, API calls) is allowed
only on the two pages that load it, the deposit and purchase pay pages, through ``stripe_js``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_login import current_user
from flask_talisman import Talisman
from werkzeug.datastructures import Headers

from marketplace.i18n import may_be_signed_in

SELF = "'self'"
NONE = "'none'"

CSP: dict[str, str] = {
    "default-src": SELF,
    "script-src": SELF,
    "style-src": SELF,
    "img-src": SELF,
    "font-src": SELF,
    "connect-src": SELF,
    "frame-src": NONE,
    "object-src": NONE,
    "base-uri": NONE,
    "form-action": SELF,
    "frame-ancestors": NONE,
}

# What Stripe's Payment Element needs (Stripe's own CSP guidance): its script, its frames and its API.
STRIPE_JS = "https://js.stripe.com https://*.js.stripe.com"
STRIPE_CSP: dict[str, str] = {
    **CSP,
    "script-src": f"{SELF} {STRIPE_JS}",
    "frame-src": f"{STRIPE_JS} https://hooks.stripe.com",
    "connect-src": f"{SELF} https://api.stripe.com",
    "img-src": f"{SELF} https://*.stripe.com",
}

# Powerful browser features the site never uses are switched off for it and anything it embeds.
PERMISSIONS: dict[str, str] = dict.fromkeys((
    "accelerometer", "autoplay", "browsing-topics", "camera", "display-capture", "geolocation", "gyroscope",
    "magnetometer", "microphone", "midi", "payment", "usb", "xr-spatial-tracking",
), "()")
STRIPE_PERMISSIONS = {**PERMISSIONS, "payment": '(self "https://js.stripe.com")'}


class _Talisman(Talisman):
    """flask-talisman with each endpoint's options and fixed header values worked out once per process.

    Talisman reads a view's options four times per request and joins the policies into header values
    on every response; they depend only on the endpoint (the options a view was decorated with) unless a
    CSP nonce is in use (none is), so they are kept per endpoint. HSTS, which depends on the request
    (https or not), is still decided per request, and the headers are set in Talisman's own order.
    It overrides two of Talisman's private methods (pinned at 1.1.0): ``test_security_headers`` checks
    that every endpoint gets exactly the headers stock Talisman would give it.
    """

    def init_app(self, app: Flask, **kwargs: Any) -> None:
        self._options: dict[str | None, dict[str, Any]] = {}
        self._fixed: dict[str | None, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
        super().init_app(app, **kwargs)

    def _get_local_options(self) -> dict[str, Any]:
        endpoint = request.endpoint
        options = self._options.get(endpoint)
        if options is None:
            options = self._options[endpoint] = super()._get_local_options()
        return options

    def _set_response_headers(self, response: Response) -> Response:
        options = self._get_local_options()
        if options["content_security_policy_nonce_in"]:  # a nonce changes with every request
            return super()._set_response_headers(response)  # type: ignore[no-any-return]
        fixed = self._fixed.get(request.endpoint)
        if fixed is None:
            before = Headers()
            self._set_feature_policy_headers(before, options)
            self._set_permissions_policy_headers(before, options)
            self._set_document_policy_headers(before, options)
            self._set_frame_options_headers(before, options)
            self._set_content_security_policy_headers(before, options)
            after = Headers()
            self._set_referrer_policy_headers(after)
            fixed = self._fixed[request.endpoint] = (list(before.items()), list(after.items()))
        headers = response.headers
        for name, value in fixed[0]:
            headers[name] = value
        self._set_hsts_headers(headers)
        for name, value in fixed[1]:
            headers[name] = value
        return response


talisman = _Talisman()


def stripe_js(view: Any) -> Any:
    """Decorate a view (right under its ``route``) whose page loads Stripe.js."""
    return talisman(content_security_policy=STRIPE_CSP, permissions_policy=STRIPE_PERMISSIONS)(view)


def _no_store_when_signed_in(response: Response) -> Response:
    """A signed-in page is personal: no browser or proxy cache may keep it (static files excepted)."""
    if request.endpoint != "static" and may_be_signed_in() and current_user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
    return response


def init_app(app: Flask) -> None:
    production = app.config["ENV"] == "production"
    talisman.init_app(
        app,
        force_https=False,  # TLS is the front server's job; browsers learn https-only from HSTS
        strict_transport_security=production,  # sent on https requests only
        strict_transport_security_include_subdomains=False,
        frame_options="DENY",
        content_security_policy=CSP,
        referrer_policy="strict-origin-when-cross-origin",
        permissions_policy=PERMISSIONS,
        # The cookie settings stay those of the profile (config.py): Secure in production only.
        session_cookie_secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
        session_cookie_http_only=True,
        x_content_type_options=True,
        x_xss_protection=False,  # obsolete; the CSP does this job
    )
    app.after_request(_no_store_when_signed_in)
