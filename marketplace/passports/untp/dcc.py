"""UNTP 0.6.1 Digital Conformity Credentials (DCC): a certificate as its certifier issues it, and the claim a
passport makes on it (linked by the SHA-256 of the credential)."""

from __future__ import annotations

import copy
from typing import Any

from marketplace import memo
from marketplace.certification.models import AssuranceLevel, Certificate
from marketplace.passports.untp.parties import _party, issuer_of
from marketplace.passports.untp.vocabulary import DCC_CONTEXT, LINK_TYPES, VC_CONTEXT, _date_time, sha256

ASSESSOR_LEVEL = {
    AssuranceLevel.self_declared: "Self",
    AssuranceLevel.internal_control: "Membership",
    AssuranceLevel.s3c_external: "3rdParty",
    AssuranceLevel.accredited_third_party: "3rdParty",
}
ASSESSMENT_LEVEL = {
    AssuranceLevel.self_declared: "Unspecified",
    AssuranceLevel.internal_control: "Validated",
    AssuranceLevel.s3c_external: "Verified",
    AssuranceLevel.accredited_third_party: "Accredited",
}


def certificate_url(cert: Certificate, base_url: str) -> str:
    return f"{base_url}/certificates/{cert.number}.json"


def conformity_credential(cert: Certificate, base_url: str) -> dict[str, Any]:
    """A UNTP Digital Conformity Credential for a certificate, issued by its certifier. It carries no
    status: a suspension or revocation is a status-list change, never an edit of the credential."""
    topic = "governance.compliance" if cert.scheme.code.startswith("MSME") else "environment.biodiversity"
    standard = {
        "type": ["Standard"], "id": f"{base_url}/certification#scheme-{cert.scheme.code}",
        "name": f"{cert.scheme.name} {cert.scheme.version}",
        "issuingParty": {"id": f"{base_url}/certification", "name": cert.scheme.owner},
    }
    return {
        "type": ["DigitalConformityCredential", "VerifiableCredential"],
        "@context": [VC_CONTEXT, DCC_CONTEXT],
        "id": certificate_url(cert, base_url),
        "issuer": issuer_of(cert.issuer, base_url),
        "validFrom": _date_time(cert.valid_from),
        "validUntil": _date_time(cert.valid_to),
        "credentialSubject": {
            "type": ["ConformityAttestation", "Attestation"],
            "id": f"{base_url}/certificates/{cert.number}",
            "name": f"{cert.scheme.name}, {cert.tier}, certificate {cert.number}",
            "assessorLevel": ASSESSOR_LEVEL[cert.assurance_level],
            "assessmentLevel": ASSESSMENT_LEVEL[cert.assurance_level],
            "attestationType": "certification",
            "description": f"Issued by {cert.issuer.name}; chain of custody: {cert.custody_model.value}.",
            "issuedToParty": _party(cert.holder, base_url),
            "assessment": [{
                "type": ["ConformityAssessment", "Declaration"],
                "id": f"{base_url}/certificates/{cert.number}#assessment",
                "name": f"{cert.scheme.name} {cert.tier}",
                "assessmentDate": cert.valid_from.isoformat(),
                "referenceStandard": standard,
                "assessmentCriteria": [scheme_criteria(cert, standard, topic)],
                "conformityTopic": topic,
                "conformance": True,
            }],
        },
    }


def scheme_criteria(cert: Certificate, standard: dict[str, Any], topic: str) -> dict[str, Any]:
    """The criteria a certificate attests: all those of its scheme, each published in full on the
    certification page (this criterion's id is the address of their table there)."""
    codes = [c.code for c in cert.scheme.criteria]
    span = f" ({codes[0]} to {codes[-1]})" if codes else ""
    return {
        "type": ["Criterion"], "id": standard["id"] + "-criteria",
        "name": f"{standard['name']}: all criteria of the standard",
        "description": f"The {len(codes)} criteria of {standard['name']}{span}, assessed at every level of "
                       f"control the certificate names; each is published in full at {standard['id']}-criteria.",
        "conformityTopic": topic,
        "status": "active",
    }


def _claim(cert: Certificate, base_url: str) -> dict[str, Any]:
    """A passport's claim on a certificate (a fresh dict: the caller rewrites its link). Within a
    ``memo.batch`` the certificate's credential is built and hashed once for every passport claiming it."""
    dcc, digest = memo.once(("dcc_claim", cert.id, base_url), lambda: _hashed_credential(cert, base_url))
    return {
        "type": ["Claim", "Declaration"],
        "id": f"{base_url}/certificates/{cert.number}#claim",
        "description": f"{cert.scheme.name} {cert.tier} (certificate {cert.number}, issued by {cert.issuer.name}, "
                       f"valid {cert.valid_from.isoformat()} to {cert.valid_to.isoformat()}; assurance: "
                       f"{cert.assurance_level.value}; chain of custody: {cert.custody_model.value})",
        "referenceStandard": copy.deepcopy(dcc["credentialSubject"]["assessment"][0]["referenceStandard"]),
        "assessmentDate": cert.valid_from.isoformat(),
        "assessmentCriteria": copy.deepcopy(dcc["credentialSubject"]["assessment"][0]["assessmentCriteria"]),
        "conformityTopic": dcc["credentialSubject"]["assessment"][0]["conformityTopic"],
        "conformance": dcc["credentialSubject"]["assessment"][0]["conformance"],  # as the certificate assesses
        "conformityEvidence": {
            "type": ["SecureLink", "Link"], "linkURL": dcc["id"], "linkName": f"Certificate {cert.number}",
            "linkType": LINK_TYPES + "dcc", "hashDigest": digest, "hashMethod": "SHA-256",
        },
    }


def _hashed_credential(cert: Certificate, base_url: str) -> tuple[dict[str, Any], str]:
    dcc = conformity_credential(cert, base_url)
    return dcc, sha256(dcc)
