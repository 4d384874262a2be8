"""UNTP 0.6.1 Digital Traceability Events (DTE): one processing step (kg in → kg out), issued by the
organisation that performed it, and the step as a passport lists it among its cashmere steps."""

from __future__ import annotations

from typing import Any

from marketplace.passports.untp.parties import _party, issuer_of
from marketplace.passports.untp.vocabulary import (
    DTE_CONTEXT,
    KILOGRAM,
    VC_CONTEXT,
    _date_time,
    _figure,
    _num,
    _ratio,
    context_url,
)
from marketplace.products.models import DataBasis, ProcessingStep


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
    subject_id = (f"{base_url}/products/{step.product_id}" if step.product_id or step.lot is None
                  else f"{base_url}/lots/{step.lot.code}")  # a lot's page is at its code
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
