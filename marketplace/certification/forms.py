from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from marketplace.forms_common import add_translation_fields


class StatusForm(FlaskForm):
    status = RadioField(_l("New status"), choices=[
        SelectChoice("suspended", _l("Suspend")),
        SelectChoice("active", _l("Reinstate (active)")),
        SelectChoice("revoked", _l("Revoke (final)")),
    ], validators=[DataRequired()])
    reason = TextAreaField(_l("Reason, shown on every affected passport"),
                           validators=[DataRequired(), Length(min=10, max=1000)],
                           description=_l("In English; add its translations below so that each passport shows it "
                                          "in its reader's language (an untranslated reason shows in English, "
                                          "marked as such)."))


add_translation_fields(StatusForm, "reason", _l("Reason"), 1000, area=True)
