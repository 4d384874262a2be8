"""The pictures zip of the product import: its pictures by file name (folders ignored), read with size limits
and never unpacked to disk, and the zip kept (staged in the file store, named by its SHA-256) from the
preview until the import is confirmed. The orphan sweep (``orphans.py``) deletes staged zips no confirmation
can use any more."""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import zipfile

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from marketplace.lots.sheets import ImportFileError
from marketplace.products import images as image_files

MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_ZIP_FILES = 500
MAX_ZIP_UNPACKED = 200 * 1024 * 1024
MAX_RATIO = 100  # pictures are compressed already: a much higher ratio is a zip bomb
STAGING = "imports/{sha}.zip"




class Pictures:
    """The pictures of an uploaded zip, by file name (folders ignored); read with size limits, never unpacked
    to disk. Raises ImportFileError for a zip that cannot be used at all."""

    def __init__(self, data: bytes) -> None:
        if len(data) > MAX_ZIP_BYTES:
            raise ImportFileError(_("The zip of pictures is larger than %(mb)d MB: split it.",
                                    mb=MAX_ZIP_BYTES // (1024 * 1024)))
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
            infos = self.archive.infolist()
        except (zipfile.BadZipFile, ValueError) as error:
            raise ImportFileError(_("The pictures file is not a zip archive, or it is damaged.")) from error
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.entries: dict[str, zipfile.ZipInfo] = {}
        files = [i for i in infos if not i.is_dir()]
        if len(files) > MAX_ZIP_FILES:
            raise ImportFileError(_("The zip holds more than %(n)d files.", n=MAX_ZIP_FILES))
        if sum(i.file_size for i in files) > MAX_ZIP_UNPACKED:
            raise ImportFileError(_("The zip of pictures is too large once unpacked: split it."))
        for info in files:
            self._add(info)

    def _add(self, info: zipfile.ZipInfo) -> None:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or re.match(r"^[A-Za-z]:", name):
            raise ImportFileError(_("The zip holds a file outside its folder (“%(name)s”): it is refused.",
                                    name=name[:80]))
        if info.flag_bits & 0x1:
            raise ImportFileError(_("The zip is password-protected: zip the pictures without a password."))
        base = posixpath.basename(name)
        if not base or base.startswith(".") or name.startswith("__MACOSX/"):
            return
        if info.file_size > image_files.MAX_BYTES or (
                info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1 << 20):
            raise ImportFileError(_("“%(name)s” in the zip is larger than 10 MB once unpacked.", name=base[:80]))
        key = base.lower()
        if key in self.entries:
            raise ImportFileError(_("Two files in the zip are called “%(name)s”.", name=base[:80]))
        self.entries[key] = info

    def read(self, name: str) -> bytes | None:
        """The file's bytes (at most the image limit plus one byte: the limit then refuses it), or None."""
        info = self.entries.get(name.strip().lower())
        if info is None:
            return None
        with self.archive.open(info) as handle:
            return handle.read(image_files.MAX_BYTES + 1)


def stage(pictures_data: bytes) -> str:
    """Keep an uploaded zip until the import is confirmed; its SHA-256 names it."""
    sha = hashlib.sha256(pictures_data).hexdigest()
    # Written even when the same zip is staged already: the new preview's lifetime starts now, and the
    # orphan sweep (products/orphans.py) deletes staged zips by their modified time.
    image_files.get_store().write(STAGING.format(sha=sha), pictures_data)
    return sha


def staged(sha: str) -> Pictures:
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ImportFileError(_("The preview has expired or was changed: upload the file again."))
    path = image_files.get_store().path(STAGING.format(sha=sha))
    data = path.read_bytes() if path is not None else b""
    if hashlib.sha256(data).hexdigest() != sha:
        raise ImportFileError(_("The zip of pictures is no longer kept: upload the files again."))
    return Pictures(data)


def unstage(session: Session, sha: str) -> None:
    """Forget the staged zip once the import's transaction commits: if the commit fails, the person's retry of
    the confirmation still finds it."""
    image_files.delete_on_commit(session, STAGING.format(sha=sha))
