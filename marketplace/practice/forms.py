from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class CommitmentsForm(FlaskForm):
    labour = TextAreaField(_l("Labour"), validators=[DataRequired(), Length(max=2000)])
    health_safety = TextAreaField(_l("Occupational health and safety"), validators=[DataRequired(), Length(max=2000)])
    environment = TextAreaField(_l("Environment"), validators=[DataRequired(), Length(max=2000)])
    ethics = TextAreaField(_l("Anti-corruption and business ethics"), validators=[DataRequired(), Length(max=2000)])


class ReportForm(FlaskForm):
    year = IntegerField(_l("Year reported on"), validators=[InputRequired(), NumberRange(min=2000, max=2100)])
    energy_kwh = DecimalField(_l("Energy used (kWh)"), places=1,
                              validators=[InputRequired(), NumberRange(min=0, max=1e12)])
    water_m3 = DecimalField(_l("Water used (m³)"), places=1, validators=[InputRequired(), NumberRange(min=0, max=1e12)])
    wastewater_treated = BooleanField(_l("Wastewater is treated before discharge"))
    wastewater_note = StringField(_l("How wastewater is treated (optional)"), validators=[Optional(), Length(max=500)])
    chemicals_management = TextAreaField(_l("Chemicals management"), validators=[DataRequired(), Length(max=2000)])
    workers_women = IntegerField(_l("Women workers"), validators=[InputRequired(), NumberRange(min=0, max=100_000)])
    workers_men = IntegerField(_l("Men workers"), validators=[InputRequired(), NumberRange(min=0, max=100_000)])
    incidents = IntegerField(_l("Workplace incidents"), validators=[InputRequired(), NumberRange(min=0, max=100_000)])
    incidents_note = StringField(_l("About the incidents (optional)"), validators=[Optional(), Length(max=500)])


class ReviewForm(FlaskForm):
    note = StringField(_l("Note to the MSME (required to return a report)"), validators=[Optional(), Length(max=500)])
