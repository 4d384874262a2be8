"""Find the site's pages and forms as a visitor would: from the url_map and the rendered HTML.

Used by the hostile-input tests and the form fuzzer, so that a new page or form is covered
without anyone adding it to a list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException

from tests.helpers import sign_in

# The demo accounts (README): one per role.
DEMO_USERS = {
    "admin": ("admin@demo.example", "demo-admin-2026"),
    "union_staff": ("staff@demo.example", "demo-staff-2026"),
    "cooperative_manager": ("coop@demo.example", "demo-coop-2026"),
    "msme_editor": ("msme@demo.example", "demo-msme-2026"),
    "brand_buyer": ("buyer@demo.example", "demo-buyer-2026"),
    "certifier": ("certifier@demo.example", "demo-certifier-2026"),
}
# Not pages: static files, the webhook (signed POSTs only), sign-out and sign-out everywhere (end the crawl's session).
SKIPPED_ENDPOINTS = {"static", "payments.stripe_webhook", "accounts.signout", "accounts.signout_everywhere"}
MAX_EXAMPLES_PER_ENDPOINT = 2


@dataclass
class Form:
    """A ``<form method=post>`` as rendered: where it posts and the fields a browser would send."""

    page: str
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, value), in order, as a browser sends
    kinds: dict[str, str] = field(default_factory=dict)  # name → input type, "select", "textarea"
    choices: dict[str, list[str]] = field(default_factory=dict)  # select/radio name → its values
    multipart: bool = False

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.fields))


class _PageParser(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: tuple[str, list[str], str | None] | None = None  # name, options, selected
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: PLR0912
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = Form(self.page, a.get("action") or self.page,
                                  multipart="multipart" in a.get("enctype", ""))
        elif tag == "option" and self._select is not None:
            name, options, selected = self._select
            options.append(a.get("value", ""))
            self._select = (name, options, a.get("value", "") if "selected" in a else selected)
        elif self._form is None or "name" not in a:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            self._form.kinds.setdefault(a["name"], kind)
            if kind in ("checkbox", "radio"):
                self._form.choices.setdefault(a["name"], []).append(a.get("value", "on"))
                if "checked" in a:
                    self._form.fields.append((a["name"], a.get("value", "on")))
                elif kind == "radio" and not any(n == a["name"] for n, _ in self._form.fields):
                    self._form.fields.append((a["name"], a.get("value", "on")))  # a browser would need one chosen
            elif kind not in ("submit", "button", "reset", "image"):
                self._form.fields.append((a["name"], a.get("value", "")))
        elif tag == "button" and a.get("value"):
            self._form.kinds.setdefault(a["name"], "button")
            self._form.fields.append((a["name"], a["value"]))
        elif tag == "select":
            self._select = (a["name"], [], None)
        elif tag == "textarea":
            self._textarea = (a["name"], [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options, selected = self._select
            self._form.kinds.setdefault(name, "select")
            self._form.choices[name] = options
            filled = [o for o in options if o.strip() and o != "0"]
            self._form.fields.append((name, selected if selected else (filled[0] if filled else "")))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            name, parts = self._textarea
            self._form.kinds.setdefault(name, "textarea")
            value = "".join(parts)
            self._form.fields.append((name, value[2:] if value.startswith("\r\n") else value.removeprefix("\n")))
            self._textarea = None


def parse(page: str, html: str) -> _PageParser:
    parser = _PageParser(page)
    parser.feed(html)
    return parser


def sign_in_demo(app: Flask, role: str) -> FlaskClient:
    client = app.test_client()
    email, password = DEMO_USERS[role]
    assert sign_in(client, email, password).status_code == 302, role
    return client


def rules_without_arguments(app: Flask) -> list[str]:
    """Every GET rule that takes no URL argument."""
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "GET" in (rule.methods or ()) and not rule.arguments and rule.endpoint not in SKIPPED_ENDPOINTS})


def endpoint_of(app: Flask, url: str, method: str = "GET") -> str | None:
    """The endpoint a site-relative URL routes to, or None (external links, unknown paths)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(parts.path, method=method)
    except HTTPException:
        return None
    except Exception:  # a RequestRedirect is an HTTPException; anything else: not a page we can use
        return None
    return str(endpoint)


@dataclass
class Crawl:
    pages: dict[str, int] = field(default_factory=dict)  # URL → status
    forms: list[Form] = field(default_factory=list)


def crawl(app: Flask, client: FlaskClient, read: Callable[[str, str], None] | None = None) -> Crawl:
    """GET every rule without arguments, then up to two example URLs of each rule with arguments
    found in the links of those pages (the demo objects). Collects the POST forms of pages that answer 200, and
    hands each such page's URL and HTML to ``read`` (so that a check of the pages need not fetch them again)."""
    result = Crawl()
    examples: dict[str, list[str]] = {}
    queue = list(rules_without_arguments(app))
    seen: set[str] = set()
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        result.pages[url] = response.status_code
        if response.status_code != 200 or not response.mimetype.startswith("text/html"):
            continue
        html = response.get_data(as_text=True)
        if read is not None:
            read(url, html)
        parsed = parse(url, html)
        result.forms.extend(parsed.forms)
        for link in parsed.links:
            parts = urlsplit(link)
            target = parts.path + (f"?{parts.query}" if parts.query else "")  # the page as linked, query kept
            endpoint = endpoint_of(app, link)
            if endpoint is None or endpoint in SKIPPED_ENDPOINTS or target in seen:
                continue
            rule_examples = examples.setdefault(endpoint, [])
            rule = next(app.url_map.iter_rules(endpoint))
            if rule.arguments and len(rule_examples) < MAX_EXAMPLES_PER_ENDPOINT and target not in rule_examples:
                rule_examples.append(target)
                queue.append(target)
    return result


# The pages each role's crawl found, kept by the test process: every demo app of a run is a copy of the same demo
# template, so the same role finds the same pages. The form fuzzer crawls as every role for its forms, and the
# hostile query sweep, which runs after it in the same process (both start first: tests/conftest.py, LONG_FIRST),
# takes the pages from here instead of crawling again.
_PAGES: dict[str | None, dict[str, int]] = {}


def remember_pages(role: str | None, found: Crawl) -> None:
    """Keeps ``found``'s pages for ``role`` (None or "" for a visitor)."""
    _PAGES[role or None] = found.pages


def pages_as(app: Flask, client: FlaskClient, role: str | None) -> dict[str, int]:
    """The pages ``role``'s crawl finds (URL → status), crawled by ``client`` unless this process already did."""
    if (role or None) not in _PAGES:
        remember_pages(role, crawl(app, client))
    return dict(_PAGES[role or None])
