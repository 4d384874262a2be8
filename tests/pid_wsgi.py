"""The gunicorn entry point of the multi-process test (tests/jobs/test_jobs_gunicorn.py): the real application,
each response naming the worker process that served it, so the test knows which worker saw what."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from marketplace import create_app

_site = create_app()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("X-Test-Worker-Pid", str(os.getpid()))], exc_info)

    return _site(environ, start)
