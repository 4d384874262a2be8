"""The vocabulary shared by every UNTP 0.6.1 credential the site builds: the contexts it cites, the site's own
JSON-LD context for the cashmere terms (``CONTEXT_TERMS``; there is no @vocab), unit codes, and the small
number, figure and date helpers every credential type uses."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marketplace.passports.signing import canonical_json
from marketplace.products.models import DataBasis

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
# The versioned (frozen) UNTP 0.6.1 contexts, never the moving ``working`` ones, as the 0.6.1 release cites them: its
# JSON Schemas (spec-untp tag v0.6.1, ``untp-<x>-schema.json``) require exactly these in ``@context``, and UN/CEFACT's
# test suite (tests-untp, untp-test-suite-mocha) checks them. (Versions published before 2026-11-30 cite the address
# the context document is published at, ``<these>context/``, which the release's schemas refuse.)
DPP_CONTEXT = "https://test.uncefact.org/vocabulary/untp/dpp/0.6.1/"
DCC_CONTEXT = "https://test.uncefact.org/vocabulary/untp/dcc/0.6.1/"
DTE_CONTEXT = "https://test.uncefact.org/vocabulary/untp/dte/0.6.1/"
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
# A claim's ``conformance``, which the 0.6.1 release requires of every claim (its schema) and defines in its Claim
# context, but which the working context leaves out: named exactly as the release defines it, so that a processor
# reading the release's context meets the same definition twice (allowed for a protected term) and one reading the
# working context gets the same IRI.
UNTP_CLAIM_TERMS = {"conformance": {"@id": "https://test.uncefact.org/vocabulary/untp/core/0/conformance",
                                    "@type": "http://www.w3.org/2001/XMLSchema#boolean"}}


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
        terms.update(copy.deepcopy(UNTP_CLAIM_TERMS))
    return {"@context": terms}


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


def _date_time(day: dt.date | dt.datetime) -> str:
    if isinstance(day, dt.datetime):
        return day.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{day.isoformat()}T00:00:00Z"
