"""The test process compiles each URL rule once (``tests/url_builders.py``): every rule of every app still has the
parts, converters and builder functions Werkzeug compiles for it, and two apps share the builders."""

from __future__ import annotations

from pathlib import Path
from types import CodeType

import pytest
from flask import Flask, url_for

from tests import url_builders
from tests.conftest import make_app


def _same(code: CodeType, other: CodeType) -> bool:
    return (code.co_code, code.co_consts, code.co_names, code.co_varnames, code.co_name) == (
        other.co_code, other.co_consts, other.co_names, other.co_varnames, other.co_name)


def test_every_rule_builds_with_the_function_werkzeug_compiles_for_it(app: Flask) -> None:
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 100
    for rule in rules:
        for bound, unknown in ((rule._build, False), (rule._build_unknown, True)):
            assert bound.__self__ is rule
            fresh = url_builders.compile_builder(rule, unknown)
            assert _same(bound.__func__.__code__, fresh.__code__), rule.rule


def test_a_second_app_shares_the_builders_and_builds_the_same_urls(app: Flask, tmp_path: Path) -> None:
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    first = {(rule.endpoint, rule.rule): rule for rule in app.url_map.iter_rules()}
    for rule in other.url_map.iter_rules():
        assert rule._build.__func__ is first[rule.endpoint, rule.rule]._build.__func__
        assert rule._build.__self__ is rule  # bound to its own rule (and so to its own converters)
    for flask_app in (app, other):
        with flask_app.test_request_context():
            assert url_for("passports.page", public_id="P-1") == "/passports/P-1"
            assert url_for("lots.index", colour="white") == "/lots?colour=white"
            assert url_for("passports.version_json", public_id="P-1", number=3) == "/passports/P-1/versions/3"


def test_rules_that_differ_get_different_builders(app: Flask) -> None:
    builders = {}
    for rule in app.url_map.iter_rules():
        builders.setdefault(rule.rule, set()).add(rule._build.__func__)
    functions = [next(iter(found)) for found in builders.values()]
    assert len(set(functions)) == len(functions)  # one function per distinct rule text


def _state(rule):  # type: ignore[no-untyped-def]
    converters = {name: (type(c), {k: v for k, v in vars(c).items() if k != "map"}, c.map is rule.map)
                  for name, c in rule._converters.items()}
    return list(rule._parts), list(rule._trace), converters, set(rule.arguments)


def test_every_rule_of_a_later_app_is_parsed_as_werkzeug_parses_it(app: Flask, tmp_path: Path) -> None:
    """The second app's rules come from what the first app's compiling kept: each one's parts (the regular
    expressions it matches with, their weights), trace, converters (of its own map, with the same settings) and
    arguments are those Werkzeug's own ``Rule.compile`` gives it."""
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    rules = list(other.url_map.iter_rules())
    assert any(rule._converters for rule in rules)
    for rule in rules:
        kept = _state(rule)
        assert all(same for _type, _vars, same in kept[2].values()), rule.rule  # this map's converters
        url_builders.compile_rule(rule)  # Werkzeug's own, on the same rule
        assert _state(rule) == kept, rule.rule
    with other.test_request_context():
        assert url_for("lots.detail", code="USCC-1") == "/lots/USCC-1"


def test_a_converter_changed_after_a_maps_first_rule_is_the_one_its_later_rules_match_with() -> None:
    """An app may change a converter after its first rule (``guards.init_app`` bounds ``int`` after Flask's static
    rule): a later rule is compiled with the converter as it is then, not as the map had it at first."""
    from werkzeug.exceptions import NotFound
    from werkzeug.routing import IntegerConverter, Map, Rule

    class ThreeDigits(IntegerConverter):
        regex = r"\d{1,3}"

    Map([Rule("/first", endpoint="first"), Rule("/n/<int:n>", endpoint="n")])  # compiled with Werkzeug's int
    changed = Map([Rule("/first", endpoint="first")])
    changed.converters["int"] = ThreeDigits
    changed.add(Rule("/n/<int:n>", endpoint="n"))
    urls = changed.bind("localhost")
    assert urls.match("/n/123") == ("n", {"n": 123})
    with pytest.raises(NotFound):
        urls.match("/n/1234")
