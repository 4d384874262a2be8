"""Access tiers of a passport (ESPR): what consumers see, what the value chain sees, what authorities see.

The public passport holds what a consumer may see. Prices, herder household data and laboratory report
numbers sit in the value-chain tier (verified buyers, recyclers and repairers); the full assessment
reports in the authority tier. Each restricted tier is its own credential, signed by the Union and kept as
an immutable version (``documents.issue``), and the public passport names each one's versioned URL with
the ``digestMultibase`` of its exact bytes (``cashmere.accessTiers``), so a holder of the tier can prove it
is the data the public passport was issued with. Who may read a tier is decided in ``marketplace.access``.
"""

from __future__ import annotations

import copy
from typing import Any

from marketplace.passports import documents
from marketplace.passports.models import IssuedDocument
from marketplace.passports.untp import VC_CONTEXT, context_url

VALUE_CHAIN = "value-chain"
AUTHORITY = "authority"
TIERS = (VALUE_CHAIN, AUTHORITY)
KIND = {VALUE_CHAIN: "tier-vc", AUTHORITY: "tier-au"}

# Paths inside ``credentialSubject``: ``[]`` walks each element of a list. Everything a path names is taken
# out of the public passport and put, at the same path, into its tier's credential.
FIELDS: dict[str, tuple[str, ...]] = {
    VALUE_CHAIN: (
        # prices (the herders' price, the premium per kg, the lot's price, what the herders got per item)
        "cashmere.fairPricing.herderPricePerKg",
        "cashmere.fairPricing.premiumPerKg",
        "cashmere.fairPricing.herderShareOfPrice.amount",
        "cashmere.fairPricing.herderShareOfPrice.currency",
        "cashmere.pricePolicy.pricePerKg",
        # herder household data
        "cashmere.origins[].herderHouseholds",
        "cashmere.origins[].cooperative[].herderHouseholds",
        "cashmere.origins[].cooperative[].pastureUserGroups[].households",
        # laboratory report numbers
        "cashmere.origins[].fibreQuality.reportNumber",
        "product.characteristics.reportNumber",
    ),
    AUTHORITY: (
        # the full assessment report behind the Code of Practice summary (year, energy, water stay public)
        "cashmere.codeOfPractice.report.wastewaterNote",
        "cashmere.codeOfPractice.report.chemicalsManagement",
        "cashmere.codeOfPractice.report.workers",
        "cashmere.codeOfPractice.report.incidents",
        "cashmere.codeOfPractice.report.incidentsNote",
    ),
}
# Who each tier is for (named in the public passport's link and in the tier's credential).
AUDIENCE = {
    VALUE_CHAIN: "Verified buyers, recyclers and repairers (ESPR value-chain access)",
    AUTHORITY: "Market surveillance and customs authorities, through the Union (ESPR authority access)",
}


def _split_path(path: str) -> list[str]:
    return path.split(".")


def _take(node: Any, keys: list[str], into: Any) -> Any:
    """Move what ``keys`` names from ``node`` into ``into`` (same shape); returns ``into`` (None when empty)."""
    head, rest = keys[0], keys[1:]
    many = head.endswith("[]")
    name = head.removesuffix("[]")
    if not isinstance(node, dict) or name not in node:
        return into
    if not rest:
        if into is None:
            into = {}
        into[name] = node.pop(name)
        return into
    child = node[name]
    if many:
        if not isinstance(child, list):
            return into
        taken = (into or {}).get(name) or [None] * len(child)
        for i, element in enumerate(child):
            taken[i] = _take(element, rest, taken[i])
        if any(t is not None for t in taken):
            into = into or {}
            into[name] = [t if t is not None else {} for t in taken]
        return into
    got = _take(child, rest, (into or {}).get(name))
    if got is not None:
        into = into or {}
        into[name] = got
    return into


def split(subject: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Take every restricted field out of ``subject`` (in place); the restricted data by tier (a tier with
    nothing restricted is left out)."""
    restricted: dict[str, dict[str, Any]] = {}
    for tier, paths in FIELDS.items():
        taken: Any = None
        for path in paths:
            taken = _take(subject, _split_path(path), taken)
        if taken:
            restricted[tier] = taken
    return restricted


def leaks(subject: Any) -> list[str]:
    """The restricted paths present in a (public) credential subject."""
    found = []
    for tier, paths in FIELDS.items():
        for path in paths:
            probe = copy.deepcopy(subject)
            if _take(probe, _split_path(path), None):
                found.append(f"{tier}: {path}")
    return found


def tier_credential(public_id: str, tier: str, data: dict[str, Any], *, passport_url: str, base_url: str,
                    issuer: dict[str, Any], credential_id: str | None) -> dict[str, Any]:
    """The signed credential of one tier: the restricted data at the paths it has in the full passport."""
    return {
        "type": ["VerifiableCredential"],
        "@context": [VC_CONTEXT, context_url(base_url)],
        "id": credential_id or f"{passport_url}/tiers/{tier}",
        "issuer": issuer,
        "name": f"Passport {public_id}: {tier} tier",
        "description": AUDIENCE[tier],
        "credentialSubject": {"id": passport_url, "accessTier": tier, **data},
    }


def seal(passport_public_id: str, credential: dict[str, Any], base_url: str) -> dict[str, IssuedDocument]:
    """Take the restricted data out of a passport credential (0.6.1 form, in place), issue each tier's
    credential (a new version only when its content changed) and link each from the public passport by its
    versioned URL and digest. The issued tier documents, by tier."""
    union = documents.union()
    subject = credential["credentialSubject"]
    restricted = split(subject)
    if union is None:
        return {}
    passport_url = subject["id"]
    issued: dict[str, IssuedDocument] = {}
    links = []
    for tier in TIERS:
        if tier not in restricted:
            continue

        def build(url: str | None, tier: str = tier) -> documents.Forms:
            form = tier_credential(passport_public_id, tier, restricted[tier], passport_url=passport_url,
                                   base_url=base_url, issuer=credential["issuer"], credential_id=url)
            return form, form

        document = documents.issue(KIND[tier], passport_public_id, union, build)
        issued[tier] = document
        links.append({"accessTier": tier, "id": documents.document_url(document),
                      "digestMultibase": document.digest, "audience": AUDIENCE[tier]})
    if links:
        subject.setdefault("cashmere", {})["accessTiers"] = links
    return issued


def document_url(document: IssuedDocument) -> str:
    return documents.document_url(document)


def latest(public_id: str, tier: str) -> IssuedDocument | None:
    return documents.latest(KIND[tier], public_id[:40])


def version(public_id: str, tier: str, number: int) -> IssuedDocument | None:
    return documents.version(KIND[tier], public_id[:40], number)
