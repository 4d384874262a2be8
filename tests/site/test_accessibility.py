"""axe-core in Chromium on every page type, as every role, in English and Mongolian.

Every serious or critical violation fails the test. The pages are the GET routes of the
role × route matrix that the role may open and that answer with HTML.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from marketplace.access import PUBLIC, SIGNED_IN, rule_for
from marketplace.accounts.models import Role
from tests.conftest import LiveServer
from tests.site.test_access import DEMO_PASSWORDS, DEMO_USERS, _get_routes

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parent.parent.parent / "node_modules" / "axe-core" / "axe.min.js"
SKIP = ("static", "passports.labels")  # files, and the printable A4 sheet (not a web page)


def violations(page: Page) -> list[dict]:
    if not page.evaluate("typeof axe !== 'undefined'"):  # not loaded by the page's init script
        page.evaluate(AXE.read_text())  # not a <script> tag: the CSP refuses inline scripts
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
        for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]


def _sign_in(page: Page, url: str, role: Role) -> None:
    page.goto(url + "/signin")
    page.locator("#email").fill(DEMO_USERS[role])
    page.locator("#password").fill(DEMO_PASSWORDS[role])
    page.locator("form[action='/signin'] button[type=submit]").click()
    page.wait_for_url("**/dashboard")


def test_axe_reports_a_known_problem(page: Page) -> None:
    page.set_content("<html lang='en'><title>t</title><main><img src='x.png'></main></html>")
    assert violations(page), "axe must report a picture without alt text"


@pytest.mark.parametrize("role", [None, *Role])
def test_every_page_type_as_every_role_in_english_and_mongolian(live_server: LiveServer, page: Page,
                                                              role: Role | None) -> None:
    app = live_server.server.app
    # axe is loaded into every document the page opens (an init script, which the CSP does not refuse), instead
    # of being sent over and evaluated again after each navigation.
    page.add_init_script(path=str(AXE))
    if role is not None:
        _sign_in(page, live_server.url, role)
    found: dict[str, list[dict]] = {}
    for endpoint, path in _get_routes(app):
        rule = rule_for(endpoint, app)
        allowed = rule is PUBLIC or (role is not None and (rule is SIGNED_IN or role in rule.roles))
        if not allowed or endpoint in SKIP or endpoint.endswith("signout"):
            continue
        separator = "&" if "?" in path else "?"
        probe = page.context.request.get(f"{live_server.url}{path}", max_redirects=0)
        if "text/html" not in (probe.headers.get("content-type") or ""):
            continue  # JSON, CSV, images, redirects
        for lang in ("en", "mn"):
            page.goto(f"{live_server.url}{path}{separator}lang={lang}")
            problems = violations(page)
            if problems:
                found[f"{path} [{lang}]"] = problems
    assert found == {}
