from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, Field, IntegerField, SearchField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.lots.models import Colour, FibreState
from marketplace.search.port import MAX_QUERY_LENGTH

SORTS = [
    SelectChoice("", _l("Best match")),
    SelectChoice("newest", _l("Newest first")),
    SelectChoice("price", _l("Price, low to high")),
    SelectChoice("-price", _l("Price, high to low")),
    SelectChoice("micron", _l("Finest first (micron)")),
]
MAX_VALUES = 30
MAX_VALUE_LENGTH = 80


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class FacetList(CheckboxList):
    """A facet whose values come from the index: any short value is accepted (unknown ones match nothing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [])
        kwargs.setdefault("validate_choice", False)
        kwargs.setdefault("validators", [short_values])
        super().__init__(*args, **kwargs)


class FiniteDecimalField(DecimalField):
    """A decimal that refuses NaN and infinities (they cannot be compared or indexed)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError(_l("Not a valid decimal value."))


def short_values(form: FlaskForm, field: Field) -> None:
    values = field.data or []
    if len(values) > MAX_VALUES:
        raise ValidationError(_l("Choose at most %(n)d values.", n=MAX_VALUES))
    if any(len(v) > MAX_VALUE_LENGTH for v in values):
        raise ValidationError(_l("A value is longer than %(n)d characters.", n=MAX_VALUE_LENGTH))


def ordered(low_name: str, message: Any) -> Any:
    def check(form: FlaskForm, field: Field) -> None:
        low = form[low_name].data
        if low is not None and field.data is not None and field.data < low:
            raise ValidationError(message)

    return check


class LotFilterForm(FlaskForm):
    """The lot search, read from the query string (GET, so no CSRF token). Also used by the API."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search lots"), validators=[Optional(), Length(max=MAX_QUERY_LENGTH)])
    colour = CheckboxList(_l("Colour"), choices=[SelectChoice(c.value) for c in Colour], validate_choice=True)
    state = CheckboxList(_l("State"), choices=[SelectChoice(s.value) for s in FibreState])
    aimag = FacetList(_l("Aimag"))
    cooperative = FacetList(_l("Cooperative"))
    scheme = FacetList(_l("Certification scheme"))
    tier = FacetList(_l("Certification tier"))
    season = FacetList(_l("Season"))
    micron_min = FiniteDecimalField(_l("Micron from"), places=1, validators=[Optional(), NumberRange(min=10, max=25)])
    micron_max = FiniteDecimalField(_l("Micron to"), places=1, validators=[
        Optional(), NumberRange(min=10, max=25),
        ordered("micron_min", _l("The upper micron limit is below the lower one."))])
    length_min = FiniteDecimalField(_l("Length from"), places=1, validators=[Optional(), NumberRange(min=0, max=200)])
    length_max = FiniteDecimalField(_l("Length to"), places=1, validators=[
        Optional(), NumberRange(min=0, max=200),
        ordered("length_min", _l("The upper length limit is below the lower one."))])
    price_min = FiniteDecimalField(_l("Price from"), places=2,
                                   validators=[Optional(), NumberRange(min=0, max=1_000_000)])
    price_max = FiniteDecimalField(_l("Price to"), places=2, validators=[
        Optional(), NumberRange(min=0, max=1_000_000),
        ordered("price_min", _l("The upper price limit is below the lower one."))])
    available_min = FiniteDecimalField(_l("At least (kg)"), places=0,
                                 validators=[Optional(), NumberRange(min=0, max=10_000_000)])
    sort = SelectField(_l("Sort by"), choices=SORTS, default="", validators=[Optional()])
    page = IntegerField(_l("Page"), default=1, validators=[Optional(), NumberRange(min=1, max=10_000)])

    FACETS = ("colour", "state", "aimag", "cooperative", "scheme", "tier", "season")
    RANGES = {  # noqa: RUF012 (read only)
        "micron": ("micron_min", "micron_max"),
        "length_mm": ("length_min", "length_max"),
        "price_per_kg": ("price_min", "price_max"),
        "available_kg": ("available_min", None),
    }
