from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Field,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.forms_common import (
    BoundedIntegerField,
    FiniteDecimalField,
    MoneyPlaces,
    OptionalSelectField,
    bounded_int,
)
from marketplace.i18n import LABELS
from marketplace.lots import listing
from marketplace.lots.models import Colour, FibreState, GoatSorting, Incoterm, PriceBasis, TestMethod
from marketplace.money import to_minor
from marketplace.search.port import MAX_QUERY_LENGTH

SORTS = [
    SelectChoice("", _l("Best match")),
    SelectChoice("newest", _l("Newest first")),
    SelectChoice("price", _l("Price, low to high")),
    SelectChoice("-price", _l("Price, high to low")),
    SelectChoice("micron", _l("Finest first (micron)")),
]
MAX_VALUES = 30
MAX_VALUE_LENGTH = 80


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class FacetList(CheckboxList):
    """A facet whose values come from the index: any short value is accepted (unknown ones match nothing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [])
        kwargs.setdefault("validate_choice", False)
        kwargs.setdefault("validators", [short_values])
        super().__init__(*args, **kwargs)


def short_values(form: FlaskForm, field: Field) -> None:
    values = field.data or []
    if len(values) > MAX_VALUES:
        raise ValidationError(_l("Choose at most %(n)d values.", n=MAX_VALUES))
    if any(len(v) > MAX_VALUE_LENGTH for v in values):
        raise ValidationError(_l("A value is longer than %(n)d characters.", n=MAX_VALUE_LENGTH))


def ordered(low_name: str, message: Any) -> Any:
    def check(form: FlaskForm, field: Field) -> None:
        low = form[low_name].data
        if low is not None and field.data is not None and field.data < low:
            raise ValidationError(message)

    return check


FLAG_FALSE = ("false", "", "0", "no", "off")
FLAG_TRUE = ("true", "1", "yes", "on", "y")


def _flag(_form: FlaskForm, field: Field) -> None:
    raw = str(field.raw_data[0]).strip().lower() if field.raw_data else ""
    if raw not in FLAG_FALSE + FLAG_TRUE:
        raise ValidationError(_l("Give 1 to include these lots, or 0 to leave them out."))


class LotFilterForm(FlaskForm):
    """The lot search, read from the query string (GET, so no CSRF token). Also used by the API."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search lots"), validators=[Optional(), Length(max=MAX_QUERY_LENGTH)])
    colour = CheckboxList(_l("Colour"), choices=[SelectChoice(c.value) for c in Colour], validate_choice=True,
                          validators=[short_values])
    state = CheckboxList(_l("State"), choices=[SelectChoice(s.value) for s in FibreState], validators=[short_values])
    aimag = FacetList(_l("Aimag"))
    cooperative = FacetList(_l("Cooperative"))
    scheme = FacetList(_l("Certification scheme"))
    tier = FacetList(_l("Certification tier"))
    season = FacetList(_l("Season"))
    micron_min = FiniteDecimalField(_l("Micron from"), places=1, validators=[Optional(), NumberRange(min=10, max=25)])
    micron_max = FiniteDecimalField(_l("Micron to"), places=1, validators=[
        Optional(), NumberRange(min=10, max=25),
        ordered("micron_min", _l("The upper micron limit is below the lower one."))])
    length_min = FiniteDecimalField(_l("Length from"), places=1, validators=[Optional(), NumberRange(min=0, max=200)])
    length_max = FiniteDecimalField(_l("Length to"), places=1, validators=[
        Optional(), NumberRange(min=0, max=200),
        ordered("length_min", _l("The upper length limit is below the lower one."))])
    price_min = FiniteDecimalField(_l("Price from"), places=2,
                                         validators=[Optional(), NumberRange(min=0, max=1_000_000)])
    price_max = FiniteDecimalField(_l("Price to"), places=2, validators=[
        Optional(), NumberRange(min=0, max=1_000_000),
        ordered("price_min", _l("The upper price limit is below the lower one."))])
    available_min = FiniteDecimalField(
        _l("At least (kg)"), places=0, validators=[Optional(), NumberRange(min=0, max=10_000_000)])
    sort = OptionalSelectField(_l("Sort by"), choices=SORTS, default="", validators=[Optional()])
    page = BoundedIntegerField(_l("Page"), default=1, validators=[Optional(), NumberRange(min=1, max=10_000)])
    include_invalid = BooleanField(_l("Also show lots whose certificate is suspended, revoked or expired"),
                                   false_values=FLAG_FALSE, validators=[_flag])



def _choices(enum: Any) -> list[SelectChoice]:
    return [SelectChoice(v.value, LABELS.get(v.value, v.value)) for v in enum]


class NewLotForm(FlaskForm):
    """A cooperative manager's lot: where it comes from, its lab results, quantity, price and certificate.

    Ranges here catch typing mistakes; ``listing.list_new_lot`` checks the rules (certificate, floor price).
    """

    season = BoundedIntegerField(_l("Combing season (year)"),
                                 validators=[InputRequired(), NumberRange(min=2000, max=2100)])
    soum_id = SelectField(_l("Soum"), coerce=bounded_int, validate_choice=False, validators=[InputRequired()])
    herder_households = BoundedIntegerField(_l("Herder households"),
                                            validators=[InputRequired(), NumberRange(min=1, max=10_000)])
    colour = SelectField(_l("Colour"), choices=_choices(Colour))
    sorting = SelectField(_l("Goat sorting"), choices=_choices(GoatSorting))
    state = SelectField(_l("State"), choices=_choices(FibreState))
    mean_diameter_um = FiniteDecimalField(_l("Mean fibre diameter (µm)"), places=1, validators=[
        InputRequired(), NumberRange(min=10, max=19, message=_l("Cashmere is 10 to 19 µm; check the lab report."))])
    diameter_cv_pct = FiniteDecimalField(_l("Coefficient of variation of diameter (%)"), places=1,
                                         validators=[InputRequired(), NumberRange(min=0, max=99.9)])
    fibres_over_30um_pct = FiniteDecimalField(_l("Fibres over 30 µm (%)"), places=2,
                                              validators=[InputRequired(), NumberRange(min=0, max=100)])
    mean_length_mm = FiniteDecimalField(_l("Mean length (mm)"), places=1,
                                        validators=[InputRequired(), NumberRange(min=1, max=150)])
    hair_content_pct = FiniteDecimalField(_l("Hair content (%)"), places=2,
                                          validators=[InputRequired(), NumberRange(min=0, max=100)])
    dehairing_yield_pct = FiniteDecimalField(_l("Dehairing yield (%)"), places=1, validators=[
        Optional(), NumberRange(min=1, max=100)], description=_l("Required for greasy fibre."))
    vegetable_matter_pct = FiniteDecimalField(_l("Vegetable matter (%)"), places=2,
                                              validators=[InputRequired(), NumberRange(min=0, max=100)])
    moisture_regain_pct = FiniteDecimalField(_l("Moisture regain (%)"), places=1,
                                             validators=[InputRequired(), NumberRange(min=0, max=99.9)])
    test_method = SelectField(_l("Test method"), choices=[SelectChoice(t.value, t.value) for t in TestMethod])
    lab_name = StringField(_l("Laboratory"), validators=[DataRequired(), Length(max=200)])
    lab_report_number = StringField(_l("Lab report number"), validators=[DataRequired(), Length(max=60)])
    tested_on = DateField(_l("Tested on"), validators=[InputRequired()])
    net_kg = FiniteDecimalField(_l("Net weight (kg)"), places=3, validators=[
        InputRequired(), NumberRange(min=1, max=50_000, message=_l("A lot weighs from 1 to 50,000 kg."))])
    bags = BoundedIntegerField(_l("Bags"), validators=[InputRequired(), NumberRange(min=1, max=5_000)])
    min_order_kg = FiniteDecimalField(_l("Minimum order (kg)"), places=3,
                                      validators=[InputRequired(), NumberRange(min=1, max=50_000)])
    sample_size_g = BoundedIntegerField(_l("Sample size (g)"),
                                        validators=[InputRequired(), NumberRange(min=10, max=5_000)])
    currency = SelectField(_l("Currency"), choices=[SelectChoice("EUR", "EUR"), SelectChoice("USD", "USD")])
    price = FiniteDecimalField(_l("Price per kg"), places=2,
                               validators=[InputRequired(), NumberRange(min=0.01, max=100_000), MoneyPlaces()])
    premium = FiniteDecimalField(_l("Premium per kg"), places=2,
                                 validators=[InputRequired(), NumberRange(min=0, max=10_000), MoneyPlaces()])
    price_basis = SelectField(_l("Price basis"), choices=_choices(PriceBasis))
    incoterm = SelectField(_l("Incoterm"), choices=[SelectChoice(i.value, i.value) for i in Incoterm])
    incoterm_place = StringField(_l("Incoterm place"), validators=[DataRequired(), Length(max=120)])
    deposit_pct = FiniteDecimalField(_l("Deposit (%)"), places=2,
                                     validators=[InputRequired(), NumberRange(min=0, max=100)])
    price_valid_until = DateField(_l("Price valid until"), validators=[InputRequired()])
    herder_price_mnt = BoundedIntegerField(_l("Price paid to herders (MNT per kg, optional)"),
                                           validators=[Optional(), NumberRange(min=1, max=10_000_000)])
    premium_to_herders_pct = FiniteDecimalField(_l("Share of the premium passed to herders (%, optional)"), places=2,
                                                validators=[Optional(), NumberRange(min=0, max=100)])
    certificate_id = SelectField(_l("Certificate"), coerce=bounded_int, validate_choice=False,
                                 validators=[InputRequired()])


def lot_input(form: NewLotForm) -> listing.LotInput:
    """A validated lot form as the listing service's input (the form page and the spreadsheet import)."""
    names = set(listing.LotInput.__dataclass_fields__) - {"price_minor", "premium_minor", "herder_price_minor"}
    data = {name: form[name].data for name in names}
    for name, kind in (("colour", Colour), ("sorting", GoatSorting), ("state", FibreState),
                       ("test_method", TestMethod), ("price_basis", PriceBasis), ("incoterm", Incoterm)):
        data[name] = kind(data[name])
    for name in ("lab_name", "lab_report_number", "incoterm_place"):
        data[name] = data[name].strip()
    return listing.LotInput(**data, price_minor=to_minor(form.price.data, form.currency.data),
                            premium_minor=to_minor(form.premium.data, form.currency.data),
                            herder_price_minor=to_minor(form.herder_price_mnt.data, "MNT") if form.herder_price_mnt.data
                            else None)
