"""Form fields and validators shared by every form of the site.

Every number typed by a person goes through these fields: a decimal is finite and of a size the site
can store and display (no ``NaN``, ``sNaN``, ``Infinity``, no 10**999); an integer fits a 64-bit
column; a money amount has no more decimals than its currency (the rule of :mod:`marketplace.money`).
``tests/site/test_hostile_input.py`` checks that no form uses wtforms' bare ``DecimalField``/``IntegerField``;
``tests/site/test_fuzz_forms.py`` sends every rendered form hostile values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, Field, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from marketplace.guards import MAX_ID, as_id
from marketplace.money import AmountPrecisionError, check_places

MAX_INT = MAX_ID  # a BIGINT column; also the largest <int:> URL argument
MAX_DECIMAL = Decimal(10) ** 18  # beyond every range the site accepts; with 3 places, within the 28 digits of Decimal


class FiniteDecimalField(DecimalField):
    """A decimal that refuses NaN, infinities and absurd magnitudes (they cannot be compared, stored
    or displayed) with a form error."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if not valuelist or self.data is None:
            return  # nothing submitted: the default (possibly an int such as 0) stands
        if not self.data.is_finite():
            self.data = None
            raise ValueError(_l("Not a valid decimal value."))
        if abs(self.data) >= MAX_DECIMAL:
            self.data = None
            raise ValueError(_l("That number is too large."))


class BoundedIntegerField(IntegerField):
    """An integer that fits a 64-bit column; a larger one is a form error, not a database error."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > MAX_INT:
            self.data = None
            raise ValueError(_l("That number is too large."))


class MoneyPlaces:
    """At most as many decimals as the amount's currency has (the rule of :func:`money.check_places`).

    The currency is ``currency`` when given (``"EUR"``); else the form's ``currency_code`` attribute, set
    by the route when the currency comes from the object (a quote request, a ledger entry); else the
    form's ``currency`` field.
    """

    def __init__(self, currency: str | None = None) -> None:
        self.currency = currency

    def __call__(self, form: FlaskForm, field: Field) -> None:
        currency = self.currency or getattr(form, "currency_code", None)
        if currency is None and "currency" in form:
            currency = form["currency"].data
        if field.data is None or not currency:
            return
        try:
            check_places(field.data, str(currency))
        except AmountPrecisionError as error:
            raise ValidationError(_l("%(currency)s amounts have at most %(places)d decimal places.",
                                     currency=error.currency, places=error.places)) from None


def int_arg(name: str) -> int | None:
    """A whole-number query parameter (a year, an id, a version), or None when it is missing, not
    digits or beyond 64 bits."""
    return as_id(request.args.get(name, ""))


def bounded_int(value: Any) -> int:
    """``coerce`` for choice fields of ids: like ``int``, but a value beyond 64 bits is not a choice."""
    number = int(value)
    if abs(number) > MAX_INT:
        raise ValueError("out of range")
    return number


class _BlankIsNoChoice:
    """A choice whose blank or whitespace-only value means "none chosen" (data ``""``): a value of
    spaces must not slip past ``Optional()`` into an enum conversion."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and isinstance(valuelist[0], str) and not valuelist[0].strip():
            valuelist = [""]
        super().process_formdata(valuelist)  # type: ignore[misc]


class OptionalSelectField(_BlankIsNoChoice, SelectField):
    """A select with a blank "none" choice; use with ``Optional()``."""


class OptionalRadioField(_BlankIsNoChoice, RadioField):
    """Radio buttons that may be left unchosen; use with ``Optional()``."""


# Translations of a text a person enters in English (shown on passports in the page's language) ----------------

TRANSLATED_LOCALES = ("mn", "fr", "de", "it", "zh")
_LANGUAGE_NAMES = {"mn": _l("Mongolian"), "fr": _l("French"), "de": _l("German"), "it": _l("Italian"),
                   "zh": _l("Chinese")}


def add_translation_fields(cls: type, prefix: str, label: Any, max_len: int, *, area: bool = False) -> None:
    """Optional ``<prefix>_<locale>`` fields for the text's translations, one per locale besides English."""
    for code in TRANSLATED_LOCALES:
        kind = TextAreaField if area else StringField
        setattr(cls, f"{prefix}_{code}", kind(_l("%(what)s (%(language)s)", what=label, language=_LANGUAGE_NAMES[code]),
                                               validators=[Optional(), Length(max=max_len)]))


def translations(form: FlaskForm, prefix: str) -> dict[str, str]:
    """The translations typed into ``add_translation_fields`` fields (locale → text, empty ones left out)."""
    values = {code: (form[f"{prefix}_{code}"].data or "").strip() for code in TRANSLATED_LOCALES}
    return {code: text for code, text in values.items() if text}
