"""Object storage for images (issue 20): the S3-compatible adapter, chosen by S3_BUCKET, against moto's
server mode (a real HTTP S3 on loopback, started by ./dev test or here; nothing is mocked in-process).
An upload lands in the bucket, variants are served by the site, originals never; a rolled-back upload
leaves no orphan object; the object store down is a 503 on /healthz naming "storage"."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import select, update

from marketplace import models as m
from marketplace import storage
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobStatus
from marketplace.products import editing, images, import_pictures, orphans
from tests import factories
from tests.conftest import make_app
from tests.products_helpers import workshop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """The run's moto server (./dev test exports TEST_S3_ENDPOINT), or one started here."""
    shared = os.environ.get("TEST_S3_ENDPOINT")
    if shared:
        yield shared
        return
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and fixed arguments)
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


S3_KEYS = {"S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing", "S3_REGION": "us-east-1"}


@pytest.fixture
def s3_app(app: Flask, s3_endpoint: str, tmp_path: Path) -> Flask:
    bucket = f"images-{uuid.uuid4().hex[:12]}"
    app.config.update(S3_BUCKET=bucket, S3_ENDPOINT_URL=s3_endpoint, IMAGE_CACHE_PATH=str(tmp_path / "cache"),
                      IMAGE_STORAGE_PATH=str(tmp_path / "not-used"), **S3_KEYS)
    with app.app_context():
        storage.s3_store().client.create_bucket(Bucket=bucket)
    return app


def _jpeg(colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), colour).save(out, "JPEG")
    return out.getvalue()


def test_the_bucket_is_chosen_by_configuration_and_keeps_what_is_written(s3_app: Flask) -> None:
    with s3_app.app_context():
        store = images.get_store()
        assert isinstance(store, storage.S3Store)
        assert not store.exists("variants/abc-320.webp")
        store.write("variants/abc-320.webp", b"picture")
        assert store.exists("variants/abc-320.webp")
        served = store.path("variants/abc-320.webp")
        assert served is not None
        assert served.read_bytes() == b"picture"
        assert store.keys() == ["variants/abc-320.webp"]
        store.delete("variants/abc-320.webp")
        assert not store.exists("variants/abc-320.webp")
        assert store.path("variants/abc-320.webp") is None
        with pytest.raises(ValueError, match="outside"):
            store.write("../escape", b"x")
    assert not (Path(s3_app.config["IMAGE_STORAGE_PATH"])).exists()  # nothing went to the local folder


def test_an_upload_goes_to_the_bucket_and_a_rolled_back_one_leaves_no_orphan(s3_app: Flask) -> None:
    with s3_app.app_context():
        store = images.get_store()
        processed = images.process(_jpeg("blue"))
        db.session.execute(select(1))
        images.save_files(db.session, processed)
        db.session.commit()
        kept = store.keys()
        assert any(key.startswith("originals/") for key in kept)  # (the variants are the job's: below)
        db.session.execute(select(1))  # the upload's transaction (its rows are the products' business)
        images.save_files(db.session, images.process(_jpeg("green")))
        db.session.rollback()  # the upload's transaction failed: its files are deleted again
        assert store.keys() == kept


def test_the_variants_job_reads_the_original_from_the_bucket_and_writes_the_variants_there(s3_app: Flask) -> None:
    """Upload (the original only) → the real worker → six variants in the bucket, served by the site; the bucket
    down while the job runs: the job retries, nothing is marked ready, and it finishes once the bucket is back."""
    from marketplace import models as m
    from marketplace.jobs import services as jobs
    from marketplace.products import services
    from tests import factories
    from tests.products_helpers import signed_in, workshop

    w = workshop()
    product = factories.ProductFactory(line=w.line)
    with s3_app.test_request_context():
        store = images.get_store()
        image = services.add_image(db.session.get(m.Product, product.id), _jpeg("navy"), {"en": "Navy"})
        db.session.commit()
        image_id, sha = image.id, image.sha256
        assert store.keys() == [f"originals/{sha}.jpg"]
        bucket = s3_app.config["S3_BUCKET"]
        s3_app.config["S3_BUCKET"] = "no-such-bucket"  # the object store refuses the job's reads
        jobs.run_pending()
        assert db.session.get(m.ProductImage, image_id).variants_ready is False
        job = db.session.scalar(select(jobs.Job).where(jobs.Job.kind == services.VARIANTS_JOB))
        assert job.status.value == "pending"
        assert job.attempts == 1
        assert job.last_error
        s3_app.config["S3_BUCKET"] = bucket
        db.session.execute(update(jobs.Job).where(jobs.Job.id == job.id).values(run_at=jobs.now()))
        db.session.commit()
        jobs.run_pending()
        assert db.session.get(m.ProductImage, image_id).variants_ready is True
        assert store.keys() == sorted([f"originals/{sha}.jpg", *images.variant_keys(sha)])
    served = signed_in(s3_app.test_client(), w.editor).get(f"/media/{image_id}/320.webp")
    served.close()
    assert served.status_code == 200


def test_an_upload_while_the_object_store_is_down_is_refused_with_a_clear_503_and_saves_nothing(
        app: Flask, tmp_path: Path) -> None:
    """The bucket unreachable: the MSME reads that nothing was saved (never a 500), and no picture row, file or
    job is left; a variant request gets a 503 too."""
    from marketplace import models as m
    from marketplace.jobs.models import Job
    from tests import factories
    from tests.products_helpers import signed_in, token, workshop

    w = workshop()
    product = factories.ProductFactory(line=w.line)
    down = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, S3_BUCKET="images",
                    S3_ENDPOINT_URL=f"http://127.0.0.1:{_free_port()}", IMAGE_CACHE_PATH=str(tmp_path / "cache"),
                    **S3_KEYS)
    try:
        client = signed_in(down.test_client(), w.editor)
        response = client.post(f"/workspace/products/{product.id}/images", content_type="multipart/form-data",
                               data={"image": (io.BytesIO(_jpeg()), "a.jpg", "image/jpeg"), "alt_en": "A sweater",
                                     "csrf_token": token(client)})
        assert response.status_code == 503
        page = response.get_data(as_text=True)
        assert "Files cannot be stored for a moment. Nothing was saved" in page
        assert "Traceback" not in page
        with down.app_context():
            assert db.session.scalars(select(m.ProductImage)).all() == []
            assert db.session.scalars(select(Job.kind).where(Job.kind == "products.image_variants")).all() == []
            image = m.ProductImage(product_id=product.id, sha256="0" * 64, original_ext="jpg", width=10, height=10,
                                   alt={"en": "x"}, variants_ready=True)
            db.session.add(image)
            db.session.commit()
            image_id = image.id
        media = client.get(f"/media/{image_id}/320.webp")
        assert media.status_code == 503
    finally:
        with down.app_context():
            db.engine.dispose()


def test_healthz_names_the_object_store_when_it_is_down(app: Flask, tmp_path: Path) -> None:
    down = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, S3_BUCKET="images",
                    S3_ENDPOINT_URL=f"http://127.0.0.1:{_free_port()}", **S3_KEYS)
    response = down.test_client().get("/healthz")
    with down.app_context():
        db.engine.dispose()  # a second app's pool: closed here, not by the garbage collector
    assert response.status_code == 503
    found = response.get_json()
    assert found["database"] == "ok"
    assert found["storage"]["status"] == "error"
    assert found["storage"]["adapter"] == "s3"
    assert "S3" in found["storage"]["action"]


def test_healthz_reports_the_bucket_when_it_works(s3_app: Flask) -> None:
    found = s3_app.test_client().get("/healthz").get_json()
    assert found["storage"] == {"adapter": "s3", "bucket": s3_app.config["S3_BUCKET"], "status": "ok"}


# The orphan sweep (products/orphans.py, job products.sweep_orphans) on either adapter ------------------

@pytest.fixture(params=["local", "s3"])
def any_store_app(request: pytest.FixtureRequest, app: Flask) -> Flask:
    return request.getfixturevalue("s3_app") if request.param == "s3" else app


def _keys_of(sha: str) -> list[str]:
    return [key for key in images.get_store().keys() if sha in key] if storage.s3_configured() else [  # noqa: SIM118
        p.relative_to(images.get_store().root).as_posix()  # type: ignore[attr-defined]
        for p in Path(images.get_store().root).rglob("*") if p.is_file() and sha in p.name]  # type: ignore[attr-defined]


def _pictures_world(app: Flask) -> dict[str, str]:
    """A draft product with a shown picture, a picture removed before any publication, a picture removed
    after a published version showed it (by hash and, as older snapshots do, by id only), an evidence
    original of the same key scheme, and a staged import zip; variants made by the real worker."""
    w = workshop()
    product = factories.ProductFactory(line=w.line)
    with app.test_request_context():
        draft = db.session.get(m.Product, product.id)
        ids = {}
        for name, colour in (("shown", "red"), ("dropped", "blue"), ("published", "green"), ("legacy", "yellow")):
            image = editing.add_image(draft, _jpeg(colour), {"en": name})
            ids[name] = (image.id, image.sha256)
        db.session.commit()
        jobs.run_pending()
    factories.ProductVersionFactory(product=product, snapshot={"images": [
        {"id": ids["published"][0], "sha256": ids["published"][1]}, {"id": ids["legacy"][0]}]})
    assessment_id = factories.AssessmentFactory().id
    with app.test_request_context():
        draft = db.session.get(m.Product, product.id)
        for name in ("dropped", "published", "legacy"):
            editing.remove_image(draft, ids[name][0])
        evidence = images.process(_jpeg("purple"))
        images.save_files(db.session, evidence)
        db.session.add(m.EvidenceFile(assessment_id=assessment_id, key=images.original_key(evidence.sha256, "jpg"),
                                      media_type="image/jpeg", size_bytes=1, sha256=evidence.sha256))
        db.session.commit()
        zip_sha = import_pictures.stage(b"PK\x05\x06" + b"\x00" * 18)
    return {**{name: sha for name, (_, sha) in ids.items()}, "evidence": evidence.sha256, "zip": zip_sha}


def test_the_sweep_deletes_unreferenced_picture_files_and_stale_import_zips_and_nothing_else(
        any_store_app: Flask) -> None:
    world = _pictures_world(any_store_app)
    with any_store_app.app_context():
        before = {name: _keys_of(sha) for name, sha in world.items()}
        assert len(before["dropped"]) == 7  # the original and six variants
        assert len(before["shown"]) == 7
        assert before["zip"] == [f"imports/{world['zip']}.zip"]

        now = utcnow()
        young = orphans.sweep(now=now)  # everything is younger than the grace period and the preview's lifetime
        assert (young.pictures_deleted, young.imports_deleted) == (0, 0)
        assert orphans.sweep(now=now + dt.timedelta(hours=1)).imports_deleted == 0  # a preview may still confirm

        staged_out = orphans.sweep(now=now + dt.timedelta(hours=3))  # past the preview token's 2 h
        assert (staged_out.pictures_deleted, staged_out.imports_deleted) == (0, 1)
        assert _keys_of(world["zip"]) == []

        swept = orphans.sweep(now=now + dt.timedelta(hours=25))
        assert swept.as_dict() == {"pictures_deleted": 7, "pictures_kept": 22, "imports_deleted": 0,
                                   "imports_kept": 0}
        assert _keys_of(world["dropped"]) == []
        for name in ("shown", "published", "legacy", "evidence"):
            assert _keys_of(world[name]) == before[name], name  # still referenced: never deleted

        again = orphans.sweep(now=now + dt.timedelta(hours=26))  # idempotent
        assert (again.pictures_deleted, again.imports_deleted, again.pictures_kept) == (0, 0, 22)


def test_a_picture_uploaded_again_is_refreshed_so_the_sweep_keeps_it_until_its_row_commits(
        any_store_app: Flask) -> None:
    """The same picture, removed long ago, uploaded again: its existing file is written again (a new modified
    time), so a sweep that runs before the new row commits sees a young file and keeps it."""
    with any_store_app.app_context():
        data = _jpeg("orange")
        processed = images.process(data)
        key = images.original_key(processed.sha256, processed.ext)
        db.session.execute(select(1))
        images.save_files(db.session, processed)
        db.session.commit()
        first = next(f.modified for f in images.get_store().listing("originals/") if f.key == key)
        time.sleep(1.1)  # modified times have a second's resolution on S3
        db.session.execute(select(1))
        images.save_files(db.session, images.process(data))  # the re-upload, its row not committed yet
        second = next(f.modified for f in images.get_store().listing("originals/") if f.key == key)
        assert second > first
        assert orphans.sweep(now=first + orphans.GRACE + dt.timedelta(seconds=1)).pictures_deleted == 0
        db.session.rollback()  # the re-upload fails: the older file is not deleted with it
        assert images.get_store().exists(key)


def test_the_scheduled_job_sweeps_through_the_worker_and_logs_its_counts(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    world = _pictures_world(app)
    root = Path(app.config["IMAGE_STORAGE_PATH"])
    old = time.time() - 25 * 3600
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))
    assert orphans.SWEEP_JOB in jobs.SCHEDULES
    with app.app_context():
        with caplog.at_level(logging.INFO, logger="marketplace.products.orphans"):
            jobs.run_pending(schedules=True)
        job = db.session.scalars(select(Job).where(Job.kind == orphans.SWEEP_JOB)).one()
        assert job.status == JobStatus.done
        assert "7 picture file(s) deleted, 22 kept; 1 staged import zip(s) deleted" in caplog.text
        assert _keys_of(world["dropped"]) == []
        assert len(_keys_of(world["shown"])) == 7


def test_a_zip_staged_again_for_a_new_preview_starts_its_lifetime_over(app: Flask) -> None:
    """The same pictures zip previewed again three hours later: the new preview's zip is not swept."""
    data = b"PK\x05\x06" + b"\x00" * 18
    with app.app_context():
        sha = import_pictures.stage(data)
        path = Path(app.config["IMAGE_STORAGE_PATH"]) / f"imports/{sha}.zip"
        old = time.time() - 3 * 3600
        os.utime(path, (old, old))
        import_pictures.stage(data)  # the new preview
        assert orphans.sweep().imports_deleted == 0
        assert path.is_file()
