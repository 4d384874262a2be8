"""Object storage behind the image store port (products/images.py ``ImageStore``): an S3-compatible adapter
(boto3), chosen by ``S3_BUCKET``; and the storage part of ``/healthz`` for either adapter.

Keys are content-addressed (``originals/<sha256>.<ext>``, ``variants/<sha256>-<width>.<fmt>``, evidence
files likewise), so a file never changes once written: each web machine keeps a read-through copy in
``IMAGE_CACHE_PATH`` and serves it with ``send_file`` as it serves the local folder. The bucket stays
private: originals are never served; variants are served by the site (public, immutable caching headers,
and only once a published version shows them), so no object needs a public ACL.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from flask import current_app

PROBE_KEY = ".healthz"


class StoredFile(NamedTuple):
    """One file of a store's listing: its key and when it was last written (UTC)."""

    key: str
    modified: dt.datetime


class StorageUnavailable(OSError):  # noqa: N818 (an OSError, as the local folder's failures are)
    """The object store could not be reached or refused the request: the upload is refused, nothing kept."""


class S3Store:
    """Images and documents in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto in tests)."""

    def __init__(self, bucket: str, cache: str | os.PathLike[str], *, endpoint_url: str | None = None,
                 region: str | None = None, access_key: str | None = None, secret_key: str | None = None,
                 prefix: str = "") -> None:
        import boto3  # noqa: PLC0415 (only sites that configure S3 load boto3)
        from botocore.config import Config  # noqa: PLC0415 (with boto3)

        self.bucket, self.prefix, self.cache = bucket, prefix.strip("/"), Path(cache)
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or "us-east-1",
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2}))

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError("image key outside the store")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _missing(self, error: Exception) -> bool:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (with boto3, as above)

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if self._missing(error):
                return False
            raise StorageUnavailable(str(error)) from error
        except BotoCoreError as error:  # unreachable: the request gets a clear 503 (errors.py), never a 500
            raise StorageUnavailable(str(error)) from error
        return True

    def write(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (with boto3, as above)

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(str(error)) from error

    def read(self, key: str) -> bytes:
        """The object's bytes (originals for the variants job: never copied to the serving cache)."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (with boto3, as above)

        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())
        except ClientError as error:
            if self._missing(error):
                raise FileNotFoundError(key) from error
            raise StorageUnavailable(str(error)) from error
        except BotoCoreError as error:
            raise StorageUnavailable(str(error)) from error

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (with boto3, as above)

        self._cached(key).unlink(missing_ok=True)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(str(error)) from error

    def _cached(self, key: str) -> Path:
        full = (self.cache / self._key(key)).resolve()
        if self.cache.resolve() not in full.parents:
            raise ValueError("image key outside the store")
        return full

    def path(self, key: str) -> Path | None:
        """A local copy to serve (downloaded once: keys never change), or None if the object is missing."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (with boto3, as above)

        full = self._cached(key)
        if full.is_file():
            return full
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as error:
            if self._missing(error):
                return None
            raise StorageUnavailable(str(error)) from error
        except BotoCoreError as error:
            raise StorageUnavailable(str(error)) from error
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=".download-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(tmp, full)
        return full

    def listing(self, prefix: str) -> Iterator[StoredFile]:
        """Objects whose key starts with ``prefix``, with their last-modified time (the store port's listing)."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (with boto3, as above)

        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                           Prefix=self._key(prefix))
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) + 1:] if self.prefix else item["Key"]
                    if name != PROBE_KEY:
                        yield StoredFile(name, item["LastModified"].astimezone(dt.UTC))
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(str(error)) from error

    def keys(self) -> list[str]:
        """Every key in the store (for orphan checks and backups)."""
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) + 1:] if self.prefix else item["Key"]
                if name != PROBE_KEY:
                    found.append(name)
        return sorted(found)

    def health(self) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (with boto3, as above)

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(PROBE_KEY), Body=b"ok")
        except (BotoCoreError, ClientError) as error:
            return {"adapter": "s3", "bucket": self.bucket, "status": "error",
                    "error": " ".join(str(error).split())[:200],
                    "action": "Check S3_ENDPOINT_URL, S3_BUCKET and the credentials, or start the object store."}
        return {"adapter": "s3", "bucket": self.bucket, "status": "ok"}


def s3_configured() -> bool:
    return bool(current_app.config.get("S3_BUCKET"))


def s3_store() -> S3Store:
    config = current_app.config
    cache = config.get("IMAGE_CACHE_PATH") or str(Path(current_app.instance_path) / "image-cache")
    return S3Store(config["S3_BUCKET"], cache, endpoint_url=config.get("S3_ENDPOINT_URL"),
                   region=config.get("S3_REGION"), access_key=config.get("S3_ACCESS_KEY_ID"),
                   secret_key=config.get("S3_SECRET_ACCESS_KEY"), prefix=config.get("S3_PREFIX") or "")


def local_health(root: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The local folder can be written (made if missing)."""
    if not root:
        return {"adapter": "local", "status": "error", "action": "Set IMAGE_STORAGE_PATH."}
    folder = Path(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".healthz-"):
            pass
    except OSError as error:
        return {"adapter": "local", "status": "error", "error": f"{type(error).__name__}: {error.strerror}",
                "action": "Make IMAGE_STORAGE_PATH a folder the site's user can write."}
    return {"adapter": "local", "status": "ok"}


# Backups: every stored file to a folder and back (deploy/backup.sh, deploy/restore.sh) -------------------

def export_files(store: Any, target: str | os.PathLike[str]) -> int:
    """Copy every file of ``store`` (local folder or bucket) under ``target``; returns how many."""
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(store, S3Store):
        keys = store.keys()
        for key in keys:
            source = store.path(key)
            if source is not None:
                (out / key).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, out / key)
        return len(keys)
    root = Path(store.root)
    count = 0
    for source in sorted(root.rglob("*")) if root.exists() else []:
        if source.is_file() and not source.name.startswith("."):
            (out / source.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out / source.relative_to(root))
            count += 1
    return count


def import_files(store: Any, source: str | os.PathLike[str]) -> int:
    """Write every file under ``source`` into ``store`` (existing keys are kept: content-addressed)."""
    folder = Path(source)
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = path.relative_to(folder).as_posix()
            if not store.exists(key):
                store.write(key, path.read_bytes())
            count += 1
    return count
