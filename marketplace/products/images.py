"""Product images: a small storage port, a local-folder adapter, and the Pillow pipeline.

Uploads are accepted only when Pillow opens, verifies and fully decodes them as JPEG, PNG
or WebP, within a size and a pixel limit. Every stored file is re-encoded from the
pixels, so no EXIF, GPS, XMP or comment survives; the picture is auto-oriented first.
Files are named by the SHA-256 of the upload: ``originals/<hash>.<ext>`` (private, never
served) and ``variants/<hash>-<width>.<webp|jpg>`` (served through ``srcset``).

The upload request checks the picture and stores only its metadata-free original (``process``); the
resized variants are made from that original by the ``products.image_variants`` job (``make_variants``),
enqueued in the upload's transaction, so an upload never waits for six encodings.

Files written during a transaction are deleted again if that transaction rolls back, so
a failed upload never leaves an orphan file (nor, through the unit of work, a half-written row).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session

from marketplace import storage
from marketplace.storage import StoredFile

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 40 megapixels: more than any camera a workshop uses; bombs are far larger
WIDTHS = (320, 640, 1280)
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
VARIANT_NAME = re.compile(r"^(?P<width>320|640|1280)\.(?P<fmt>webp|jpg)$")
_PENDING = "new_image_files"
_DOOMED = "image_files_deleted_on_commit"
log = logging.getLogger(__name__)
NOT_AN_IMAGE = _l("The file is not a picture we can read. Upload a JPEG, PNG or WebP file.")
DAMAGED = _l("The picture is damaged or incomplete (truncated). Upload the file again.")


class ImageRejected(ValueError):  # noqa: N818 (reads as what it is: the image was rejected)
    """An upload that is not an acceptable image; the message is shown to the user."""



class ImageStore(Protocol):
    """Where image files live. Keys are relative paths such as ``variants/<hash>-640.webp``."""

    def exists(self, key: str) -> bool: ...

    def write(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def read(self, key: str) -> bytes:
        """The stored bytes; FileNotFoundError when the key is missing."""
        ...

    def path(self, key: str) -> Path | None:
        """A local path to serve the file from, or None if it is missing."""
        ...

    def listing(self, prefix: str) -> Iterator[StoredFile]:
        """Every file whose key starts with ``prefix`` (such as ``originals/``), with its modified time."""
        ...


class LocalFolderStore:
    """The default adapter: a folder on the local disk (``IMAGE_STORAGE_PATH``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _full(self, key: str) -> Path:
        full = (self.root / key).resolve()
        if self.root.resolve() not in full.parents:
            raise ValueError("image key outside the store")
        return full

    def exists(self, key: str) -> bool:
        return self._full(key).is_file()

    def write(self, key: str, data: bytes) -> None:
        """Write atomically: a temp file in the same folder, then a rename."""
        full = self._full(key)
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, full)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        self._full(key).unlink(missing_ok=True)

    def read(self, key: str) -> bytes:
        return self._full(key).read_bytes()

    def path(self, key: str) -> Path | None:
        full = self._full(key)
        return full if full.is_file() else None

    def listing(self, prefix: str) -> Iterator[StoredFile]:
        """Files under ``prefix`` (a folder such as ``originals/``); temp files of writes in flight are skipped."""
        folder = self.root / prefix.rstrip("/")
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                stamp = path.stat().st_mtime
            except FileNotFoundError:  # deleted meanwhile
                continue
            yield StoredFile(path.relative_to(self.root).as_posix(), dt.datetime.fromtimestamp(stamp, dt.UTC))


def get_store() -> ImageStore:
    """The S3-compatible bucket when ``S3_BUCKET`` is set (marketplace/storage.py), else the local folder."""
    if storage.s3_configured():
        return storage.s3_store()
    root = current_app.config.get("IMAGE_STORAGE_PATH")
    if not root:
        raise RuntimeError("IMAGE_STORAGE_PATH is not set")
    return LocalFolderStore(root)


def storage_health() -> dict[str, Any]:
    """The storage part of ``/healthz``: the configured adapter can be written."""
    if storage.s3_configured():
        return storage.s3_store().health()
    return storage.local_health(current_app.config.get("IMAGE_STORAGE_PATH"))


def original_key(sha256: str, ext: str) -> str:
    return f"originals/{sha256}.{ext}"


def variant_key(sha256: str, width: int, fmt: str) -> str:
    return f"variants/{sha256}-{width}.{fmt}"


@dataclass(frozen=True)
class ProcessedImage:
    sha256: str
    ext: str
    width: int
    height: int
    files: dict[str, bytes]  # key → bytes, all of them metadata-free


def _reject_unless(condition: bool, message: Any) -> None:
    if not condition:
        raise ImageRejected(str(message))


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected(str(_l(
                "The picture has too many pixels (more than %(limit)s megapixels) and looks like a decompression bomb.",
                limit=MAX_PIXELS // 1_000_000,
            ))) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise ImageRejected(str(NOT_AN_IMAGE)) from None
    return image


def process(data: bytes) -> ProcessedImage:
    """Check an upload and produce its private, metadata-free original, or raise ImageRejected.
    The variants are made later, from that original, by ``make_variants`` (a job)."""
    _reject_unless(len(data) > 0, _l("The file is empty."))
    _reject_unless(len(data) <= MAX_BYTES, _l("The file is larger than 10 MB. Upload a smaller picture."))
    image = _open(data)
    _reject_unless(image.format in FORMATS, _l("Only JPEG, PNG and WebP pictures are accepted."))
    width, height = image.size
    _reject_unless(
        width * height <= MAX_PIXELS,
        _l("The picture has too many pixels (more than %(limit)s megapixels) and looks like a decompression bomb.",
           limit=MAX_PIXELS // 1_000_000),
    )
    ext = FORMATS[image.format or ""]
    try:
        image.verify()  # structural check (CRCs for PNG); the image must be reopened afterwards
        image = _open(data)
        image.load()  # a full decode: catches truncated files that verify() lets through
    except ImageRejected:
        raise
    except Exception:
        raise ImageRejected(str(DAMAGED)) from None
    image = ImageOps.exif_transpose(image)  # auto-orient, then the EXIF is dropped by re-encoding
    rgb = _pixels_only(image, ext)
    sha = hashlib.sha256(data).hexdigest()
    return ProcessedImage(sha, ext, rgb.width, rgb.height, {original_key(sha, ext): _encode(rgb, ext)})


def _pixels_only(image: Image.Image, ext: str) -> Image.Image:
    rgb = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") and ext != "jpg" else "RGB")
    rgb.info.clear()  # convert() copies info, and the PNG encoder writes its icc_profile back: pixels only
    return rgb


def variant_keys(sha256: str) -> list[str]:
    return [variant_key(sha256, width, fmt) for width in WIDTHS for fmt in ("webp", "jpg")]


def make_variants(sha256: str, original: bytes) -> dict[str, bytes]:
    """The public variants (320, 640, 1280 px; WebP and JPEG; never upscaled) of a stored original.
    The original was auto-oriented and stripped on upload; the variants are re-encoded from pixels too."""
    with Image.open(io.BytesIO(original)) as opened:
        opened.load()
        scaled = _pixels_only(opened, "png" if opened.mode in ("RGBA", "LA", "P") else "jpg")
    files: dict[str, bytes] = {}
    for target in sorted(WIDTHS, reverse=True):  # each size from the next larger one: cheaper, same quality
        if scaled.width > target:
            size = (target, max(1, round(scaled.height * target / scaled.width)))
            scaled = scaled.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        for fmt in ("webp", "jpg"):
            files[variant_key(sha256, target, fmt)] = _encode(scaled, fmt)
    return files


def _encode(image: Image.Image, fmt: str) -> bytes:
    """Re-encode from pixels only: no exif, icc or text chunks are passed on."""
    if fmt == "jpg" and image.mode != "RGB":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
        image = background
    out = io.BytesIO()
    if fmt == "jpg":
        image.save(out, "JPEG", quality=85, progressive=True)
    elif fmt == "webp":
        image.save(out, "WEBP", quality=80, method=2)
    else:
        image.save(out, "PNG", compress_level=6)
    return out.getvalue()


def save_files(session: Session, processed: ProcessedImage) -> None:
    """Write the files that are not stored yet; they are deleted again if ``session`` rolls back."""
    write_files(session, processed.files)


def write_files(session: Session, files: dict[str, bytes], *, discard_on_rollback: bool = True) -> None:
    """``save_files`` for keyed bytes. The variants job keeps its files even if its transaction rolls back:
    they are what its retry needs, and another worker making the same picture's variants may rely on them."""
    store = get_store()
    pending: list[tuple[ImageStore, str]] = session.info.setdefault(_PENDING, [])
    for key, data in files.items():
        # Same content already stored (content-addressed): written again only to refresh its modified time,
        # so the orphan sweep (products/orphans.py) sees a young file until this transaction's row commits;
        # never deleted on rollback, as older rows may refer to it.
        existed = store.exists(key)
        try:
            store.write(key, data)
        except OSError:
            _discard(session)
            raise
        if discard_on_rollback and not existed:
            pending.append((store, key))


def _discard(session: Session) -> None:
    for store, key in session.info.pop(_PENDING, []):
        try:
            store.delete(key)
        except OSError:  # the store went down meanwhile: the rollback goes on (an unreferenced file stays)
            log.warning("Could not delete %s after a rolled-back upload", key, exc_info=True)


def delete_on_commit(session: Session, key: str) -> None:
    """Delete the stored file ``key`` once ``session``'s transaction commits; kept if it rolls back (the
    file is what a retry of the same request needs, e.g. an import's staged zip)."""
    session.info.setdefault(_DOOMED, []).append((get_store(), key))


@event.listens_for(Session, "after_commit")
def _keep_files(session: Session) -> None:
    # SQLAlchemy fires after_commit for a SAVEPOINT's release too: the outer transaction may still roll back.
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)
        for store, key in session.info.pop(_DOOMED, []):
            try:
                store.delete(key)
            except OSError:  # committed already: an unreferenced file stays for the orphan sweep
                log.warning("Could not delete %s after its transaction committed", key, exc_info=True)


@event.listens_for(Session, "after_soft_rollback")
def _remove_files(session: Session, previous_transaction: Any) -> None:
    # A SAVEPOINT rolled back (one row of an import refused, say) must not delete files the outer transaction
    # still refers to and may commit; the outermost rollback deletes them all (content-addressed: a file
    # written only inside the savepoint stays unreferenced if the outer transaction commits).
    if not previous_transaction.nested:
        _discard(session)
        session.info.pop(_DOOMED, None)
