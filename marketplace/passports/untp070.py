"""UNTP 0.7.0, the published form of the passports and conformity credentials.

Each 0.7.0 document is derived from the 0.6.1 document ``untp/`` builds from the database (kept,
signed and logged as before, and still served with ``?untp=0.6.1``), so both forms always say the same
thing. What changes (``shared/untp-0.7/README.md``): the credential subject is the ``Product`` itself,
with ``idGranularity``, ``relatedParty`` roles, a ``producedAtFacility``, ``{countryCode, countryName}``
countries, materials with a ``materialType``, and ``performanceClaim``s, into which the certificates and
the 0.6 emissions, circularity and traceability scorecards fold; linked credentials are ``Link``s with a
``digestMultibase`` (multibase base58btc of the SHA-256 multihash of the linked document's canonical JSON).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from marketplace.passports.signing import canonical_json
from marketplace.passports.untp import HS, LINK_TYPES, VC_CONTEXT

VERSION = "0.7.0"
CONTEXT = "https://vocabulary.uncefact.org/untp/0.7.0/context/"
MONGOLIA = {"countryCode": "MN", "countryName": "Mongolia"}
JSONLD = "application/ld+json"
# The 0.6.1 assurance codes in their 0.7.0 spelling (the 0.7.0 DCC schema's enumerations). 0.7.0 names the
# endorsement behind the assessment: none for a self-declaration, the scheme itself for the Union's internal
# control, a body the scheme recognises for external and accredited audits (no authority benchmark or
# mutual recognition is claimed).
ASSESSOR_LEVEL = {"Self": "self", "Commercial": "commercial", "Buyer": "buyer", "Membership": "membership",
                  "Unspecified": "unspecified", "3rdParty": "3rdParty", "Hybrid": "hybrid"}
ASSESSMENT_LEVEL = {"Unspecified": "no-endorsement", "Validated": "scheme-self", "Verified": "scheme-cab",
                    "Accredited": "scheme-cab"}
# URL of a linked credential -> its digestMultibase, or (its versioned URL, the digest of the bytes served there)
Digests = Mapping[str, str | tuple[str, str]]
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def cashmere_context_url(base_url: str) -> str:
    """The site's context for the cashmere terms alongside UNTP 0.7.0 (the 0.6.1 gap types left out)."""
    return f"{base_url}/contexts/cashmere/v2.jsonld"


def _base58btc(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _B58[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def multibase_sha256(data: bytes) -> str:
    """``z`` + base58btc(multihash sha2-256) of exactly these bytes."""
    return "z" + _base58btc(b"\x12\x20" + hashlib.sha256(data).digest())


def digest_multibase(document: Any) -> str:
    """``z`` + base58btc(multihash sha2-256) of the document's canonical JSON (the bytes an issued
    credential is served as at its versioned URL)."""
    return multibase_sha256(canonical_json(document))


def _country(code: str) -> dict[str, str]:
    return MONGOLIA if code == "MN" else {"countryCode": code}


def _issuer(issuer: dict[str, Any], base_url: str, union: dict[str, Any] | None = None) -> dict[str, Any]:
    """The issuer (the Union's DID), also known by its register entry when the Union organisation is given."""
    known = _party(union) if union else {"type": ["Party"], "id": f"{base_url}/about", "name": issuer["name"],
                                         "registrationCountry": MONGOLIA}
    return {**issuer, "issuerAlsoKnownAs": [known]}


def _party(party: dict[str, Any]) -> dict[str, Any]:
    found = {k: v for k, v in party.items() if k in ("id", "name", "registeredId", "idScheme", "description")}
    return {"type": ["Party"], **found, "registrationCountry": MONGOLIA}


def _facility(party: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The processing site of an operator, identified in the Union's register of facilities by the
    operator's register path (one site per operator today)."""
    slug = party["id"].rsplit("/", 1)[-1]
    return {"type": ["Facility"], "id": f"{party['id']}#facility", "name": party["name"],
            "registeredId": f"{slug}/site-1",
            "idScheme": {"type": ["IdentifierScheme"], "id": f"{base_url}/organisations/",
                         "name": "Union of Sustainable Cashmere Cooperatives, register of processing facilities"}}


def _classification(category: dict[str, Any]) -> dict[str, Any]:
    return {"code": category["code"], "name": category["name"], "schemeId": category["schemeID"],
            "schemeName": category["schemeName"]}


FIBRE = {"code": "510211", "name": "Fine animal hair of Kashmir goats, not carded or combed", "schemeId": HS,
         "schemeName": "Harmonized System"}


def _material(material: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": material["name"], "originCountry": _country(material["originCountry"]), "materialType": FIBRE,
        "massFraction": material["massFraction"], "mass": material["mass"],
        "recycledMassFraction": material["recycledMassFraction"], "hazardous": material["hazardous"],
    }


def _topic(topic: str, base_url: str) -> dict[str, Any]:
    names = {"environment.biodiversity": "Biodiversity and rangeland health",
             "governance.compliance": "Governance and compliance",
             "environment.emissions": "Greenhouse gas emissions", "circularity.content": "Recycled content",
             "governance.traceability": "Traceability"}
    return {"type": ["ConformityTopic"], "id": f"{base_url}/how-to-read-a-passport#topic-{topic}",
            "name": names.get(topic, topic)}


def _link(url: str, name: str, link_type: str, digests: Digests) -> dict[str, Any]:
    """A link to a credential. ``digests`` maps its URL to its digestMultibase, or to (the immutable,
    versioned URL it was issued at, the digestMultibase of the bytes served there)."""
    found = digests.get(url)
    digest = found
    if isinstance(found, tuple):
        url, digest = found
    link = {"linkURL": url, "linkName": name, "mediaType": JSONLD, "linkType": LINK_TYPES + link_type}
    if digest:
        link["digestMultibase"] = digest
    return link


def _criteria(criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The criteria a certificate attests (all those of its standard), as the 0.6.1 form names them."""
    return [{"type": ["Criterion"], "id": c["id"], "name": c["name"]} for c in criteria]


def _conformance(base_url: str) -> dict[str, Any]:
    """The performance a certificate attests (and a passport claims from it): conformance with the standard."""
    return {"metric": {"type": ["PerformanceMetric"], "id": f"{base_url}/how-to-read-a-passport#metric-conformance",
                       "name": "Conformance with the standard"},
            "score": {"code": "conformant", "definition": "Certified as conforming to the standard"}}


def _certificate_claim(claim: dict[str, Any], base_url: str, digests: Digests) -> dict[str, Any]:
    standard = claim["referenceStandard"]
    evidence = claim["conformityEvidence"]
    return {
        "type": ["Claim"], "id": claim["id"], "name": standard["name"], "description": claim["description"],
        "referenceStandard": [{"type": ["Standard"], "id": standard["id"], "name": standard["name"]}],
        "referenceCriteria": _criteria(claim["assessmentCriteria"]),
        "claimDate": claim["assessmentDate"],
        "claimedPerformance": [_conformance(base_url)],
        "evidence": [_link(evidence["linkURL"], evidence["linkName"], "dcc", digests)],
        "conformityTopic": [_topic(claim["conformityTopic"], base_url)],
    }


def _metric_claim(*, claim_id: str, name: str, description: str, day: str, metric: str, metric_name: str,
                  value: float, unit: str, topic: str, base_url: str) -> dict[str, Any]:
    guide = f"{base_url}/how-to-read-a-passport"
    return {
        "type": ["Claim"], "id": claim_id, "name": name, "description": description,
        "referenceCriteria": [{"type": ["Criterion"], "id": f"{guide}#criterion-{metric}", "name": metric_name}],
        "claimDate": day,
        "claimedPerformance": [{"metric": {"type": ["PerformanceMetric"], "id": f"{guide}#metric-{metric}",
                                           "name": metric_name},
                                "measure": {"value": value, "unit": unit}}],
        "conformityTopic": [_topic(topic, base_url)],
    }


def _scorecard_claims(subject: dict[str, Any], passport_url: str, day: str, base_url: str) -> list[dict[str, Any]]:
    claims = []
    emissions = subject.get("emissionsScorecard")
    if emissions:
        claims.append(_metric_claim(
            claim_id=f"{passport_url}#claim-carbon-footprint", name="Product carbon footprint, cradle to gate",
            description=f"Carbon footprint per item ({emissions['operationalScope']}); "
                        f"{round(emissions['primarySourcedRatio'] * 100)}% of it from measured figures.",
            day=day, metric="carbon-footprint", metric_name="Carbon footprint per item (kg CO2e)",
            value=emissions["carbonFootprint"], unit="KGM", topic="environment.emissions", base_url=base_url))
    circularity = subject.get("circularityScorecard")
    if circularity:
        claims.append(_metric_claim(
            claim_id=f"{passport_url}#claim-recycled-content", name="Recycled content",
            description="Share of the product's mass from recycled fibre; the product is fully recyclable.",
            day=day, metric="recycled-content", metric_name="Recycled content (% of mass)",
            value=round(circularity["recycledContent"] * 100, 2), unit="P1", topic="circularity.content",
            base_url=base_url))
    traceability = subject.get("traceabilityInformation") or []
    if traceability:
        ratio = sum(t["verifiedRatio"] for t in traceability) / len(traceability)
        claims.append(_metric_claim(
            claim_id=f"{passport_url}#claim-traceability", name="Traceability of the value chain",
            description="Share of the processing steps whose figures are measured (the rest declared or estimated).",
            day=day, metric="verified-ratio", metric_name="Verified share of the value chain (%)",
            value=round(ratio * 100, 1), unit="P1", topic="governance.traceability", base_url=base_url))
    return claims


def product_passport(credential: dict[str, Any], base_url: str, digests: Digests,
                     union: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 0.7.0 form of a 0.6.1 product or lot passport built by ``untp/``. ``digests`` maps the URL of
    each linked credential to the digestMultibase of the form that URL serves; ``union`` is the Union's
    party (``untp.party``), named as the issuer's register entry."""
    subject = credential["credentialSubject"]
    product = subject["product"]
    cashmere = subject["cashmere"]
    passport_url = subject["id"]
    day = credential["validFrom"][:10]
    steps = cashmere.get("steps") or []
    is_lot = "/lots/" in product["id"]
    maker = product["producedByParty"]
    related = [{"role": "producer" if is_lot else "manufacturer", "party": _party(maker)}]
    for step in steps:
        if step["facility"]["id"] != maker["id"] and all(r["party"]["id"] != step["facility"]["id"] for r in related):
            related.append({"role": "processor", "party": _party(step["facility"])})
    documents = [
        _link(event["linkURL"], event["linkName"], "dte", digests)
        for info in subject.get("traceabilityInformation") or [] for event in info.get("traceabilityEvent") or []
    ]
    for key in ("repairInformation", "recyclingInformation"):
        link = (subject.get("circularityScorecard") or {}).get(key)
        if link:
            documents.append({"linkURL": link["linkURL"], "linkName": link["linkName"], "mediaType": "text/html",
                              "linkType": link["linkType"]})
    product070: dict[str, Any] = {
        "type": ["Product"], "id": product["id"], "name": product["name"],
        "description": product.get("description", ""), "idScheme": product["idScheme"],
        "idGranularity": subject["granularityLevel"],
        "productCategory": [_classification(c) for c in product["productCategory"]],
        "relatedParty": related,
        "producedAtFacility": _facility(steps[-1]["facility"] if steps else maker, base_url),
        "countryOfProduction": _country(product["countryOfProduction"]),
        "dimensions": product["dimensions"],
        "materialProvenance": [_material(m) for m in subject["materialsProvenance"]],
        "performanceClaim": [_certificate_claim(c, base_url, digests) for c in subject["conformityClaim"]]
        + _scorecard_claims(subject, passport_url, day, base_url),
        "cashmere": cashmere,
    }
    for key in ("batchNumber", "productionDate", "characteristics"):
        if key in product:
            product070[key] = product[key]
    if documents:
        product070["relatedDocument"] = documents
    revocation = next(s for s in credential["credentialStatus"] if s["statusPurpose"] == "revocation")
    return {
        "type": ["DigitalProductPassport", "VerifiableCredential"],
        "@context": [VC_CONTEXT, CONTEXT, cashmere_context_url(base_url)],
        "id": credential["id"],
        "issuer": _issuer(credential["issuer"], base_url, union),
        "validFrom": credential["validFrom"],
        **({"validUntil": credential["validUntil"]} if "validUntil" in credential else {}),
        "name": f"Digital Product Passport: {product['name']}",
        "credentialStatus": {**revocation, "statusListIndex": int(revocation["statusListIndex"])},
        "credentialSubject": product070,
    }


def conformity_credential(credential: dict[str, Any], base_url: str,
                          union: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 0.7.0 form of a 0.6.1 conformity credential (``untp.conformity_credential``)."""
    subject = credential["credentialSubject"]
    assessment = subject["assessment"][0]
    standard = assessment["referenceStandard"]
    return {
        "type": ["DigitalConformityCredential", "VerifiableCredential"],
        "@context": [VC_CONTEXT, CONTEXT],
        "id": credential["id"],
        "issuer": _issuer(credential["issuer"], base_url, union),
        "validFrom": credential["validFrom"],
        "validUntil": credential["validUntil"],
        "name": subject["name"],
        "credentialSubject": {
            "type": ["ConformityAttestation"], "id": subject["id"], "name": subject["name"],
            "description": subject["description"],
            "assessorLevel": ASSESSOR_LEVEL[subject["assessorLevel"]],
            "assessmentLevel": ASSESSMENT_LEVEL[subject["assessmentLevel"]],
            "attestationType": subject["attestationType"],
            "issuedToParty": _party(subject["issuedToParty"]),
            "referenceScheme": {"type": ["ConformityScheme"], "id": standard["id"], "name": standard["name"],
                                "owner": standard["issuingParty"]},
            "conformityAssessment": [{
                "type": ["ConformityAssessment"], "id": assessment["id"], "name": assessment["name"],
                "assessmentCriteria": _criteria(assessment["assessmentCriteria"]),
                "assessmentDate": assessment["assessmentDate"],
                "assessedPerformance": [_conformance(base_url)],
                "assessedOrganisation": {"type": ["Party"], "id": subject["issuedToParty"]["id"],
                                         "name": subject["issuedToParty"]["name"]},
                "referenceStandard": [{"type": ["Standard"], "id": standard["id"], "name": standard["name"]}],
                "conformityTopic": [_topic(assessment["conformityTopic"], base_url)],
                "conformance": assessment["conformance"],
            }],
        },
    }


def traceability_event(credential: dict[str, Any], facility: dict[str, Any], base_url: str,
                       union: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 0.7.0 form of a 0.6.1 traceability event (``untp.traceability_event``): the processing step, a
    TransformationEvent in 0.6, is a MakeEvent with its input and output as EventProducts. ``facility``
    is the processor (``untp.party``)."""
    event = credential["credentialSubject"][0]

    def products(quantities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"product": {"type": ["Product"], "id": q["productId"], "name": q["productName"],
                             "idGranularity": "batch"},
                 "quantity": {"value": q["quantity"], "unit": q["uom"]}} for q in quantities]

    step = event["processType"]
    return {
        "type": ["DigitalTraceabilityEvent", "VerifiableCredential"],
        "@context": [VC_CONTEXT, CONTEXT],
        "id": credential["id"],
        "issuer": _issuer(credential["issuer"], base_url, union),
        "validFrom": credential["validFrom"],
        "name": f"{step} at {facility['name']}",
        "credentialSubject": [{
            "type": ["MakeEvent", "LifecycleEvent"],
            "id": event["id"],
            "name": f"{step}: {event['outputQuantityList'][0]['productName']}",
            "eventDate": event["eventTime"],
            "activityType": {"code": step.lower(), "name": step,
                             "schemeId": f"{base_url}/how-to-read-a-passport#processing-steps",
                             "schemeName": "Union of Sustainable Cashmere Cooperatives, processing steps"},
            "relatedParty": [{"role": "processor", "party": _party(facility)}],
            "inputProduct": products(event["inputQuantityList"]),
            "outputProduct": products(event["outputQuantityList"]),
            "madeAtFacility": _facility(facility, base_url),
        }],
    }
