"""Credentials issued by their real issuers, kept as immutable versions served byte for byte.

A certificate's conformity credential (DCC) is issued by its certifier, a processing step's traceability
event (DTE) by the organisation that performed it, and an identity anchor (DIA) for each issuer by the
Union, which accredits it. Each is stored once per version, as the exact bytes served at its versioned
URL (the canonical JSON of the credential), with its JWS; a passport links to that URL with the
digestMultibase of those bytes. A change of content issues a new version; nothing changes in place (a
status change is a status-list change).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace import memo
from marketplace.certification.models import Certificate
from marketplace.extensions import db
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.passports import keys, untp, untp070
from marketplace.passports.models import IssuedDocument
from marketplace.passports.signing import canonical_json
from marketplace.products.models import ProcessingStep
from marketplace.urls import public_base_url

KINDS = ("dcc", "dte", "dia", "tier-vc", "tier-au")
# A passport's restricted tiers (``tiers.py``): their path under the passport.
TIER_PATHS = {"tier-vc": "value-chain", "tier-au": "authority"}
DIA_CONTEXT_061 = "https://test.uncefact.org/vocabulary/untp/dia/0.6.1/"  # the 0.6.1 release's
Forms = tuple[dict[str, Any], dict[str, Any]]  # (the UNTP 0.7.0 form, the 0.6.1 form)


def document_path(kind: str, subject: str, number: int) -> str:
    """The immutable URL path of one issued version."""
    if kind == "dcc":
        return f"/certificates/{subject}/versions/{number}.json"
    if kind == "dte":
        return f"/events/steps/{subject}/versions/{number}.json"
    if kind in TIER_PATHS:
        return f"/passports/{subject}/tiers/{TIER_PATHS[kind]}/versions/{number}.json"
    return f"/orgs/{subject}/identity/versions/{number}.json"


def document_url(document: IssuedDocument) -> str:
    return public_base_url() + document_path(document.kind, document.subject, document.number)


def latest(kind: str, subject: str) -> IssuedDocument | None:
    return db.session.scalar(select(IssuedDocument).where(
        IssuedDocument.kind == kind, IssuedDocument.subject == subject).order_by(IssuedDocument.number.desc()).limit(1))


def version(kind: str, subject: str, number: int) -> IssuedDocument | None:
    if kind not in KINDS or len(subject) > 80:
        return None
    return db.session.scalar(select(IssuedDocument).where(
        IssuedDocument.kind == kind, IssuedDocument.subject == subject, IssuedDocument.number == number))


def change_hash(forms: Forms) -> str:
    """What decides whether a new version is due: both forms' content without their (versioned) ids. (Until
    2026-11-30 only the 0.7.0 form's: a 0.6.1 form citing the contexts' old address was not issued again.)"""
    return hashlib.sha256(canonical_json([{k: v for k, v in form.items() if k != "id"} for form in forms])).hexdigest()


def issue(kind: str, subject: str, issuer: Organisation, build: Callable[[str | None], Forms]) -> IssuedDocument:
    """The current version of a credential, issuing (signing and storing) a new one when its content changed.
    ``build(id)`` gives both forms with that id (None: the unversioned URL)."""
    if issuer.kind is not OrgKind.union and kind not in ("dia", *TIER_PATHS):
        # The Union vouches for every issuer whose credentials a passport links to, with its anchor as the
        # site issues it now (checked once per issuer within a batch).
        memo.once(("identity_anchor", issuer.id), lambda: issue_identity(issuer))
    current = latest(kind, subject)
    number = current.number + 1 if current is not None else 1
    forms = build(public_base_url() + document_path(kind, subject, number))
    credential, legacy = forms
    digest = change_hash(forms)
    if current is not None and current.change_hash == digest:
        return current
    signer = keys.signer_for(issuer)
    body = canonical_json(credential)
    document = IssuedDocument(
        kind=kind, subject=subject, number=number, issuer_id=issuer.id, key_id=signer.key_id, change_hash=digest,
        body=body.decode(), digest=untp070.multibase_sha256(body), jwt=signer.sign(credential),
        body_061=canonical_json(legacy).decode(), jwt_061=signer.sign(legacy),
    )
    try:
        with db.session.begin_nested():  # another transaction may issue the same version at once
            db.session.add(document)
    except IntegrityError:
        found = latest(kind, subject)
        assert found is not None
        return found
    return document


# ---- the credentials ---------------------------------------------------------------------------

def union() -> Organisation | None:
    """The Union's organisation (once per ``memo.batch``: every passport of a batch seals its tiers with it)."""
    return memo.once("union_organisation", _union)


def _union() -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.union)
                             .order_by(Organisation.id).limit(1))


def conformity_forms(cert: Certificate, credential_id: str | None = None) -> Forms:
    """The certificate's conformity credential, issued by its certifier."""
    base = public_base_url()
    legacy = untp.conformity_credential(cert, base)
    if credential_id:
        legacy["id"] = credential_id
    return untp070.conformity_credential(legacy, base, untp.party(cert.issuer, base)), legacy


def step_name(step: ProcessingStep) -> str:
    """The name of what the step worked on (the name the passport used when it linked the event)."""
    if step.product is not None:
        return step.product.name.get("en") or step.product.sku
    return step.lot.code if step.lot is not None else ""


def event_forms(step: ProcessingStep, credential_id: str | None = None) -> Forms:
    """The step's traceability event, issued by the organisation that performed it."""
    base = public_base_url()
    legacy = untp.traceability_event(step, base, step_name(step))
    if credential_id:
        legacy["id"] = credential_id
    facility = untp.party(step.facility, base)
    return untp070.traceability_event(legacy, facility, base, facility), legacy


# The role an anchor registers (UNTP's registration scope): a URI each, explained on the passport guide.
SCOPES = {OrgKind.certifier: "scope-certifier", OrgKind.cooperative: "scope-cooperative", OrgKind.msme: "scope-msme"}


def registration_scope(org: Organisation, base: str) -> str:
    return f"{base}/how-to-read-a-passport#{SCOPES.get(org.kind, 'issuers')}"


def identity_forms(org: Organisation, credential_id: str | None = None) -> Forms:
    """A UNTP identity anchor: the Union, as the registrar of its own register of members and partners,
    attests that this DID belongs to the organisation it registered (the organisation's state registration
    or VAT number is the state's to anchor; the passports name it on the party).

    The 0.6.1 form follows the 0.6.1 release's schema and context (``registrationScopeList``, and nothing they
    do not define: a JSON-LD processor in safe mode refuses an undefined term); the 0.7.0 form, UNTP's 0.7.0
    schema (registered name and date, registrar, public register page)."""
    base = public_base_url()
    the_union = union()
    scheme = untp.union_register(base)
    scope = registration_scope(org, base)
    issuer = untp._issuer(keys.did_of(the_union) if the_union is not None else keys.did_for(base))
    union_party = untp.party(the_union, base) if the_union else None
    common = {
        "id": credential_id or f"{base}/orgs/{org.slug}/identity.json",
        "validFrom": untp._date_time(org.created_at.replace(microsecond=0)),
        "name": f"Identity of {org.name}",
    }
    legacy = {"type": ["DigitalIdentityAnchor", "VerifiableCredential"], "@context": [untp.VC_CONTEXT, DIA_CONTEXT_061],
              "issuer": issuer, **common, "credentialSubject": {
                  "type": ["RegisteredIdentity"], "id": keys.did_of(org), "name": org.name,
                  "registeredId": org.slug, "idScheme": scheme, "registerType": "Business",
                  "registrationScopeList": [scope]}}
    issuer_070 = untp070._issuer(issuer, base, union_party)
    registrar = issuer_070["issuerAlsoKnownAs"][0]  # the Union, as the register's operator
    current = {"type": ["DigitalIdentityAnchor", "VerifiableCredential"],
               "@context": [untp.VC_CONTEXT, untp070.CONTEXT], "issuer": issuer_070, **common, "credentialSubject": {
                   "type": ["RegisteredIdentity"], "id": keys.did_of(org), "registeredName": org.name,
                   "registeredId": org.slug, "registeredDate": org.registered_on.isoformat(),
                   "publicInformation": f"{base}/organisations/{org.slug}", "idScheme": scheme,
                   "registrar": {"type": ["Party"], "id": registrar["id"], "name": registrar["name"]},
                   "registerType": "business", "registrationScope": [scope]}}
    return current, legacy


def issue_conformity(cert: Certificate) -> IssuedDocument:
    return issue("dcc", cert.number, cert.issuer, lambda url: conformity_forms(cert, url))


def issue_event(step: ProcessingStep) -> IssuedDocument:
    return issue("dte", str(step.id), step.facility, lambda url: event_forms(step, url))


def issue_identity(org: Organisation) -> IssuedDocument | None:
    """The Union's identity anchor for an issuer; None for the Union itself (its DID is the site's)."""
    the_union = union()
    if org.kind is OrgKind.union or the_union is None:
        return None
    return issue("dia", org.slug, the_union, lambda url: identity_forms(org, url))


def verify_document(document: IssuedDocument) -> list[str]:
    """What is wrong with a stored version: its bytes, its digest and both signatures, checked against the
    issuer's DID document (so a retired key still verifies what it signed)."""
    label = f"{document.kind} {document.subject} version {document.number}"
    problems = []
    body = document.body.encode()
    if untp070.multibase_sha256(body) != document.digest:
        problems.append(f"{label}: its bytes do not match its digest")
    issuer = db.session.get(Organisation, document.issuer_id)
    for form, text, token in (("", body, document.jwt), (" (UNTP 0.6.1)", document.body_061.encode(),
                                                         document.jwt_061)):
        try:
            payload, key_id = keys.verify_jws(token)
        except keys.SignatureInvalidError:
            problems.append(f"{label}{form}: the signature does not verify")
            continue
        if canonical_json(payload) != text:
            problems.append(f"{label}{form}: the signature covers different content")
        if issuer is None or not key_id.startswith(keys.did_of(issuer) + "#"):
            problems.append(f"{label}{form}: not signed by its issuer")
    return problems


def served_bytes(kind: str, subject: str, build: Callable[[str | None], Forms], asked: str) -> bytes:
    """What the unversioned URL serves: the latest issued version's bytes while its content is current,
    otherwise the credential as it reads now (not yet issued: no passport links to it)."""
    current = latest(kind, subject)
    if current is not None and change_hash(build(document_url(current))) == current.change_hash:
        return (current.body if asked == "0.7.0" else current.body_061).encode()
    credential, legacy = build(None)
    return canonical_json(credential if asked == "0.7.0" else legacy)
