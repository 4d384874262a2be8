"""Each test makes its own app (``create_app``), and most of that time was Werkzeug compiling its ~190 URL rules:
parsing each rule's text into parts and converters, and compiling two URL builder functions per rule (an AST put
through ``compile``). None of that depends on the app: only on the rule's text, its defaults, the map's converter
classes and the map's host and slash settings. So the test process compiles each distinct rule once, and every later
app's rule of the same kind takes the parsed parts and the builder functions from it:

- the parts and the trace are copied (the lists are the rule's own; the parts are never changed by Werkzeug);
- the converters are made again, for this rule and its map, with the arguments the first compile passed
  (recorded from its ``get_converter`` calls);
- the builders are the same functions, bound to this rule (a builder takes the rule as ``self`` and asks the rule's
  own converters at call time).

``tests/core/test_url_builders.py`` checks that every rule ends up as Werkzeug compiles it. Nothing outside the
tests is changed. (A whole ``create_app`` took 38.8 ms of CPU with the builders alone kept, 2026-12-01.)"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.routing.converters import BaseConverter
from werkzeug.routing.rules import Rule, RulePart

compile_builder = Rule._compile_builder  # Werkzeug's own
compile_rule = Rule.compile
ConverterCall = tuple[str, str, tuple[Any, ...], Mapping[str, Any]]  # variable, converter name, args, kwargs


class _Compiled:
    __slots__ = ("build", "build_unknown", "converters", "parts", "trace")

    def __init__(self, rule: Rule, converters: list[ConverterCall]) -> None:
        self.parts: list[RulePart] = list(rule._parts)
        self.trace: list[tuple[bool, str]] = list(rule._trace)
        self.converters = converters
        self.build: Callable[..., tuple[str, str]] = rule._build.__func__  # type: ignore[attr-defined]
        self.build_unknown: Callable[..., tuple[str, str]] = rule._build_unknown.__func__  # type: ignore[attr-defined]


_RULES: dict[tuple[Any, ...], _Compiled] = {}


def rule_key(rule: Rule) -> tuple[Any, ...]:
    """Everything ``Rule.compile`` reads: the rule's class, text, host or subdomain, slash merging and defaults (a
    default that appears in the rule becomes a constant of the builder), and the map's converter classes (as they are
    when this rule is added: an app may change them after its first rule, e.g. ``guards.init_app`` after Flask's
    static rule) and whether it matches hosts."""
    url_map = rule.map
    assert url_map is not None
    converters: Mapping[str, type[BaseConverter]] = url_map.converters
    defaults = tuple(sorted((k, type(v), repr(v)) for k, v in (rule.defaults or {}).items()))
    return (type(rule), rule.rule, rule.host, rule.subdomain, rule.merge_slashes, defaults, url_map.host_matching,
            tuple(sorted(converters.items())))


def _compile(self: Rule) -> None:
    key = rule_key(self)
    compiled = _RULES.get(key)
    if compiled is None:
        calls: list[ConverterCall] = []
        get_converter = self.get_converter

        def recorded(variable: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> BaseConverter:
            calls.append((variable, name, args, kwargs))
            return get_converter(variable, name, args, kwargs)

        self.get_converter = recorded  # type: ignore[method-assign]
        try:
            compile_rule(self)
        finally:
            del self.get_converter
        _RULES[key] = _Compiled(self, calls)
        return
    self._parts = list(compiled.parts)
    self._trace = list(compiled.trace)
    self._converters = {}
    for variable, name, args, kwargs in compiled.converters:
        self._converters[variable] = self.get_converter(variable, name, args, kwargs)
        self.arguments.add(variable)
    self._build = compiled.build.__get__(self, None)
    self._build_unknown = compiled.build_unknown.__get__(self, None)


def install() -> None:
    Rule.compile = _compile  # type: ignore[method-assign]
