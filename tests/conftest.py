"""Test fixtures: a fresh, migrated database for every test, on SQLite or PostgreSQL.

The database comes from ``TEST_DATABASE_URL`` (PostgreSQL, started by ``./dev test``)
or, by default, from a SQLite file. Migrations run once per session into a template;
each test gets its own copy (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL), so tests can commit for real and stay isolated.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import itertools
import os
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from hypothesis import settings
from sqlalchemy import create_engine, delete, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from marketplace import create_app
from marketplace.config import normalise_database_url
from marketplace.demo.loader import load_all
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobStatus
from marketplace.search import services as search_services
from tests import compiled_sql, factories, url_builders
from tests.template_cache import SHARED as TEMPLATE_CODE

url_builders.install()  # each distinct URL rule compiled once per test process (tests/url_builders.py)


@event.listens_for(Engine, "connect")
def _sqlite_without_fsync(dbapi_connection: Any, _record: Any) -> None:
    """The test databases are throwaway files: SQLite does not wait for the disk to confirm each commit
    (``synchronous = OFF``), as the test PostgreSQL server runs with ``fsync=off``. This is about surviving
    a power cut only: what other connections and processes read, the locks and the journal are unchanged.
    Waiting on fsync was a sixth of a SQLite test's time on this machine (13 ms a commit under load)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous = OFF")


def _scratch_in_memory(root: Path = Path("/dev/shm"), least_free: int = 4 << 30) -> None:  # noqa: S108 (pytest makes a private pytest-of-USER folder in it)
    """Every test's files (``tmp_path``: its SQLite copy, search index, pictures) go to a memory-backed
    file system when the machine has one with room, unless ``PYTEST_DEBUG_TEMPROOT`` names a place.
    The embedded search engine (tantivy) syncs a dozen files to disk on each commit: ~0.1 s a commit on
    this machine's disk, 0.01 s in memory. Passed tests' folders are removed as they pass (pyproject:
    ``tmp_path_retention_policy = "failed"``), so the run holds little memory; failed ones are kept."""
    if "PYTEST_DEBUG_TEMPROOT" in os.environ:
        return
    try:
        free = os.statvfs(root)
    except OSError:
        return
    if free.f_bavail * free.f_frsize >= least_free and os.access(root, os.W_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(root)


_scratch_in_memory()

# Hypothesis: the test command explores a fixed set of examples (a random find would fail an unrelated
# change's CI run); `HYPOTHESIS_PROFILE=explore` searches afresh and reports a seed to reproduce.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=5000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL")
_counter = itertools.count()


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite'}"


# The tests that take a minute or more (measured on the 2-core machine), longest first, start before the
# browser tests, then the rest in file order: under pytest-xdist the short tests fill in around the long ones,
# instead of a long one starting last and running alone at the end.
LONG_FIRST = ("tests/site/test_fuzz_forms.py::test_hostile_values",
              "tests/site/test_hostile_input.py::test_no_query_parameter",
              "tests/site/test_accessibility.py::test_every_page",
              "tests/passports/test_guard_plants_passports.py::test_each_check",
              "tests/site/test_access.py::test_role_route_matrix")


def _start_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(LONG_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(LONG_FIRST) + (0 if item.get_closest_marker("browser") else 1)


COLLECTED: list[pytest.Item] = []  # every test this process collected, before -k or -m chose among them


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook, which applies -m: the derived marker counts there
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # A test that asks for Chromium (the ``chromium`` fixture, or ``page``, which opens it) is a browser test,
        # marked or not: the start order, the phone-width rule and ``-m "not browser"`` read the marker.
        if "chromium" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)
    items.sort(key=_start_rank)  # a stable sort: file order within each rank
    COLLECTED[:] = items
    if PG_URL:
        for item in items:
            reason = sqlite_pass_only(item)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


# `./dev test` runs the suite twice, on SQLite and then on PostgreSQL. The PostgreSQL pass leaves to the SQLite
# pass what the database cannot change (issue 13: the suite's time):
# - tests that open no database (no `databases` fixture among theirs): the search engines, configuration,
#   headers, the log's hashing, pure rules;
# - the presentation sweeps in Chromium (marker `presentation`: axe on every page, nothing scrolls sideways, the
#   CSP). The server side of the same pages runs on PostgreSQL: every GET route as every role
#   (tests/site/test_access.py), every crawled page as every role (the form fuzzer's crawl,
#   tests/site/test_fuzz_forms.py) and with hostile query strings (tests/site/test_hostile_input.py), and the few
#   pages no crawl reaches in their domain's tests (e.g. /products?recycled=y, the htmx fragments, the label sheet);
# - which messages a page shows translated (marker `translation`: the crawl in Mongolian,
#   tests/site/test_untranslated.py): the catalogues decide it, not the database, and the same pages render on
#   PostgreSQL in the sweeps above;
# - browser journeys at the phone width: the same requests and database work as the journey at 1280 px, which
#   runs on PostgreSQL; what the phone shows is checked in the SQLite pass.
NO_DATABASE = "opens no database: the SQLite pass runs it"
PRESENTATION = "how pages look in Chromium: the SQLite pass runs it (their server side runs here in other tests)"
TRANSLATION = "which messages show translated: the SQLite pass runs it (the same pages render here in other sweeps)"
PHONE_WIDTH = "the journey's database work runs here at 1280 px; the SQLite pass runs it at 390 px"


def sqlite_pass_only(item: pytest.Item) -> str | None:
    """Why the PostgreSQL pass leaves this test to the SQLite pass, or None when both run it."""
    if "databases" not in getattr(item, "fixturenames", ()):
        return NO_DATABASE
    if item.get_closest_marker("presentation"):
        return PRESENTATION
    if item.get_closest_marker("translation"):
        return TRANSLATION
    callspec = getattr(item, "callspec", None)
    if item.get_closest_marker("browser") and callspec is not None and callspec.params.get("width") == 390:
        return PHONE_WIDTH
    return None


# The cyclic garbage collector in a test process. Each test leaves cyclic garbage (its app: ~190 URL rules,
# the Jinja environment, the engine), so full collections come every few tests, and each one walked the
# whole heap: the imported modules and what stays alive across tests (about 0.5-1 million objects, 0.3 s a
# collection), about 15% of a test process's time. What is alive after collection and every few tests is
# frozen (``gc.freeze``: left out of later collections), so a collection walks only what the last few tests
# made. Every RELEASE_EVERY tests everything is unfrozen and collected once, so that what was frozen and has
# since become garbage (an evicted cache entry) is freed and its warnings still fail the run (in the test
# after that collection, as a late collection always reported them); at the session's end everything is
# unfrozen, so pytest's last collection sees what the last tests left.
FREEZE_EVERY = 25
RELEASE_EVERY = 200
_finished = itertools.count(1)


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    finished = next(_finished)
    if finished % RELEASE_EVERY == 0:
        gc.unfreeze()
    if finished % FREEZE_EVERY == 0:
        gc.collect()
        gc.freeze()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.unfreeze()
    drop_templates(session)


@pytest.fixture
def nothing_frozen() -> Iterator[None]:
    """For a test of code that freezes: it starts with nothing frozen, and this process's own freeze (above) is
    given back afterwards, whatever the test left."""
    frozen_before = gc.get_freeze_count()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if frozen_before:
            gc.freeze()


SIGNING_KEY: dict[str, Path] = {}
STRIPE_TEST_KEY = "sk_test_localstripe"
STRIPE_WEBHOOK_SECRET = "whsec_test_marketplace"


# The test SMTP server of this worker (``smtp_server``): every app under test sends to it.
SMTP: dict[str, Any] = {}


def make_app(url: str, tmp_path: Path, **extra: Any) -> Flask:
    """The app in the test profile. One signing key per test session, as one key per deployment."""
    # The test profile ignores the environment: Stripe (localstripe, started by ./dev test or by
    # the ``localstripe`` fixture) is passed in explicitly.
    stripe = {"STRIPE_API_BASE": os.environ["STRIPE_API_BASE"], "STRIPE_SECRET_KEY": STRIPE_TEST_KEY,
              "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET} if os.environ.get("STRIPE_API_BASE") else {}
    key = SIGNING_KEY["path"]
    app = create_app({
        "ENV": "test",
        "SQLALCHEMY_DATABASE_URI": url,
        "IMAGE_STORAGE_PATH": str(tmp_path / "images"),
        "PASSPORT_SIGNING_KEY": str(key),
        "MARKETPLACE_TMP": str(tmp_path),
        "SEARCH_INDEX_PATH": str(tmp_path / "search"),
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": SMTP.get("port", 9),  # 9 (discard) is closed: sending before the server starts fails
        "MAIL_TIMEOUT": 5,
        # No job worker re-issues the status lists during a run (production: every 4 minutes, 10-minute
        # validity): the lists issued with the session's demo template must outlast the whole run, or bundles
        # made late in it read "status unknown". Tests of the validity read this setting.
        "STATUS_LIST_VALIDITY": 6 * 3600,
        **stripe,
        **extra,
    })
    app.jinja_env.bytecode_cache = TEMPLATE_CODE  # each template compiled once a test process: tests/template_cache.py
    with app.app_context():  # each SQL statement compiled once a test process: tests/compiled_sql.py
        for engine in db.engines.values():
            compiled_sql.share(engine, app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    return app


# One run of the suite shares its templates (below) among its test processes (pytest-xdist's workers): the
# first process that needs one builds it while the others wait, instead of each building its own (migrating
# and loading the demo took 20-40 s a process on the busy 2-core machine, three times a pass). The run's
# processes share a folder (the parent of each worker's temp folder) and a name (TEST_RUN_ID, set by the
# controller before it starts the workers, which inherit it).
if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller (or a run without workers): a new name, always
    os.environ["TEST_RUN_ID"] = uuid.uuid4().hex[:12]
RUN_ID = os.environ["TEST_RUN_ID"]


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder this run's test processes share."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Holds ``lock`` (a file) against the run's other processes."""
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session", autouse=True)
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The run's passport signing key (and the organisations' key secret beside it) live in the run's shared
    folder (tests' own folders are removed as they pass): the shared demo template is signed with them. The
    first process makes them, under a lock, so that no process reads a half-written key."""
    from cryptography.fernet import Fernet

    from marketplace.passports.signing import load_or_create_key

    folder = run_folder(tmp_path_factory) / "signing"
    folder.mkdir(exist_ok=True)
    path = folder / "signing-key.jwk"
    with exclusive(folder / "key.lock"):
        load_or_create_key(path, create=True)
        secret = folder / "org_keys.secret"  # where the test profile's apps look for it (beside the key)
        if not secret.exists():
            secret.write_text(Fernet.generate_key().decode())
    SIGNING_KEY["path"] = path
    yield path
    SIGNING_KEY.clear()


# The Meilisearch server of the run (./dev test exports it) is read once, here and by the search test
# modules at import; apps under test never see it through the environment (a production-profile app
# reads the environment, and must not pick up the run's server and master key).
SEARCH_SERVER_VARS = ("MEILISEARCH_URL", "MEILISEARCH_API_KEY", "MEILISEARCH_SEARCH_KEY", "MEILISEARCH_INDEX_PREFIX")
MEILISEARCH_URL = os.environ.get("MEILISEARCH_URL")
MEILISEARCH_API_KEY = os.environ.get("MEILISEARCH_API_KEY")


@pytest.fixture(autouse=True)
def _no_search_server_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SEARCH_SERVER_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def localstripe() -> Iterator[str]:
    """localstripe's URL: the one ./dev test started, or one started here on a free port.

    Under pytest-xdist every worker starts its own: localstripe keeps one webhook endpoint
    (``marketplace``), which each live server under test points at itself, so two workers sharing
    one localstripe would receive each other's payment events.
    """
    if os.environ.get("STRIPE_API_BASE") and not os.environ.get("PYTEST_XDIST_WORKER"):
        yield os.environ["STRIPE_API_BASE"]
        return
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603 (our own script, fixed arguments)
        [sys.executable, str(ROOT / "scripts" / "localstripe_server.py"), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    shared = os.environ.get("STRIPE_API_BASE")
    os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{port}"
    try:
        yield os.environ["STRIPE_API_BASE"]
    finally:
        if shared:
            os.environ["STRIPE_API_BASE"] = shared
        else:
            del os.environ["STRIPE_API_BASE"]
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def smtp_server() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on a free loopback port for this test worker; what it receives is
    in ``mailbox`` (cleared for each test that asks for it)."""
    import socket

    from marketplace.notifications.smtpd import start

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller, inbox = start("127.0.0.1", port)
    SMTP.update(port=port, inbox=inbox)
    try:
        yield inbox
    finally:
        controller.stop()
        SMTP.clear()


@pytest.fixture
def mailbox(smtp_server: Any) -> Iterator[Any]:
    """The messages the test SMTP server received during this test."""
    smtp_server.clear()
    smtp_server.refuse = False
    yield smtp_server
    smtp_server.refuse = False
    smtp_server.clear()


def _migrate(url: str, tmp_path: Path, demo: bool, search_path: Path) -> None:
    app = make_app(url, tmp_path, SEARCH_INDEX_PATH=str(search_path))
    with app.app_context():
        upgrade()
        if demo:
            load_all(Path(app.config["CONTENT_DIR"]))
            db.session.commit()
            search_services.drain_all()  # the search index matches the template database
            jobs.run_pending(limit=100_000)  # and no background job waits (the worker's part, done here)
            # The outbox is empty: the search.sync mop-up the demo's commits enqueued (due 10 s later) has
            # nothing to do; it must not come due in the middle of a test that counts the jobs it runs.
            db.session.execute(delete(Job).where(Job.kind == search_services.SYNC_JOB,
                                                 Job.status == JobStatus.pending))
            db.session.commit()
        db.engine.dispose()


def search_path_of(template: str, tmp: Path) -> Path:
    return tmp / f"search_{Path(template).stem}"


class Databases:
    """Creates migrated templates once a run (shared by its processes) and hands out private copies."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.templates: dict[bool, str] = {}
        self.admin: Engine | None = None
        # PostgreSQL: copying a template (CREATE DATABASE … TEMPLATE, 0.1-0.5 s) and dropping a used copy are
        # done by one background thread while tests run: the next test's copy of each template is made as
        # soon as one is handed out, and a used copy is dropped after the test. Each test still gets a copy
        # nobody used; an error in the thread fails the test that waits for its copy (or the session's end).
        self.ready: dict[bool, Future[str]] = {}
        self.dropping: list[Future[None]] = []
        self.background: ThreadPoolExecutor | None = None
        if PG_URL:
            self.admin = create_engine(normalise_database_url(PG_URL), isolation_level="AUTOCOMMIT")
            self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")

    def template(self, demo: bool) -> str:
        if demo not in self.templates:
            self.templates[demo] = self._shared_template(demo)
        return self.templates[demo]

    def _shared_template(self, demo: bool) -> str:
        """The run's template: built by the first process that asks (the others wait for it), then used by all."""
        name = template_name(demo)
        built = self.tmp / f"{name}.built"
        with exclusive(self.tmp / f"{name}.lock"):  # one lock per template: the demo's is taken before the empty's
            if not built.exists():
                self._create_template(name, demo)
                built.touch()
        return str(self._sqlite_file(name)) if self.admin is None else name

    def _sqlite_file(self, name: str) -> Path:
        return self.tmp / f"{name}.sqlite3"

    def _create_template(self, name: str, demo: bool) -> None:
        """The empty template is migrated; the demo template starts as a copy of it (migrated once). What a process
        that died while building left behind is removed first (PostgreSQL: ``_create_database`` drops it)."""
        empty = self.template(False) if demo else None
        shutil.rmtree(search_path_of(name, self.tmp), ignore_errors=True)
        if self.admin is None:
            path = self._sqlite_file(name)
            for leftover in (path, *(path.with_name(path.name + end) for end in ("-journal", "-wal", "-shm"))):
                leftover.unlink(missing_ok=True)
            if empty is not None:
                shutil.copyfile(empty, path)
            _migrate(f"sqlite:///{path}", self.tmp, demo, search_path_of(name, self.tmp))
            return
        self._create_database(name, template=empty)
        _migrate(self._url(name), self.tmp, demo, search_path_of(name, self.tmp))

    def clone(self, demo: bool, tmp_path: Path) -> str:
        template = self.template(demo)
        index = search_path_of(template, self.tmp)
        if index.exists():  # the embedded search index built with the template
            shutil.copytree(index, tmp_path / "search", dirs_exist_ok=True)
        if self.admin is None:
            target = tmp_path / "test.sqlite3"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"
        assert self.background is not None
        for done in [f for f in self.dropping if f.done()]:
            self.dropping.remove(done)
            done.result()  # a failed drop is reported
        ready = self.ready.pop(demo, None)
        name = ready.result() if ready is not None else self._copy(template)
        self.ready[demo] = self.background.submit(self._copy, template)  # the next test's, made meanwhile
        return self._url(name)

    def _copy(self, template: str) -> str:
        name = f"test_{os.getpid()}_{next(_counter)}"
        self._create_database(name, template=template)
        return name

    def drop(self, url: str) -> None:
        if self.admin is not None:
            assert self.background is not None
            self.dropping.append(self.background.submit(self._drop, make_url(url).database))

    def _drop(self, name: str | None) -> None:
        assert self.admin is not None
        assert name is not None
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def _create_database(self, name: str, template: str | None) -> None:
        assert re.fullmatch(r"[a-z0-9_]+", name)  # names are ours, never user input
        assert self.admin is not None
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            # FILE_COPY (PostgreSQL 15+) copies the template's files: half the time of the default WAL_LOG,
            # which writes every block of the copy to the write-ahead log (30 ms against 55-69 ms here).
            strategy = " STRATEGY FILE_COPY" if conn.dialect.server_version_info >= (15,) else ""
            suffix = f' TEMPLATE "{template}"{strategy}' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))

    def _url(self, name: str) -> str:
        assert self.admin is not None
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        if self.admin is not None:
            assert self.background is not None
            unused = [ready.result() for ready in self.ready.values()]
            self.background.shutdown(wait=True)
            for future in self.dropping:
                future.result()
            for name in unused:  # the templates are the run's: dropped when the whole run ends (drop_templates)
                with self.admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self.admin.dispose()


def template_name(demo: bool) -> str:
    return f"template_{'demo' if demo else 'empty'}_{RUN_ID}"


def drop_templates(session: pytest.Session) -> None:
    """Drops the run's PostgreSQL templates; by the process that ran the session (pytest-xdist's controller),
    after every worker has finished, and only when a process set out to build one (its lock file is there)."""
    if not PG_URL or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    folder = session.config._tmp_path_factory.getbasetemp() / "databases"  # type: ignore[attr-defined]  # run_folder
    if not any(folder.glob(f"template_*_{RUN_ID}.lock")):
        return
    admin = create_engine(normalise_database_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for demo in (True, False):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{template_name(demo)}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory, signing_key: Path) -> Iterator[Databases]:
    folder = run_folder(tmp_path_factory) / "databases"
    folder.mkdir(exist_ok=True)
    dbs = Databases(folder)
    yield dbs
    dbs.close()


def _app_fixture(databases: Databases, tmp_path: Path, demo: bool) -> Iterator[Flask]:
    url = databases.clone(demo, tmp_path)
    images = databases.tmp / "images"  # the demo's pictures, drawn once with the template database
    if demo and images.is_dir():
        shutil.copytree(images, tmp_path / "images", copy_function=os.link)
    app = make_app(url, tmp_path)
    with app.app_context():
        engine = db.engine
    session = Session(engine, expire_on_commit=False)
    factories.use_session(session)
    try:
        yield app
    finally:
        factories.use_session(None)
        session.close()
        engine.dispose()
        databases.drop(url)


@pytest.fixture
def app(databases: Databases, tmp_path: Path) -> Iterator[Flask]:
    """The app on a fresh, migrated, empty database."""
    yield from _app_fixture(databases, tmp_path, demo=False)


@pytest.fixture
def demo_app(databases: Databases, tmp_path: Path) -> Iterator[Flask]:
    """The app on a fresh database holding the demo content."""
    yield from _app_fixture(databases, tmp_path, demo=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def demo_client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


class _ClosedBody:
    """A response body that is closed at most once (werkzeug closes it on the normal path)."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if hasattr(self.body, "close"):
                self.body.close()


class _BodiesClosedAtEnd:
    """Wraps the app so that the request's thread can close every body its request produced.

    When Chromium drops a connection while a file is being sent, werkzeug's dev server reads
    the dead socket in a ``finally`` block, that read raises, and the body (an open file) is
    never closed: the garbage collector then reports the unclosed file in whichever test is
    running. The handler below closes what werkzeug skipped, in the same thread.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.local = threading.local()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> _ClosedBody:
        body = _ClosedBody(self.app(environ, start_response))
        self.local.__dict__.setdefault("bodies", []).append(body)
        return body

    def close_bodies(self) -> None:
        for body in self.local.__dict__.pop("bodies", []):
            body.close()


def _closing_handler() -> type:
    from werkzeug.serving import WSGIRequestHandler

    class ClosingHandler(WSGIRequestHandler):
        def run_wsgi(self) -> None:
            try:
                super().run_wsgi()
            finally:
                self.server.app.close_bodies()  # type: ignore[attr-defined]

    return ClosingHandler


class LiveServer:
    def __init__(self, app: Flask) -> None:
        from werkzeug.serving import make_server

        self.server = make_server(
            "127.0.0.1", 0, _BodiesClosedAtEnd(app), threaded=True, request_handler=_closing_handler()
        )
        self.app = app
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


@pytest.fixture
def live_server(demo_app: Flask) -> Iterator[LiveServer]:
    """The demo site served over HTTP on 127.0.0.1, for the browser."""
    server = LiveServer(demo_app)
    yield server
    server.stop()


# Debian's Chromium, as the project's guide names it. TEST_CHROMIUM=PATH runs the browser tests in another build, e.g.
# Debian's chromium-headless-shell (the same Chromium 156, as the old headless shell): on 2026-12-01 it took 42 % less
# CPU in the SQLite pass's browser work (271 against 469 CPU-seconds) and 62 % less in the PostgreSQL pass's (83
# against 220). The default stays /usr/bin/chromium, and CI uses it.
DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM = os.environ.get("TEST_CHROMIUM", DEBIAN_CHROMIUM)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        hint = "run ./dev test, which installs Debian's chromium" if CHROMIUM == DEBIAN_CHROMIUM else "TEST_CHROMIUM"
        pytest.fail(f"{CHROMIUM} is missing ({hint})")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
