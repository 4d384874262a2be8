from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length

from marketplace.i18n import country_choices


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class SignUpForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(min=2, max=120)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(min=10, max=200, message=_l("Use at least 10 characters."))],
        description=_l("At least 10 characters."),
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )
    account_type = RadioField(
        _l("I am"),
        choices=[
            SelectChoice("brand_buyer", _l("A brand's sourcing team, buying cashmere")),
            SelectChoice("msme_editor", _l("A Mongolian textile company (MSME), publishing products")),
        ],
        validators=[DataRequired()],
    )
    organisation = StringField(_l("Organisation name"), validators=[DataRequired(), Length(min=2, max=200)])
    country = SelectField(_l("Country"), choices=country_choices, validators=[DataRequired()])  # all of ISO 3166
