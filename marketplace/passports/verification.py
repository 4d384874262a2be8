"""Verifying passports: a pasted document, and every stored version's hashes, signatures and status entries."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import memo
from marketplace.extensions import db
from marketplace.passports import documents, version_checks
from marketplace.passports.models import (
    IssuedDocument,
    Passport,
    PassportVersion,
)
from marketplace.passports.signing import SignatureInvalidError, Signer, canonical_json, get_signer
from marketplace.passports.standing import live_status


@dataclass
class Verdict:
    authentic: bool
    current: bool = False
    revoked: bool = False
    suspended: bool = False
    reasons: list[str] = field(default_factory=list)
    passport: Passport | None = None
    version: PassportVersion | None = None


MAX_DOCUMENT_DEPTH = 64  # a passport credential nests about ten levels


class UnreadableDocumentError(ValueError):
    """JSON the site will not read: nested beyond ``MAX_DOCUMENT_DEPTH`` or carrying a lone surrogate."""


def _check_readable(document: Any) -> None:
    """Walk ``document`` without recursion: bounded depth, and text that UTF-8 can encode."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DOCUMENT_DEPTH:
            raise UnreadableDocumentError("nested too deeply")
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise UnreadableDocumentError("a lone surrogate") from None


def verify_document(text: str) -> Verdict:
    """Check a pasted passport: a signed JWS (vc+jwt), an enveloped credential or the credential JSON-LD.

    Raises :class:`UnreadableDocumentError` for JSON nested too deeply or holding a lone surrogate.
    """
    text = text.strip()
    if not text:
        return Verdict(False, reasons=["The document is empty."])
    version, problem = _version_from_json(text) if text.startswith("{") else _version_from_jws(text)
    if version is None:
        return Verdict(False, reasons=[problem])
    return _judge(version)


def _version_by_content(document: dict[str, Any]) -> PassportVersion | None:
    """The version whose 0.6.1 or 0.7.0 form is exactly this document."""
    digest = hashlib.sha256(canonical_json(document)).hexdigest()
    return db.session.scalar(select(PassportVersion).where(
        (PassportVersion.content_hash == digest) | (PassportVersion.content_hash_070 == digest)).limit(1))


def _version_from_json(text: str) -> tuple[PassportVersion | None, str]:
    try:
        document = json.loads(text)
    except RecursionError:
        raise UnreadableDocumentError("nested too deeply") from None
    except ValueError:
        return None, "The document is not valid JSON."
    _check_readable(document)
    if not isinstance(document, dict):
        return None, "The document is not a JSON object."
    enveloped = str(document.get("id", ""))
    if document.get("type") == "EnvelopedVerifiableCredential" and enveloped.startswith("data:application/vc+jwt,"):
        return _version_from_jws(enveloped.split(",", 1)[1])
    version = _version_by_content(document)
    if version is None:
        return None, "Its content does not match any version the Union published: it was changed or it is not ours."
    return version, ""


def _version_from_jws(token: str) -> tuple[PassportVersion | None, str]:
    try:
        payload = get_signer().verify(token)
    except SignatureInvalidError:
        return None, ("The signature does not verify with the Union's key: "
                      "the document was altered or signed by someone else.")
    version = _version_by_content(payload)
    if version is None:
        return None, "The signature is valid but this version is not in the Union's public log."
    return version, ""


def _judge(version: PassportVersion) -> Verdict:
    passport = version.passport
    state = live_status(passport)
    verdict = Verdict(True, passport=passport, version=version, revoked=state.revoked, suspended=state.suspended)
    verdict.reasons.extend(state.reasons)
    latest = passport.current
    verdict.current = latest is not None and latest.id == version.id and not state.revoked
    if latest is not None and latest.id != version.id:
        verdict.reasons.append(f"A newer version ({latest.number}) has been published since this one.")
    return verdict


def _signature_problems(version: PassportVersion, signer: Signer, label: str) -> list[str]:
    """Each form of a version (0.6.1, and 0.7.0 when it has one) is signed over exactly its content."""
    problems = []
    forms = [("", version.credential, version.signature)]
    if version.credential_070 is not None:
        forms.append((" (UNTP 0.7.0)", version.credential_070, version.signature_070 or ""))
        if hashlib.sha256(canonical_json(version.credential_070)).hexdigest() != version.content_hash_070:
            problems.append(f"{label}: its UNTP 0.7.0 form does not match its hash")
    for form, credential, signature in forms:
        try:
            if signer.verify(signature) != credential:
                problems.append(f"{label}{form}: the signature covers different content")
        except SignatureInvalidError:
            problems.append(f"{label}{form}: the signature does not verify")
    return problems


VERIFY_PAGE = 100  # versions held at a time (two credentials each) when one is checked again in full


def verify_all(version_ids: list[int] | None = None, workers: int | None = None) -> list[str]:
    """Check every version's hash, signatures and status entries (or only those of ``version_ids``: an
    incremental verify), and every issued document. The log is checked by ``log.verify_log``. Returns the
    problems found. ``workers``: processes for the signature checks (None: 2 for a large set)."""
    return start_checks(version_ids, workers).problems()


class VersionProblems:
    """``verify_all`` started: each version's quick checks run (``version_checks``; in worker processes for a
    large set) while the caller does other work; :meth:`problems` waits, then names what is wrong with each
    version that failed one, checking it again in full, and checks the issued documents."""

    def __init__(self, version_ids: list[int] | None, workers: int | None) -> None:
        self.signer = get_signer()
        self.version_ids = version_ids
        self.checks = version_checks.Checks(self.signer, version_ids, workers)

    def problems(self) -> list[str]:
        """Checking writes nothing, so what several versions and documents read alike (their issuers' keys) is
        read once (``memo.batch``)."""
        with contextlib.nullcontext() if memo.active() else memo.batch():
            return self._problems()

    def _problems(self) -> list[str]:
        suspects = self.checks.unsound_ids()
        problems: list[str] = []
        stmt = select(PassportVersion).options(selectinload(PassportVersion.passport)).order_by(PassportVersion.id)
        for start in range(0, len(suspects), VERIFY_PAGE):
            for version in db.session.scalars(stmt.where(PassportVersion.id.in_(suspects[start:start + VERIFY_PAGE]))):
                problems.extend(_version_problems(version, self.signer))
        if self.version_ids is None:
            for document in db.session.scalars(select(IssuedDocument).order_by(IssuedDocument.id)):
                problems.extend(documents.verify_document(document))
        return problems


def start_checks(version_ids: list[int] | None = None, workers: int | None = None) -> VersionProblems:
    return VersionProblems(version_ids, workers)


def _version_problems(version: PassportVersion, signer: Signer) -> list[str]:
    label = f"passport {version.passport.public_id} version {version.number}"
    problems = []
    if hashlib.sha256(canonical_json(version.credential)).hexdigest() != version.content_hash:
        problems.append(f"{label}: content does not match its hash")
    problems.extend(_signature_problems(version, signer, label))
    indexes = {e.get("statusListIndex") for e in version.credential.get("credentialStatus", [])}
    if indexes != {str(version.passport.status_index)}:
        problems.append(f"{label}: status entries do not point at the passport's status index")
    return problems
