"""Each test makes its own app, so each test's SQLAlchemy engine compiled every statement it ran again:
SQLAlchemy files a compiled statement under the engine's dialect object (the engine's cache, and each
mapper's cache of INSERT and UPDATE statements), and a new engine brings a new dialect, so no test found
what an earlier one compiled. Compiling was about a tenth of a test's time on this machine (py-spy, a
sample of order, payment and passport tests).

The test apps' engines share one dialect per database server instead, and one statement cache: a statement
is compiled once per test process. The apps under test are configured alike (``create_app``) and talk to
one server of one version, so a statement compiles to the same SQL for each of them; each engine keeps its
own pool, connections and events (but SQLAlchemy's dialect events, such as ``handle_error``, attach to the
shared dialect: a test that listens to one removes its listener, as each does; and a ``do_connect`` listener
on a test app's engine would never fire, as SQLAlchemy's pool asks the engine's first dialect for it: no test
has one). The first engine's dialect becomes the shared one once its first connection has initialised it
(server version, settings), so the shared dialect is always initialised; a later engine uses it from the start,
and each of its connections checks the server's version. ``tests/core/test_compiled_sql.py`` checks that two
apps share compiled statements and still write to their own databases. Nothing outside the tests is changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.util import LRUCache

# (driver, dialect class, the engine's options) → (a dialect its first connection initialised, the statement cache)
_SHARED: dict[tuple[Any, ...], tuple[Any, Any]] = {}
# Statements the process keeps: every test's, where SQLAlchemy's default (500) is sized for one app's.
CACHE_SIZE = 3000


def share(engine: Engine, options: dict[str, Any]) -> None:
    """Makes ``engine`` (just made with ``options``, not yet connected) use the process's shared dialect and
    statement cache. The first engine of its kind lends its own dialect once its first connection has
    initialised it; a later engine adopts the shared one at once, and each of its connections checks that it
    talks to a server of the same version as the one the shared dialect was initialised on."""
    key = (engine.url.drivername, type(engine.dialect), repr(sorted(options.items())))
    own, shared = engine.dialect, _SHARED.get(key)
    if shared is not None:
        engine.dialect, engine._compiled_cache = shared
        engine.pool._dialect = shared[0]

    def check(_dbapi_connection: Any, _record: Any) -> None:  # each new connection, after first_connect
        if shared is None:
            lent = _SHARED.setdefault(key, (own, LRUCache(CACHE_SIZE)))
            if lent[0] is own:
                engine._compiled_cache = lent[1]
        elif own.server_version_info != shared[0].server_version_info:
            raise RuntimeError(f"{engine.url!r}: server {own.server_version_info}, shared dialect's "
                               f"{shared[0].server_version_info}: statements compiled for one may not suit the other")

    event.listen(engine.pool, "connect", check)
