"""The test apps' shared template bytecode (tests/template_cache.py): the same pages, compiled once, never stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from jinja2 import Environment, FileSystemLoader

from tests.conftest import make_app
from tests.site.test_accessibility import VOLATILE
from tests.template_cache import SHARED, SharedBytecode


def _page(app: Flask, path: str) -> str:
    html = app.test_client().get(path).get_data(as_text=True)
    return VOLATILE.sub(lambda match: match.group(1) or match.group(2), html)


def test_a_page_renders_the_same_with_the_shared_code_as_compiled_afresh(app: Flask, tmp_path: Path) -> None:
    assert app.jinja_env.bytecode_cache is SHARED
    cached = _page(app, "/about?lang=mn")
    assert any(key for key in SHARED.code)  # the layout and the page were filed
    fresh = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    fresh.jinja_env.bytecode_cache = None
    assert _page(fresh, "/about?lang=mn") == cached


def test_an_edited_template_is_compiled_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = SharedBytecode()
    compiled: list[str] = []
    original = Environment._compile

    def counting(self, source, filename):  # type: ignore[no-untyped-def]
        compiled.append(filename)
        return original(self, source, filename)

    monkeypatch.setattr(Environment, "_compile", counting)

    def render() -> str:
        environment = Environment(loader=FileSystemLoader(tmp_path), bytecode_cache=cache, autoescape=True)
        return environment.get_template("t.html").render(x=1)

    (tmp_path / "t.html").write_text("a {{ x }}")
    assert render() == "a 1"
    assert render() == "a 1"  # another environment (another test's app): the same code, not compiled again
    assert len(compiled) == 1
    (tmp_path / "t.html").write_text("b {{ x }}")
    assert render() == "b 1"
    assert len(compiled) == 2
