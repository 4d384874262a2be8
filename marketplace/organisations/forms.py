"""Organisation forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class RegistrationNumberForm(FlaskForm):
    registration_number = StringField(
        _l("VAT or registration number"), validators=[DataRequired(), Length(max=40)],
        description=_l("EU buyers: the VAT number (e.g. IT00743110157). Mongolian companies: the 7-digit "
                       "state registration number. The Union checks it before you can order samples or "
                       "accept quotes."),
    )
