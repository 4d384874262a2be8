"""Orphan files in the image store (issue 20 point 3: "no orphans"), swept by the scheduled job
``products.sweep_orphans`` through the store port, so it works on the local folder and on the S3 bucket.

Two kinds of orphan:

* picture files (``originals/<sha256>.<ext>`` and ``variants/<sha256>-<width>.<fmt>``) that no
  ProductImage row still shows (a picture removed from a working copy), no published ProductVersion
  snapshot shows, and no evidence file of a control assessment is (evidence originals share the key
  scheme). Only files older than ``GRACE`` are considered: an upload whose transaction has not committed
  yet has written its file but not its row.
* staged pictures zips of the product import (``imports/<sha256>.zip``) older than the preview's lifetime
  (``lots.sheets.TOKEN_MAX_AGE``): no confirmation can use them any more.

Idempotent: a second run finds nothing more to delete. Anything still referenced is never deleted
(``referenced_hashes`` / ``is_orphan``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from marketplace import events
from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.lots.sheets import TOKEN_MAX_AGE
from marketplace.products import images
from marketplace.products.models import ProductImage, ProductVersion

SWEEP_JOB = "products.sweep_orphans"
GRACE = dt.timedelta(hours=24)  # a file younger than this may belong to an upload still in flight
STAGING_MAX_AGE = dt.timedelta(seconds=TOKEN_MAX_AGE)
PICTURE_PREFIXES = ("originals/", "variants/")
STAGING_PREFIX = "imports/"
_HASH = re.compile(r"^(?:originals|variants)/(?P<sha>[0-9a-f]{64})[-.]")
_STAGED = re.compile(r"^imports/[0-9a-f]{64}\.zip$")
log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    pictures_deleted: int = 0
    pictures_kept: int = 0
    imports_deleted: int = 0
    imports_kept: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _snapshot_hashes() -> tuple[set[str], set[int]]:
    """The pictures that published versions show: by hash, and by image id (for snapshots without a hash)."""
    hashes: set[str] = set()
    ids: set[int] = set()
    for snapshot in db.session.scalars(select(ProductVersion.snapshot)):
        for image in (snapshot or {}).get("images") or []:
            if image.get("sha256"):
                hashes.add(str(image["sha256"]))
            elif "id" in image:
                ids.add(int(image["id"]))
    return hashes, ids


def referenced_hashes() -> tuple[set[str], set[str]]:
    """(picture hashes still shown, evidence keys kept): what the sweep must never delete."""
    hashes, snapshot_ids = _snapshot_hashes()
    hashes |= set(db.session.scalars(select(ProductImage.sha256).where(ProductImage.removed.is_(False))))
    if snapshot_ids:
        hashes |= set(db.session.scalars(select(ProductImage.sha256).where(ProductImage.id.in_(snapshot_ids))))
    evidence: set[str] = set()
    for _receiver, keys in events.stored_keys_in_use.send(db.session):  # control's evidence files, …
        evidence |= set(keys)
    return hashes, evidence


def is_orphan(key: str, hashes: set[str], evidence: set[str]) -> bool:
    """A picture file that nothing refers to (a key outside the picture scheme is never an orphan)."""
    match = _HASH.match(key)
    return match is not None and match["sha"] not in hashes and key not in evidence


def sweep(*, now: dt.datetime | None = None, grace: dt.timedelta = GRACE,
          staging_max_age: dt.timedelta = STAGING_MAX_AGE) -> SweepResult:
    """Delete the orphan picture files older than ``grace`` and the staged zips older than
    ``staging_max_age``; returns the counts (also logged)."""
    store = images.get_store()
    now = now or utcnow()
    result = SweepResult()
    # List first, then read the references: a row committed after the listing is seen by the query.
    old = [f for prefix in PICTURE_PREFIXES for f in store.listing(prefix) if f.modified < now - grace]
    hashes, evidence = referenced_hashes()
    for stored in old:
        if is_orphan(stored.key, hashes, evidence):
            store.delete(stored.key)
            result.pictures_deleted += 1
        else:
            result.pictures_kept += 1
    for stored in store.listing(STAGING_PREFIX):
        if _STAGED.match(stored.key) and stored.modified < now - staging_max_age:
            store.delete(stored.key)
            result.imports_deleted += 1
        else:
            result.imports_kept += 1
    log.info("Orphan sweep: %(pictures_deleted)d picture file(s) deleted, %(pictures_kept)d kept; "
             "%(imports_deleted)d staged import zip(s) deleted, %(imports_kept)d kept", result.as_dict())
    return result


def sweep_job(**_: Any) -> None:
    """(The scheduled job.) Idempotent: what is deleted is gone, a second run deletes nothing more."""
    sweep()
