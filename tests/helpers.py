"""Helpers that act as a browser would (read the CSRF token from a page, sign in), and two that watch the database:
the SQL sent, and every table's row count."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event
from sqlalchemy import text as sql
from werkzeug.test import TestResponse

from marketplace.extensions import db
from tests.factories import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/signin") -> str:
    html = client.get(path).get_data(as_text=True)
    match = _TOKEN.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    token = csrf_token(client)
    return client.post("/signin", data={"email": email, "password": password, "csrf_token": token})


@contextlib.contextmanager
def statements_run(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements ``engine`` sends inside the block, each with its parameters, in order."""
    ran: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        ran.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield ran
    finally:
        event.remove(engine, "before_cursor_execute", record)


def first_lines(ran: list[tuple[str, Any]]) -> list[str]:
    """Each statement of ``ran`` (``statements_run``) by its first line, at most 120 characters: short enough to read
    in an assertion's message."""
    return [statement.split("\n", 1)[0][:120] for statement, _ in ran]


def count_rows_sql(tables: list[str]) -> str:
    """One statement that counts the rows of each of ``tables``, in their order."""
    return "SELECT " + ", ".join(f'(SELECT count(*) FROM "{table}")' for table in tables)


def row_counts(app: Flask) -> dict[str, int]:
    """Every table's row count, read in one statement."""
    with app.app_context():
        tables = sorted(db.metadata.tables)
        return dict(zip(tables, db.session.execute(sql(count_rows_sql(tables))).one(), strict=True))


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def accept_in_parallel(app: Flask, email: str, request_ids: list[int],
                       ) -> tuple[list[int], list[str], list[BaseException]]:
    """``email`` (signed in once) accepts each of ``request_ids`` from its own thread, all released
    together; returns the statuses, the page texts and any exception (never swallowed)."""
    first = app.test_client()
    assert sign_in(first, email).status_code == 302
    token = csrf_token(first, "/quotes")
    cookie = first.get_cookie("session")
    assert cookie is not None
    statuses: list[int] = []
    bodies: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(request_ids))
    lock = threading.Lock()

    def accept(quote_id: int) -> None:
        client = app.test_client()
        client.set_cookie("session", cookie.value)
        try:
            barrier.wait(timeout=60)
            response = client.post(f"/quotes/{quote_id}/accept", data={"csrf_token": token, "confirm": "y"})
            with lock:
                statuses.append(response.status_code)
                bodies.append(text(response))
        except BaseException as error:  # reported to the caller, never swallowed
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=accept, args=(rid,)) for rid in request_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    return statuses, bodies, errors


# A shipping address that meets Germany's rules (a five-digit postcode), for checkout forms.
ADDRESS = {"name": "Erika Mustermann", "street": "Hauptstraße 5", "city": "Berlin", "postcode": "10115",
           "area": "", "country": "DE"}


def page_width(page) -> int:  # type: ignore[no-untyped-def]
    """The page's scroll width once it has loaded. A click or a form's submit returns when the new page is
    committed, maybe before its stylesheet applies, and an unstyled page is wider: measure the styled one."""
    page.wait_for_load_state()
    return int(page.evaluate("document.documentElement.scrollWidth"))
