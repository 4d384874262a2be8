"""UNTP v0.6 documents built from the database: product passports (DPP), conformity
credentials (DCC) for certificates, and traceability events (DTE) for processing steps.

Cashmere-specific data (fibre quality, origin, yields, herder value share) goes in
``credentialSubject.cashmere`` and ``product.characteristics``, whose terms are defined
one by one in the site's own JSON-LD context (``CONTEXT_TERMS``); there is no @vocab.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marketplace.certification.models import AssuranceLevel, Certificate
from marketplace.funds import services as funds
from marketplace.funds.models import EntryKind
from marketplace.lots.models import FibreState, Lot
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.passports.signing import canonical_json, org_did
from marketplace.payments.services import consumer_terms, service_history
from marketplace.practice.services import passport_block
from marketplace.pricing import services as pricing
from marketplace.products.models import DataBasis, ProcessingStep, Product, StepKind

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
# The versioned (frozen) UNTP 0.6.1 contexts, never the moving ``working`` ones.
DPP_CONTEXT = "https://test.uncefact.org/vocabulary/untp/dpp/0.6.1/context/"
DCC_CONTEXT = "https://test.uncefact.org/vocabulary/untp/dcc/0.6.1/context/"
DTE_CONTEXT = "https://test.uncefact.org/vocabulary/untp/dte/0.6.1/context/"
# Where each is found in the UNTP 0.6.1 release files (``shared/untp/<folder>/context.jsonld``).
CONTEXTS_061 = {DPP_CONTEXT: "untp-dpp", DCC_CONTEXT: "untp-dcc", DTE_CONTEXT: "untp-dte"}
LINK_TYPES = "https://test.uncefact.org/vocabulary/linkTypes/"
HS = "https://www.wcoomd.org/en/topics/nomenclature/instrument-and-tools/hs-nomenclature-2022-edition.aspx"
# A dehairing yield assumed when a source lot was bought already dehaired (no greasy yield known).
ASSUMED_DEHAIRING_YIELD = Decimal("0.50")
MICROMETRE = "4H"  # UN/CEFACT unit codes
MILLIMETRE = "MMT"
KILOGRAM = "KGM"
PERCENT = "P1"

# Every term used in the cashmere extension, defined explicitly in our JSON-LD context.
CONTEXT_TERMS = (
    "cashmere", "CashmereFibreCharacteristics", "colour", "state", "sorting", "season", "meanFibreDiameter",
    "diameterCV", "fibresOver30um", "meanLength", "hairContent", "dehairingYield", "vegetableMatter",
    "moistureRegain", "testMethod", "laboratory", "reportNumber", "testedOn", "origins", "lot", "cooperative",
    "pastureUserGroups", "aimag", "soum", "nameMn", "latitude", "longitude", "herderHouseholds", "kg",
    "rangeland", "carryingCapacity", "actualStocking", "stockingRatio", "steps", "step", "facility", "date",
    "kgIn", "kgOut", "yieldRatio", "energyKwh", "waterLitres", "co2eKg", "basis", "source", "overallYield",
    "greasyKg", "outputKg", "impactPerItem", "itemsInBatch", "fairPricing", "herderPricePerKg",
    "premiumPerKg", "premiumToHerders", "premiumToCooperativeFunds", "herderShareOfPrice", "premiumShareOfPrice",
    "amount",
    "currency", "value", "unit", "circularity", "recycledOrigin", "careCodes", "services", "dyed",
    "figures", "fibreQuality", "custodyModel", "assuranceLevel", "households", "priceBasis",
    "retailPrice", "referenceRate", "note", "take_back", "repair", "resale",
    "pricePolicy", "policyRevision", "greasyFloorPerKg", "dehairedFloorPerKg", "gradePremiumPerKg",
    "micronBand", "minimumPricePerKg", "pricePerKg", "publishedOn",
    "codeOfPractice", "report", "commitments", "year", "energyKwh", "waterM3", "wastewaterTreated",
    "wastewaterNote", "chemicalsManagement", "workers", "women", "men", "total", "incidents", "incidentsNote",
    "reviewedOn",
    "premiumLedger", "premiumDue", "premiumPaid", "premiumOutstanding", "fundSplit", "fund", "share",
    "entryCounts", "payments", "paidByFund",
    "serviceHistory", "service", "closedOn", "outcome", "performedBy",
    "conditions", "price", "freeOfCharge", "requestLink", "what", "where", "durationDays",
    "accessTiers", "accessTier", "audience",
)
# Terms whose value is a language map (``{"en": …, "fr": …}``): the maker's texts in every language entered.
LANGUAGE_MAPS = ("conditions", "what", "where")


# UNTP 0.6.1 types (and one property, ``characteristics``) that its JSON Schemas describe but its
# JSON-LD contexts leave undefined where our credentials use them, so that a processor would drop
# them or keep them as relative IRIs: each is named here with the IRI of its UNTP vocabulary. Terms
# the W3C VC 2.0 or UNTP contexts define (``id``, ``name``, ``registeredId`` …) are never redefined:
# they are protected.
UNTP_CORE = "https://test.uncefact.org/vocabulary/untp/core/working/"
UNTP_DPP = "https://test.uncefact.org/vocabulary/untp/dpp/working/"
UNTP_DTE = "https://test.uncefact.org/vocabulary/untp/dte/working/"
UNTP_GAPS = {
    "Link": UNTP_CORE + "Link", "SecureLink": UNTP_CORE + "SecureLink",
    "Characteristics": UNTP_DPP + "Characteristics", "Material": UNTP_DPP + "Material",
    "TraceabilityPerformance": UNTP_DPP + "TraceabilityPerformance",
    "CircularityPerformance": UNTP_DPP + "CircularityPerformance",
    "EmissionsPerformance": UNTP_DPP + "EmissionsPerformance",
    "QuantityElement": UNTP_DTE + "QuantityElement",
    "characteristics": UNTP_DPP + "characteristics",
}


def context_document(base_url: str, version: int = 1) -> dict[str, Any]:
    """The site's JSON-LD context: every cashmere term by name (no @vocab). Version 1 (cited by the
    0.6.1 form) also names the UNTP 0.6.1 terms its contexts leave undefined; version 2 (cited by the
    0.7.0 form) leaves them to the UNTP 0.7.0 context. Both share the cashmere vocabulary IRIs."""
    vocab = f"{base_url}/contexts/cashmere/v1#"
    terms: dict[str, Any] = {"@version": 1.1, "@protected": True}
    for term in CONTEXT_TERMS:
        terms[term] = {"@id": vocab + term}
    for term in LANGUAGE_MAPS:
        terms[term]["@container"] = "@language"
    if version == 1:
        for term, iri in UNTP_GAPS.items():
            terms[term] = {"@id": iri}
    return {"@context": terms}


def _services(product: Product, base_url: str) -> dict[str, Any]:
    """Each circular service offered, as a consumer is offered it (``payments.circular.consumer_terms``, the
    one source): what, where and conditions in every language the maker wrote them in, the price (or free
    of charge), the time in days and where to ask for it."""
    services = {}
    for kind, terms in consumer_terms(product, offered=product.circular_services).items():
        service: dict[str, Any] = {"conditions": terms["conditions"], "freeOfCharge": terms["price_minor"] is None,
                                   "requestLink": f"{base_url}/shop/services/{product.id}"}
        if terms["what"]:
            service["what"] = terms["what"]
        if terms["where"]:
            service["where"] = terms["where"]
        if terms["days"]:
            service["durationDays"] = terms["days"]
        if terms["price_minor"] is not None:
            service["price"] = {"amount": terms["price_minor"], "currency": terms["currency"]}
        services[kind] = service
    return services


def context_url(base_url: str) -> str:
    return f"{base_url}/contexts/cashmere/v1.jsonld"


def sha256(document: Any) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


def _num(value: Decimal | int | None, places: int = 3) -> float | None:
    if value is None:
        return None
    return float(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _ratio(part: Decimal, whole: Decimal) -> float:
    return _num(part / whole, 4) if whole else 0.0  # type: ignore[return-value]


def _figure(value: Any, unit: str, basis: DataBasis | str, source: str) -> dict[str, Any]:
    """A figure with the nature of its value and where it comes from."""
    return {"value": value, "unit": unit, "basis": str(getattr(basis, "value", basis)), "source": source}


UNION_NAME = "Union of Sustainable Cashmere Cooperatives"


def _issuer(did: str, name: str = UNION_NAME) -> dict[str, Any]:
    return {"type": ["CredentialIssuer"], "id": did, "name": name}


def issuer_of(org: Organisation, base_url: str) -> dict[str, Any]:
    """An organisation as the issuer of its own credentials, named by its did:web on this site."""
    return _issuer(org_did(base_url, org.slug, union=org.kind is OrgKind.union), org.name)


# The register a party's registeredId belongs to: Mongolia's state register of legal entities when the
# organisation has its number, otherwise the Union's own register of members and partners.
MN_REGISTER = {"type": ["IdentifierScheme"], "id": "https://burtgel.gov.mn/",
               "name": "State registration number of legal entities (Mongolia, General Authority for State "
                       "Registration)"}


def party_identifier(org: Organisation, base_url: str) -> tuple[str, dict[str, Any]]:
    """(registeredId, idScheme) of an organisation."""
    if org.registration_number and org.country == "MN":
        return org.registration_number, MN_REGISTER
    return org.slug, {"type": ["IdentifierScheme"], "id": f"{base_url}/organisations/",
                      "name": "Union of Sustainable Cashmere Cooperatives, register of members and partners"}


def party(org: Organisation, base_url: str) -> dict[str, Any]:
    return _party(org, base_url)


def _party(org: Organisation, base_url: str) -> dict[str, Any]:
    registered_id, scheme = party_identifier(org, base_url)
    return {"type": ["Party"], "id": f"{base_url}/organisations/{org.slug}", "name": org.name,
            "registeredId": registered_id, "idScheme": scheme}


def _date_time(day: dt.date | dt.datetime) -> str:
    if isinstance(day, dt.datetime):
        return day.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{day.isoformat()}T00:00:00Z"


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
                "conformityTopic": topic,
                "conformance": True,
            }],
        },
    }


def _claim(cert: Certificate, base_url: str) -> dict[str, Any]:
    dcc = conformity_credential(cert, base_url)
    return {
        "type": ["Claim", "Declaration"],
        "id": f"{base_url}/certificates/{cert.number}#claim",
        "description": f"{cert.scheme.name} {cert.tier} (certificate {cert.number}, issued by {cert.issuer.name}, "
                       f"valid {cert.valid_from.isoformat()} to {cert.valid_to.isoformat()}; assurance: "
                       f"{cert.assurance_level.value}; chain of custody: {cert.custody_model.value})",
        "referenceStandard": dcc["credentialSubject"]["assessment"][0]["referenceStandard"],
        "assessmentDate": cert.valid_from.isoformat(),
        "conformityTopic": dcc["credentialSubject"]["assessment"][0]["conformityTopic"],
        "conformityEvidence": {
            "type": ["SecureLink", "Link"], "linkURL": dcc["id"], "linkName": f"Certificate {cert.number}",
            "linkType": LINK_TYPES + "dcc", "hashDigest": sha256(dcc), "hashMethod": "SHA-256",
        },
    }


def _fibre_quality(lot: Lot) -> dict[str, Any]:
    # The report's number is value-chain data (``tiers.py``): the public figures name the laboratory only.
    lab = f"{lot.lab_name} ({lot.test_method.value})"
    measured = DataBasis.measured

    def fig(value: Decimal | None, unit: str) -> dict[str, Any] | None:
        return None if value is None else _figure(_num(value, 2), unit, measured, lab)

    quality = {
        "meanFibreDiameter": fig(lot.mean_diameter_um, MICROMETRE),
        "diameterCV": fig(lot.diameter_cv_pct, PERCENT),
        "fibresOver30um": fig(lot.fibres_over_30um_pct, PERCENT),
        "meanLength": fig(lot.mean_length_mm, MILLIMETRE),
        "hairContent": fig(lot.hair_content_pct, PERCENT),
        "dehairingYield": fig(lot.dehairing_yield_pct, PERCENT),
        "vegetableMatter": fig(lot.vegetable_matter_pct, PERCENT),
        "moistureRegain": fig(lot.moisture_regain_pct, PERCENT),
        "testMethod": lot.test_method.value, "laboratory": lot.lab_name, "reportNumber": lot.lab_report_number,
        "testedOn": lot.tested_on.isoformat(),
    }
    return {k: v for k, v in quality.items() if v is not None}


def _origin(lot: Lot, kg: Decimal, base_url: str) -> dict[str, Any]:
    coops = []
    for contribution in lot.contributions:
        org = contribution.cooperative
        profile = org.cooperative
        coop: dict[str, Any] = {
            "id": f"{base_url}/organisations/{org.slug}", "name": org.name, "kg": _num(contribution.kg),
            "herderHouseholds": contribution.herder_households,
        }
        if profile is not None:
            coop["pastureUserGroups"] = [
                {"name": pug.name, "households": pug.households, "soum": pug.soum.name_en}
                for pug in profile.pasture_user_groups
            ]
            coop["rangeland"] = {
                "carryingCapacity": _figure(profile.carrying_capacity_su, "sheep units", DataBasis.declared,
                                            f"{org.name}, livestock adjustment plan"),
                "actualStocking": _figure(profile.actual_stocking_su, "sheep units", DataBasis.declared,
                                          f"{org.name}, annual livestock census"),
                "stockingRatio": _num(profile.stocking_ratio, 2),
            }
        coops.append(coop)
    return {
        "lot": {"id": f"{base_url}/lots/{lot.code}", "name": lot.code},
        "kg": _num(kg),
        "aimag": {"name": lot.aimag.name_en, "nameMn": lot.aimag.name_mn,
                  "latitude": _num(lot.aimag.centre_lat, 2), "longitude": _num(lot.aimag.centre_lon, 2)},
        "soum": {"name": lot.soum.name_en, "nameMn": lot.soum.name_mn,
                 "latitude": _num(lot.soum.lat, 2), "longitude": _num(lot.soum.lon, 2)},
        "season": lot.season,
        "herderHouseholds": lot.herder_households,
        "colour": lot.colour.value, "state": lot.state.value, "sorting": lot.sorting.value,
        "cooperative": coops,
        "fibreQuality": _fibre_quality(lot),
    }


def greasy_equivalent_kg(lot: Lot, kg: Decimal) -> tuple[Decimal, DataBasis]:
    """Greasy (as combed) kg behind ``kg`` of this lot, and whether that is measured or estimated."""
    if lot.state is FibreState.greasy:
        return kg, DataBasis.measured
    return kg / ASSUMED_DEHAIRING_YIELD, DataBasis.estimated


def _fair_pricing(lot: Lot, base_url: str) -> dict[str, Any] | None:
    if lot.herder_price_minor is None:
        return None
    source = f"{base_url}/organisations/{lot.cooperative.slug}"
    pricing: dict[str, Any] = {
        "herderPricePerKg": {
            "amount": lot.herder_price_minor, "currency": lot.herder_price_currency, "unit": "per kg greasy",
            "basis": DataBasis.declared.value, "source": f"{lot.cooperative.name}, purchase records ({source})",
        },
        "premiumPerKg": {"amount": lot.premium_minor, "currency": lot.currency,
                         "basis": DataBasis.declared.value, "source": "Union price list"},
    }
    if lot.premium_to_herders_pct is not None:
        pricing["premiumToHerders"] = _num(lot.premium_to_herders_pct, 2)
        pricing["premiumToCooperativeFunds"] = _num(100 - lot.premium_to_herders_pct, 2)
    return pricing


def _step(step: ProcessingStep, base_url: str) -> dict[str, Any]:
    source = step.source_note or step.facility.name
    data: dict[str, Any] = {
        "id": f"{base_url}/events/steps/{step.id}",
        "step": step.kind.value, "facility": _party(step.facility, base_url), "date": step.performed_on.isoformat(),
        "kgIn": _num(step.kg_in), "kgOut": _num(step.kg_out), "yieldRatio": _ratio(step.kg_out, step.kg_in),
    }
    if step.energy_kwh is not None:
        data["energyKwh"] = _figure(_num(step.energy_kwh, 2), "KWH", step.energy_basis or DataBasis.declared, source)
    if step.water_l is not None:
        data["waterLitres"] = _figure(_num(step.water_l, 1), "LTR", step.water_basis or DataBasis.declared, source)
    if step.co2e_kg is not None:
        data["co2eKg"] = _figure(_num(step.co2e_kg), KILOGRAM, step.co2e_basis or DataBasis.declared, source)
    return data


def traceability_event(step: ProcessingStep, base_url: str, product_name: str) -> dict[str, Any]:
    """A UNTP Digital Traceability Event credential for one processing step (kg in → kg out), issued by
    the organisation that performed the step."""
    event_id = f"{base_url}/events/steps/{step.id}"
    subject_id = f"{base_url}/products/{step.product_id}" if step.product_id else f"{base_url}/lots/{step.lot_id}"
    return {
        "type": ["DigitalTraceabilityEvent", "VerifiableCredential"],
        "@context": [VC_CONTEXT, DTE_CONTEXT, context_url(base_url)],
        "id": event_id + ".json",
        "issuer": issuer_of(step.facility, base_url),
        "validFrom": _date_time(step.performed_on),
        "credentialSubject": [{
            "type": ["TransformationEvent", "Event"],
            "id": event_id,
            "processType": step.kind.value.capitalize(),
            "eventTime": _date_time(step.performed_on),
            "action": "observe",
            "bizStep": "https://ref.gs1.org/cbv/BizStep-commissioning",
            "disposition": "https://ref.gs1.org/cbv/Disp-active",
            "bizLocation": f"{base_url}/organisations/{step.facility.slug}",
            "inputQuantityList": [{"type": ["QuantityElement"], "productId": subject_id + "#input",
                                   "productName": f"{product_name}: input to {step.kind.value}",
                                   "quantity": _num(step.kg_in), "uom": KILOGRAM}],
            "outputQuantityList": [{"type": ["QuantityElement"], "productId": subject_id + "#output",
                                    "productName": f"{product_name}: output of {step.kind.value}",
                                    "quantity": _num(step.kg_out), "uom": KILOGRAM}],
        }],
    }


def _credential(
    *, public_id: str, version: int, issued_at: dt.datetime, base_url: str, issuer_did: str,
    status_index: int, subject: dict[str, Any], valid_until: dt.date | None = None,
) -> dict[str, Any]:
    passport_url = f"{base_url}/passports/{public_id}"
    validity = {"validUntil": _date_time(valid_until + dt.timedelta(days=1))} if valid_until else {}
    return {
        "type": ["DigitalProductPassport", "VerifiableCredential"],
        "@context": [VC_CONTEXT, DPP_CONTEXT, context_url(base_url)],
        "id": f"{passport_url}/versions/{version}",
        "issuer": _issuer(issuer_did),
        "validFrom": _date_time(issued_at),
        **validity,
        "credentialStatus": [
            {
                "id": f"{base_url}/passports/status/{purpose}#{status_index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose,
                "statusListIndex": str(status_index),
                "statusListCredential": f"{base_url}/passports/status/{purpose}",
            }
            for purpose in ("revocation", "suspension")
        ],
        "credentialSubject": {"type": ["ProductPassport"], "id": passport_url, **subject},
    }


def valid_until(certs: Iterable[Certificate], day: dt.date) -> dt.date | None:
    """The last day every certificate a passport relies on is valid on ``day`` (the day it is issued): its
    claims hold until then. A certificate already expired that day is left out (a credential cannot end
    before it starts); its own credential's ``validUntil`` and the passport's live status say so."""
    days = [cert.valid_to for cert in certs if cert.valid_to >= day]
    return min(days) if days else None


def _certificates(certs: Iterable[Certificate | None]) -> list[Certificate]:
    seen: dict[str, Certificate] = {}
    for cert in certs:
        if cert is not None:
            seen.setdefault(cert.number, cert)
    return list(seen.values())


def price_policy(lot: Lot, base_url: str) -> dict[str, Any] | None:
    """The fair-price policy the lot was listed under, and where its price stands against it."""
    if lot.price_policy is None:
        return None
    policy = lot.price_policy
    priced = pricing.check(lot, policy)
    assert priced is not None

    def amount(minor: int) -> dict[str, Any]:
        return {"amount": minor, "currency": policy.currency}

    return {
        "id": f"{base_url}/fair-price#policy-{policy.id}", "season": policy.season,
        "policyRevision": policy.revision, "publishedOn": policy.published_on.isoformat(),
        "greasyFloorPerKg": amount(policy.greasy_floor_minor),
        "dehairedFloorPerKg": amount(policy.dehaired_floor_minor),
        "micronBand": priced.band.value, "gradePremiumPerKg": amount(priced.grade_premium_minor),
        "minimumPricePerKg": amount(priced.minimum_minor), "pricePerKg": amount(lot.price_minor),
        "priceBasis": lot.price_basis.value, "basis": DataBasis.declared.value,
        "source": f"Union fair-price policy ({base_url}/fair-price)",
    }


def _lot_cooperatives(lot: Lot) -> dict[int, Organisation]:
    return {c.cooperative_id: c.cooperative for c in lot.contributions} or {lot.cooperative_id: lot.cooperative}


def premium_ledger(lot: Lot, base_url: str) -> list[dict[str, Any]]:
    """For each cooperative behind the lot: premium due and paid (from the ledger) and its latest fund split."""
    return _ledger(_lot_cooperatives(lot), base_url)


def product_premium_ledger(product: Product, base_url: str) -> list[dict[str, Any]]:
    """The same, for the cooperatives behind a product's source lots, with entry counts and the paid
    premium divided by the latest split: cooperative totals only, never household-level data."""
    coops: dict[int, Organisation] = {}
    for source in product.sources:
        coops.update(_lot_cooperatives(source.lot))
    return _ledger(coops, base_url, detail=True)


def _ledger(coops: dict[int, Organisation], base_url: str, *, detail: bool = False) -> list[dict[str, Any]]:
    found = []
    for coop_id, coop in sorted(coops.items()):
        summary = funds.summary(coop_id)
        if not summary.balances and not summary.splits:
            continue
        entry: dict[str, Any] = {
            "cooperative": _party(coop, base_url),
            "premiumDue": [{"amount": b.due_minor, "currency": b.currency} for b in summary.balances],
            "premiumPaid": [{"amount": b.paid_minor, "currency": b.currency} for b in summary.balances],
            "premiumOutstanding": [{"amount": b.outstanding_minor, "currency": b.currency}
                                   for b in summary.balances],
            "basis": DataBasis.declared.value, "source": f"Union premium ledger ({base_url}/organisations/{coop.slug})",
        }
        if summary.splits:
            season, split = next(iter(summary.splits.items()))
            entry["fundSplit"] = {"season": season, "figures": [
                {"fund": fund.value, "share": _num(pct, 2)} for fund, pct in split.items()]}
        if detail:
            kinds = [e.kind for e in funds.in_force(coop_id)]
            entry["entryCounts"] = {"premiumDue": kinds.count(EntryKind.premium_due),
                                    "payments": kinds.count(EntryKind.payment)}
            amounts = funds.split_amounts(summary)
            if amounts:
                entry["fundSplit"]["paidByFund"] = [
                    {"fund": fund.value, "amount": minor, "currency": currency}
                    for currency, by_fund in sorted(amounts.items()) for fund, minor in by_fund.items()]
        found.append(entry)
    return found


def lot_passport(
    lot: Lot, *, public_id: str, version: int, issued_at: dt.datetime, base_url: str, issuer_did: str,
    status_index: int, steps: list[ProcessingStep],
) -> dict[str, Any]:
    """The business-to-business passport of a lot."""
    name = f"{lot.colour.value.replace('_', ' ').capitalize()} {lot.state.value} cashmere, lot {lot.code}"
    certs = _certificates([lot.certificate])
    cashmere: dict[str, Any] = {
        "origins": [_origin(lot, lot.net_kg, base_url)],
        "steps": [_step(s, base_url) for s in steps],
        "priceBasis": lot.price_basis.value,
    }
    pricing = _fair_pricing(lot, base_url)
    if pricing:
        cashmere["fairPricing"] = pricing
    policy = price_policy(lot, base_url)
    if policy:
        cashmere["pricePolicy"] = policy
    ledger = premium_ledger(lot, base_url)
    if ledger:
        cashmere["premiumLedger"] = ledger
    subject = {
        "product": {
            "type": ["Product"], "id": f"{base_url}/lots/{lot.code}", "name": name,
            "registeredId": lot.code,
            "idScheme": {"type": ["IdentifierScheme"], "id": f"{base_url}/lots/", "name": "Union lot number"},
            "batchNumber": lot.code,
            "description": f"{lot.net_kg.normalize():f} kg in {lot.bags} bags, combing season {lot.season}, "
                           f"{lot.soum.name_en}, {lot.aimag.name_en}, Mongolia.",
            "productCategory": [{"type": ["Classification"], "id": f"{HS}#510211", "code": "510211",
                                 "name": "Fine animal hair of Kashmir goats, not carded or combed",
                                 "schemeID": HS, "schemeName": "Harmonized System"}],
            "producedByParty": _party(lot.cooperative, base_url),
            "productionDate": lot.tested_on.isoformat(),
            "countryOfProduction": "MN",
            "dimensions": {"weight": {"value": _num(lot.net_kg), "unit": KILOGRAM}},
            "characteristics": {"type": ["Characteristics", "CashmereFibreCharacteristics"], **_fibre_quality(lot)},
        },
        "granularityLevel": "batch",
        "materialsProvenance": [{
            "type": ["Material"], "name": "Cashmere (down fibre of Capra hircus)", "originCountry": "MN",
            "massFraction": 1.0, "mass": {"value": _num(lot.net_kg), "unit": KILOGRAM},
            "recycledMassFraction": 0.0, "hazardous": False,
        }],
        "conformityClaim": [_claim(c, base_url) for c in certs],
        "traceabilityInformation": [
            {"type": ["TraceabilityPerformance"], "valueChainProcess": "Combing and sorting", "verifiedRatio": 1.0,
             "traceabilityEvent": []},
        ],
        "circularityScorecard": {"type": ["CircularityPerformance"], "recycledContent": 0.0, "recyclableContent": 1.0},
        "cashmere": cashmere,
    }
    return _credential(public_id=public_id, version=version, issued_at=issued_at, base_url=base_url,
                       issuer_did=issuer_did, status_index=status_index, subject=subject,
                       valid_until=valid_until(certs, issued_at.date()))


def _category(product: Product) -> dict[str, Any]:
    if any(step.kind is StepKind.weaving for step in product.steps):
        code, name = "621420", "Shawls, scarves, mufflers and the like, of wool or fine animal hair"
    else:
        code, name = "611012", "Jerseys, pullovers, cardigans and similar articles, of Kashmir goats"
    return {"type": ["Classification"], "id": f"{HS}#{code}", "code": code, "name": name, "schemeID": HS,
            "schemeName": "Harmonized System"}


def product_subject_id(product: Product, base_url: str) -> str:
    if product.gtin:
        path = f"/01/{product.gtin.zfill(14)}"
        if product.batch_code:
            path += f"/10/{product.batch_code}"
        return base_url + path
    return f"{base_url}/products/{product.id}"


def product_passport(
    product: Product, *, public_id: str, version: int, issued_at: dt.datetime, base_url: str, issuer_did: str,
    status_index: int, fx_mnt: dict[str, Decimal], msme_certificates: list[Certificate],
) -> dict[str, Any]:
    """The consumer passport of a product batch, with its provenance from pasture to garment."""
    name = product.name.get("en") or product.sku
    item_kg = product.weight_g / 1000
    steps = sorted(product.steps, key=lambda s: (s.performed_on, s.id))
    output_kg = steps[-1].kg_out if steps else sum((s.kg for s in product.sources), Decimal(0))
    items = int(output_kg / item_kg) if item_kg else 0
    source_kg = sum((s.kg for s in product.sources), Decimal(0))
    greasy = [(s, *greasy_equivalent_kg(s.lot, s.kg)) for s in product.sources]
    greasy_kg = sum((g for _, g, _ in greasy), Decimal(0))
    certs = _certificates([s.lot.certificate for s in product.sources] + msme_certificates)

    cashmere: dict[str, Any] = {
        "origins": [_origin(s.lot, s.kg, base_url) for s in product.sources],
        "steps": [_step(s, base_url) for s in steps],
        "overallYield": {
            "greasyKg": _figure(_num(greasy_kg), KILOGRAM,
                                DataBasis.estimated if any(b is DataBasis.estimated for *_, b in greasy)
                                else DataBasis.measured,
                                "Source lots; dehaired lots converted at an assumed 50% dehairing yield"),
            "outputKg": _figure(_num(output_kg), KILOGRAM, DataBasis.measured, product.organisation.name),
            "yieldRatio": _ratio(output_kg, greasy_kg),
        },
        "itemsInBatch": items,
        "circularity": {
            "recycledOrigin": product.recycled_origin.value, "careCodes": list(product.care_codes),
            "services": _services(product, base_url), "dyed": product.dyed,
        },
    }
    impact = _impact_per_item(steps, items, product.organisation.name)
    if impact:
        cashmere["impactPerItem"] = impact
    pricing = _product_pricing(product, greasy, items, fx_mnt, base_url)
    if pricing:
        cashmere["fairPricing"] = pricing
    ledger = product_premium_ledger(product, base_url)
    if ledger:
        cashmere["premiumLedger"] = ledger
    history = [{"service": r.kind.value, "closedOn": r.closed_at.date().isoformat() if r.closed_at else None,
                "outcome": r.outcome, "performedBy": product.organisation.name}
               for r in service_history(product.id)]
    if history:
        cashmere["serviceHistory"] = history  # repairs done, take-backs received (closed requests)
    practice = passport_block(product.organisation_id)
    if practice:
        cashmere["codeOfPractice"] = {**practice, "basis": DataBasis.declared.value,
                                      "source": f"{product.organisation.name}, reviewed by the Union"}
    subject: dict[str, Any] = {
        "product": {
            "type": ["Product"], "id": product_subject_id(product, base_url), "name": name,
            "registeredId": product.gtin or product.sku,
            "idScheme": ({"type": ["IdentifierScheme"], "id": "https://id.gs1.org/01/",
                          "name": "Global Trade Item Number (GTIN)"} if product.gtin else
                         {"type": ["IdentifierScheme"], "id": f"{base_url}/products/", "name": "SKU"}),
            "description": product.description.get("en", ""),
            "productCategory": [_category(product)],
            "producedByParty": _party(product.organisation, base_url),
            "countryOfProduction": "MN",
            "dimensions": {"weight": {"value": _num(item_kg), "unit": KILOGRAM}},
        },
        "granularityLevel": "batch",
        "materialsProvenance": [
            {"type": ["Material"], "name": f"Cashmere from lot {s.lot.code}", "originCountry": "MN",
             "massFraction": _ratio(s.kg, source_kg), "mass": {"value": _num(s.kg), "unit": KILOGRAM},
             "recycledMassFraction": _num(product.recycled_pct / 100, 4), "hazardous": False}
            for s in product.sources
        ],
        "conformityClaim": [_claim(c, base_url) for c in certs],
        "traceabilityInformation": [
            {"type": ["TraceabilityPerformance"], "valueChainProcess": s.kind.value.capitalize(),
             "verifiedRatio": 1.0 if s.energy_basis is DataBasis.measured else 0.5,
             "traceabilityEvent": [{
                 "type": ["SecureLink", "Link"], "linkURL": f"{base_url}/events/steps/{s.id}.json",
                 "linkName": f"{s.kind.value} at {s.facility.name}", "linkType": LINK_TYPES + "dte",
                 "hashDigest": sha256(traceability_event(s, base_url, name)), "hashMethod": "SHA-256",
             }]}
            for s in steps
        ],
        "circularityScorecard": {
            "type": ["CircularityPerformance"], "recycledContent": _num(product.recycled_pct / 100, 4),
            "recyclableContent": 1.0,
            **({"repairInformation": {"type": ["Link"], "linkURL": f"{base_url}/products/{product.id}#repair",
                                      "linkName": "Repair service", "linkType": LINK_TYPES + "repair"}}
               if "repair" in cashmere["circularity"]["services"] else {}),
            **({"recyclingInformation": {"type": ["Link"], "linkURL": f"{base_url}/products/{product.id}#take-back",
                                         "linkName": "Take-back", "linkType": LINK_TYPES + "recycling"}}
               if "take_back" in cashmere["circularity"]["services"] else {}),
        },
        "cashmere": cashmere,
    }
    if product.production_date:
        subject["product"]["productionDate"] = product.production_date.isoformat()
    if product.batch_code:
        subject["product"]["batchNumber"] = product.batch_code
    if impact and "co2eKg" in impact:
        subject["emissionsScorecard"] = {
            "type": ["EmissionsPerformance"], "carbonFootprint": impact["co2eKg"]["value"], "declaredUnit": "H87",
            "operationalScope": "CradleToGate", "primarySourcedRatio": impact["co2eKg"]["measuredRatio"],
        }
        impact["co2eKg"].pop("measuredRatio")
    return _credential(public_id=public_id, version=version, issued_at=issued_at, base_url=base_url,
                       issuer_did=issuer_did, status_index=status_index, subject=subject,
                       valid_until=valid_until(certs, issued_at.date()))


def _impact_per_item(steps: list[ProcessingStep], items: int, maker: str) -> dict[str, Any]:
    if not items:
        return {}
    impact: dict[str, Any] = {}
    for key, attr, basis_attr, unit, places in (
        ("energyKwh", "energy_kwh", "energy_basis", "KWH", 3),
        ("waterLitres", "water_l", "water_basis", "LTR", 2),
        ("co2eKg", "co2e_kg", "co2e_basis", KILOGRAM, 4),
    ):
        recorded = [s for s in steps if getattr(s, attr) is not None]
        if not recorded:
            continue
        total = sum((getattr(s, attr) for s in recorded), Decimal(0))
        bases = {getattr(s, basis_attr) or DataBasis.declared for s in recorded}
        basis = DataBasis.measured if bases == {DataBasis.measured} else (
            DataBasis.estimated if DataBasis.estimated in bases else DataBasis.declared)
        measured = sum((getattr(s, attr) for s in recorded if getattr(s, basis_attr) is DataBasis.measured),
                       Decimal(0))
        figure = _figure(_num(total / items, places), unit, basis,
                         f"{maker}: sum of {len(recorded)} processing steps divided by {items} items; "
                         "scope: cradle to gate, from scouring to finishing")
        figure["measuredRatio"] = _ratio(measured, total)
        impact[key] = figure
    for figure in impact.values():
        if "measuredRatio" in figure and figure is not impact.get("co2eKg"):
            figure.pop("measuredRatio")
    return impact


def _product_pricing(
    product: Product, greasy: list[tuple[Any, Decimal, DataBasis]], items: int, fx_mnt: dict[str, Decimal],
    base_url: str,
) -> dict[str, Any] | None:
    priced = [(source, kg, basis) for source, kg, basis in greasy if source.lot.herder_price_minor is not None]
    if not priced or not items:
        return None
    lot = priced[0][0].lot
    paid_mnt_minor = sum((kg * source.lot.herder_price_minor for source, kg, _ in priced), Decimal(0)) / items
    pricing = _fair_pricing(lot, base_url) or {}
    rate = fx_mnt.get(product.currency)
    if rate:
        retail_mnt_minor = Decimal(product.price_minor) * rate
        pricing["herderShareOfPrice"] = {
            "value": _num(paid_mnt_minor / retail_mnt_minor * 100, 1), "unit": PERCENT,
            "basis": DataBasis.estimated.value,
            "source": "Herder price per kg × greasy fibre per item (from the source lots and the batch yield) "
                      "÷ retail price",
            "amount": int(paid_mnt_minor.to_integral_value()), "currency": "MNT",
            "retailPrice": {"amount": product.price_minor, "currency": product.currency},
            "referenceRate": {"value": _num(rate, 2), "unit": f"MNT per {product.currency}",
                              "basis": DataBasis.declared.value, "source": "Union reference rate"},
        }
        # The premium as a share of the retail price: public (the premium per kg is in the value-chain tier).
        premiums = [(kg, source.lot) for source, kg, _ in priced if fx_mnt.get(source.lot.currency)]
        if len(premiums) == len(priced):
            premium_mnt_minor = sum((kg * lot.premium_minor * fx_mnt[lot.currency] for kg, lot in premiums),
                                    Decimal(0)) / items
            pricing["premiumShareOfPrice"] = {
                "value": _num(premium_mnt_minor / retail_mnt_minor * 100, 1), "unit": PERCENT,
                "basis": DataBasis.estimated.value,
                "source": "Premium per kg × greasy fibre per item (from the source lots and the batch yield) "
                          "÷ retail price",
            }
    return pricing
