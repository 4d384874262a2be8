"""In Debian's Chromium at the width of a phone and of a laptop: Union staff find a dead job on the
background jobs page and queue it again; a buyer following an expired unsubscribe link is told so and
signs in to manage e-mail preferences instead."""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.notifications import services as mail
from tests.conftest import LiveServer
from tests.helpers import page_width

pytestmark = pytest.mark.browser
STAFF = ("staff@demo.example", "demo-staff-2026")
BUYER = ("buyer@demo.example", "demo-buyer-2026")


def _fits(page: Page, width: int) -> None:
    assert page_width(page) <= width


def _sign_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("width", [390, 1280])
def test_staff_queue_a_dead_job_again_and_an_expired_unsubscribe_link_leads_to_the_preferences(
        demo_app: Flask, live_server: LiveServer, chromium, width: int) -> None:  # type: ignore[no-untyped-def]
    with demo_app.app_context():
        jobs.run_pending()
        jobs.enqueue("legacy.kind_nobody_runs")
        db.session.commit()
        jobs.run_pending()
        buyer_id = db.session.scalar(select(User.id).where(User.email == BUYER[0]))
    context = chromium.new_context(locale="en-GB", viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    base = live_server.url

    page.goto(base + "/signin")
    _sign_in(page, *STAFF)
    page.get_by_role("link", name="Background jobs").click()  # from the staff dashboard
    expect(page.get_by_role("heading", level=1)).to_have_text("Background jobs")
    row = page.get_by_role("row").filter(has_text="legacy.kind_nobody_runs")
    expect(row).to_contain_text("no handler for jobs of kind")
    expect(row).to_contain_text("Ulaanbaatar")  # when it gave up, in the Union's time zone, named
    _fits(page, width)
    row.get_by_role("button", name=re.compile("Queue again")).click()
    expect(page.get_by_role("status")).to_contain_text("is queued again")
    expect(page.get_by_text("No job has failed for good.")).to_be_visible()
    _fits(page, width)
    context.clear_cookies()

    demo_app.config["UNSUBSCRIBE_MAX_AGE"] = 1
    with demo_app.test_request_context():
        link = f"/notifications/unsubscribe/{mail.unsubscribe_token(buyer_id, 'orders')}"
    time.sleep(2.2)
    page.goto(base + link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired")
    expect(page.get_by_text("Nothing was changed.")).to_be_visible()
    _fits(page, width)
    page.get_by_role("link", name="Sign in and manage e-mail preferences").click()
    _sign_in(page, *BUYER)
    expect(page).to_have_url(re.compile(r"/notifications/preferences$"))
    _fits(page, width)
    context.close()
