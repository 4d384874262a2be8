"""The product import's sheet: its columns (one row is one size and colour of a product; the rows of one SKU are
one product), each column's label, and the template an MSME downloads (XLSX or CSV, with a sheet of the
accepted values). Reading and checking the rows is ``imports.py``."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.csv_export import to_csv, to_xlsx
from marketplace.lots import sheets
from marketplace.products.forms import ProductForm, VariantForm
from marketplace.products.models import RecycledOrigin
from marketplace.products.rules import CARE_SYMBOLS

COLUMNS = (
    "line", "line_name", "sku", "name_en", "name_mn", "description_en", "composition", "recycled_pct",
    "recycled_origin", "dyed", "care_codes", "weight_g", "price_eur", "production_date", "batch_code",
    "product_gtin", "images", "size", "colour", "stock", "gtin",
)
OPTIONAL = frozenset({"line_name", "name_mn", "description_en", "recycled_pct", "recycled_origin", "dyed",
                      "care_codes", "production_date", "batch_code", "product_gtin", "images", "colour", "gtin"})
VARIANT_COLUMNS = frozenset({"size", "colour", "stock", "gtin"})
PRODUCT_COLUMNS = tuple(c for c in COLUMNS if c not in VARIANT_COLUMNS and c != "sku")
EXTRA_LABELS: dict[str, Any] = {
    "line": _l("Product line (short name)"),
    "line_name": _l("Product line name (for a new line)"),
    "dyed": _l("Dyed (yes or no)"),
    "product_gtin": _l("Product GTIN (optional)"),
    "images": _l("Pictures (file names in the zip, separated by ;)"),
    "gtin": _l("GTIN of the size (optional)"),
}

# The product form's fields, by column.
PRODUCT_FIELD = {"line": "line_id", "product_gtin": "gtin", "size": "sizes"}


def column_label(key: str) -> str:
    if key in EXTRA_LABELS:
        return str(EXTRA_LABELS[key])
    form = VariantForm if key in VARIANT_COLUMNS else ProductForm
    return str(getattr(form, PRODUCT_FIELD.get(key, key) if form is ProductForm else key).args[0])


SHEET = sheets.Sheet(COLUMNS, OPTIONAL, column_label, _l("The file has a header row but no products."))


# The template ----------------------------------------------------------------------------------

EXAMPLE = {
    "line": "undyed-essentials", "line_name": "Undyed essentials", "sku": "KK-SCARF-01",
    "name_en": "Undyed cashmere scarf", "name_mn": "Будаагүй ноолууран ороолт", "description_en": "",
    "composition": "cashmere: 100", "recycled_pct": "0", "recycled_origin": "none", "dyed": "no",
    "care_codes": "wash-hand; dry-flat", "weight_g": "180", "price_eur": "120.00", "production_date": "",
    "batch_code": "", "product_gtin": "", "images": "scarf-front.jpg", "size": "one size", "colour": "brown",
    "stock": "10", "gtin": "4006381333931",
}


def template_header() -> list[str]:
    return [f"{column_label(k)} [{k}]" for k in COLUMNS]


def _accepted(key: str) -> str:
    accepted = {
        "composition": _("fibre: percent, separated by commas; the total must be 100 (e.g. cashmere: 95, silk: 5)"),
        "recycled_origin": ", ".join(o.value for o in RecycledOrigin),
        "dyed": "yes, no",
        "care_codes": _("ISO 3758 codes separated by ;: %(codes)s", codes=", ".join(CARE_SYMBOLS)),
        "weight_g": _("a number; units: %(units)s", units="g, kg"),
        "production_date": _("a date: 2026-03-31, 31.03.2026 or 31/03/2026"),
        "product_gtin": _("8, 12, 13 or 14 digits, with its check digit."),
        "gtin": _("8, 12, 13 or 14 digits, with its check digit."),
        "images": _("file names of pictures in the zip (JPEG, PNG or WebP), separated by ;"),
        "line": _("lower-case letters, digits and hyphens; a new short name makes a new line"),
        "size": _("one row per size and colour; the rows of one SKU are one product"),
    }
    if key in accepted:
        return str(accepted[key])
    if key in ("recycled_pct", "price_eur", "stock"):
        return _("a number")
    return _("text")


def template_help() -> list[list[str]]:
    return [[f"{column_label(k)} [{k}]", _("optional") if k in OPTIONAL else _("required"), _accepted(k)]
            for k in COLUMNS]


def template_xlsx() -> bytes:
    return to_xlsx(template_header(), [[EXAMPLE[k] for k in COLUMNS]], title=str(_("Products")),
                   more=[(str(_("Columns")), [_("Column"), _("Required"), _("Accepted values")], template_help())])


def template_csv() -> str:
    return to_csv(template_header(), [[EXAMPLE[k] for k in COLUMNS]])
