"""UNTP 0.6.1 Digital Product Passports (DPP): the credential's envelope (issuer, validity, status entries),
the parts a lot and a product passport share (origin, fibre quality, fair pricing, price policy, premium
ledger), and the business-to-business passport of a lot. A product's passport is ``dpp_product.py``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from marketplace.certification.models import Certificate
from marketplace.funds import services as funds
from marketplace.funds.models import EntryKind
from marketplace.lots.models import FibreState, Lot
from marketplace.organisations.models import Organisation
from marketplace.passports.untp.dcc import _claim
from marketplace.passports.untp.dte import _step
from marketplace.passports.untp.parties import _issuer, _party
from marketplace.passports.untp.vocabulary import (
    ASSUMED_DEHAIRING_YIELD,
    DPP_CONTEXT,
    HS,
    KILOGRAM,
    MICROMETRE,
    MILLIMETRE,
    PERCENT,
    VC_CONTEXT,
    _date_time,
    _figure,
    _num,
    context_url,
)
from marketplace.pricing import services as pricing
from marketplace.products.models import DataBasis, ProcessingStep, Product


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
