from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField, MoneyPlaces
from marketplace.funds.models import Fund
from marketplace.i18n import LABELS


class SplitForm(FlaskForm):
    season = BoundedIntegerField(_l("Season (year of the premium)"),
                                 validators=[InputRequired(), NumberRange(min=2000, max=2100)])
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=300)])


for _fund in Fund:
    setattr(SplitForm, f"pct_{_fund.value}", FiniteDecimalField(
        _l("%(fund)s (%%)", fund=LABELS[_fund.value]), places=2, default=0,
        validators=[InputRequired(), NumberRange(min=0, max=100)],
    ))


class CorrectionForm(FlaskForm):
    amount = FiniteDecimalField(_l("Corrected amount"), places=2,
                                validators=[InputRequired(), NumberRange(min=0, max=10_000_000), MoneyPlaces()])
    advance = BooleanField(_l("The corrected payment is an advance"))
    reason = StringField(_l("Reason for the correction"), validators=[DataRequired(), Length(max=300)])
