"""What the PostgreSQL pass of `./dev test` leaves to the SQLite pass (tests/conftest.py, `sqlite_pass_only`).

Checked on every test this process collected (each pytest-xdist worker collects the whole suite; `-k` and
`-m` choose among them afterwards)."""

from __future__ import annotations

import inspect
import re
from collections import Counter

import pytest

from tests.conftest import COLLECTED, NO_DATABASE, PHONE_WIDTH, PRESENTATION, sqlite_pass_only

# A test that skips unless it has PostgreSQL (row locks, several processes on one database, pg_dump) must never
# be left to the SQLite pass: it would run nowhere.
POSTGRESQL_ONLY = re.compile(r"skip.*(PG_URL|postgresql|PostgreSQL)|(PG_URL|postgresql|PostgreSQL).*skip", re.S)


def _source(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    return inspect.getsource(function) if function is not None else ""


def test_only_what_the_database_cannot_change_is_left_to_the_sqlite_pass() -> None:
    items = COLLECTED
    left = {item.nodeid: sqlite_pass_only(item) for item in items}
    if len(items) > 1000:  # the whole suite: most of it runs on both databases
        assert Counter(left.values())[None] > 900, Counter(left.values())

    for item in items:
        reason = left[item.nodeid]
        if reason is None:
            continue
        if getattr(item, "module", None) is not None and item.module.__name__ != __name__:
            assert not POSTGRESQL_ONLY.search(_source(item)), (item.nodeid, reason)
        if reason == NO_DATABASE:
            assert "databases" not in item.fixturenames, item.nodeid
        else:
            assert item.get_closest_marker("browser"), (item.nodeid, reason)  # a presentation or phone check

    # A journey left out at 390 px runs at 1280 px on PostgreSQL.
    for nodeid, reason in left.items():
        if reason == PHONE_WIDTH:
            desktop = nodeid.replace("[390", "[1280")
            assert desktop in left, nodeid
            assert left[desktop] is None, nodeid

    # Every presentation sweep left out has a database-backed walk of the same pages that both passes run.
    names = set(left)
    if any(reason == PRESENTATION for reason in left.values()):
        for walk in ("tests/site/test_access.py::test_role_route_matrix[None]",
                     "tests/site/test_untranslated.py::test_pages_in_mongolian_show_no_english_message[None]",
                     "tests/site/test_hostile_input.py::test_no_query_parameter_breaks_a_page_or_points_its_links_elsewhere"):
            if walk in names:  # when the run collects that file
                assert left[walk] is None, walk


def test_the_rule_reads_each_kind_of_test() -> None:
    """One known test of each kind gets its reason (a rule that left nothing, or everything, out fails here)."""
    by_id = {item.nodeid: item for item in COLLECTED}
    expected = {
        "tests/core/test_suite_passes.py::test_the_rule_reads_each_kind_of_test": NO_DATABASE,
        "tests/site/test_page_fit.py::test_no_page_scrolls_sideways": PRESENTATION,
        "tests/orders/test_orders_browser.py::test_quote_to_delivered_and_paid_in_the_browser[390]": PHONE_WIDTH,
        "tests/orders/test_orders_browser.py::test_quote_to_delivered_and_paid_in_the_browser[1280]": None,
        "tests/site/test_access.py::test_role_route_matrix[None]": None,
    }
    for nodeid, reason in expected.items():
        if nodeid in by_id:
            assert sqlite_pass_only(by_id[nodeid]) == reason, nodeid
