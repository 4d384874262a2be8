from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField, MoneyPlaces
from marketplace.i18n import LABELS
from marketplace.lots.models import Colour
from marketplace.pricing.models import MicronBand


def premium_field_name(band: MicronBand, colour: Colour) -> str:
    return f"premium_{band.value}_{colour.value}"


class PolicyForm(FlaskForm):
    season = BoundedIntegerField(_l("Combing season (year)"),
                                 validators=[InputRequired(), NumberRange(min=2000, max=2100)])
    currency = SelectField(_l("Currency"), choices=[SelectChoice("EUR", "EUR"), SelectChoice("USD", "USD")],
                           validators=[InputRequired()])
    greasy_floor = FiniteDecimalField(_l("Floor per kg, greasy fibre"), places=2,
                                      validators=[InputRequired(), NumberRange(min=0.01, max=100_000), MoneyPlaces()])
    dehaired_floor = FiniteDecimalField(_l("Floor per kg, dehaired fibre"), places=2,
                                        validators=[InputRequired(), NumberRange(min=0.01, max=100_000), MoneyPlaces()])
    published_on = DateField(_l("Published on"), validators=[InputRequired()])
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=1000)])


for _band in MicronBand:
    for _colour in Colour:
        setattr(PolicyForm, premium_field_name(_band, _colour), FiniteDecimalField(
            _l("Premium per kg, %(band)s, %(colour)s", band=LABELS[_band.value], colour=LABELS[_colour.value]),
            places=2, default=0, validators=[InputRequired(), NumberRange(min=0, max=100_000), MoneyPlaces()],
        ))
