from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from marketplace.certification.models import Certificate, CertificationScheme
from marketplace.extensions import db
from marketplace.forms_common import (
    BoundedIntegerField,
    FiniteDecimalField,
    MoneyPlaces,
    OptionalSelectField,
    bounded_int,
)
from marketplace.i18n import label
from marketplace.lots.models import Colour, FibreState, Incoterm, Lot, PriceBasis
from marketplace.orders.services import MAX_ORDER_KG

FORM_ID = {"validators": [DataRequired(), Length(max=40)], "default": lambda: uuid.uuid4().hex}


def _positive_kg(_form: FlaskForm, field: FiniteDecimalField) -> None:
    if field.data is None:
        return
    if not field.data.is_finite() or field.data <= 0:
        raise ValidationError(_l("The quantity must be more than 0 kg."))
    if field.data > MAX_ORDER_KG:
        raise ValidationError(_l("That is more than the Union can supply in one order."))


class SampleForm(FlaskForm):
    form_id = HiddenField(**FORM_ID)
    address = TextAreaField(_l("Delivery address for the sample"), validators=[DataRequired(), Length(max=500)])


class QuoteRequestForm(FlaskForm):
    form_id = HiddenField(**FORM_ID)
    kg = FiniteDecimalField(_l("Quantity (kg)"), places=3, validators=[InputRequired(_l("Enter the quantity in kg.")),
                                                                        _positive_kg])
    incoterm = SelectField(
        _l("Incoterm"), validators=[DataRequired()],
        choices=[SelectChoice(Incoterm.FCA.value, _l("FCA: free carrier")),
                 SelectChoice(Incoterm.CPT.value, _l("CPT: carriage paid to")),
                 SelectChoice(Incoterm.DAP.value, _l("DAP: delivered at place"))],
    )
    incoterm_place = StringField(_l("Named place"), validators=[DataRequired(), Length(max=120)],
                                 description=_l("For example: Ulaanbaatar, Milan Malpensa, Biella."))
    currency = SelectField(_l("Currency"), choices=[SelectChoice("EUR", "EUR"), SelectChoice("USD", "USD")],
                           validators=[DataRequired()])
    max_micron = FiniteDecimalField(_l("Maximum mean fibre diameter (µm)"), places=1,
                                    validators=[Optional(), NumberRange(min=10, max=19)])
    colour = OptionalSelectField(_l("Colour"), validators=[Optional()], choices=[])
    min_length_mm = FiniteDecimalField(_l("Minimum mean length (mm)"), places=1,
                                       validators=[Optional(), NumberRange(min=1, max=100)])
    max_hair_pct = FiniteDecimalField(_l("Maximum hair content (%)"), places=2,
                                      validators=[Optional(), NumberRange(min=0, max=100)])
    fibre_state = OptionalSelectField(_l("Fibre state"), validators=[Optional()], choices=[])
    price_basis = OptionalSelectField(
        _l("Price basis"), validators=[Optional()], choices=[],
        description=_l("Greasy: per kg of combed fibre. Clean: per kg of dehaired fibre."))
    season = BoundedIntegerField(_l("Combing season (year)"), validators=[Optional(), NumberRange(min=2000, max=2100)])
    tier = OptionalSelectField(_l("Certification tier"), validators=[Optional()], choices=[])
    message = TextAreaField(_l("Message to the Union (optional)"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.colour.choices = [SelectChoice("", _l("Any colour"))] + [SelectChoice(c.value, label(c)) for c in Colour]
        self.fibre_state.choices = [SelectChoice("", _l("Any state"))] + [
            SelectChoice(s.value, label(s)) for s in FibreState]
        self.price_basis.choices = [SelectChoice("", _l("Any basis"))] + [
            SelectChoice(b.value, label(b)) for b in PriceBasis]
        self.tier.choices = [SelectChoice("", _l("Any tier"))] + [SelectChoice(t, t) for t in _tiers()]


def _tiers() -> list[str]:
    """The tiers of the schemes that certify lots (those of some lot's certificate), in each scheme's order: a
    tier of the enterprises' code of practice can never match a lot, so it is not offered (nor accepted)."""
    seen: dict[str, None] = {}
    lot_schemes = select(Certificate.scheme_id).join(Lot, Lot.certificate_id == Certificate.id)
    for scheme in db.session.scalars(select(CertificationScheme).where(CertificationScheme.id.in_(lot_schemes))
                                     .order_by(CertificationScheme.id)):
        for tier in scheme.tier_list:
            seen.setdefault(tier, None)
    return list(seen)


def lots_quote_form(codes: list[str], *args: object, **kwargs: object) -> QuoteRequestForm:
    """The quote request form for chosen lots: one optional kg field per lot, and an optional total."""

    class LotsQuoteRequestForm(QuoteRequestForm):
        kg = FiniteDecimalField(_l("Total quantity (kg)"), places=3, validators=[Optional(), _positive_kg],
                                description=_l("Leave empty when you give the kg of each lot; or give only the total "
                                               "and the Union shares it fairly across these lots."))

    for index, code in enumerate(codes):
        setattr(LotsQuoteRequestForm, f"lots-{index}-kg", FiniteDecimalField(
            _l("Kg from lot %(code)s", code=code), places=3, validators=[Optional()],
        ))
    return LotsQuoteRequestForm(*args, **kwargs)


class AcceptForm(FlaskForm):
    pass


class QuoteForm(FlaskForm):
    price = FiniteDecimalField(_l("Price per kg"), places=2,
                               validators=[InputRequired(), NumberRange(min=0.01, max=100000), MoneyPlaces()])
    premium = FiniteDecimalField(_l("Sustainability premium per kg"), places=2,
                                 validators=[InputRequired(), NumberRange(min=0, max=100000), MoneyPlaces()])
    valid_until = DateField(_l("Valid until"), validators=[InputRequired()])
    deposit_pct = BoundedIntegerField(_l("Deposit (%)"), default=30,
                                      validators=[InputRequired(), NumberRange(min=0, max=100)])
    note = TextAreaField(_l("Note to the buyer (optional)"), validators=[Optional(), Length(max=2000)])


class DeclineForm(FlaskForm):
    reason = TextAreaField(_l("Reason for declining"), validators=[DataRequired(), Length(max=2000)])


class AdjustForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the adjustment"), validators=[DataRequired(), Length(max=2000)])


class NoteForm(FlaskForm):
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=500)])


class PremiumPaymentForm(FlaskForm):
    cooperative_id = SelectField(_l("Cooperative"), coerce=bounded_int, validators=[InputRequired()], choices=[])
    amount = FiniteDecimalField(_l("Amount paid"), places=2,
                                validators=[InputRequired(), NumberRange(min=0.01, max=10_000_000), MoneyPlaces()])
    currency = SelectField(_l("Currency"), choices=[SelectChoice("EUR", "EUR"), SelectChoice("USD", "USD")],
                           validators=[DataRequired()])
    paid_on = DateField(_l("Paid on"), validators=[InputRequired()])
    reference = StringField(_l("Bank or transfer reference"), validators=[DataRequired(), Length(max=120)])
    advance = BooleanField(_l("This is an advance on premium not yet due"))
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=300)])


class ReviewedAcceptForm(FlaskForm):
    """Accepting a quote: the buyer confirms having reviewed the summary."""

    confirm = BooleanField(_l("I have reviewed the lots, quantities, prices, deposit, balance and terms above, "
                              "and accept this quote for my organisation."),
                           validators=[DataRequired(_l("Tick the box to confirm that you accept the quote."))])


class BuyerDeclineForm(FlaskForm):
    reason = TextAreaField(_l("Why are you declining? (optional)"), validators=[Optional(), Length(max=2000)])


class ShippingForm(FlaskForm):
    carrier = StringField(_l("Carrier"), validators=[DataRequired(), Length(max=80)])
    tracking_number = StringField(_l("Tracking or AWB number"), validators=[DataRequired(), Length(max=80)])
    shipped_on = DateField(_l("Shipped on"), validators=[Optional()])
    expected_on = DateField(_l("Expected delivery"), validators=[Optional()])


class BankTransferForm(FlaskForm):
    amount = FiniteDecimalField(_l("Amount received"), places=2,
                                validators=[InputRequired(), NumberRange(min=0.01, max=100_000_000), MoneyPlaces()])
    reference = StringField(_l("Bank reference of the transfer"), validators=[DataRequired(), Length(max=100)])
    received_on = DateField(_l("Received on"), validators=[InputRequired()])


class RefundForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the refund"), validators=[DataRequired(), Length(max=2000)])
    confirm = BooleanField(_l("I confirm the refund of the full amount to the buyer's card."),
                           validators=[DataRequired(_l("Tick the box to confirm the refund."))])


class CounterOfferForm(FlaskForm):
    form_id = HiddenField(**FORM_ID)
    kg = FiniteDecimalField(_l("Quantity you want (kg)"), places=3, validators=[InputRequired(), _positive_kg])
    price = FiniteDecimalField(_l("Price per kg you propose (optional)"), places=2,
                               validators=[Optional(), NumberRange(min=0.01, max=100_000), MoneyPlaces()])
    message = TextAreaField(_l("Message to the Union (optional)"), validators=[Optional(), Length(max=2000)])
