"""Each test makes its own app (``create_app``), and most of that time was Werkzeug compiling two URL builder
functions per rule (an AST put through ``compile``, ~190 rules): close to a second a test on this machine. A
builder depends only on the rule's parts, its defaults and converters; it takes the rule as its first argument
(``.self``) and asks the rule's own converters at call time. So the test process compiles each distinct builder
once and every later app binds the same function to its own rule. ``tests/core/test_url_builders.py`` checks
that every rule's builder is the one Werkzeug compiles for it. Nothing outside the tests is changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

compile_builder = Rule._compile_builder  # Werkzeug's own
_BUILDERS: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


def builder_key(rule: Rule, append_unknown: bool) -> tuple[Any, ...]:
    """Everything ``Rule._compile_builder`` reads: the parsed parts (domain and path), the defaults, and the
    converters (which turn a default that appears in the rule into a constant)."""
    converters = tuple(sorted(
        (name, type(converter), repr(sorted((k, repr(v)) for k, v in vars(converter).items() if k != "map")))
        for name, converter in rule._converters.items()))
    defaults = tuple(sorted((k, type(v), repr(v)) for k, v in (rule.defaults or {}).items()))
    return append_unknown, rule.rule, tuple(rule._trace), defaults, converters


def _cached(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    key = builder_key(self, append_unknown)
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = compile_builder(self, append_unknown)
    return builder


def install() -> None:
    Rule._compile_builder = _cached  # type: ignore[method-assign]
