"""schemathesis against the search API's own OpenAPI document, in process through the WSGI app.

Every operation of ``/api/v1/openapi.json`` gets schema-conforming (positive) and schema-violating
(negative) requests, deterministic and bounded, and every response goes through every built-in
check: no 5xx, documented status codes, content types, headers and response schemas, invalid
input refused and valid input accepted, unsupported methods answered 405 with ``Allow``.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection

MAX_EXAMPLES = 30  # per operation and mode
CASES: Counter[str] = Counter()
WIRE_VALID = " (valid on the wire)"
# Range pairs: the document says an upper bound may not be below its lower bound, which JSON Schema
# cannot express across parameters; the API answers such a pair with 400, so positive cases keep them ordered.
BOUNDS = (("micron_min", "micron_max"), ("length_min", "length_max"), ("price_min", "price_max"))


def _ordered_bounds(case):  # type: ignore[no-untyped-def]
    query = case.query or {}
    for low, high in BOUNDS:
        both = (query.get(low), query.get(high))
        if all(isinstance(v, int | float) for v in both) and both[0] > both[1]:
            query[low], query[high] = query[high], query[low]
    return case


def _coerce(text: str, schema: dict[str, Any]) -> Any:
    """A query-string value as the server reads it: numbers from their text, anything else as text."""
    with contextlib.suppress(ValueError):
        if schema.get("type") == "integer" and re.fullmatch(r"\s*[+-]?\d+\s*", text):
            return int(text)
        if schema.get("type") == "number" and math.isfinite(number := float(text)):
            return number
    return text


def wire_valid(url: str, parameters: list[dict[str, Any]]) -> bool:
    """Whether the query string actually sent satisfies the document.

    A query string carries only text: a number given to a text parameter, a one-item list given to a
    single-value one, or an object (which vanishes) arrive as valid text. schemathesis still counts
    such a case as negative; the server rightly accepts it, so only the other checks apply to it.
    """
    by_name = {p["name"]: p for p in parameters}
    for name, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items():
        if name == "lang":
            continue
        if name not in by_name:
            return False
        schema = by_name[name]["schema"]
        if schema.get("type") == "array":
            value: Any = [_coerce(v, schema["items"]) for v in values]
        elif len(values) == 1:
            value = _coerce(values[0], schema)
        else:
            return False
        if not Draft202012Validator(schema).is_valid(value):
            return False
    return True


@pytest.fixture(scope="module", autouse=True)
def report_cases() -> Iterator[None]:
    yield
    total = sum(n for key, n in CASES.items() if not key.endswith(WIRE_VALID))
    print(f"\nschemathesis: {total} cases, {dict(sorted(CASES.items()))}")  # noqa: T201 (quoted in the report)


def _fuzz(operation, mode: GenerationMode) -> None:  # type: ignore[no-untyped-def]
    """Up to MAX_EXAMPLES generated requests to ``operation``, each through every built-in check."""
    key = f"{operation.label} {mode}"
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = strategy.map(_ordered_bounds)
    parameters = operation.definition.raw["parameters"]

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=strategy)
    def check(case) -> None:  # type: ignore[no-untyped-def]
        CASES[key] += 1
        response = case.call()
        if mode is GenerationMode.NEGATIVE and wire_valid(response.request.url, parameters):
            CASES[key + WIRE_VALID] += 1
            case.validate_response(response, excluded_checks=[negative_data_rejection])
        else:
            case.validate_response(response)

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_api_conforms_to_its_openapi_document(demo_app: Flask, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", demo_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} == {"GET /api/v1/lots", "GET /api/v1/products"}
    for operation in operations:
        _fuzz(operation, mode)
    assert all(CASES[f"{op.label} {mode}"] > 0 for op in operations)


@pytest.mark.parametrize(("query", "message"), [
    ("q=a&q=b", "Give each of these parameters once: q"),
    ("page=", "These parameters need a number: page"),
    ("price_min=&page=2", "These parameters need a number: price_min"),
])
def test_ambiguous_or_empty_parameters_are_refused(client, query: str, message: str) -> None:  # type: ignore[no-untyped-def]
    for path in ("/api/v1/lots", "/api/v1/products"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert response.get_json()["error"] == message


def test_list_parameters_take_only_documented_choices_and_at_most_30_values(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/products?recycled=none&dyed=yes&dyed=no").status_code == 200
    assert "recycled" in client.get("/api/v1/products?recycled=bogus").get_json()["fields"]
    assert "dyed" in client.get("/api/v1/products?dyed=maybe").get_json()["fields"]
    assert client.get("/api/v1/lots?" + "&".join(["colour=white"] * 30)).status_code == 200
    assert "colour" in client.get("/api/v1/lots?" + "&".join(["colour=white"] * 31)).get_json()["fields"]
    assert "state" in client.get("/api/v1/lots?" + "&".join(["state=greasy"] * 31)).get_json()["fields"]
