"""The passport log for people (issue 26): pages of entries, newest first, each naming the passport, the
version, when (in UTC) and what changed; a page number that does not exist gets a clear 404."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports import log as merkle_log
from marketplace.passports import log_history, services
from marketplace.passports.models import Passport
from tests.helpers import text
from tests.passports.test_passport_verify_since import _append_versions

ROW = re.compile(r'<th scope="row" data-label="Entry">(\d+)</th>')


def _rows(html: str) -> list[int]:
    return [int(number) for number in ROW.findall(html)]


def test_the_first_page_shows_the_newest_entries_first_with_their_passport_version_and_time(
        demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        before = merkle_log.size()
    _append_versions(demo_app, 1)  # a lot passport gets a second version
    with demo_app.app_context():
        size = merkle_log.size()
        assert size == before + 1
        newest = merkle_log.page(size - 1, 1)[0]
        passport = db.session.scalar(select(Passport).where(Passport.public_id == newest.passport_public_id))
        number, code = passport.current.number, passport.lot.code
    response = client.get("/passports/log/history")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = _rows(html)
    assert rows == list(range(size, size - log_history.PER_PAGE, -1))  # newest first, one page
    first = html[html.index(f">{size}</th>"):html.index(f">{size - 1}</th>")]
    assert f'href="/passports/{passport.public_id}"' in first
    assert code in first
    assert f'href="/passports/{passport.public_id}/versions/{number}"' in first
    assert "New version" in first
    assert f"version {number}" in first
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>", first)
    assert "no-cache" in response.headers["Cache-Control"]


def test_a_revocation_is_listed_and_the_pages_walk_back_to_the_first_entry(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        passport = db.session.scalars(select(Passport).order_by(Passport.id)).first()
        public_id = passport.public_id
        passport.revoked_reason = "Withdrawn by the Union: labelling error."
        merkle_log.record_status(services.status_indexes())
        db.session.commit()
        size = merkle_log.size()
    html = client.get("/passports/log/history?page=1").get_data(as_text=True)
    first = html[html.index(f">{size}</th>"):html.index(f">{size - 1}</th>")]
    assert "Revoked" in first
    assert f"/passports/{public_id}" in first
    pages = log_history.page_count(size)
    assert pages > 1  # the demo's log spans several pages
    seen: list[int] = []
    for number in range(1, pages + 1):
        html = client.get(f"/passports/log/history?page={number}").get_data(as_text=True)
        seen += _rows(html)
        assert ('rel="next"' in html) is (number < pages)
        assert ('rel="prev"' in html) is (number > 1)
        assert f'<span aria-current="page">{number}</span>' in html
    assert seen == list(range(size, 0, -1))  # every entry once, newest to oldest


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "²", "１", "9" * 10, "", "999999999"])
def test_a_page_that_does_not_exist_is_a_clear_404(demo_app: Flask, page: str) -> None:
    response = demo_app.test_client().get(f"/passports/log/history?page={page}")
    assert response.status_code == 404
    assert "The passport log has no such page" in text(response)


def test_the_empty_log_has_one_page_saying_so(app: Flask) -> None:
    response = app.test_client().get("/passports/log/history")
    assert response.status_code == 200
    assert "Nothing has been published yet." in text(response)
    assert app.test_client().get("/passports/log/history?page=2").status_code == 404
