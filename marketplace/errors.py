"""Error pages in the site's own layout; JSON for the API. Never a traceback."""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError, ServiceUnavailable

from marketplace.storage import StorageUnavailable

MESSAGES = {
    400: _l("The request could not be understood. Please check what you entered and try again."),
    401: _l("Please sign in to continue."),
    403: _l("You do not have permission to see this page."),
    404: _l("We could not find that page. It may have moved, or the address may be mistyped."),
    405: _l("That action is not allowed here."),
    413: _l("The upload is too large."),
    429: _l("Too many attempts. Please wait a minute and try again."),
    500: _l("Something went wrong on our side. The problem has been logged; please try again later."),
    503: _l("This is unavailable for a moment. Please try again in a few minutes."),
}
# Redis (REDIS_URL) holds the sign-in and account limits shared by every web process. When it is down
# these actions fail closed: refused with a clear 503, never let through uncounted.
STORAGE_DOWN = _l("Files cannot be stored for a moment. Nothing was saved; please try again in a few minutes.")
SHARED_STATE_DOWN = _l("Signing in is unavailable for a moment because a part of the site is down. "
                       "Nothing was changed; please try again in a few minutes.")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def render_error(error: HTTPException):  # type: ignore[no-untyped-def]
    code = error.code or 500
    if isinstance(error, SecurityError):
        # A Host header outside TRUSTED_HOSTS: no URL can be built for it, so no page layout either.
        return Response(str(MESSAGES[400]), code, mimetype="text/plain")
    message = MESSAGES.get(code, error.description)
    if isinstance(error, CSRFError):
        message = _l("Your form expired or was sent from another site. Please reload the page and try again.")
    elif code in (400, 404, 503) and error.description != type(error).description:
        message = error.description  # a specific message set by the view
    # The exception's own headers (Allow on a 405, Retry-After, WWW-Authenticate), not its body's type.
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    if _wants_json():
        return jsonify(error=str(message), status=code), code, headers
    try:
        return render_template("errors/error.html", code=code, message=message), code, headers
    except Exception as failure:  # the layout itself failed: a bare page of our own, never the framework's
        current_app.logger.error("The error page failed on %s %s", request.method, request.path, exc_info=failure)
        try:
            text = str(message)
        except Exception:  # the translations themselves failed
            text = f"Error {code}"
        body = (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{code}</title>'
                f"<h1>{code}</h1><p>{escape(text)}</p><p><a href=\"/\">/</a></p></html>")
        return body, code, [*headers, ("Content-Type", "text/html; charset=utf-8")]


def render_unexpected(error: Exception):  # type: ignore[no-untyped-def]
    if isinstance(error, HTTPException):
        return render_error(error)
    if isinstance(error, StorageUnavailable):
        current_app.logger.error("Object storage unreachable on %s %s: %s", request.method, request.path, error)
        return render_error(ServiceUnavailable(description=str(STORAGE_DOWN)))
    if isinstance(error, RedisError):
        current_app.logger.error("Shared state store (REDIS_URL) unreachable on %s %s: %s", request.method,
                                 request.path, error)
        return render_error(ServiceUnavailable(description=str(SHARED_STATE_DOWN)))
    current_app.logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=error)
    return render_error(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(Exception, render_unexpected)
