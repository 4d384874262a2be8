"""The application class's two shortcuts change nothing a request sees."""

from __future__ import annotations

import gc
import operator

import pytest
from flask import Flask, after_this_request, session

from marketplace.access import public


def test_plain_hooks_are_answered_from_memory_and_a_one_request_callback_is_not_kept(app: Flask) -> None:
    seen: list[str] = []

    @public
    def remembers():  # type: ignore[no-untyped-def]
        @after_this_request
        def once(response):  # type: ignore[no-untyped-def]
            seen.append("once")
            return response

        return "ok"

    app.add_url_rule("/_remembers", "remembers", remembers)
    client = app.test_client()
    for _ in range(2):
        assert client.get("/_remembers").status_code == 200
    assert seen == ["once", "once"]  # each request's callback ran
    assert remembers in app._plain  # type: ignore[attr-defined]
    assert all(hook in app._plain for hook in app.before_request_funcs[None])  # type: ignore[attr-defined]
    gc.collect()
    assert not [f for f in app._plain if getattr(f, "__name__", "") == "once"]  # type: ignore[attr-defined]
    no_weak_reference = operator.itemgetter(1)
    for _ in range(2):  # asked every time, still plain, never a TypeError (that would be a 500 on every request)
        assert app.ensure_sync(no_weak_reference) is no_weak_reference


def test_a_coroutine_function_is_still_refused_or_wrapped_as_flask_does(app: Flask) -> None:
    async def coroutine() -> str:
        return "ok"

    try:
        import asgiref  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(coroutine)
    else:
        assert app.ensure_sync(coroutine) is not coroutine
    assert coroutine not in app._plain  # type: ignore[attr-defined]


def test_the_kept_session_serializer_follows_the_secret_keys(app: Flask) -> None:
    @public
    def put():  # type: ignore[no-untyped-def]
        session["mark"] = "kept"
        return "ok"

    @public
    def read():  # type: ignore[no-untyped-def]
        return session.get("mark", "none")

    app.add_url_rule("/_put", "put", put)
    app.add_url_rule("/_read", "read", read)
    client = app.test_client()
    client.get("/_put")
    assert client.get("/_read").text == "kept"
    old = app.secret_key
    app.secret_key = "another secret key, rotated in"
    assert client.get("/_read").text == "none"  # signed with the old key: not accepted any more
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    try:
        assert client.get("/_read").text == "kept"  # the old key as a fallback: accepted again
    finally:
        app.config["SECRET_KEY_FALLBACKS"] = []
        app.secret_key = old
