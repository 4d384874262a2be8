"""Product provenance guards, each on its own (issue 21; see tests/MUTATIONS.md).

The mass balance across products is tested in ``test_products.py``; these pin the other refusals
of ``products/sourcing.py``: fibre a published version declares stays claimed, draft lots and
unpublished batches are no source, and a product is never made from itself.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.lots.models import LotStatus
from marketplace.products import services
from marketplace.products.models import ProductStatus
from tests import factories
from tests.helpers import text
from tests.products_helpers import signed_in, token, workshop


def _product(w, **kw):  # type: ignore[no-untyped-def]
    return factories.ProductFactory(line=w.line, production_date=dt.date(2026, 8, 1), **kw)


def test_fibre_declared_by_the_published_version_stays_claimed(app: Flask) -> None:
    w = workshop(net="500", available="300")
    product = _product(w, status=ProductStatus.published, published_number=1)
    factories.ProductSourceFactory(product=product, lot=w.lot, kg=Decimal("20"))
    factories.ProductVersionFactory(product=product, number=1, snapshot={
        "name": {"en": "Crew-neck sweater"}, "sources": [{"lot_id": w.lot.id, "kg": "20"}]})
    client = signed_in(app.test_client(), w.editor)
    response = client.post(f"/workspace/products/{product.id}/sources",
                           data={"lot_id": w.lot.id, "kg": "10", "csrf_token": token(client)})
    assert response.status_code == 422
    assert "that fibre stays claimed" in text(response)
    with app.test_request_context():
        p = db.session.get(m.Product, product.id)
        with pytest.raises(services.ProductError, match="cannot be unlinked"):
            services.unlink_source(p, w.lot.id)
        db.session.rollback()
        assert db.session.scalar(select(m.ProductSource.kg).where(m.ProductSource.product_id == product.id)) \
            == Decimal("20")
        assert db.session.get(m.Product, product.id).status is ProductStatus.published


def test_a_draft_lot_is_no_source(app: Flask) -> None:
    w = workshop(net="500", available="300")
    w.lot.status = LotStatus.draft
    factories.current_session().commit()
    product = _product(w)
    client = signed_in(app.test_client(), w.editor)
    response = client.post(f"/workspace/products/{product.id}/sources",
                           data={"lot_id": w.lot.id, "kg": "10", "csrf_token": token(client)})
    assert response.status_code == 422  # the form offers no draft lot
    with app.test_request_context():  # and the service refuses one on its own (a CLI or import path)
        with pytest.raises(services.ProductError, match="Choose a listed lot"):
            services.link_source(db.session.get(m.Product, product.id), w.lot.id, Decimal("10"))
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(m.ProductSource)) == 0


def test_a_product_is_never_its_own_component_nor_made_from_an_unpublished_batch(app: Flask) -> None:
    w = workshop()
    product, unpublished = _product(w), _product(w)
    with app.test_request_context():
        p = db.session.get(m.Product, product.id)
        with pytest.raises(services.ProductError, match="cannot be made from itself"):
            services.link_component(p, product.id, Decimal("1"))
        db.session.rollback()
        p = db.session.get(m.Product, product.id)
        with pytest.raises(services.ProductError, match="Choose a published batch"):
            services.link_component(p, unpublished.id, Decimal("1"))
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(m.ProductComponent)) == 0


def test_png_originals_keep_no_text_exif_or_colour_profile(app: Flask) -> None:
    """Issue 21's named gap: metadata in PNG originals (JPEG is covered by test_product_images.py)."""
    import io
    from pathlib import Path

    from PIL import Image, ImageCms, PngImagePlugin

    from tests.products.test_product_images import _files, _upload

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Herder Bat-Erdene")
    info.add_text("Comment", "GPS 47.9212 N 106.9186 E")
    info.add_itxt("Description", "Хонин хашаа", lang="mn")
    exif = Image.Exif()
    exif[0x010F] = "Workshop camera"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (900, 600), (180, 160, 140)).save(out, "PNG", pnginfo=info, exif=exif, icc_profile=profile)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as upload:  # the upload really carries the metadata
        assert upload.text["Author"] == "Herder Bat-Erdene"
        assert upload.getexif()
        assert "icc_profile" in upload.info
    response, _product_row, _client = _upload(app, data, "flat.png", "image/png")
    assert response.status_code == 302, text(response)
    stored = _files(app)
    originals = [p for p in stored if p.parent.name == "originals"]
    assert [p.suffix for p in originals] == [".png"]
    for path in stored:
        with Image.open(path) as image:
            assert not getattr(image, "text", {}), path
            assert not image.getexif(), path
            assert "icc_profile" not in image.info, path
            assert not {"Author", "Comment", "Description", "exif"} & set(image.info), path
    assert Path(originals[0]).read_bytes().find(b"Bat-Erdene") == -1


@pytest.mark.parametrize("text_", ["cashmere: 120\nwool: -20", "cashmere: 100\nwool: 0"])
def test_each_fibre_share_is_above_zero_and_at_most_100(text_: str) -> None:
    """The total alone is not enough: 120% and −20% also add up to 100%."""
    from marketplace.products.rules import parse_composition

    with pytest.raises(ValueError, match="above 0 and at most 100"):
        parse_composition(text_)
