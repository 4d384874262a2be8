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
        validators=[DataRequired(), Length(min=12, max=200, message=_l("Use at least 12 characters."))],
        description=_l("At least 12 characters, not a common password: a few unrelated words work well."),
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
    registration_number = StringField(
        _l("VAT or registration number"), validators=[DataRequired(), Length(max=40)],
        description=_l("EU buyers: the VAT number (e.g. IT00743110157). Mongolian companies: the 7-digit "
                       "state registration number. The Union checks it before you can order samples or "
                       "accept quotes."),
    )


class EmailForm(FlaskForm):
    """Password reset and confirmation resend: one address."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=12, max=200, message=_l("Use at least 12 characters."))],
        description=_l("At least 12 characters, not a common password: a few unrelated words work well."),
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
