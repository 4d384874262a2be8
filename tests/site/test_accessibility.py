"""axe-core in Chromium on every page type, as every role, in English and Mongolian.

Every serious or critical violation fails the test. The pages are the GET routes of the
role × route matrix that the role may open and that answer with HTML.

Each distinct rendering is checked once. Every role (and an anonymous visitor) fetches every page it
may open, in both languages, and the HTML is compared with what was already checked in that language:

* the page's own part: the whole document except the site header (title, ``<main>``, footer), with
  CSRF tokens (and htmx's CSRF header on ``<body>``) and CSP nonces blanked;
* the site header (the role's menu): with the current-page mark and the page's own address blanked.

A rendering goes through axe when either part is new: so every page is checked as every role whose
view of it differs (a public page as the anonymous visitor and as a signed-in person, and again for a
role that sees more on it; a staff page as each role with a different view), and every role's menu
and notification badge is checked on a real page. A rendering that only repeats parts already
checked is not run through axe again (most public pages look the same to all six signed-in roles);
its whole document is still checked for the one problem a new combination of the two parts could
create, an id used twice where ARIA or a label refers to it (axe's ``duplicate-id-aria``).
Redirects are always followed and checked.

The same page loads are measured for sideways scrolling at 1280 px and 390 px (WCAG 2.1 AA, 1.4.10 Reflow; how,
in tests/site/test_page_fit.py): every rendering axe checks, so every page type as every role whose view of it
differs, in both languages. The Union's view of every demo order is swept too (their allocation tables differ in
size), not only the matrix's sample order.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import select

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.orders.models import Order
from tests.conftest import LiveServer
from tests.site.test_access import DEMO_PASSWORDS, DEMO_USERS, _get_routes, may_open
from tests.site.test_page_fit import HEIGHT, WIDTHS, overflowing

pytestmark = [pytest.mark.browser, pytest.mark.presentation]
AXE = Path(__file__).resolve().parent.parent.parent / "node_modules" / "axe-core" / "axe.min.js"
SKIP = ("static", "passports.labels",  # files, and the printable A4 sheet (not a web page)
        "passports.traceability_event_id")  # an event's identifier: a redirect to its JSON-LD
LANGUAGES = ("en", "mn")
# axe gives every result of a rule the rule's own impact (axe.js, finalizeRuleResult), so running only the
# rules whose impact is serious or critical (and that axe enables by default) finds exactly the violations
# the tests fail on, without the cost of the minor and moderate ones.
SERIOUS_RULES = """() => axe._audit.rules
    .filter(rule => rule.enabled !== false && !['minor', 'moderate'].includes(rule.impact)).map(rule => rule.id)"""


def violations(page: Page) -> list[dict]:
    if not page.evaluate("typeof axe !== 'undefined'"):  # not loaded by the page's init script
        page.evaluate(AXE.read_text())  # not a <script> tag: the CSP refuses inline scripts
    result = page.evaluate(f"""async () => await axe.run(document, {{resultTypes: ['violations'],
        runOnly: {{type: 'rule', values: ({SERIOUS_RULES})()}}}})""")
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


HEADER = re.compile(r'<header class="site-header">.*?</header>', re.S)
# Blanked before comparing: CSRF tokens (in forms, and in the header htmx sends, on <body> when signed in)
# and CSP nonces.
VOLATILE = re.compile(r'((?:name="csrf_token"[^>]*? value|nonce)=")[^"]*|(<body) hx-headers=\'[^\']*\'')
LANGUAGE_LINKS = re.compile(r'<nav class="languages".*?</nav>', re.S)  # links to this page in each language
REFERENCES = re.compile(r'\s(?:for|aria-(?:labelledby|describedby|controls|owns|activedescendant|details|'
                        r'errormessage|flowto))="([^"]*)"')


def rendering_parts(html: str) -> tuple[str, str]:
    """(the page's own part, the site header) of an HTML document, each as a digest."""
    html = VOLATILE.sub(lambda match: match.group(1) or match.group(2), html)
    match = HEADER.search(html)
    header = match.group(0) if match else ""
    own = html.replace(header, "", 1)
    header = LANGUAGE_LINKS.sub(lambda nav: re.sub(r'href="[^"]*"', 'href=""', nav.group(0)), header)
    header = header.replace(' aria-current="page"', "")
    return hashlib.sha256(own.encode()).hexdigest(), hashlib.sha256(header.encode()).hexdigest()


def ids_referenced_twice(html: str) -> list[str]:
    """The ids that a label or an ARIA attribute refers to and that occur more than once."""
    ids = Counter(re.findall(r'\sid="([^"]*)"', html))
    return sorted({ref for refs in REFERENCES.findall(html) for ref in refs.split() if ids[ref] > 1})


def test_axe_reports_a_known_problem(page: Page) -> None:
    page.set_content("<html lang='en'><title>t</title><main><img src='x.png'></main></html>")
    assert violations(page), "axe must report a picture without alt text"
    rules = page.evaluate(f"({SERIOUS_RULES})()")
    assert {"color-contrast", "image-alt", "label", "duplicate-id-aria", "document-title"} <= set(rules)
    assert "region" not in rules  # moderate: never fails the test, so never run


def test_a_repeated_rendering_is_recognised_and_a_new_one_is_not() -> None:
    page = ('<body hx-headers=\'{"X-CSRFToken": "%s"}\'><header class="site-header"><a href="/lots"%s>Lots</a>'
            '<nav class="languages"><a href="%s?lang=mn">MN</a></nav>%s</header><main>'
            '<input id="csrf_token" name="csrf_token" type="hidden" value="%s">%s</main></body>')
    lots = rendering_parts(page % ("t1", ' aria-current="page"', "/lots", "", "t2", "Lots"))
    assert rendering_parts(page % ("t3", ' aria-current="page"', "/lots", "", "t4", "Lots")) == lots  # new tokens
    anonymous = page.replace(""" hx-headers='{"X-CSRFToken": "%s"}'""", "")
    anonymous %= (' aria-current="page"', "/lots", "", "t4", "Lots")
    assert rendering_parts(anonymous)[0] == lots[0]  # htmx's CSRF header (signed in) aside, the same page
    products = rendering_parts(page % ("t1", "", "/products", "", "t2", "Products"))
    assert products[1] == lots[1]  # the same menu on another page
    assert products[0] != lots[0]  # another page
    badge = rendering_parts(page % ("t1", "", "/products", "<span>2</span>", "t2", "Products"))
    assert badge[0] == products[0]  # the same page,
    assert badge[1] != products[1]  # another menu
    assert ids_referenced_twice('<label for="a"></label><i id="a"></i><b id="a"></b><p id="c"></p><p id="c">') == ["a"]


def _union_orders(app: Flask) -> list[tuple[str, str]]:
    """(endpoint, path) of the Union's view of every demo order."""
    with app.app_context():
        return [("union.order", f"/union/orders/{reference}")
                for reference in db.session.scalars(select(Order.reference).order_by(Order.id))]


@pytest.mark.timeout(1200)  # every page as every role: minutes on a busy 2-core machine
def test_every_page_type_as_every_role_in_english_and_mongolian(live_server: LiveServer, chromium: Any) -> None:
    app = live_server.app
    url = live_server.url
    routes = list(dict.fromkeys([*_get_routes(app), *_union_orders(app)]))  # the sample order once
    checked: set[tuple[str, str, str]] = set()  # (language, page or "" for a menu, digest) run through axe
    found: dict[str, list[dict]] = {}
    wide: list[str] = []
    fitted: set[str] = set()  # the endpoints measured at both widths
    counts: Counter = Counter()
    for role in [None, *Role]:
        context = chromium.new_context(locale="en-GB", viewport={"width": WIDTHS[0], "height": HEIGHT})
        context.set_default_timeout(15_000)
        page = context.new_page()
        # axe is loaded into every document the page opens (an init script, which the CSP does not refuse),
        # instead of being sent over and evaluated again after each navigation.
        page.add_init_script(path=str(AXE))
        if role is not None:
            _sign_in(page, url, role)
        for endpoint, path in routes:
            if not may_open(app, endpoint, role) or endpoint in SKIP or endpoint.endswith("signout"):
                continue
            separator = "&" if "?" in path else "?"
            for lang in LANGUAGES:
                address = f"{url}{path}{separator}lang={lang}"
                probe = context.request.get(address, max_redirects=0)
                if "text/html" not in (probe.headers.get("content-type") or ""):
                    break  # JSON, CSV, images: in no language a web page
                if probe.status < 300 or probe.status >= 400:  # a redirect is followed and checked
                    own, header = rendering_parts(probe.text())
                    parts = {(lang, path, own), (lang, "", header)}
                    if parts <= checked:
                        assert ids_referenced_twice(probe.text()) == [], (role, path, lang)
                        counts["repeated"] += 1
                        continue
                    checked |= parts
                page.goto(address)
                counts["axe"] += 1
                who = f"{path} [{lang}] as {role.value if role else 'anonymous'}"
                problems = violations(page)
                if problems:
                    found[who] = problems
                if probe.status == 200:  # not a redirect's destination: measured under its own address
                    wide += [f"{who} {problem}" for problem in overflowing(page)]
                    counts["measured"] += 1
                    fitted.add(endpoint)
        context.close()
    print(f"\naxe: {counts['axe']} renderings checked, {counts['repeated']} repeats of checked parts; "  # noqa: T201
          f"{counts['measured']} measured at {' and '.join(map(str, WIDTHS))} px, {len(fitted)} page types")
    assert found == {}
    assert wide == [], "\n".join(wide)
    assert counts["axe"] > 200
    assert len(fitted) >= 70, len(fitted)  # the routes answered as pages (71 on the demo), not a login wall
