"""Passport rules, one import for every entry point: publish versions (signed, logged), derive live status,
serve the page's key, verify everything. Each concern lives in its own module; this one names them all."""

from __future__ import annotations

from marketplace.db import today, utcnow
from marketplace.passports.page_cache import PageKey, _PostgresSnapshotKeys, _stamped_keys, page_key
from marketplace.passports.publishing import (
    COMMIT_EVERY,
    PUBLISH_BATCH,
    build_credential,
    linked_documents,
    publish,
    publish_all,
    publish_many,
    union_party,
)
from marketplace.passports.reading import (
    aimag_centres,
    base_url,
    claimed_certificates,
    get_passport,
    passport_certificates,
    passport_for_gtin,
    processing_step,
)
from marketplace.passports.standing import (
    LiveStatus,
    current_status_list,
    issue_status_lists,
    latest_status_list,
    live_status,
    status_indexes,
)
from marketplace.passports.subjects import passport_for, passports_for, passports_in_batches
from marketplace.passports.verification import (
    MAX_DOCUMENT_DEPTH,
    UnreadableDocumentError,
    Verdict,
    verify_all,
    verify_document,
)

__all__ = [
    "COMMIT_EVERY", "MAX_DOCUMENT_DEPTH", "PUBLISH_BATCH", "LiveStatus", "PageKey", "UnreadableDocumentError",
    "Verdict",
    "_PostgresSnapshotKeys", "_stamped_keys", "aimag_centres", "base_url", "build_credential",
    "claimed_certificates", "current_status_list", "get_passport", "issue_status_lists", "latest_status_list",
    "linked_documents", "live_status", "page_key", "passport_certificates", "passport_for", "passport_for_gtin",
    "passports_for", "passports_in_batches",
    "processing_step", "publish", "publish_all", "publish_many", "status_indexes", "today", "union_party",
    "utcnow", "verify_all", "verify_document",
]
