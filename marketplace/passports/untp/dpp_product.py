"""The UNTP 0.6.1 consumer passport of a product batch, with its provenance from pasture to garment: the
envelope and the lot-level parts are ``dpp.py``'s; here the product's own figures (yield, impact per item,
the herder's share of the retail price), its circular services and its service history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from marketplace.certification.models import Certificate
from marketplace.passports.untp.dcc import _claim
from marketplace.passports.untp.dpp import (
    _certificates,
    _credential,
    _fair_pricing,
    _origin,
    greasy_equivalent_kg,
    product_premium_ledger,
    valid_until,
)
from marketplace.passports.untp.dte import _step, traceability_event
from marketplace.passports.untp.parties import _party
from marketplace.passports.untp.vocabulary import HS, KILOGRAM, LINK_TYPES, PERCENT, _figure, _num, _ratio, sha256
from marketplace.payments.services import consumer_terms, service_history
from marketplace.practice.services import passport_block
from marketplace.products.models import DataBasis, ProcessingStep, Product, StepKind


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
