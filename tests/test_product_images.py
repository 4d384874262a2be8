"""Image uploads: only verified JPEG/PNG/WebP, no bombs, no metadata, no orphans; variants via srcset."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

from marketplace import models as m
from marketplace.extensions import db
from marketplace.products import images, services
from tests import factories
from tests.helpers import text
from tests.products_helpers import jpeg_bytes, png_header_only, signed_in, token, workshop


def _files(app: Flask) -> list[Path]:
    root = Path(app.config["IMAGE_STORAGE_PATH"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _upload(app: Flask, data: bytes, filename: str, content_type: str = "image/jpeg"):  # type: ignore[no-untyped-def]
    w = workshop()
    product = factories.ProductFactory(line=w.line)
    client = signed_in(app.test_client(), w.editor)
    builder = EnvironBuilder(path=f"/workspace/products/{product.id}/images", method="POST", data={
        "image": (io.BytesIO(data), filename, content_type), "alt_en": "A sweater, flat", "csrf_token": token(client),
    }, content_type="multipart/form-data")
    environ = builder.get_environ()
    try:
        response = client.open(environ)
    finally:
        environ["wsgi.input"].close()  # a large body is spooled to a temp file the test client leaves open
        builder.close()
    return response, product, client


def _truncated_jpeg() -> bytes:
    data = jpeg_bytes((1200, 900))
    return data[: len(data) // 2]


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"just some text, not a picture", "notes.txt", "not a picture we can read"),
    (_truncated_jpeg(), "cut.jpg", "damaged or incomplete"),
    (png_header_only(50_000, 50_000), "bomb.png", "decompression bomb"),
    (png_header_only(8_000, 6_000), "big.png", "decompression bomb"),  # 48 megapixels: over our own limit
    (SVG, "logo.svg", "not a picture we can read"),
    (HTML, "photo.jpg", "not a picture we can read"),
    (b"\x00" * (images.MAX_BYTES + 1), "huge.jpg", "larger than 10 MB"),
])
def test_bad_uploads_are_refused_and_leave_nothing(app: Flask, data: bytes, filename: str, message: str) -> None:
    response, _, _ = _upload(app, data, filename)
    assert response.status_code == 422
    assert message in text(response)
    assert 'id="image-errors"' in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(m.ProductImage)) == 0
    assert _files(app) == []


def test_gif_is_refused(app: Flask) -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 20)).save(out, "GIF")
    response, _, _ = _upload(app, out.getvalue(), "a.gif", "image/gif")
    assert response.status_code == 422
    assert "Only JPEG, PNG and WebP" in text(response)


def test_upload_strips_metadata_auto_orients_and_names_files_by_hash(app: Flask) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x010F] = "Workshop camera"
    exif[0x8825] = {1: "N", 2: (47.0, 55.0, 12.0), 3: "E", 4: (106.0, 55.0, 3.0)}  # GPS
    data = jpeg_bytes((1600, 1000), exif=exif)
    assert Image.open(io.BytesIO(data)).getexif().get(0x8825)  # the upload really carries GPS
    response, product, client = _upload(app, data, "IMG_0001.JPG")
    assert response.status_code == 302, text(response)
    with app.app_context():
        image = db.session.scalar(select(m.ProductImage))
        assert (image.width, image.height) == (1000, 1600)  # auto-oriented: portrait
        sha = image.sha256
    import hashlib

    assert sha == hashlib.sha256(data).hexdigest()
    names = {p.relative_to(app.config["IMAGE_STORAGE_PATH"]).as_posix() for p in _files(app)}
    variants = {f"variants/{sha}-{w}.{f}" for w in (320, 640, 1280) for f in ("webp", "jpg")}
    assert names == {f"originals/{sha}.jpg"} | variants
    for path in _files(app):
        with Image.open(path) as stored:
            assert not stored.getexif(), path
            assert "exif" not in stored.info
            assert "icc_profile" not in stored.info
            assert stored.height > stored.width
    with Image.open(Path(app.config["IMAGE_STORAGE_PATH"]) / f"variants/{sha}-640.webp") as variant:
        assert variant.width == 640

    page = text(client.get(f"/workspace/products/{product.id}"))
    assert f"/media/{image.id}/320.webp 320w" in page
    assert f"/media/{image.id}/1280.jpg 1000w" in page  # never upscaled: the descriptor is the true width
    assert 'alt="A sweater, flat"' in page
    assert "originals" not in page


def test_variants_are_private_until_published_and_originals_never_served(app: Flask) -> None:
    _response, product, client = _upload(app, jpeg_bytes(), "a.jpg")
    with app.app_context():
        image_id = db.session.scalar(select(m.ProductImage.id))
    own = client.get(f"/media/{image_id}/640.webp")
    own.close()
    assert own.status_code == 200  # its own MSME
    anonymous = app.test_client()
    assert anonymous.get(f"/media/{image_id}/640.webp").status_code == 404  # a draft's picture
    assert anonymous.get(f"/media/{image_id}/original").status_code == 404
    assert anonymous.get(f"/media/{image_id}/640.png").status_code == 404
    with app.test_request_context():  # published: a version shows the picture
        row = db.session.get(m.Product, product.id)
        row.published_number = 1
        db.session.add(m.ProductVersion(product_id=row.id, number=1, organisation_id=row.organisation_id,
                                        line_id=row.line_id, published_at=row.created_at,
                                        snapshot=services.snapshot(row)))
        db.session.commit()
    served = anonymous.get(f"/media/{image_id}/640.webp")
    served.close()
    assert served.status_code == 200
    assert served.mimetype == "image/webp"
    assert "immutable" in served.headers["Cache-Control"]


def test_files_written_in_a_transaction_that_rolls_back_are_removed(app: Flask) -> None:
    w = workshop()
    product = factories.ProductFactory(line=w.line)
    with app.test_request_context():
        services.add_image(db.session.get(m.Product, product.id), jpeg_bytes(), {"en": "x"})
        assert len(_files(app)) == 7
        db.session.rollback()
    assert _files(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(m.ProductImage)) == 0


def test_same_picture_twice_shares_files_and_a_rollback_keeps_them(app: Flask) -> None:
    w = workshop()
    product = factories.ProductFactory(line=w.line)
    data = jpeg_bytes()
    with app.test_request_context():
        services.add_image(db.session.get(m.Product, product.id), data, {"en": "x"})
        db.session.commit()
        services.add_image(db.session.get(m.Product, product.id), data, {"en": "again"})
        db.session.rollback()
    assert len(_files(app)) == 7  # the committed picture's files are untouched
