"""An MSME reads and changes only its own organisation's data: every MSME route, walked as another MSME."""

from __future__ import annotations

import io

from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.accounts.models import Role
from marketplace.extensions import db
from tests import factories
from tests.helpers import text
from tests.products_helpers import jpeg_bytes, signed_in, token

KHANGAI_PRODUCT = 1  # demo product 1 belongs to Khangai Knitwear (msme@demo.example)


def _snapshot(app: Flask) -> dict[str, object]:
    with app.app_context():
        product = db.session.get(m.Product, KHANGAI_PRODUCT)
        return {
            "product": (product.status, product.version, product.sku, dict(product.name)),
            "sources": db.session.scalar(select(func.count()).select_from(m.ProductSource)),
            "steps": db.session.scalar(select(func.count()).select_from(m.ProcessingStep)),
            "images": db.session.scalar(select(func.count()).select_from(m.ProductImage)),
            "removed": db.session.scalar(select(func.count()).where(m.ProductImage.removed.is_(True))),
            "components": db.session.scalar(select(func.count()).select_from(m.ProductComponent)),
            "versions": db.session.scalar(select(func.count()).select_from(m.ProductVersion)),
        }


def test_every_msme_route_refuses_another_msme(demo_app: Flask) -> None:
    with demo_app.app_context():
        product = db.session.get(m.Product, KHANGAI_PRODUCT)
        assert product.organisation.slug == "khangai-knitwear"
        image_id = product.images[0].id
        lot_id = product.sources[0].lot_id
        step_id = product.steps[0].id
        line_id = product.line_id
        other_lot = db.session.scalar(select(m.Lot.id).where(m.Lot.code == "USCC-2025-ARK-015"))
        yarn_id = db.session.scalar(select(m.Product.id).where(m.Product.sku == "AYS-YARN-226-WH"))
    other_msme = factories.MsmeFactory(slug="rival-knits")
    intruder = factories.user_with_role(Role.msme_editor, other_msme)
    factories.ProductLineFactory(organisation=other_msme)
    client = signed_in(demo_app.test_client(), intruder)
    csrf = token(client)
    before = _snapshot(demo_app)

    # Every workspace route that takes a product, with the other MSME's product.
    base = f"/workspace/products/{KHANGAI_PRODUCT}"
    walked = set()
    requests = [
        ("GET", base, {}),
        ("POST", base, {"line_id": line_id, "sku": "STOLEN", "name_en": "Stolen", "composition": "cashmere: 100",
                        "recycled_pct": "0", "recycled_origin": "none", "dyed": "undyed", "weight_g": "1",
                        "price_eur": "1"}),
        ("POST", f"{base}/images", {"image": (io.BytesIO(jpeg_bytes()), "a.jpg"), "alt_en": "x"}),
        ("POST", f"{base}/images/{image_id}/remove", {}),
        ("POST", f"{base}/sources", {"lot_id": other_lot, "kg": "1"}),
        ("POST", f"{base}/sources/{lot_id}/remove", {}),
        ("POST", f"{base}/steps", {"kind": "knitting", "facility_id": other_msme.id, "performed_on": "2026-01-01",
                                   "kg_in": "1", "kg_out": "1"}),
        ("POST", f"{base}/steps/{step_id}/remove", {}),
        ("POST", f"{base}/components", {"component_id": yarn_id, "kg": "1"}),
        ("POST", f"{base}/components/{yarn_id}/remove", {}),
        ("POST", f"{base}/submit", {}),
        ("GET", f"{base}/stock", {}),
        ("POST", f"{base}/stock", {"size": "XXS", "stock": "5"}),
    ]
    for method, path, data in requests:
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={**data, "csrf_token": csrf}, content_type="multipart/form-data")
        assert response.status_code in (403, 404), (method, path, response.status_code)
        walked.add(path)

    # The routes are all covered: every workspace rule with a product id was requested.
    rules = {r.rule for r in demo_app.url_map.iter_rules()
             if r.endpoint.startswith("workspace.") and "product_id" in r.arguments}
    assert len(rules) == len(requests) - 2  # GET and POST share the product page and the stock page

    # Using another MSME's line for a new product is refused too.
    response = client.post("/workspace/products/new", data={
        "line_id": line_id, "sku": "STOLEN-2", "name_en": "x", "composition": "cashmere: 100", "recycled_pct": "0",
        "recycled_origin": "none", "dyed": "undyed", "weight_g": "1", "price_eur": "1", "csrf_token": csrf})
    assert response.status_code == 422
    # Their own workspace lists none of Khangai's products, and the dashboard neither.
    assert "KK-UE-CREW-LG" not in text(client.get("/workspace/products"))
    assert "KK-UE-CREW-LG" not in text(client.get("/dashboard"))
    assert _snapshot(demo_app) == before


def test_other_roles_cannot_use_the_workspace_or_the_queue(demo_app: Flask) -> None:
    buyer = factories.user_with_role(Role.brand_buyer)
    client = signed_in(demo_app.test_client(), buyer)
    assert client.get("/workspace/products").status_code == 403
    assert client.get("/union/products").status_code == 403
    csrf = token(client, "/dashboard")
    assert client.post("/union/products/1/reject", data={"reason": "x", "csrf_token": csrf}).status_code == 403
    msme = signed_in(demo_app.test_client(), factories.user_with_role(Role.msme_editor))
    assert msme.post("/union/products/1/approve", data={"csrf_token": token(msme)}).status_code == 403


def test_a_product_import_never_touches_another_msmes_products_lines_or_preview(demo_app: Flask) -> None:
    """Issue 22: an import naming Khangai's SKU or line is refused row by row; Khangai's preview token is refused."""
    import re

    from tests.products.test_product_import import _client as khangai_client
    from tests.products.test_product_import import _confirm, _row, _upload, _xlsx

    with demo_app.app_context():
        product = db.session.get(m.Product, KHANGAI_PRODUCT)
        sku, line_slug = product.sku, product.line.slug
        variants = db.session.scalar(select(func.count()).select_from(m.ProductVariant))
    other_msme = factories.MsmeFactory(slug="rival-importer")
    intruder = signed_in(demo_app.test_client(), factories.user_with_role(Role.msme_editor, other_msme))
    before = _snapshot(demo_app)
    html = text(_upload(intruder, _xlsx([_row(sku=sku, size="XXS", images=""),
                                         _row(sku="RIVAL-1", line=line_slug, images="")])))
    assert re.search(r'id="fix-2-sku-error">Another product already uses this SKU.<', html)
    assert re.search(r'id="fix-3-line-error">A product line with this short name already exists.<', html)
    assert _confirm(intruder, html, "import").status_code == 422
    # Khangai's own preview, submitted by the other MSME's editor: refused as changed.
    own = text(_upload(khangai_client(demo_app), _xlsx([_row(images="")])))
    assert _confirm(intruder, own.replace(re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', own)
                                          .group(1), token(intruder)), "import").status_code == 400
    assert _snapshot(demo_app) == before
    with demo_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(m.ProductVariant)) == variants
        assert db.session.scalar(select(m.Product.id).where(m.Product.sku == "KK-IMP-SCARF")) is None
