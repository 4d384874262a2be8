"""An MSME's product lines, products and their sizes and colours, imported from a spreadsheet (XLSX or CSV),
with pictures matched by file name from an uploaded zip.

One row is one size (and colour) of a product; the rows of one SKU are one product. Every row is checked by
the functions of the product pages: the product form (:class:`ProductForm`: composition summing to 100 %, GTIN
check digit, care symbols, price), the line form, the size form (:class:`VariantForm`), then the services
``create_line``, ``save_product`` and ``save_variant`` themselves, run inside a SAVEPOINT that the preview
rolls back, and each picture through ``images.process`` (Pillow: verified, decoded, metadata stripped) and,
on import, ``add_image``. The import is the same run, kept: one transaction.

Natural keys: a line by its short name, a product by its SKU, a size by (SKU, size, colour). A product that
already exists is left as it is (an import never edits a product's details or pictures); only its sizes that
do not exist yet are added. Importing the same file twice therefore changes nothing the second time.

The sheet's columns and template are ``import_sheet.py``; the pictures zip is ``import_pictures.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from itsdangerous import BadSignature
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.lots import sheets
from marketplace.lots.sheets import CellError, ImportFileError, Table
from marketplace.organisations.models import Organisation
from marketplace.products import images as image_files
from marketplace.products.editing import ProductError, add_image, create_line, lines_of, save_product
from marketplace.products.forms import LineForm, ProductForm, VariantForm, product_data
from marketplace.products.import_pictures import Pictures
from marketplace.products.import_sheet import COLUMNS, PRODUCT_COLUMNS, PRODUCT_FIELD, VARIANT_COLUMNS
from marketplace.products.models import Product, ProductLine, RecycledOrigin
from marketplace.products.stock import save_variant

# The column of each product form field (``import_sheet.PRODUCT_FIELD`` the other way).
PRODUCT_COLUMN = {"line_id": "line", "gtin": "product_gtin", "sizes": "size", "slug": "line"}
WEIGHT_UNITS = {"": Decimal(1), "g": Decimal(1), "kg": Decimal(1000)}
DYED = {"dyed": "dyed", "yes": "dyed", "y": "dyed", "true": "dyed", "1": "dyed", "x": "dyed",
        "undyed": "undyed", "no": "undyed", "n": "undyed", "false": "undyed", "0": "undyed", "": "undyed"}


# Checking rows ---------------------------------------------------------------------------------


@dataclass
class Row(sheets.SheetRow):  # existing: "SKU · size" when the size is already there
    adds_product: bool = False


@dataclass
class Preview:
    organisation: Organisation
    columns: list[str]
    rows: list[Row]
    products: list[Product] = field(default_factory=list)  # new products (kept only by an import)
    lines: list[str] = field(default_factory=list)  # short names of new lines

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def new_products(self) -> int:
        return sum(1 for r in self.rows if r.adds_product and r.status == "new")

    @property
    def blocking(self) -> list[Row]:
        return [r for r in self.rows if r.status == "error"]


DEFAULTS = {"recycled_pct": "0", "recycled_origin": RecycledOrigin.none.value, "dyed": "undyed"}


def _cell(key: str, raw: str) -> str | list[str]:
    """A cell as the product or size form receives it. Raises CellError."""
    if len(raw) > sheets.MAX_CELL and key not in ("description_en", "images"):
        raise CellError(_("Longer than %(n)d characters.", n=sheets.MAX_CELL))
    if not raw:
        return DEFAULTS.get(key, "")
    reader = READERS.get(key)
    return reader(raw) if reader is not None else raw.strip()


def _dyed(raw: str) -> str:
    if raw.strip().lower() not in DYED:
        raise CellError(_("“%(value)s” is not one of: %(choices)s.", value=raw, choices="yes, no"))
    return DYED[raw.strip().lower()]


def _origin(raw: str) -> str:
    folded = raw.strip().lower().replace("-", "_").replace(" ", "_")
    for origin in RecycledOrigin:
        if folded in (origin.value, str(label(origin)).strip().lower().replace(" ", "_")):
            return origin.value
    raise CellError(_("“%(value)s” is not one of: %(choices)s.", value=raw,
                      choices=", ".join(o.value for o in RecycledOrigin)))


def _plain_number(raw: str) -> str:
    return sheets.read_number(raw.replace("%", "").replace("€", "").replace("EUR", ""))


READERS: dict[str, Any] = {
    "recycled_pct": _plain_number, "price_eur": _plain_number, "stock": _plain_number,
    "weight_g": lambda raw: sheets.read_number(raw, WEIGHT_UNITS),
    "production_date": sheets.read_date, "dyed": _dyed, "recycled_origin": _origin,
    "care_codes": lambda raw: [c.strip() for c in re.split(r"[;,\n]", raw) if c.strip()],
    "composition": lambda raw: raw.replace(";", "\n"),
}


def _converted(row: Row) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in COLUMNS:
        if key in row.errors:
            continue
        try:
            values[key] = _cell(key, row.values.get(key, "").strip())
        except CellError as error:
            row.errors[key] = str(error)
    return values


def _group(rows: list[Row]) -> dict[str, list[tuple[Row, dict[str, Any]]]]:
    """The checkable rows by SKU, each with its converted cells; rows of one SKU must agree on the product."""
    groups: dict[str, list[tuple[Row, dict[str, Any]]]] = {}
    for row in rows:
        if row.status != "new":
            continue
        values = _converted(row)
        sku = str(values.get("sku", "")).strip()
        if not sku:
            row.errors.setdefault("sku", _("Give the product's SKU."))
            continue
        groups.setdefault(sku, []).append((row, values))
    for members in groups.values():
        first, first_values = members[0]
        for row, values in members[1:]:
            for key in PRODUCT_COLUMNS:
                given = row.values.get(key, "").strip()
                if given and key in values and key in first_values and values[key] != first_values[key]:
                    row.errors[key] = _("Differs from row %(row)d, the first row of this SKU.", row=first.number)
    return groups


class _Checker:
    def __init__(self, organisation: Organisation, pictures: Pictures | None) -> None:
        self.organisation = organisation
        self.pictures = pictures
        self.lines = {line.slug: line for line in lines_of([organisation.id])}
        self.line_errors: dict[str, dict[str, str]] = {}
        self.picture_errors: dict[str, str | None] = {}
        self.new_lines: list[str] = []

    def line(self, values: dict[str, Any]) -> tuple[ProductLine | None, dict[str, str]]:
        slug = str(values.get("line", "")).strip()
        if slug in self.lines:
            return self.lines[slug], {}
        if slug not in self.line_errors:
            form = LineForm(formdata=MultiDict({"slug": slug, "name_en": values.get("line_name") or slug}),
                            meta={"csrf": False})
            errors: dict[str, str] = {}
            if not form.validate():
                errors = {{"slug": "line", "name_en": "line_name"}.get(k, "line"): " ".join(map(str, v))
                          for k, v in form.errors.items()}
            else:
                try:
                    self.lines[slug] = create_line(self.organisation.id, slug, {"en": form.name_en.data.strip()}, {})
                    self.new_lines.append(slug)
                except ProductError as error:
                    errors = {"line": error.message}
            self.line_errors[slug] = errors
        return self.lines.get(slug), self.line_errors[slug]

    def product(self, row: Row, values: dict[str, Any], sizes: list[str]) -> Product | None:
        line, errors = self.line(values)
        if errors:
            row.errors.update(errors)
            return None
        assert line is not None
        formdata: MultiDict[str, Any] = MultiDict()
        for key in PRODUCT_COLUMNS:
            if key in ("line_name", "images"):
                continue
            value = values.get(key, "")
            name = PRODUCT_FIELD.get(key, key)
            for item in value if isinstance(value, list) else [value]:
                formdata.add(name, item)
        formdata["line_id"] = str(line.id)
        formdata["sku"] = values["sku"]
        formdata["sizes"] = ", ".join(sizes)
        form = ProductForm(formdata=formdata, meta={"csrf": False})
        form.line_id.choices = [(line.id, line.slug)]
        if not form.validate():
            for name, messages in form.errors.items():
                column = PRODUCT_COLUMN.get(name, name)
                row.errors[column if column in COLUMNS else "sku"] = " ".join(str(m) for m in messages)
            return None
        try:
            return save_product(None, self.organisation.id, product_data(form))
        except ProductError as error:
            column = PRODUCT_COLUMN.get(error.field or "sku", error.field or "sku")
            row.errors[column if column in COLUMNS else "sku"] = error.message
            return None

    def variant(self, row: Row, values: dict[str, Any], product: Product) -> None:
        form = VariantForm(formdata=MultiDict({k: values.get(k, "") for k in VARIANT_COLUMNS}), meta={"csrf": False})
        if not form.validate():
            for name, messages in form.errors.items():
                row.errors[name if name in COLUMNS else "size"] = " ".join(str(m) for m in messages)
            return
        try:
            save_variant(product, None, size=form.size.data or "", colour=form.colour.data or "",
                         stock=form.stock.data or 0, gtin=form.gtin.data)
        except ProductError as error:
            row.errors[error.field if error.field in VARIANT_COLUMNS else "size"] = error.message

    def picture_names(self, row: Row) -> list[str]:
        names = [n.strip() for n in re.split(r"[;,\n]", row.values.get("images", "")) if n.strip()]
        for name in names:
            problem = self.picture_problem(name)
            if problem:
                row.errors["images"] = problem
        return names

    def picture_problem(self, name: str) -> str | None:
        if name not in self.picture_errors:
            data = self.pictures.read(name) if self.pictures is not None else None
            if self.pictures is None:
                self.picture_errors[name] = _("Upload the zip of pictures with the spreadsheet.")
            elif data is None:
                self.picture_errors[name] = _("There is no picture called “%(name)s” in the zip.", name=name[:80])
            else:
                try:
                    image_files.process(data)
                    self.picture_errors[name] = None
                except image_files.ImageRejected as error:
                    self.picture_errors[name] = f"{name[:80]}: {error}"
        return self.picture_errors[name]


def _existing(organisation: Organisation, skus: set[str]) -> tuple[dict[str, Product], set[str]]:
    """The organisation's products among ``skus`` (with their sizes), and the SKUs another organisation has."""
    own: dict[str, Product] = {}
    others: set[str] = set()
    for product in db.session.scalars(select(Product).where(Product.sku.in_(skus))
                                      .options(selectinload(Product.variants))):
        if product.organisation_id == organisation.id:
            own[product.sku] = product
        else:
            others.add(product.sku)
    return own, others


def check_rows(organisation: Organisation, table: Table, skip: Any = (), pictures: Pictures | None = None,
               write: bool = False) -> Preview:
    """Every row checked by the product pages' forms and services in a SAVEPOINT; kept only when ``write`` is
    set and no row has an error (then the pictures are added too), rolled back otherwise."""
    savepoint = db.session.begin_nested()
    try:
        preview = _check(organisation, table, set(skip), pictures, write)
    except BaseException:
        savepoint.rollback()
        raise
    if write and not preview.blocking:
        savepoint.commit()
    else:
        savepoint.rollback()
        preview.products = []
    return preview


def _check(organisation: Organisation, table: Table, skip: set[int], pictures: Pictures | None,
           write: bool) -> Preview:
    rows = [Row(number, dict(values), skipped=number in skip) for number, values in table.rows]
    for row in rows:
        for key in table.formulas.get(row.number, []):
            row.errors[key] = _("A formula: formulas are never run. Type the value itself.")
    groups = _group(rows)
    own, others = _existing(organisation, set(groups))
    checker = _Checker(organisation, pictures)
    preview = Preview(organisation, table.columns, rows)
    images: list[tuple[Product, list[str], str]] = []
    for sku, members in groups.items():
        if sku in others:
            for row, _values in members:
                row.errors["sku"] = _("Another product already uses this SKU.")
            continue
        product = own.get(sku) or _new_product(checker, preview, members, images)
        if product is None:
            continue
        for row, values in members:
            size, colour = str(values.get("size", "")).strip(), str(values.get("colour", "")).strip()
            if sku in own and any(v.size == size and v.colour == colour for v in product.variants):
                row.existing = f"{sku} · {size}{' · ' + colour if colour else ''}"
                row.errors.clear()
            elif not row.errors:
                checker.variant(row, values, product)
    preview.lines = checker.new_lines
    if write and not preview.blocking:
        for product, names, alt in images:
            for name in names:
                data = pictures.read(name) if pictures is not None else None
                assert data is not None  # checked above
                add_image(product, data, {"en": alt} if alt else {})
    return preview


def _new_product(checker: _Checker, preview: Preview, members: list[tuple[Row, dict[str, Any]]],
                 images: list[tuple[Product, list[str], str]]) -> Product | None:
    """The product of a new SKU's rows, made from its first row; None (and every row blamed) on an error."""
    first, values = members[0]
    if first.errors:
        _blame(members, first)
        return None
    sizes = list(dict.fromkeys(str(v.get("size", "")).strip() for _r, v in members if v.get("size")))
    product = checker.product(first, values, sizes)
    names = checker.picture_names(first)
    if product is None or first.errors:
        _blame(members, first)
        return None
    first.adds_product = True
    preview.products.append(product)
    images.append((product, names, values.get("name_en", "")))
    return product


def _blame(members: list[tuple[Row, dict[str, Any]]], first: Row) -> None:
    for row, _values in members[1:]:
        if not row.errors:
            row.errors["sku"] = _("The product in row %(row)d has errors: fix them there.", row=first.number)


# Carrying the rows from the preview to the confirmation ----------------------------------------

SALT = "product-import"


def pack(user_id: int, organisation_id: int, filename: str, table: Table, pictures_sha: str | None) -> str:
    return sheets.serializer(SALT).dumps({
        "u": user_id, "o": organisation_id, "f": filename[:120], "k": table.columns, "p": pictures_sha or "",
        "r": [[n, v] for n, v in table.rows], "x": {str(n): ks for n, ks in table.formulas.items()},
    })


def unpack(token: str, user_id: int) -> tuple[int, str, Table, str]:
    """The organisation id, file name, rows and staged zip of a preview this person made (ImportFileError when
    not, or when older than ``TOKEN_MAX_AGE``)."""
    expired = _("The preview has expired or was changed: upload the file again.")
    try:
        payload = sheets.serializer(SALT).loads(token, max_age=sheets.TOKEN_MAX_AGE)
    except BadSignature as error:
        raise ImportFileError(expired) from error
    if payload.get("u") != user_id:
        raise ImportFileError(expired)
    table = Table(list(payload["k"]), [(int(n), dict(v)) for n, v in payload["r"]],
                  {int(n): list(ks) for n, ks in payload["x"].items()})
    return int(payload["o"]), str(payload["f"]), table, str(payload["p"])
