"""The consumer catalogue (public) and the image variants it shows."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select

from marketplace import fx
from marketplace.access import public
from marketplace.db import today
from marketplace.extensions import db
from marketplace.forms_common import int_arg
from marketplace.passports.models import Passport
from marketplace.products import images, services
from marketplace.products import search as search_catalogue
from marketplace.products.forms import CatalogueFilterForm
from marketplace.products.models import ProductImage, ProductVariant
from marketplace.products.rules import CARE_SYMBOLS
from marketplace.search.port import SearchUnavailable

bp = Blueprint("products", __name__)


@bp.route("/products")
@public
def catalogue():  # type: ignore[no-untyped-def]
    form = CatalogueFilterForm(request.args)
    form.validate()
    filters = services.CatalogueFilters(
        recycled=bool(form.recycled.data), undyed=bool(form.undyed.data), repairable=bool(form.repairable.data),
        line=(form.line.data or None) if not form.line.errors else None,
    )
    versions = services.catalogue(filters)
    status = 200
    query = (form.q.data or "").strip() if not form.q.errors else ""
    if query:
        try:
            ranked = [int(hit["id"]) for hit in search_catalogue.find_matching_ids(query)]
        except SearchUnavailable:
            ranked, status = [], 503
        rank = {product_id: position for position, product_id in enumerate(ranked)}
        versions = sorted((v for v in versions if v.product_id in rank), key=lambda v: rank[v.product_id])
    lines: dict[int, list] = {}
    for version in versions:
        lines.setdefault(version.line_id, []).append(version)
    template = "products/_catalogue_results.html" if request.headers.get("HX-Request") else "products/catalogue.html"
    return render_template(
        template, form=form, lines=list(lines.values()), total=len(versions), search_down=status == 503,
    ), status, {"Vary": "HX-Request"}


@bp.route("/products/")
@public
def product_numbers():  # type: ignore[no-untyped-def]
    """The scheme of the products' SKUs, as a passport without a GTIN names it (``idScheme``): the catalogue."""
    return redirect(url_for("products.catalogue"), 308)


@bp.route("/products/<int:product_id>")
@public
def detail(product_id: int):  # type: ignore[no-untyped-def]
    number = int_arg("version")
    version = services.published_version(product_id, number)
    if version is None:
        abort(404)
    snap = version.snapshot
    lots_now = services.lot_certificate_now([s["lot_id"] for s in snap["sources"]])
    passport_id = db.session.scalar(select(Passport.public_id).where(Passport.product_id == product_id))
    return render_template(
        "products/detail.html", version=version, p=snap, lots_now=lots_now, today=today(),
        history=services.version_history(product_id), mnt=fx.to_mnt_minor(snap["price_minor"], snap["currency"]),
        passport_id=passport_id, latest=number is None,
        variants=list(db.session.scalars(select(ProductVariant).where(ProductVariant.product_id == product_id)
                                         .order_by(ProductVariant.position, ProductVariant.id))),
    )


@bp.route("/media/<int:image_id>/<variant>")
@public
def media(image_id: int, variant: str):  # type: ignore[no-untyped-def]
    """A resized variant (``640.webp``, ``320.jpg`` …). Originals are never served."""
    match = images.VARIANT_NAME.match(variant)
    image = db.session.get(ProductImage, image_id)
    if match is None or image is None:
        abort(404)
    if not services.image_visible(image, *services.viewer_scope(current_user)):
        abort(404)
    path = images.get_store().path(images.variant_key(image.sha256, int(match["width"]), match["fmt"]))
    if path is None:
        abort(404)
    response = send_file(path, mimetype="image/webp" if match["fmt"] == "webp" else "image/jpeg", max_age=31536000)
    # Public and immutable once a published version shows it; a working-copy picture is never cached for others.
    response.headers["Cache-Control"] = ("public, max-age=31536000, immutable" if services.image_public(image)
                                         else "private, no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.app_template_global()
def care_label(code: str) -> str:
    return str(CARE_SYMBOLS.get(code, code))




@bp.app_template_global()
def picture_pending(image: Any) -> bool:
    """Whether a picture's variants are still being made: its row says so, or (an image of a version's
    snapshot) it is among the pending ones, looked up once per request."""
    ready = getattr(image, "variants_ready", None)
    if ready is not None:
        return not ready
    if "pending_images" not in g:
        g.pending_images = services.pending_image_ids()
    return int(image["id"]) in g.pending_images


@bp.app_template_global()
def variant_widths(image_width: int) -> list[tuple[int, int]]:
    """(variant, true width) pairs for ``srcset``: variants are never upscaled, so the descriptor is the real width."""
    pairs = []
    for width in images.WIDTHS:
        pairs.append((width, min(width, image_width)))
        if width >= image_width:
            break
    return pairs
