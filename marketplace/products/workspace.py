"""The MSME workspace: an MSME editor's own product lines and products, and nobody else's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.db import today, utcnow
from marketplace.forms_common import translations
from marketplace.i18n import label
from marketplace.money import from_minor
from marketplace.products import services
from marketplace.products.forms import (
    SERVICES,
    ActionForm,
    ComponentForm,
    ImageForm,
    LineForm,
    ProductForm,
    SourceForm,
    StepForm,
    VariantForm,
    fill_localised,
    localised,
    product_data,
)
from marketplace.products.images import MAX_BYTES, ImageRejected
from marketplace.products.models import DataBasis, Product, RecycledOrigin, StepKind
from marketplace.products.rules import circular_terms, format_composition

bp = Blueprint("workspace", __name__, url_prefix="/workspace")


def _org_ids() -> list[int]:
    return sorted(current_user.organisation_ids(Role.msme_editor))


def _own_product(product_id: int) -> Product:
    product = services.product_of(product_id, _org_ids())
    if product is None:
        abort(404)
    return product


def _line_choices(form: ProductForm) -> None:
    form.line_id.choices = [
        SelectChoice(line.id, line.name.get("en", line.slug)) for line in services.lines_of(_org_ids())
    ]


def _source_choices(form: SourceForm) -> None:
    form.lot_id.choices = [
        SelectChoice(o.lot.id, _("%(code)s · %(coop)s · %(state)s %(colour)s · %(kg)s kg left", code=o.lot.code,
                                 coop=o.lot.cooperative.name, state=label(o.lot.state), colour=label(o.lot.colour),
                                 kg=f"{o.remaining_kg:f}"))
        for o in services.sourceable_lots()
    ]


def _component_choices(form: ComponentForm, product: Product) -> None:
    form.component_id.choices = [
        SelectChoice(o.product.id, _("%(sku)s · %(maker)s · batch %(batch)s · %(kg)s kg left", sku=o.product.sku,
                                     maker=o.product.organisation.name, batch=o.product.batch_code or "—",
                                     kg=f"{o.remaining_kg:f}"))
        for o in services.sourceable_batches(exclude_product_id=product.id)
    ]


def _step_choices(form: StepForm) -> None:
    form.kind.choices = [SelectChoice(k.value, label(k)) for k in StepKind]
    form.facility_id.choices = [
        SelectChoice(o.id, f"{o.name} ({o.city or (o.aimag.name_en if o.aimag else '')})")
        for o in services.facilities()
    ]
    basis = [SelectChoice("", _("— choose —")), *[SelectChoice(b.value, label(b)) for b in DataBasis]]
    for name in ("energy_basis", "water_basis", "co2e_basis"):
        form[name].choices = basis


@bp.route("/products")
@roles(Role.msme_editor)
def index():  # type: ignore[no-untyped-def]
    org_ids = _org_ids()
    return render_template(
        "products/workspace/index.html", products=services.products_of(org_ids), lines=services.lines_of(org_ids)
    )


@bp.route("/lines/new", methods=["GET", "POST"])
@roles(Role.msme_editor)
def new_line():  # type: ignore[no-untyped-def]
    form = LineForm()
    if form.validate_on_submit():
        try:
            services.create_line(_org_ids()[0], form.slug.data, localised(form, "name"), localised(form, "description"))
        except services.ProductError as error:
            form[error.field or "slug"].errors = [error.message]
        else:
            flash(_("Product line created."), "success")
            return redirect(url_for("workspace.index"))
    return render_template("products/workspace/line_form.html", form=form), 422 if form.is_submitted() else 200


def _product_data(form: ProductForm) -> services.ProductData:
    return product_data(form)


def _product_form(product: Product | None) -> ProductForm:
    form = ProductForm(obj=None)
    _line_choices(form)
    form.recycled_origin.choices = [SelectChoice(o.value, label(o)) for o in RecycledOrigin]
    if product is not None and request.method == "GET":
        form.line_id.data = product.line_id
        form.sku.data = product.sku
        form.gtin.data = product.gtin or ""
        fill_localised(form, "name", product.name)
        fill_localised(form, "description", product.description or {})
        form.composition.data = format_composition(product.fibre_composition)
        form.recycled_pct.data = product.recycled_pct
        form.recycled_origin.data = product.recycled_origin.value
        form.dyed.data = "dyed" if product.dyed else "undyed"
        form.care_codes.data = list(product.care_codes or [])
        form.sizes.data = ", ".join(product.sizes or [])
        form.weight_g.data = product.weight_g
        form.price_eur.data = from_minor(product.price_minor, "EUR")
        form.production_date.data = product.production_date
        form.batch_code.data = product.batch_code
        offered = circular_terms(product.circular_services)
        for key in SERVICES:
            terms = offered.get(key)
            form[f"service_{key}"].data = terms is not None
            fill_localised(form, f"service_{key}_conditions", terms["conditions"] if terms else {})
            price = terms["price_minor"] if terms else None
            form[f"service_{key}_price_eur"].data = None if price is None else from_minor(price, terms["currency"])
    return form


@bp.route("/products/new", methods=["GET", "POST"])
@roles(Role.msme_editor)
def new_product():  # type: ignore[no-untyped-def]
    form = _product_form(None)
    if not form.line_id.choices:
        flash(_("Create a product line first: every product belongs to one."), "info")
        return redirect(url_for("workspace.new_line"))
    if form.validate_on_submit():
        data = _product_data(form)
        line_org = next(line.organisation_id for line in services.lines_of(_org_ids()) if line.id == data.line_id)
        try:
            product = services.save_product(None, line_org, data)
        except services.ProductError as error:
            form[error.field or "sku"].errors = [error.message]
        else:
            flash(_("Product created as a draft. Now add pictures, source lots and processing steps."), "success")
            return redirect(url_for("workspace.product", product_id=product.id))
    return render_template("products/workspace/product_form.html", form=form, product=None), \
        422 if form.is_submitted() else 200


def _render_product(product: Product, status: int = 200, **forms: Any):  # type: ignore[no-untyped-def]
    details = forms.get("details") or _product_form(product)
    source_form = forms.get("source") or SourceForm(formdata=None)
    step_form = forms.get("step") or StepForm(formdata=None)
    image_form = forms.get("image") or ImageForm(formdata=None)
    component_form = forms.get("component") or ComponentForm(formdata=None)
    _component_choices(component_form, product)
    _source_choices(source_form)
    _step_choices(step_form)
    if step_form.performed_on.data is None and not step_form.errors:
        step_form.performed_on.data = today()
    return render_template(
        "products/workspace/product.html", product=product, details=details, source_form=source_form,
        step_form=step_form, image_form=image_form, component_form=component_form, action=ActionForm(),
        problems=services.submission_problems(product), max_mb=MAX_BYTES // (1024 * 1024),
        locked=product.status not in services.EDITABLE, error=forms.get("error"),
    ), status


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@roles(Role.msme_editor)
def product(product_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    form = _product_form(product)
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.save_product(product, product.organisation_id, _product_data(form))
            except services.ProductError as error:
                if error.field and error.field in form:
                    form[error.field].errors = [error.message]
                return _render_product(product, 422, details=form, error=error.message)
            flash(_("Changes saved. Submit the product again for approval to publish them."), "success")
            return redirect(url_for("workspace.product", product_id=product.id))
        return _render_product(product, 422, details=form)
    return _render_product(product, details=form)


@bp.route("/products/<int:product_id>/images", methods=["POST"])
@roles(Role.msme_editor)
def add_image(product_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    form = ImageForm()
    upload: FileStorage | None = request.files.get("image")
    if form.validate_on_submit() and (upload is None or not upload.filename):
        form.image.errors = [_("Choose a picture to upload.")]
    elif form.validate_on_submit() and upload is not None:
        data = upload.stream.read(MAX_BYTES + 1)
        alt = {k: v for k, v in {"en": form.alt_en.data.strip(), "mn": (form.alt_mn.data or "").strip()}.items() if v}
        try:
            services.add_image(product, data, alt)
        except ImageRejected as error:
            form.image.errors = [str(error)]
        except services.ProductError as error:
            form.image.errors = [error.message]
        else:
            flash(_("Picture added."), "success")
            return redirect(url_for("workspace.product", product_id=product.id) + "#images")
    return _render_product(product, 422, image=form)


@bp.route("/products/<int:product_id>/images/<int:image_id>/remove", methods=["POST"])
@roles(Role.msme_editor)
def remove_image(product_id: int, image_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.remove_image(product, image_id)
    except services.ProductError as error:
        return _render_product(product, 422, error=error.message)
    flash(_("Picture removed from the product."), "success")
    return redirect(url_for("workspace.product", product_id=product.id) + "#images")


@bp.route("/products/<int:product_id>/sources", methods=["POST"])
@roles(Role.msme_editor)
def add_source(product_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    form = SourceForm()
    _source_choices(form)
    if form.validate_on_submit():
        try:
            services.link_source(product, form.lot_id.data, form.kg.data)
        except services.ProductError as error:
            form[error.field if error.field in ("lot_id", "kg") else "kg"].errors = [error.message]
        else:
            flash(_("Lot linked."), "success")
            return redirect(url_for("workspace.product", product_id=product.id) + "#sources")
    return _render_product(product, 422, source=form)


@bp.route("/products/<int:product_id>/sources/<int:lot_id>/remove", methods=["POST"])
@roles(Role.msme_editor)
def remove_source(product_id: int, lot_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.unlink_source(product, lot_id)
    except services.ProductError as error:
        return _render_product(product, 422, error=error.message)
    flash(_("Lot unlinked."), "success")
    return redirect(url_for("workspace.product", product_id=product.id) + "#sources")


@bp.route("/products/<int:product_id>/components", methods=["POST"])
@roles(Role.msme_editor)
def add_component(product_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    form = ComponentForm()
    _component_choices(form, product)
    if form.validate_on_submit():
        try:
            services.link_component(product, form.component_id.data, form.kg.data)
        except services.ProductError as error:
            form[error.field if error.field in ("component_id", "kg") else "kg"].errors = [error.message]
        else:
            flash(_("Yarn batch linked."), "success")
            return redirect(url_for("workspace.product", product_id=product.id) + "#sources")
    return _render_product(product, 422, component=form)


@bp.route("/products/<int:product_id>/components/<int:component_id>/remove", methods=["POST"])
@roles(Role.msme_editor)
def remove_component(product_id: int, component_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.unlink_component(product, component_id)
    except services.ProductError as error:
        return _render_product(product, 422, error=error.message)
    flash(_("Yarn batch unlinked."), "success")
    return redirect(url_for("workspace.product", product_id=product.id) + "#sources")


def _step_data(form: StepForm) -> services.StepData:
    def basis(name: str) -> DataBasis | None:
        return DataBasis(form[name].data) if form[name].data else None

    return services.StepData(
        kind=StepKind(form.kind.data), facility_id=form.facility_id.data, performed_on=form.performed_on.data,
        kg_in=form.kg_in.data, kg_out=form.kg_out.data, energy_kwh=form.energy_kwh.data,
        energy_basis=basis("energy_basis"), water_l=form.water_l.data, water_basis=basis("water_basis"),
        co2e_kg=form.co2e_kg.data, co2e_basis=basis("co2e_basis"), source_note=(form.source_note.data or "").strip(),
        source_note_translations=translations(form, "source_note"),
    )


@bp.route("/products/<int:product_id>/steps", methods=["POST"])
@roles(Role.msme_editor)
def add_step(product_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    form = StepForm()
    _step_choices(form)
    if form.validate_on_submit():
        try:
            services.add_step(product, _step_data(form))
        except services.ProductError as error:
            target = error.field if error.field in form else "kg_out"
            form[target].errors = [error.message]
        else:
            flash(_("Processing step recorded."), "success")
            return redirect(url_for("workspace.product", product_id=product.id) + "#steps")
    return _render_product(product, 422, step=form)


@bp.route("/products/<int:product_id>/steps/<int:step_id>/remove", methods=["POST"])
@roles(Role.msme_editor)
def remove_step(product_id: int, step_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.remove_step(product, step_id)
    except services.ProductError as error:
        return _render_product(product, 422, error=error.message)
    flash(_("Processing step removed."), "success")
    return redirect(url_for("workspace.product", product_id=product.id) + "#steps")


@bp.route("/products/<int:product_id>/submit", methods=["POST"])
@roles(Role.msme_editor)
def submit(product_id: int):  # type: ignore[no-untyped-def]
    product = _own_product(product_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.submit(product, utcnow())
    except services.ProductError as error:
        return _render_product(product, 422, error=error.message)
    flash(_("Submitted. The Union will check the certificates of the source lots and approve or reject it."), "success")
    return redirect(url_for("workspace.product", product_id=product.id))



@bp.route("/products/<int:product_id>/stock", methods=["GET", "POST"])
@roles(Role.msme_editor)
def stock(product_id: int):  # type: ignore[no-untyped-def]
    """The product's sizes with their stock and GTINs; a new size is added with the empty row."""
    product = _own_product(product_id)
    form = VariantForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("products/workspace/stock.html", product=product, form=form), 422
        try:
            services.save_variant(product, form.variant_id.data, size=form.size.data or "",
                                  colour=form.colour.data or "", stock=form.stock.data or 0, gtin=form.gtin.data)
        except services.ProductError as error:
            return render_template("products/workspace/stock.html", product=product, form=form,
                                   error=error.message), 422
        flash(_("Stock saved."), "success")
        return redirect(url_for("workspace.stock", product_id=product.id)), 303
    return render_template("products/workspace/stock.html", product=product, form=form)
