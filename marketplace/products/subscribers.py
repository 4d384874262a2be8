"""Products' background work (marketplace/jobs): the resized variants of an uploaded picture, made from its
stored original by the worker instead of in the upload request; and the hourly sweep of orphan files.
Connected by ``create_app``."""

from __future__ import annotations

import datetime as dt

from marketplace.jobs import services as jobs
from marketplace.products.orphans import SWEEP_JOB, sweep_job
from marketplace.products.services import VARIANTS_JOB, build_image_variants


def connect() -> None:
    jobs.register(VARIANTS_JOB, build_image_variants)
    jobs.register(SWEEP_JOB, sweep_job)  # orphan picture files and abandoned import zips (products/orphans.py)
    jobs.schedule(SWEEP_JOB, SWEEP_JOB, dt.timedelta(hours=1))
