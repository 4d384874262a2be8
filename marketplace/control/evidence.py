"""Evidence files: pictures under the product-image rules, or PDFs checked with pypdf."""

from __future__ import annotations

import hashlib
import io
import logging

from flask_babel import lazy_gettext as _l
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from sqlalchemy.orm import Session

from marketplace.products import images

MAX_BYTES = images.MAX_BYTES
MAX_PDF_PAGES = 200


class EvidenceRejected(ValueError):  # noqa: N818 (the evidence was rejected)
    """An upload that is not acceptable evidence; the message is shown to the user."""


def _check_pdf(data: bytes) -> None:
    if not data.startswith(b"%PDF-"):
        raise EvidenceRejected(str(_l("The file is not a PDF we can read.")))
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise EvidenceRejected(str(_l("The PDF is password-protected. Upload it without a password.")))
        pages = len(reader.pages)
        for page in reader.pages[:MAX_PDF_PAGES]:
            page.mediabox  # noqa: B018 (parses each page object)
    except EvidenceRejected:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError, AttributeError):
        raise EvidenceRejected(str(_l("The PDF is damaged or incomplete. Upload the file again."))) from None
    if pages == 0:
        raise EvidenceRejected(str(_l("The PDF has no pages.")))
    if pages > MAX_PDF_PAGES:
        raise EvidenceRejected(str(_l("The PDF has more than %(n)s pages. Upload the relevant pages only.",
                                      n=MAX_PDF_PAGES)))


def check(data: bytes) -> tuple[str, str, images.ProcessedImage]:
    """(media type, store key, files to store) for an upload, or raise EvidenceRejected."""
    if not data:
        raise EvidenceRejected(str(_l("The file is empty.")))
    if len(data) > MAX_BYTES:
        raise EvidenceRejected(str(_l("The file is larger than 10 MB. Upload a smaller file.")))
    if data.startswith(b"%PDF-"):
        _check_pdf(data)
        sha = hashlib.sha256(data).hexdigest()
        key = f"evidence/{sha}.pdf"
        return "application/pdf", key, images.ProcessedImage(sha, "pdf", 0, 0, {key: data})
    try:
        processed = images.process(data)
    except images.ImageRejected as exc:
        raise EvidenceRejected(str(_l("%(reason)s PDF files are accepted too.", reason=str(exc)))) from None
    key = images.original_key(processed.sha256, processed.ext)
    media = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}[processed.ext]
    # Only the metadata-free original is kept: evidence is private and never shown in sizes.
    return media, key, images.ProcessedImage(processed.sha256, processed.ext, processed.width, processed.height,
                                             {key: processed.files[key]})


def save(session: Session, stored: images.ProcessedImage) -> None:
    images.save_files(session, stored)
