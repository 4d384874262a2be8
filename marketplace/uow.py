"""One transaction per request or CLI command: commit once on success, roll back otherwise.

Services only ``flush()``; they never commit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response

from marketplace.extensions import db

F = TypeVar("F", bound=Callable[..., Any])


def _finish_request(response: Response) -> Response:
    if not db.session.registry.has():  # the request never touched the database
        return response
    if response.status_code < 400:
        db.session.commit()
    else:
        db.session.rollback()
    return response


def _teardown(exc: BaseException | None) -> None:
    if exc is not None:
        db.session.rollback()


def init_app(app: Flask) -> None:
    app.after_request(_finish_request)
    app.teardown_request(_teardown)


def transactional(func: F) -> F:
    """Wrap a CLI command: commit when it returns, roll back if it raises."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        return result

    return wrapper  # type: ignore[return-value]
