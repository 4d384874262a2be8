"""What the PostgreSQL pass of `./dev test` leaves to the SQLite pass (tests/conftest.py, `sqlite_pass_only`).

Checked on every test this process collected (each pytest-xdist worker collects the whole suite; `-k` and
`-m` choose among them afterwards). Run alone, this file collects only itself: the checks that need the whole
suite say so and are skipped."""

from __future__ import annotations

import inspect
import re
from collections import Counter

import pytest

from tests.conftest import COLLECTED, NO_DATABASE, PHONE_WIDTH, PRESENTATION, TRANSLATION, sqlite_pass_only

# A test that skips unless it has PostgreSQL (row locks, several processes on one database, pg_dump) must never
# be left to the SQLite pass: it would run nowhere.
POSTGRESQL_ONLY = re.compile(r"skip.*(PG_URL|TEST_DATABASE|[Pp]ostgres)|(PG_URL|TEST_DATABASE|[Pp]ostgres).*skip", re.S)
# The only presentation sweeps: each reads pages and writes nothing. A journey marked `presentation` by mistake
# (it would leave its database work out of the PostgreSQL pass) fails here.
PRESENTATION_FILES = {"tests/site/test_accessibility.py", "tests/site/test_page_fit.py",
                      "tests/site/test_csp_browser.py", "tests/products/test_products_accessibility.py"}
# The only translation sweep: the crawl in Mongolian, which reads pages and writes nothing.
TRANSLATION_FILES = {"tests/site/test_untranslated.py"}
# Walks of the sweeps' pages that run on both databases, and one known test of each kind.
BOTH_PASSES = ("tests/site/test_access.py::test_role_route_matrix[None]",
               "tests/site/test_fuzz_forms.py::test_hostile_values_in_every_form_never_cause_a_5xx_or_a_write",
               "tests/site/test_hostile_input.py::test_no_query_parameter_breaks_a_page_or_points_its_links_elsewhere",
               "tests/orders/test_orders_browser.py::test_quote_to_delivered_and_paid_in_the_browser[1280]")
KNOWN = {
    "tests/core/test_suite_passes.py::test_the_rule_reads_each_kind_of_test": NO_DATABASE,
    "tests/site/test_page_fit.py::test_the_measurement_finds_what_scrolls_sideways_at_either_width": NO_DATABASE,
    "tests/site/test_accessibility.py::test_every_page_type_as_every_role_in_english_and_mongolian": PRESENTATION,
    "tests/orders/test_orders_browser.py::test_quote_to_delivered_and_paid_in_the_browser[390]": PHONE_WIDTH,
    "tests/site/test_untranslated.py::test_pages_in_mongolian_show_no_english_message[None]": TRANSLATION,
    **dict.fromkeys(BOTH_PASSES),
}


def _whole_suite() -> bool:
    return len(COLLECTED) > 1000


def _source(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    return inspect.getsource(function) if function is not None else ""


def _postgresql_only(item: pytest.Item) -> bool:
    """The test, or a mark on it or its module, skips unless the database is PostgreSQL."""
    module = getattr(item, "module", None)
    if module is not None and module.__name__ == __name__:
        return False  # this file names PostgreSQL in its own rules
    marks = " ".join(f"{mark.args} {mark.kwargs}" for mark in item.iter_markers("skipif"))
    return bool(POSTGRESQL_ONLY.search(_source(item)) or re.search(r"PG_URL|TEST_DATABASE|[Pp]ostgres", marks))


def test_only_what_the_database_cannot_change_is_left_to_the_sqlite_pass() -> None:
    if not _whole_suite():
        pytest.skip("needs the whole suite collected (run without a path, or with -k)")
    left = {item.nodeid: sqlite_pass_only(item) for item in COLLECTED}
    assert Counter(left.values())[None] > 900, Counter(left.values())  # most of the suite runs on both

    for item in COLLECTED:
        reason = left[item.nodeid]
        if reason is None:
            continue
        assert not _postgresql_only(item), (item.nodeid, reason)
        if reason == NO_DATABASE:
            assert "databases" not in item.fixturenames, item.nodeid
        elif reason == PRESENTATION:
            assert item.nodeid.split("::")[0] in PRESENTATION_FILES, item.nodeid
            assert item.get_closest_marker("browser"), item.nodeid
        elif reason == TRANSLATION:
            assert item.nodeid.split("::")[0] in TRANSLATION_FILES, item.nodeid
        else:
            assert reason == PHONE_WIDTH, (item.nodeid, reason)
            assert item.get_closest_marker("browser"), item.nodeid
            desktop = item.nodeid.replace("[390", "[1280")
            assert desktop in left, item.nodeid  # a journey left out at 390 px runs at 1280 px on PostgreSQL
            assert left[desktop] is None, item.nodeid


def test_the_rule_reads_each_kind_of_test() -> None:
    """One known test of each kind gets its reason (a rule that left nothing, or everything, out fails here)."""
    if not _whole_suite():
        pytest.skip("needs the whole suite collected (run without a path, or with -k)")
    by_id = {item.nodeid: item for item in COLLECTED}
    for nodeid, reason in KNOWN.items():
        assert nodeid in by_id, f"{nodeid} was renamed: name its successor here"
        assert sqlite_pass_only(by_id[nodeid]) == reason, nodeid


def test_every_test_that_drives_chromium_is_marked_browser() -> None:
    """The `browser` marker is what the rules read: the browser tests start first (``_start_rank``), a journey at
    390 px is left to the SQLite pass, and ``-m "not browser"`` leaves Chromium out. A test that asks for Chromium
    (the ``chromium`` fixture, or ``page``, which opens it) gets the marker at collection (tests/conftest.py), so
    none escapes the three; the consumer's expired-certificate journey (tests/passports/test_passport_issuers.py)
    asks for Chromium without marking itself, so this fails if the collection stops adding it."""
    unmarked = [item.nodeid for item in COLLECTED
                if "chromium" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("browser")]
    assert unmarked == []
