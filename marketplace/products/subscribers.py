"""Products' background work (marketplace/jobs): the resized variants of an uploaded picture, made from its
stored original by the worker instead of in the upload request. Connected by ``create_app``."""

from __future__ import annotations

from marketplace.jobs import services as jobs
from marketplace.products.services import VARIANTS_JOB, build_image_variants


def connect() -> None:
    jobs.register(VARIANTS_JOB, build_image_variants)
