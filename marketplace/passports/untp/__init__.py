"""UNTP v0.6 documents built from the database: product passports (DPP), conformity
credentials (DCC) for certificates, and traceability events (DTE) for processing steps.

Cashmere-specific data (fibre quality, origin, yields, herder value share) goes in
``credentialSubject.cashmere`` and ``product.characteristics``, whose terms are defined
one by one in the site's own JSON-LD context (``CONTEXT_TERMS``); there is no @vocab.

One module per concern: ``vocabulary`` (contexts, terms, units, number helpers), ``parties`` (issuers and
parties), ``dcc`` (conformity credentials), ``dte`` (traceability events), ``dpp`` (the passport's envelope,
the lot-level parts and a lot's passport), ``dpp_product`` (a product's passport). This package is the one
import point: callers use ``untp.<name>``.
"""

from marketplace.passports.untp.dcc import ASSESSMENT_LEVEL, ASSESSOR_LEVEL, certificate_url, conformity_credential
from marketplace.passports.untp.dpp import (
    greasy_equivalent_kg,
    lot_passport,
    premium_ledger,
    price_policy,
    product_premium_ledger,
    valid_until,
)
from marketplace.passports.untp.dpp_product import product_passport, product_subject_id
from marketplace.passports.untp.dte import traceability_event
from marketplace.passports.untp.parties import (
    MN_REGISTER,
    UNION_NAME,
    _issuer,
    _party,
    issuer_of,
    party,
    party_identifier,
    union_register,
)
from marketplace.passports.untp.vocabulary import (
    ASSUMED_DEHAIRING_YIELD,
    CONTEXT_TERMS,
    CONTEXTS_061,
    DCC_CONTEXT,
    DPP_CONTEXT,
    DTE_CONTEXT,
    HS,
    KILOGRAM,
    LANGUAGE_MAPS,
    LINK_TYPES,
    MICROMETRE,
    MILLIMETRE,
    PERCENT,
    UNTP_GAPS,
    VC_CONTEXT,
    _date_time,
    context_document,
    context_url,
    sha256,
)

__all__ = [
    "ASSESSMENT_LEVEL", "ASSESSOR_LEVEL", "ASSUMED_DEHAIRING_YIELD", "CONTEXTS_061", "CONTEXT_TERMS", "DCC_CONTEXT",
    "DPP_CONTEXT", "DTE_CONTEXT", "HS", "KILOGRAM", "LANGUAGE_MAPS", "LINK_TYPES", "MICROMETRE", "MILLIMETRE",
    "MN_REGISTER", "PERCENT", "UNION_NAME", "UNTP_GAPS", "VC_CONTEXT", "_date_time", "_issuer", "_party",
    "certificate_url", "conformity_credential", "context_document", "context_url", "greasy_equivalent_kg",
    "issuer_of", "lot_passport", "party", "party_identifier", "premium_ledger", "price_policy",
    "product_passport", "product_premium_ledger", "product_subject_id", "sha256", "traceability_event",
    "union_register", "valid_until",
]
