"""A newcomer signs up, confirms the address from the e-mail the test SMTP server received, signs in,
reads the notifications, signs out (the old cookie then fails) and resets a forgotten password; at the
width of a phone and of a laptop, in Debian's Chromium."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from marketplace.notifications import services
from tests.conftest import LiveServer
from tests.helpers import page_width

pytestmark = pytest.mark.browser
PASSWORD = "loom saffron teapot glacier"
NEW_PASSWORD = "walnut orbit lantern quietly"


def _link(app: Flask, mailbox, marker: str) -> str:  # type: ignore[no-untyped-def]
    """The link containing ``marker`` in the latest message that has one (staff get other mail meanwhile)."""
    with app.app_context():
        services.deliver()
    for message in reversed(mailbox.messages):
        body = message.get_body(preferencelist=("plain",)).get_content()
        for line in body.splitlines():
            if marker in line:
                return line.strip().removeprefix("http://127.0.0.1:5000")
    raise AssertionError(f"no message with {marker}")


def _fits(page: Page, width: int) -> None:
    assert page_width(page) <= width


@pytest.mark.parametrize("width", [390, 1280])
def test_sign_up_confirm_sign_in_out_and_reset(demo_app: Flask, live_server: LiveServer, chromium, mailbox,  # type: ignore[no-untyped-def]
                                               width: int) -> None:
    context = chromium.new_context(locale="en-GB", viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    base = live_server.url
    email = f"giulia{width}@filati.example"
    page.goto(base + "/signup")
    page.get_by_label("Your name").fill("Giulia Bianchi")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill("password1234")
    page.get_by_label("Repeat the password").fill("password1234")
    page.get_by_label("A brand's sourcing team, buying cashmere").check()
    page.get_by_label("Organisation name").fill(f"Filati Bianchi {width}")
    page.get_by_label("Country").select_option("IT")
    page.get_by_label("VAT or registration number").fill("IT00743110157")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("alert")).to_contain_text("too easy to guess")  # the error summary names it
    _fits(page, width)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your e-mail")
    expect(page.get_by_role("status")).to_contain_text(email)

    page.goto(base + _link(demo_app, mailbox, "/verify/"))
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_text("Your e-mail address is confirmed")).to_be_visible()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    _fits(page, width)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_text("Waiting for the Union's verification")).to_be_visible()
    expect(page.get_by_text("this device")).to_be_visible()
    _fits(page, width)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Notifications").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    _fits(page, width)

    cookies = context.cookies()
    page.get_by_role("button", name="Sign out").first.click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    replay = chromium.new_context(viewport={"width": width, "height": 900})
    replay.add_cookies(cookies)
    old = replay.new_page()
    old.goto(base + "/dashboard")
    expect(old).to_have_url(re.compile(r"/signin\?next="))  # the copied cookie no longer signs anyone in
    replay.close()

    # A forgotten password.
    page.goto(base + "/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account uses")
    link = _link(demo_app, mailbox, "/password/reset/")
    page.goto(base + link)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()
    page.goto(base + link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")
    _fits(page, width)
    context.close()
