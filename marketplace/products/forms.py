from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    Field,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from marketplace.forms_common import (
    BoundedIntegerField,
    FiniteDecimalField,
    MoneyPlaces,
    OptionalSelectField,
    add_translation_fields,
    bounded_int,
)
from marketplace.money import to_minor
from marketplace.products.editing import ProductData
from marketplace.products.models import DataBasis, RecycledOrigin, StepKind
from marketplace.products.rules import CARE_SYMBOLS, gtin_is_valid, parse_composition

LOCALES = ("en", "mn", "fr", "de", "it", "zh")
LOCALE_NAMES = {"en": _l("English"), "mn": _l("Mongolian"), "fr": _l("French"), "de": _l("German"),
                "it": _l("Italian"), "zh": _l("Chinese")}
SERVICES = {"take_back": _l("Take-back"), "repair": _l("Repair"), "resale": _l("Resale")}
BASIS_CHOICES = [SelectChoice("", _l("— choose —")), *[SelectChoice(b.value, b.value) for b in DataBasis]]


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class Precision:
    """At most ``places`` decimals and at most ``maximum``, as the database column stores them."""

    def __init__(self, places: int, maximum: int) -> None:
        self.places, self.maximum = places, maximum

    def __call__(self, form: FlaskForm, field: Field) -> None:
        value = field.data
        if value is None:
            return
        if not value.is_finite() or value.as_tuple().exponent < -self.places:
            raise ValidationError(_l("Give at most %(places)d decimal places.", places=self.places))
        if abs(value) > self.maximum:
            raise ValidationError(_l("That is more than %(max)s.", max=self.maximum))


KG = Precision(3, 1_000_000)


def _localised_fields(cls: type, prefix: str, label: Any, area: bool, max_len: int) -> None:
    for code in LOCALES:
        kind = TextAreaField if area else StringField
        validators: list[Any] = [Length(max=max_len)]
        validators.insert(0, DataRequired() if code == "en" and not area else Optional())
        setattr(cls, f"{prefix}_{code}", kind(_l("%(what)s (%(language)s)", what=label, language=LOCALE_NAMES[code]),
                                               validators=validators))


def localised(form: FlaskForm, prefix: str) -> dict[str, str]:
    values = {code: (form[f"{prefix}_{code}"].data or "").strip() for code in LOCALES}
    return {code: text for code, text in values.items() if text}


def fill_localised(form: FlaskForm, prefix: str, values: dict[str, str]) -> None:
    for code in LOCALES:
        form[f"{prefix}_{code}"].data = values.get(code, "")


class LineForm(FlaskForm):
    slug = StringField(_l("Short name for the address"), validators=[
        DataRequired(), Length(max=80),
        Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$", message=_l("Use lower-case letters, digits and hyphens only.")),
    ], description=_l("For example “undyed-essentials”."))


_localised_fields(LineForm, "name", _l("Name"), False, 120)
_localised_fields(LineForm, "description", _l("Description"), True, 2000)


class ProductForm(FlaskForm):
    line_id = SelectField(_l("Product line"), coerce=bounded_int, validators=[InputRequired()])
    sku = StringField(_l("SKU"), validators=[
        DataRequired(), Length(max=40),
        Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", message=_l("Use letters, digits, dots, hyphens and underscores.")),
    ])
    gtin = StringField(_l("GTIN (optional)"), validators=[Optional(), Length(max=14)],
                       description=_l("8, 12, 13 or 14 digits, with its check digit."))
    composition = TextAreaField(_l("Fibre composition (%)"), validators=[DataRequired()],
                                description=_l("One fibre per line, e.g. “cashmere: 95” and “silk: 5”. "
                                               "The total must be 100."))
    recycled_pct = FiniteDecimalField(_l("Recycled content (%)"), places=2, default=Decimal(0),
                                      validators=[InputRequired(), Precision(2, 100), NumberRange(min=0, max=100)])
    recycled_origin = SelectField(_l("Origin of the recycled content"),
                                  choices=[SelectChoice(o.value, o.value) for o in RecycledOrigin])
    dyed = SelectField(_l("Colour"), choices=[SelectChoice("undyed", _l("Undyed (natural colour)")),
                                              SelectChoice("dyed", _l("Dyed"))])
    care_codes = CheckboxList(_l("Care instructions (ISO 3758)"),
                              choices=[SelectChoice(code, text) for code, text in CARE_SYMBOLS.items()])
    sizes = StringField(_l("Sizes"), validators=[Optional(), Length(max=200)],
                        description=_l("Separated by commas, e.g. “S, M, L” or “one size”."))
    weight_g = FiniteDecimalField(_l("Weight (g)"), places=1,
                                  validators=[InputRequired(), Precision(1, 100_000), NumberRange(min=Decimal("0.1"))])
    price_eur = FiniteDecimalField(_l("Consumer price (EUR)"), places=2,
                                   validators=[InputRequired(), MoneyPlaces("EUR"),
                                               NumberRange(min=Decimal("0.01"), max=1_000_000)])
    production_date = DateField(_l("Production date"), validators=[Optional()],
                                description=_l("The source lots' certificates must be valid on this date."))
    batch_code = StringField(_l("Production batch"), validators=[Optional(), Length(max=40)])

    def validate_gtin(self, field: Field) -> None:
        if field.data and not gtin_is_valid(field.data.strip()):
            raise ValidationError(_l("This GTIN's check digit is wrong, or it is not 8, 12, 13 or 14 digits."))

    def validate_composition(self, field: Field) -> None:
        try:
            self.parsed_composition = parse_composition(field.data or "")
        except ValueError as error:
            raise ValidationError(str(error)) from None

    def sizes_list(self) -> list[str]:
        return [s.strip() for s in re.split(r"[,;]", self.sizes.data or "") if s.strip()][:20]

    def services(self) -> dict[str, Any]:
        """The services offered, structured (``products.rules.circular_terms``): conditions per language and
        a price (none: free of charge)."""
        result = {}
        for key in SERVICES:
            if self[f"service_{key}"].data:
                price = self[f"service_{key}_price_eur"].data
                result[key] = {"conditions": localised(self, f"service_{key}_conditions"),
                               "price_minor": None if price is None else to_minor(price, "EUR"), "currency": "EUR"}
        return result



def product_data(form: ProductForm) -> ProductData:
    """What a validated product form says, for ``save_product`` (the product page and the import alike)."""
    return ProductData(
        line_id=form.line_id.data, sku=form.sku.data.strip(), gtin=(form.gtin.data or "").strip() or None,
        name=localised(form, "name"), description=localised(form, "description"),
        fibre_composition=form.parsed_composition, recycled_pct=form.recycled_pct.data,
        recycled_origin=RecycledOrigin(form.recycled_origin.data), dyed=form.dyed.data == "dyed",
        care_codes=list(form.care_codes.data or []), sizes=form.sizes_list(), weight_g=form.weight_g.data,
        price_minor=to_minor(form.price_eur.data, "EUR"), circular_services=form.services(),
        production_date=form.production_date.data, batch_code=(form.batch_code.data or "").strip(),
    )


_localised_fields(ProductForm, "name", _l("Name"), False, 120)
_localised_fields(ProductForm, "description", _l("Description"), True, 4000)
for _key, _text in SERVICES.items():
    setattr(ProductForm, f"service_{_key}", BooleanField(_l("Offers %(service)s", service=_text)))
    _localised_fields(ProductForm, f"service_{_key}_conditions", _l("%(service)s conditions", service=_text), True,
                      1000)
    setattr(ProductForm, f"service_{_key}_price_eur", FiniteDecimalField(
        _l("%(service)s price for this product in EUR (leave empty for the cost in your service terms, or free)",
           service=_text), places=2,
        validators=[Optional(), MoneyPlaces("EUR"), NumberRange(min=0, max=100_000)]))


class ImageForm(FlaskForm):
    image = FileField(_l("Picture (JPEG, PNG or WebP, at most 10 MB)"))
    alt_en = StringField(_l("Description of the picture for people who cannot see it (English)"),
                         validators=[DataRequired(), Length(max=300)])
    alt_mn = StringField(_l("Description of the picture (Mongolian)"), validators=[Optional(), Length(max=300)])


class SourceForm(FlaskForm):
    lot_id = SelectField(_l("Certified lot"), coerce=bounded_int, validators=[InputRequired()])
    kg = FiniteDecimalField(_l("Quantity used (kg)"), places=3, validators=[InputRequired(), KG])

    def validate_kg(self, field: Field) -> None:
        if field.data is not None and (not field.data.is_finite() or field.data <= 0):
            raise ValidationError(_l("The quantity must be more than 0 kg."))


class ComponentForm(FlaskForm):
    component_id = SelectField(_l("Yarn batch (a published batch)"), coerce=bounded_int, validators=[InputRequired()])
    kg = FiniteDecimalField(_l("Quantity used (kg)"), places=3, validators=[InputRequired(), KG])

    def validate_kg(self, field: Field) -> None:
        if field.data is not None and (not field.data.is_finite() or field.data <= 0):
            raise ValidationError(_l("The quantity must be more than 0 kg."))


class StepForm(FlaskForm):
    kind = SelectField(_l("Step"), choices=[SelectChoice(k.value, k.value) for k in StepKind])
    facility_id = SelectField(_l("Facility"), coerce=bounded_int, validators=[InputRequired()])
    performed_on = DateField(_l("Date"), validators=[InputRequired()])
    kg_in = FiniteDecimalField(_l("Kg in"), places=3, validators=[InputRequired(), KG])
    kg_out = FiniteDecimalField(_l("Kg out"), places=3, validators=[InputRequired(), KG])
    energy_kwh = FiniteDecimalField(_l("Energy (kWh)"), places=2,
                                    validators=[Optional(), Precision(2, 10**9), NumberRange(min=0)])
    energy_basis = OptionalSelectField(_l("Energy figure is"), choices=BASIS_CHOICES, validators=[Optional()])
    water_l = FiniteDecimalField(_l("Water (litres)"), places=1,
                                 validators=[Optional(), Precision(1, 10**10), NumberRange(min=0)])
    water_basis = OptionalSelectField(_l("Water figure is"), choices=BASIS_CHOICES, validators=[Optional()])
    co2e_kg = FiniteDecimalField(_l("Emissions (kg CO₂e)"), places=3,
                                 validators=[Optional(), Precision(3, 10**8), NumberRange(min=0)])
    co2e_basis = OptionalSelectField(_l("Emissions figure is"), choices=BASIS_CHOICES, validators=[Optional()])
    source_note = StringField(_l("Source of the figures"), validators=[Optional(), Length(max=300)])

    def _positive(self, field: Field) -> None:
        if field.data is not None and (not field.data.is_finite() or field.data <= 0):
            raise ValidationError(_l("Kg must be more than 0."))

    validate_kg_in = _positive

    def validate_kg_out(self, field: Field) -> None:
        self._positive(field)

    def _basis(self, value_field: str, field: Field) -> None:
        if self[value_field].data is not None and not field.data:
            raise ValidationError(_l("Say whether this figure is measured, declared or estimated."))

    def validate_energy_basis(self, field: Field) -> None:
        self._basis("energy_kwh", field)

    def validate_water_basis(self, field: Field) -> None:
        self._basis("water_l", field)

    def validate_co2e_basis(self, field: Field) -> None:
        self._basis("co2e_kg", field)


add_translation_fields(StepForm, "source_note", _l("Source of the figures"), 300)


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the rejection"), validators=[DataRequired(), Length(max=2000)],
                           description=_l("The MSME sees this reason and can correct the product."))


class ActionForm(FlaskForm):
    """A button-only form (submit, approve, remove): only its CSRF token."""


class CatalogueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField(_l("Search products"), validators=[Optional(), Length(max=512)],
                    description=_l("Name, maker, fibre or origin, in any language."))
    recycled = BooleanField(_l("Recycled content"))
    undyed = BooleanField(_l("Undyed (natural colour)"))
    repairable = BooleanField(_l("Repair service"))
    line = StringField(_l("Product line"), validators=[Optional(), Length(max=80)])


class VariantForm(FlaskForm):
    """One size of a product: its stock and, if it has one, its GTIN (``variant_id`` empty: a new size)."""

    variant_id = BoundedIntegerField(validators=[Optional()])
    size = StringField(_l("Size"), validators=[DataRequired(), Length(max=20)])
    colour = StringField(_l("Colour (where the line has several)"), validators=[Optional(), Length(max=40)])
    stock = BoundedIntegerField(_l("In stock"), validators=[InputRequired(), NumberRange(min=0, max=100_000)])
    gtin = StringField(_l("GTIN (optional)"), validators=[Optional(), Length(max=14)])
