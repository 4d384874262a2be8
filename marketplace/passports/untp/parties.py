"""Parties and issuers as UNTP 0.6.1 credentials name them: the Union or an organisation as the issuer of its
credentials (its did:web on this site), and any organisation as a ``Party`` with its register entry."""

from __future__ import annotations

from typing import Any

from marketplace.organisations.models import Organisation, OrgKind
from marketplace.passports.signing import org_did

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
    return org.slug, union_register(base_url)


def union_register(base_url: str) -> dict[str, Any]:
    """The Union's own register of members and partners (an organisation's number in it is its slug)."""
    return {"type": ["IdentifierScheme"], "id": f"{base_url}/organisations/",
            "name": "Union of Sustainable Cashmere Cooperatives, register of members and partners"}


def party(org: Organisation, base_url: str) -> dict[str, Any]:
    return _party(org, base_url)


def _party(org: Organisation, base_url: str) -> dict[str, Any]:
    registered_id, scheme = party_identifier(org, base_url)
    return {"type": ["Party"], "id": f"{base_url}/organisations/{org.slug}", "name": org.name,
            "registeredId": registered_id, "idScheme": scheme}
