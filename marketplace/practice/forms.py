from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from marketplace.forms_common import BoundedIntegerField, FiniteDecimalField


class CommitmentsForm(FlaskForm):
    labour = TextAreaField(_l("Labour"), validators=[DataRequired(), Length(max=2000)])
    health_safety = TextAreaField(_l("Occupational health and safety"), validators=[DataRequired(), Length(max=2000)])
    environment = TextAreaField(_l("Environment"), validators=[DataRequired(), Length(max=2000)])
    ethics = TextAreaField(_l("Anti-corruption and business ethics"), validators=[DataRequired(), Length(max=2000)])


class ReportForm(FlaskForm):
    year = BoundedIntegerField(_l("Year reported on"), validators=[InputRequired(), NumberRange(min=2000, max=2100)])
    energy_kwh = FiniteDecimalField(_l("Energy used (kWh)"), places=1,
                                    validators=[InputRequired(), NumberRange(min=0, max=1e12)])
    water_m3 = FiniteDecimalField(_l("Water used (m³)"), places=1,
                                  validators=[InputRequired(), NumberRange(min=0, max=1e12)])
    wastewater_treated = BooleanField(_l("Wastewater is treated before discharge"))
    wastewater_note = StringField(_l("How wastewater is treated (optional)"), validators=[Optional(), Length(max=500)])
    chemicals_management = TextAreaField(_l("Chemicals management"), validators=[DataRequired(), Length(max=2000)])
    workers_women = BoundedIntegerField(_l("Women workers"),
                                        validators=[InputRequired(), NumberRange(min=0, max=100_000)])
    workers_men = BoundedIntegerField(_l("Men workers"), validators=[InputRequired(), NumberRange(min=0, max=100_000)])
    incidents = BoundedIntegerField(_l("Workplace incidents"),
                                    validators=[InputRequired(), NumberRange(min=0, max=100_000)])
    incidents_note = StringField(_l("About the incidents (optional)"), validators=[Optional(), Length(max=500)])


class ReviewForm(FlaskForm):
    note = StringField(_l("Note to the MSME (required to return a report)"), validators=[Optional(), Length(max=500)])
