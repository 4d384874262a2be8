"""The application class: Flask, minus two pieces of work it repeats on every request.

- ``ensure_sync``: Flask asks, for each hook and view of every request (about twenty), whether the
  function is a coroutine function. The answer for a plain function is remembered (weakly: a function
  made for one request, such as an ``after_this_request`` callback, is not kept alive by it).
- The session cookie's signing serializer: Flask builds a new one for every request, even one without
  a session cookie. ``KeptSerializerSessions`` keeps it while the secret keys stay the same.

And one piece of work it should not do: a response promised to every reader for good (``public`` and
``immutable``: a fingerprinted static file, a published picture) gets no session cookie and no ``Vary: Cookie``.
Flask-Login reads the session after every request, so Flask marked every response as varying by cookie, and a
browser fetched the stylesheet, the script and the pictures again whenever its cookies changed (a language switch,
a refreshed session).

A few percent of the CPU of a request each (issue 25: the API search through Meilisearch).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask, Response
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class KeptSerializerSessions(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._kept: tuple[tuple[object, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        kept = self._kept
        if kept is not None and kept[0] == keys:
            return kept[1]
        serializer = super().get_signing_serializer(app)
        self._kept = (keys, serializer)
        return serializer

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session.modified and same_for_everyone(response):
            return  # nothing of the session is in it, and the next page renews the cookie
        super().save_session(app, session, response)


def same_for_everyone(response: Response) -> bool:
    """Whether the response is promised to every reader for good (``Cache-Control: public, immutable``). Asked of
    every response: the header is parsed only when it names ``immutable`` (most responses do not)."""
    value = response.headers.get("Cache-Control")
    if not value or "immutable" not in value:
        return False
    control = response.cache_control
    return bool(control.public and control.immutable)


class MarketplaceFlask(Flask):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain: weakref.WeakKeyDictionary[Callable[..., Any], bool] = weakref.WeakKeyDictionary()
        self.session_interface = KeptSerializerSessions()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if func in self._plain:  # False for a callable that takes no weak reference
            return func
        synced = super().ensure_sync(func)
        if synced is func:
            with contextlib.suppress(TypeError):  # no weak reference possible: asked every time
                self._plain[func] = True
        return synced
