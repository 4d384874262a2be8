"""Offline verifier of passport bundles: ``python -m passport_verify BUNDLE.zip``.

Written apart from the site: it imports nothing from ``marketplace`` and needs no network. It checks the
manifest's hashes and signature, the passport's signature against its issuer's DID document, each linked
credential against the digest the signed passport gives, the status lists (signed, and fresh enough),
and the version's inclusion in the signed log checkpoint (RFC 9162).
"""

from passport_verify.core import Report, verify_bundle

__all__ = ["Report", "verify_bundle"]
