"""Working-copy data stays private until the Union approves it; what a published version shows is kept
(issue 14, #3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient

from marketplace import models as m
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.products import services
from marketplace.products.models import StepKind
from tests.helpers import csrf_token, sign_in
from tests.products_helpers import jpeg_bytes

PRODUCT = 1  # Khangai Knitwear's published demo product, with steps 1-5 and pictures 1-2
MSME = ("msme@demo.example", "demo-msme-2026")
STAFF = ("staff@demo.example", "demo-staff-2026")


def _client(app: Flask, user: tuple[str, str] | None) -> FlaskClient:
    client = app.test_client()
    if user is not None:
        assert sign_in(client, *user).status_code == 302
    return client


def _edit(app: Flask) -> tuple[int, int]:
    """The MSME adds a step and a picture to its published product's working copy (not yet approved)."""
    with app.test_request_context():
        product = db.session.get(m.Product, PRODUCT)
        step = services.add_step(product, services.StepData(
            kind=StepKind.finishing, facility_id=product.organisation_id, performed_on=dt.date(2026, 1, 5),
            kg_in=Decimal("10"), kg_out=Decimal("9.9"), energy_kwh=None, energy_basis=None, water_l=None,
            water_basis=None, co2e_kg=None, co2e_basis=None, source_note=""))
        image = services.add_image(product, jpeg_bytes(), {"en": "New picture"})
        db.session.commit()
        jobs.run_pending()  # the job worker makes the picture's sizes
        return step.id, image.id


def _get(client: FlaskClient, path: str):  # type: ignore[no-untyped-def]
    response = client.get(path)
    response.close()
    return response


def test_working_copy_steps_and_pictures_are_private_until_approved(demo_app: Flask) -> None:
    step_id, image_id = _edit(demo_app)
    anonymous, msme, staff = _client(demo_app, None), _client(demo_app, MSME), _client(demo_app, STAFF)
    buyer = _client(demo_app, ("buyer@demo.example", "demo-buyer-2026"))
    for path in (f"/events/steps/{step_id}.json", f"/media/{image_id}/320.webp"):
        assert _get(anonymous, path).status_code == 404, path
        assert _get(buyer, path).status_code == 404, path
        for client in (msme, staff):
            response = _get(client, path)
            assert response.status_code == 200, path
            assert "no-store" in response.headers["Cache-Control"]  # never cached for anyone else
    # What the published version shows stays public and cacheable.
    assert _get(anonymous, "/events/steps/1.json").status_code == 200
    published = _get(anonymous, "/media/1/320.webp")
    assert published.status_code == 200
    assert "immutable" in published.headers["Cache-Control"]


def _remove(client: FlaskClient, what: str, object_id: int):  # type: ignore[no-untyped-def]
    path = f"/workspace/products/{PRODUCT}"
    return client.post(f"{path}/{what}/{object_id}/remove", data={"csrf_token": csrf_token(client, path)})


def test_a_step_a_published_version_links_to_is_kept_when_removed(demo_app: Flask) -> None:
    msme, anonymous = _client(demo_app, MSME), _client(demo_app, None)
    before = _get(anonymous, "/events/steps/1.json").get_data()
    assert _remove(msme, "steps", 1).status_code == 302
    with demo_app.app_context():
        step = db.session.get(m.ProcessingStep, 1)
        assert step is not None
        assert step.removed
        assert 1 not in [s.id for s in db.session.get(m.Product, PRODUCT).steps]  # gone from the working copy
    after = _get(anonymous, "/events/steps/1.json")
    assert after.status_code == 200  # the immutable published passport still links to it
    assert after.get_data() == before
    assert _remove(msme, "steps", 1).status_code == 422  # already removed


def test_a_step_no_published_version_shows_is_deleted(demo_app: Flask) -> None:
    step_id, _image_id = _edit(demo_app)
    assert _remove(_client(demo_app, MSME), "steps", step_id).status_code == 302
    with demo_app.app_context():
        assert db.session.get(m.ProcessingStep, step_id) is None


def test_a_removed_picture_is_public_only_if_a_published_version_shows_it(demo_app: Flask) -> None:
    _step_id, image_id = _edit(demo_app)
    msme, anonymous = _client(demo_app, MSME), _client(demo_app, None)
    assert _remove(msme, "images", image_id).status_code == 302
    assert _remove(msme, "images", 1).status_code == 302
    assert _get(anonymous, f"/media/{image_id}/320.webp").status_code == 404  # never published
    assert _get(anonymous, "/media/1/320.webp").status_code == 200  # shown by the published version
    with demo_app.app_context():
        assert services.published_image_ids(PRODUCT) >= {1}
        assert image_id not in services.published_image_ids(PRODUCT)
