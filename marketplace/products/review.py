"""The Union's approval queue: approve a product only when its source lots' certificates hold."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace import fx
from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.products import services
from marketplace.products.forms import ActionForm, RejectForm
from marketplace.products.models import Product

bp = Blueprint("product_review", __name__, url_prefix="/union/products")


def _product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404)
    return product


def _render(product: Product, status: int = 200, reject_form: RejectForm | None = None, error: str | None = None):  # type: ignore[no-untyped-def]
    return render_template(
        "products/review/product.html", product=product, checks=services.certificate_checks(product),
        problems=services.approval_problems(product), action=ActionForm(),
        reject_form=reject_form or RejectForm(formdata=None), error=error,
        mnt=fx.to_mnt_minor(product.price_minor, product.currency),
    ), status


@bp.route("")
@roles(Role.union_staff, Role.admin)
def queue():  # type: ignore[no-untyped-def]
    return render_template("products/review/queue.html", products=services.awaiting_approval())


@bp.route("/<int:product_id>")
@roles(Role.union_staff, Role.admin)
def product(product_id: int):  # type: ignore[no-untyped-def]
    return _render(_product(product_id))


@bp.route("/<int:product_id>/approve", methods=["POST"])
@roles(Role.union_staff, Role.admin)
def approve(product_id: int):  # type: ignore[no-untyped-def]
    product = _product(product_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        version = services.approve(product, current_user.id, utcnow())
    except services.ProductError as error:
        return _render(product, 422, error=error.message)
    flash(_("Approved and published as version %(number)d.", number=version.number), "success")
    return redirect(url_for("product_review.queue"))


@bp.route("/<int:product_id>/reject", methods=["POST"])
@roles(Role.union_staff, Role.admin)
def reject(product_id: int):  # type: ignore[no-untyped-def]
    product = _product(product_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            services.reject(product, form.reason.data)
        except services.ProductError as error:
            return _render(product, 422, reject_form=form, error=error.message)
        flash(_("Rejected; the MSME sees your reason."), "success")
        return redirect(url_for("product_review.queue"))
    return _render(product, 422, reject_form=form)
