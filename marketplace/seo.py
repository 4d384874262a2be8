"""What search engines read: schema.org ``Product``/``Offer`` data for product and lot pages (JSON-LD)."""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from flask_babel import get_locale

from marketplace.money import from_minor
from marketplace.urls import public_base_url

SCHEMA = "https://schema.org"


def _text(values: dict[str, str] | None) -> str:
    values = values or {}
    return values.get(str(get_locale())) or values.get("en") or ""


def product_structured_data(snap: dict[str, Any]) -> dict[str, Any]:
    """A published product version (its snapshot) as a schema.org Product with its Offer."""
    origin = public_base_url()
    data: dict[str, Any] = {
        "@context": SCHEMA, "@type": "Product", "name": _text(snap["name"]), "sku": snap["sku"],
        "description": _text(snap.get("description")) or _text(snap["name"]),
        "brand": {"@type": "Brand", "name": snap["organisation"]["name"]},
        "image": [origin + url_for("products.media", image_id=i["id"], variant="640.jpg") for i in snap["images"]],
        "offers": {
            "@type": "Offer", "price": str(from_minor(snap["price_minor"], snap["currency"])),
            "priceCurrency": snap["currency"], "availability": f"{SCHEMA}/InStock",
            "url": origin + url_for("products.detail", product_id=snap["product_id"]),
        },
    }
    if snap.get("gtin"):
        data["gtin"] = snap["gtin"]
    return data


def lot_structured_data(lot: Any) -> dict[str, Any]:
    """A listed lot as a schema.org Product whose Offer is a price per kilogram (UN/CEFACT unit KGM)."""
    origin = public_base_url()
    url = origin + url_for("lots.detail", code=lot.code)
    return {
        "@context": SCHEMA, "@type": "Product", "name": f"Cashmere lot {lot.code}", "sku": lot.code,
        "description": (f"{lot.colour.value.replace('_', ' ')} {lot.state.value} Mongolian cashmere, "
                        f"{lot.mean_diameter_um} µm, {lot.mean_length_mm} mm, season {lot.season}"),
        "brand": {"@type": "Brand", "name": lot.cooperative.name},
        "offers": {
            "@type": "Offer", "price": str(from_minor(lot.price_minor, lot.currency)), "priceCurrency": lot.currency,
            "availability": f"{SCHEMA}/InStock" if lot.available_kg > 0 else f"{SCHEMA}/SoldOut", "url": url,
            "priceSpecification": {"@type": "UnitPriceSpecification",
                                   "price": str(from_minor(lot.price_minor, lot.currency)),
                                   "priceCurrency": lot.currency, "unitCode": "KGM"},
            "eligibleQuantity": {"@type": "QuantitativeValue", "minValue": float(lot.min_order_kg), "unitCode": "KGM"},
        },
    }


def init_app(app: Flask) -> None:
    app.add_template_global(product_structured_data)
    app.add_template_global(lot_structured_data)
