"""Every user-facing string is marked for translation, and every marked string is shown translated.

Three checks, each able to fail on its own:
- templates: no text or visible attribute outside ``{% trans %}``/``_()`` except units and acronyms;
- Python: no ``flash()`` of a literal, and no literal message in an exception that a route shows;
- rendered pages: crawled as every role in Mongolian, no text shows the English of a message the
  catalogue translates (an ``_()`` evaluated at import time, or a label stored in English, does that).
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from jinja2 import Environment

from tests.crawl import DEMO_USERS, crawl, sign_in_demo

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = ROOT / "templates"
PACKAGE = ROOT / "marketplace"
VISIBLE_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder", "aria-description", "aria-roledescription"}
# Units, acronyms and names that are the same in every language.
UNTRANSLATED_WORDS = {"kg", "kWh", "CO", "e", "PDF", "JSON", "XLSX", "Incoterms", "CSV", "QR", "GTIN", "URL", "API",
                      "ISO", "µm", "mm", "DID", "JWT", "UTC"}
# Exceptions whose message goes to an operator's terminal or log, or to a machine, never to a person
# using the site: start-up configuration, Stripe's webhook calls, and library errors.
NOT_FOR_PEOPLE = {
    "ConfigError", "InvalidEventError", "Exception", "BaseException", "OperationalError", "ValueError", "KeyError",
    "TypeError", "JoseError", "SignatureVerificationError", "HTTPError", "RequestException", "TimeoutError",
    "RecursionError", "UnicodeDecodeError",
}
WORD = re.compile(r"[A-Za-z]{2,}")
_jinja = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)


def _outside_trans(source: str) -> str:
    """The template's literal text outside ``{% trans %}`` blocks; each expression becomes a NUL."""
    out: list[str] = []
    in_trans = False
    after_block_begin = False
    for _line, kind, value in _jinja.lex(source):
        if kind == "whitespace":
            continue
        if after_block_begin and kind == "name":
            if value == "trans":
                in_trans = True
                out.append("\x00")
            elif value == "endtrans":
                in_trans = False
        after_block_begin = kind == "block_begin"
        if kind == "data" and not in_trans:
            out.append(value)
        elif kind == "variable_begin":
            out.append("\x00")
    return "".join(out)


class _Text(HTMLParser):
    """Visible text nodes and attributes; with ``skip_english`` also skips what is marked ``lang="en"``
    (MSME-entered text shown in English as a declared fallback) and code."""

    def __init__(self, *, skip_english: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._stack: list[tuple[str, bool]] = []
        self._skip_english = skip_english

    def _skipping(self) -> bool:
        return any(skip for _tag, skip in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        skip = tag in {"script", "style", "code", "pre", "template"} or (
            self._skip_english and (a.get("lang") == "en" or a.get("translate") == "no"))
        if tag not in {"br", "img", "input", "meta", "link", "hr", "source", "wbr", "col", "area", "base"}:
            self._stack.append((tag, skip))
        if self._skipping() or skip:
            return
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                break

    def handle_data(self, data: str) -> None:
        if not self._skipping() and data.strip():
            self.found.append(" ".join(data.split()))


ATTRIBUTE = re.compile(r"""[\w-]+=("[^"]*"|'[^']*')""")  # an attribute a block puts inside a tag


def _words(text: str) -> set[str]:
    return set(WORD.findall(ATTRIBUTE.sub(" ", text.replace("\x00", " ")))) - UNTRANSLATED_WORDS


def test_templates_have_no_text_outside_trans() -> None:
    unmarked = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        parser = _Text()
        parser.feed(_outside_trans(path.read_text(encoding="utf-8")))
        unmarked += [f"{path.relative_to(ROOT)}: {text!r}" for text in parser.found if _words(text)]
        # A literal sentence passed to a macro or filter instead of _("…").
        tokens = [t for t in _jinja.lex(path.read_text(encoding="utf-8")) if t[1] != "whitespace"]
        for index, (line, kind, value) in enumerate(tokens):
            if kind != "string" or not re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", value):
                continue
            before = [t[2] for t in tokens[max(0, index - 6):index]]
            if not {"_", "gettext", "ngettext", "pgettext"} & set(before):
                unmarked.append(f"{path.relative_to(ROOT)}:{line}: {value}")
    assert unmarked == []


# Calls that put an exception's message in front of a person: a flash, a page, a JSON answer, a
# translated sentence with the reason in it (``_("…%(reason)s", reason=str(error))``).
SHOWING = {"str", "flash", "render_template", "jsonify", "_", "gettext", "abort", "make_response", "_problem"}


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _user_facing_errors() -> set[str]:
    """Exception classes whose message a route shows (``except X as e`` then ``str(e)``, ``flash(e)``…)."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue  # commands speak to the operator, in English
        for handler in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(handler, ast.ExceptHandler) or not handler.name or handler.type is None:
                continue
            shown = any(isinstance(node, ast.Call) and _call_name(node) in SHOWING
                        and any(isinstance(arg, ast.Name) and arg.id == handler.name
                                for arg in [*node.args, *(k.value for k in node.keywords)])
                        for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])))
            if shown:
                types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                names |= {t.id if isinstance(t, ast.Name) else t.attr
                          for t in types if isinstance(t, ast.Name | ast.Attribute)}
    return names - NOT_FOR_PEOPLE


def test_python_messages_shown_to_people_are_marked() -> None:
    shown = _user_facing_errors()
    assert shown, "no user-facing exception classes found: the scan is broken"
    unmarked = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "demo" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = _call_name(node)
            first = node.args[0]
            literal = isinstance(first, ast.JoinedStr) or (
                isinstance(first, ast.Constant) and isinstance(first.value, str) and WORD.search(first.value))
            if literal and (name == "flash" or name in shown):
                unmarked.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}({ast.unparse(first)[:70]})")
    assert unmarked == [], "\n".join(unmarked)


def _english_messages(locale: str) -> set[str]:
    """Catalogue messages of at least two words, without placeholders, whose translation differs."""
    path = PACKAGE / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalogue = read_po(handle)
    return {message.id for message in catalogue if isinstance(message.id, str) and message.string
            and message.string != message.id and "%" not in message.id and " " in message.id.strip()
            and "{" not in message.id}


@pytest.mark.translation
@pytest.mark.parametrize("role", [None, *DEMO_USERS])
def test_pages_in_mongolian_show_no_english_message(demo_app: Flask, role: str | None) -> None:
    english = _english_messages("mn")
    client = sign_in_demo(demo_app, role) if role else demo_app.test_client()
    client.get("/?lang=mn")  # the language cookie
    shown: dict[str, str] = {}
    read: list[str] = []

    def read_page(url: str, html: str) -> None:  # each HTML page the crawl fetched (answered 200)
        read.append(url)
        parser = _Text(skip_english=True)
        parser.feed(html)
        for text in parser.found:
            if text in english:
                shown.setdefault(text, url)

    crawl(demo_app, client, read_page)
    assert len(read) > 25, "the crawl read too few pages to check anything"  # it must not pass empty (visitor: 31)
    assert shown == {}, f"{len(read)} pages read"
