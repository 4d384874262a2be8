"""Static files' URLs carry a fingerprint of their content (``/static/css/site.css?v=…``).

A browser may then keep a file for a year without asking again (``immutable``): a changed file has a new
URL, so nobody gets a new page with an old stylesheet, and no page view costs a revalidation request per
file. ``url_for('static', …)`` adds the fingerprint by itself (``url_defaults``); a request whose ``v`` is
the file's current fingerprint is answered with the long cache lifetime, any other (an old page's URL)
with Flask's usual revalidation. In production nginx serves ``/static/`` from disk (``deploy/nginx``) for
7 days whatever ``v`` says (it cannot check it, so it promises no more): a changed file still has a new URL.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

ONE_YEAR = 365 * 24 * 3600
_seen: dict[str, tuple[int, int, str]] = {}  # path -> (mtime_ns, size, fingerprint)


def fingerprint(filename: str) -> str | None:
    """The first 12 hex digits of the file's SHA-256, read again only when the file changes; None when
    the static folder holds no such file."""
    folder = current_app.static_folder
    path = safe_join(folder, filename) if folder else None
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except (OSError, ValueError):  # no such file; a name with a NUL byte (its request is refused with a 400)
        return None
    seen = _seen.get(path)
    if seen is not None and seen[:2] == (stat.st_mtime_ns, stat.st_size):
        return seen[2]
    try:
        with open(path, "rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()[:12]
    except OSError:  # a folder, or gone meanwhile
        return None
    _seen[path] = (stat.st_mtime_ns, stat.st_size, digest)
    return digest


def _add_fingerprint(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint == "static" and "v" not in values and isinstance(values.get("filename"), str):
        found = fingerprint(values["filename"])
        if found is not None:
            values["v"] = found


def _cache_fingerprinted(response: Response) -> Response:
    if request.endpoint == "static" and response.status_code in (200, 304) and request.view_args:
        version = request.args.get("v")
        if version and version == fingerprint(str(request.view_args.get("filename", ""))):
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
            response.cache_control.no_cache = None
    return response


def init_app(app: Flask) -> None:
    app.url_defaults(_add_fingerprint)
    app.after_request(_cache_fingerprinted)
