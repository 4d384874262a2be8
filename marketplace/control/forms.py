from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from marketplace.forms_common import OptionalRadioField, OptionalSelectField, bounded_int


class HouseholdForm(FlaskForm):
    reference = StringField(_l("Household reference in the cooperative's register"),
                            validators=[DataRequired(), Length(max=40)])


class AssessmentForm(FlaskForm):
    """The common part of a control step; criterion results are read as ``result_<criterion id>``."""

    scheme_id = HiddenField(validators=[InputRequired()])
    performed_on = DateField(_l("Date of the control"), validators=[InputRequired()])
    outcome = OptionalRadioField(_l("Outcome"), choices=[SelectChoice("passed", _l("Passed")),
                                                 SelectChoice("failed", _l("Failed"))], validators=[Optional()])
    decision = OptionalRadioField(_l("Decision on the certificate"), choices=[
        SelectChoice("issue", _l("Issue a certificate")), SelectChoice("renew", _l("Renew the certificate")),
        SelectChoice("suspend", _l("Suspend the certificate")), SelectChoice("revoke", _l("Revoke the certificate")),
    ], validators=[Optional()])
    tier = OptionalSelectField(_l("Tier"), choices=[], validators=[Optional()], validate_choice=False)
    valid_to = DateField(_l("Valid until (when issuing or renewing)"), validators=[Optional()])
    notes = TextAreaField(_l("Notes; for a suspension or revocation, the reason shown on every passport"),
                          validators=[Optional(), Length(max=2000)])


class ParticipationForm(FlaskForm):
    """Enrol a cooperative in a scheme, or accredit a certifier for it (choices filled by the view)."""

    organisation_id = SelectField(_l("Organisation"), coerce=bounded_int, validate_choice=False,
                                  validators=[InputRequired()])
    scheme_id = SelectField(_l("Certification scheme"), coerce=bounded_int, validate_choice=False,
                            validators=[InputRequired()])
