"""A quick reading of the lot API's query string, for the common, plainly valid case.

Building and validating ``LotFilterForm`` (18 wtforms fields bound, processed and validated) was about a
quarter of the site's CPU per API search. ``read`` answers the same ``LotSearch`` as
``LotSearch.from_form(form.data)`` of a form that validates, without building the form, but only for
values it can read without doubt: plain digits and decimals, choices spelled exactly, values within the
form's own limits (taken from the form's fields, not restated). For anything else (a number written
``+5``, ``1e3`` or `` 5``, a value out of range, a choice not offered, a bound above its pair) it returns
``None`` and the route falls back to the form, so bad input gets the form's own messages.
``tests/api/test_api_lot_params.py`` checks on generated query strings that ``read`` never accepts what
the form refuses and that what it accepts is what the form reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, SelectMultipleField
from wtforms.fields.core import UnboundField
from wtforms.validators import Length, NumberRange

from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField, OptionalSelectField
from marketplace.lots.forms import FLAG_FALSE, FLAG_TRUE, MAX_VALUE_LENGTH, MAX_VALUES, FacetList, LotFilterForm
from marketplace.lots.services import RANGES, LotSearch

_INTEGER = re.compile(r"[1-9][0-9]{0,8}")
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,3})?")
Reader = Callable[[list[str]], Any]
_NO = object()  # "not read here": the form decides


def _validators(field: UnboundField) -> list[Any]:
    return list(field.kwargs.get("validators") or ())


def _range(field: UnboundField) -> tuple[Any, Any]:
    found = [v for v in _validators(field) if isinstance(v, NumberRange)]
    if len(found) != 1:
        raise TypeError(f"{field}: expected one NumberRange")
    return found[0].min, found[0].max


def _number(field: UnboundField, pattern: re.Pattern[str], kind: Callable[[str], Any]) -> Reader:
    low, high = _range(field)

    def read(values: list[str]) -> Any:
        if len(values) != 1 or not pattern.fullmatch(values[0]):
            return _NO
        number = kind(values[0])
        if (low is not None and number < low) or (high is not None and number > high):
            return _NO
        return number

    return read


def _choices(field: UnboundField) -> frozenset[str]:
    return frozenset(str(choice.value) for choice in field.kwargs["choices"])


def _values(field: UnboundField) -> Reader:
    offered = None if field.field_class is FacetList or not field.kwargs.get("validate_choice", True) \
        else _choices(field)

    def read(values: list[str]) -> Any:
        if len(values) > MAX_VALUES or any(len(v) > MAX_VALUE_LENGTH for v in values):
            return _NO
        if offered is not None and not offered.issuperset(values):
            return _NO
        return values

    return read


def _text(field: UnboundField) -> Reader:
    longest = min(v.max for v in _validators(field) if isinstance(v, Length) and v.max >= 0)

    def read(values: list[str]) -> Any:
        return values[0] if len(values) == 1 and len(values[0]) <= longest else _NO

    return read


def _choice(field: UnboundField) -> Reader:
    offered = _choices(field)
    return lambda values: values[0] if len(values) == 1 and values[0] in offered else _NO


def _flag(_field: UnboundField) -> Reader:
    return lambda values: (values[0] not in FLAG_FALSE) if len(values) == 1 and values[0] in FLAG_FALSE + FLAG_TRUE \
        else _NO


def _reader(name: str, field: UnboundField) -> Reader:
    kind = field.field_class
    if kind is FiniteDecimalField:
        return _number(field, _DECIMAL, Decimal)
    if kind is BoundedIntegerField:
        return _number(field, _INTEGER, int)
    if issubclass(kind, SelectMultipleField):
        return _values(field)
    if kind is OptionalSelectField:
        return _choice(field)
    if kind is BooleanField:
        return _flag(field)
    if name == "q":
        return _text(field)
    raise TypeError(f"LotFilterForm.{name}: no quick reading for {kind.__name__}; add one or leave it to the form")


@cache
def readers() -> Mapping[str, Reader]:
    """Each field of the form and how to read it (built once, from the form's own fields)."""
    return {name: _reader(name, field) for name in dir(LotFilterForm)
            if isinstance(field := getattr(LotFilterForm, name), UnboundField)}


def read(args: MultiDict[str, str], ignored: frozenset[str] = frozenset()) -> LotSearch | None:
    """The search asked for, or ``None`` when the form must read it (anything unusual or invalid);
    parameters named in ``ignored`` (``lang``) are left aside."""
    fields = readers()
    data: dict[str, Any] = {}
    for name in args:
        if name in ignored:
            continue
        reader = fields.get(name)
        if reader is None:
            return None
        value = reader(args.getlist(name))
        if value is _NO:
            return None
        data[name] = value
    for low, high in RANGES.values():
        if high and data.get(low) is not None and data.get(high) is not None and data[high] < data[low]:
            return None
    return LotSearch.from_form(data)
