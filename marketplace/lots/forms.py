from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.lots.models import Colour, FibreState

SORTS = [
    SelectChoice("newest", _l("Newest first")),
    SelectChoice("price", _l("Price, low to high")),
    SelectChoice("-price", _l("Price, high to low")),
    SelectChoice("micron", _l("Finest first (micron)")),
]


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LotFilterForm(FlaskForm):
    """The lot list's filters, read from the query string (GET, so no CSRF token)."""

    class Meta:
        csrf = False

    colour = CheckboxList(_l("Colour"), choices=[SelectChoice(c.value) for c in Colour], validate_choice=True)
    state = CheckboxList(_l("State"), choices=[SelectChoice(s.value) for s in FibreState])
    aimag = CheckboxList(_l("Aimag"), choices=[])
    season = CheckboxList(_l("Season"), coerce=int, choices=[])
    micron_min = DecimalField(_l("Micron from"), places=1, validators=[Optional(), NumberRange(min=10, max=25)])
    micron_max = DecimalField(_l("Micron to"), places=1, validators=[Optional(), NumberRange(min=10, max=25)])
    sort = SelectField(_l("Sort by"), choices=SORTS, default="newest", validators=[Optional()])
    page = IntegerField(_l("Page"), default=1, validators=[Optional(), NumberRange(min=1, max=10_000)])

    def validate_micron_max(self, field: DecimalField) -> None:
        low = self.micron_min.data
        if low is not None and field.data is not None and field.data < low:
            raise ValidationError(_l("The upper micron limit is below the lower one."))
