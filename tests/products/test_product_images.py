"""Image uploads: only verified JPEG/PNG/WebP, no bombs, no metadata, no orphans; variants via srcset,
made by the ``products.image_variants`` job (enqueued with the upload) and run here by the real worker
(``jobs.run_pending``), on SQLite and PostgreSQL; until then pages show the alt text, never a broken picture."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select, update
from werkzeug.test import EnvironBuilder

from marketplace import models as m
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobStatus
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


def _work() -> list[str]:
    """Run the real worker until nothing is due; the variants jobs' statuses afterwards."""
    jobs.run_pending()
    return [job.status.value for job in db.session.scalars(
        select(Job).where(Job.kind == services.VARIANTS_JOB).order_by(Job.id))]


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
    assert names == {f"originals/{sha}.jpg"}  # the request stored the stripped original only
    with app.app_context():
        assert _work() == ["done"]  # the worker makes the variants
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


def test_variants_are_made_by_a_job_committed_with_the_upload_and_shown_once_it_ran(app: Flask) -> None:
    """The upload request only enqueues the work; the page shows the alt text, not a broken picture,
    until the worker has run; then the variants are served and the placeholder is gone."""
    response, product, client = _upload(app, jpeg_bytes((900, 600)), "a.jpg")
    assert response.status_code == 302, text(response)
    with app.app_context():
        image = db.session.scalar(select(m.ProductImage))
        assert image.variants_ready is False
        queued = db.session.scalars(select(Job).where(Job.kind == services.VARIANTS_JOB)).all()
        assert [(job.payload, job.status) for job in queued] == [({"image_id": image.id}, JobStatus.pending)]
    before = text(client.get(f"/workspace/products/{product.id}"))
    assert "the picture is being prepared" in before
    assert "A sweater, flat" in before
    assert f"/media/{image.id}/" not in before  # no srcset that would only 404
    waiting = client.get(f"/media/{image.id}/640.webp")
    waiting.close()
    assert waiting.status_code == 404

    with app.app_context():
        assert _work() == ["done"]
        assert db.session.get(m.ProductImage, image.id).variants_ready is True
    after = text(client.get(f"/workspace/products/{product.id}"))
    assert "the picture is being prepared" not in after
    assert f"/media/{image.id}/640.webp 640w" in after
    served = client.get(f"/media/{image.id}/640.webp")
    served.close()
    assert served.status_code == 200


def test_a_published_version_shows_the_placeholder_until_the_job_ran(app: Flask) -> None:
    """A version's snapshot has no readiness; the page asks the database once per request."""
    _response, product, _client = _upload(app, jpeg_bytes(), "a.jpg")
    with app.test_request_context():
        row = db.session.get(m.Product, product.id)
        row.published_number = 1
        db.session.add(m.ProductVersion(product_id=row.id, number=1, organisation_id=row.organisation_id,
                                        line_id=row.line_id, published_at=row.created_at,
                                        snapshot=services.snapshot(row)))
        db.session.commit()
        image_id = row.images[0].id
    anonymous = app.test_client()
    page = text(anonymous.get(f"/products/{product.id}"))
    assert "the picture is being prepared" in page
    assert "srcset" not in page  # (the JSON-LD names the 640 px JPEG: crawlers come back later)
    with app.app_context():
        jobs.run_pending()
    page = text(anonymous.get(f"/products/{product.id}"))
    assert "the picture is being prepared" not in page
    assert f"/media/{image_id}/320.webp" in page


def test_the_variants_job_is_idempotent_and_retries_while_the_original_is_missing(app: Flask) -> None:
    _upload(app, jpeg_bytes(), "a.jpg")
    root = Path(app.config["IMAGE_STORAGE_PATH"])
    with app.app_context():
        image = db.session.scalar(select(m.ProductImage))
        original = root / images.original_key(image.sha256, image.original_ext)
        kept = original.read_bytes()
        original.unlink()  # the store lost it (or is down): the job fails and comes back with backoff
        assert _work() == ["pending"]
        job = db.session.scalar(select(Job).where(Job.kind == services.VARIANTS_JOB))
        assert job.status is JobStatus.pending
        assert job.run_at.replace(tzinfo=None) > jobs.now().replace(tzinfo=None)  # backoff (SQLite: naive)
        assert "FileNotFoundError" in job.last_error
        assert db.session.get(m.ProductImage, image.id).variants_ready is False
        assert not list((root / "variants").glob("*")) if (root / "variants").exists() else True
        original.write_bytes(kept)
        db.session.execute(update(Job).where(Job.id == job.id).values(run_at=jobs.now()))
        db.session.commit()
        assert _work() == ["done"]
        made = {p.name: p.read_bytes() for p in (root / "variants").iterdir()}
        assert len(made) == 6
        # At least once: the same job run again (a lost lease) changes nothing and succeeds.
        jobs.enqueue(services.VARIANTS_JOB, {"image_id": image.id})
        db.session.execute(update(m.ProductImage).values(variants_ready=False))
        db.session.commit()
        assert _work() == ["done", "done"]
        assert {p.name: p.read_bytes() for p in (root / "variants").iterdir()} == made
        assert db.session.get(m.ProductImage, image.id).variants_ready is True
        jobs.enqueue(services.VARIANTS_JOB, {"image_id": 999_999})  # a picture that no longer exists
        db.session.commit()
        assert _work() == ["done", "done", "done"]


def test_a_variants_run_that_rolls_back_keeps_its_files_for_the_retry(app: Flask) -> None:
    """The job's transaction fails after the files are written (a database error, a killed worker): the files
    stay (another worker making the same picture may rely on them; they are not orphans, the retry uses them)."""
    _upload(app, jpeg_bytes(), "a.jpg")
    root = Path(app.config["IMAGE_STORAGE_PATH"])
    with app.app_context():
        image_id = db.session.scalar(select(m.ProductImage.id))
        services.build_image_variants(image_id)
        db.session.rollback()
        assert len(list((root / "variants").iterdir())) == 6
        assert db.session.get(m.ProductImage, image_id).variants_ready is False
        assert _work() == ["done"]
        assert db.session.get(m.ProductImage, image_id).variants_ready is True


def test_the_same_picture_again_is_ready_at_once_without_a_job(app: Flask) -> None:
    w = workshop()
    product = factories.ProductFactory(line=w.line)
    data = jpeg_bytes()
    with app.test_request_context():
        services.add_image(db.session.get(m.Product, product.id), data, {"en": "x"})
        db.session.commit()
        jobs.run_pending()
        again = services.add_image(db.session.get(m.Product, product.id), data, {"en": "again"})
        db.session.commit()
        assert again.variants_ready is True
        assert db.session.scalar(select(func.count()).select_from(Job).where(
            Job.kind == services.VARIANTS_JOB, Job.status == JobStatus.pending)) == 0


def test_variants_are_private_until_published_and_originals_never_served(app: Flask) -> None:
    _response, product, client = _upload(app, jpeg_bytes(), "a.jpg")
    with app.app_context():
        image_id = db.session.scalar(select(m.ProductImage.id))
        jobs.run_pending()
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
    assert "Cookie" not in served.headers.get("Vary", "")  # the same picture for every reader (a browser keeps it)


def test_files_written_in_a_transaction_that_rolls_back_are_removed(app: Flask) -> None:
    w = workshop()
    product = factories.ProductFactory(line=w.line)
    with app.test_request_context():
        services.add_image(db.session.get(m.Product, product.id), jpeg_bytes(), {"en": "x"})
        assert len(_files(app)) == 1  # the original; the variants are the job's
        db.session.rollback()
    assert _files(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(m.ProductImage)) == 0
        assert db.session.scalar(select(func.count()).select_from(Job).where(
            Job.kind == services.VARIANTS_JOB)) == 0  # the job went with the upload
        assert _work() == []


def test_a_savepoint_rolled_back_or_released_leaves_the_outer_transactions_files_alone(app: Flask) -> None:
    """An import checks each row in a SAVEPOINT: a refused row's rollback must not delete the picture an earlier
    row uploaded in the same (outer) transaction, and a released savepoint must not make the outer rollback
    forget its files."""
    w = workshop()
    first, second = factories.ProductFactory(line=w.line), factories.ProductFactory(line=w.line)
    with app.test_request_context():
        services.add_image(db.session.get(m.Product, first.id), jpeg_bytes(), {"en": "kept"})
        with db.session.begin_nested() as refused:
            services.add_image(db.session.get(m.Product, second.id), jpeg_bytes(colour=(200, 10, 10)), {"en": "no"})
            refused.rollback()
        db.session.commit()
        kept = db.session.scalar(select(m.ProductImage).where(m.ProductImage.product_id == first.id))
        assert kept is not None
        original = Path(app.config["IMAGE_STORAGE_PATH"]) / images.original_key(kept.sha256, kept.original_ext)
    assert original.is_file()  # the committed row's picture is still there
    before = _files(app)  # the refused row's file may stay, unreferenced (content-addressed)
    with app.test_request_context():
        services.add_image(db.session.get(m.Product, second.id), jpeg_bytes(colour=(10, 200, 10)), {"en": "x"})
        with db.session.begin_nested():
            pass  # released
        db.session.rollback()
    assert _files(app) == before  # the outer rollback removed the second upload, the savepoint notwithstanding
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(m.ProductImage)) == 1


def test_same_picture_twice_shares_files_and_a_rollback_keeps_them(app: Flask) -> None:
    w = workshop()
    product = factories.ProductFactory(line=w.line)
    data = jpeg_bytes()
    with app.test_request_context():
        services.add_image(db.session.get(m.Product, product.id), data, {"en": "x"})
        db.session.commit()
        jobs.run_pending()
        services.add_image(db.session.get(m.Product, product.id), data, {"en": "again"})
        db.session.rollback()
    assert len(_files(app)) == 7  # the committed picture's files are untouched
