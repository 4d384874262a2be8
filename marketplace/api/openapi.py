"""The OpenAPI 3.1 description of the search API."""

from __future__ import annotations

from typing import Any

from marketplace.certification.models import CertificateStanding
from marketplace.lots.models import Colour, FibreState


def _param(name: str, schema: dict[str, Any], description: str, repeat: bool = False) -> dict[str, Any]:
    if repeat:
        schema = {"type": "array", "items": schema, "maxItems": 30}
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema,
            **({"style": "form", "explode": True} if repeat else {})}


def _number(name: str, description: str, minimum: float, maximum: float) -> dict[str, Any]:
    return _param(name, {"type": "number", "minimum": minimum, "maximum": maximum}, description)


NO_NUL = "^[^\\u0000]*$"  # the site refuses NUL characters anywhere in a request (guards.reject_nul_bytes)
TEXT = {"type": "string", "maxLength": 80, "pattern": NO_NUL}
COMMON = [
    _param("q", {"type": "string", "maxLength": 512, "pattern": NO_NUL},
           "Search words: typos (1–2 edits), prefixes, Latin and Cyrillic place names are understood."),
    # Digits only: the wire value is text, and "2.0" or "1e1" are refused although JSON Schema calls them integers.
    _param("page", {"type": "string", "pattern": "^(10000|[1-9][0-9]{0,3})$", "default": "1"},
           "Page, from 1 to 10000."),
]

LOT_PARAMS = [
    *COMMON,
    _param("colour", {"type": "string", "enum": [c.value for c in Colour]}, "Colour (repeat for OR).", True),
    _param("state", {"type": "string", "enum": [s.value for s in FibreState]}, "Fibre state.", True),
    _param("aimag", TEXT, "Aimag code, e.g. BKH.", True),
    _param("cooperative", TEXT, "Cooperative slug.", True),
    _param("scheme", TEXT, "Certification scheme code.", True),
    _param("tier", TEXT, "Certification tier.", True),
    _param("season", TEXT, "Combing season (year).", True),
    _number("micron_min", "Lowest mean fibre diameter, µm.", 10, 25),
    _number("micron_max", "Highest mean fibre diameter, µm (not below micron_min).", 10, 25),
    _number("length_min", "Shortest mean length, mm.", 0, 200),
    _number("length_max", "Longest mean length, mm (not below length_min).", 0, 200),
    _number("price_min", "Lowest price in EUR per kg of clean fibre (the comparable price_eur_clean).", 0, 1_000_000),
    _number("price_max", "Highest price in EUR per kg of clean fibre (not below price_min).", 0, 1_000_000),
    _number("available_min", "Least available quantity, kg.", 0, 10_000_000),
    _param("sort", {"type": "string", "enum": ["", "price", "-price", "micron", "newest"]},
           "Order: best match (default with q), price, -price, micron, newest (default without q)."),
    _param("include_invalid",
           {"type": "string", "enum": ["0", "1", "", "true", "false", "yes", "no", "on", "off", "y"]},
           "1: also lots whose certificate is not valid today (suspended, revoked, expired). Left out by default "
           "(0 or empty). The lot browser's checkbox sends y."),
]

PRODUCT_PARAMS = [
    *COMMON,
    _param("msme", TEXT, "Maker (MSME) slug.", True),
    _param("recycled", {"type": "string", "enum": ["none", "pre_consumer", "post_consumer"]},
           "Recycled content origin.", True),
    _param("dyed", {"type": "string", "enum": ["yes", "no"]}, "Dyed or undyed.", True),
    _param("fibre", TEXT, "Fibre in the composition.", True),
    _param("aimag", TEXT, "Aimag the fibre came from.", True),
    _number("price_min", "Lowest price, in the product's currency.", 0, 1_000_000),
    _number("price_max", "Highest price, in the product's currency (not below price_min).", 0, 1_000_000),
    _param("sort", {"type": "string", "enum": ["", "price", "-price", "newest"]}, "Order."),
]


def _results(hit_ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["hits", "facets", "total", "page", "query_ms"],
        "properties": {
            "hits": {"type": "array", "items": {"$ref": hit_ref}},
            "facets": {"type": "object", "description": "Facet name → value → count.",
                       "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}}},
            "total": {"type": "integer"}, "page": {"type": "integer"}, "pages": {"type": "integer"},
            "per_page": {"type": "integer"}, "query_ms": {"type": "number", "description": "Engine time, ms."},
        },
    }


def _operation(summary: str, params: list[dict[str, Any]], results: str) -> dict[str, Any]:
    problem = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    return {"get": {
        "summary": summary, "parameters": params,
        "responses": {
            "200": {"description": "Results", "content": {"application/json": {"schema": {"$ref": results}}}},
            "400": {"description": "A parameter is unknown or not valid.", **problem},
            "503": {"description": "The search engine is unavailable.", **problem},
        },
    }}


def document(server: str) -> dict[str, Any]:
    lot = {"type": "object", "required": ["id", "code"], "properties": {
        "id": {"type": "string"}, "code": {"type": "string"}, "aimag": {"type": "string"},
        "aimag_names": {"type": "array", "items": {"type": "string"}},
        "soum_names": {"type": "array", "items": {"type": "string"}},
        "cooperative": {"type": "array", "items": {"type": "string"}},
        "cooperative_names": {"type": "array", "items": {"type": "string"}},
        "colour": {"type": "string"}, "state": {"type": "string"}, "season": {"type": "string"},
        "micron": {"type": "number", "description": "Mean fibre diameter, µm."},
        "length_mm": {"type": "number"}, "hair_pct": {"type": "number"}, "yield_pct": {"type": ["number", "null"]},
        "available_kg": {"type": "number"}, "min_order_kg": {"type": "number"},
        "price_minor": {"type": "integer", "description": "Price per kg in minor units of currency."},
        "premium_minor": {"type": "integer"}, "clean_price_minor": {"type": "integer"},
        "currency": {"type": "string", "description": "ISO 4217"}, "price_basis": {"type": "string"},
        "price_eur_clean_minor": {"type": "integer", "description": "The comparable price: euro cents per kg of "
                                  "clean fibre, at the Union's reference exchange rates."},
        "price_eur_clean": {"type": "number", "description": "The same in euros (sort=price and price_min/max)."},
        "scheme": {"type": "string"}, "scheme_name": {"type": "string"}, "tier": {"type": "string"},
        "certificate_number": {"type": "string"},
        "certificate_status": {"type": "string", "enum": [s.value for s in CertificateStanding],
                               "description": "The certificate's standing today, from its status and validity dates "
                                              "(valid, suspended, revoked, expired; not_yet_valid or uncertified in "
                                              "rare cases)."},
        "certificate_valid_from": {"type": "string", "format": "date"},
        "certificate_valid_to": {"type": "string", "format": "date"},
        "passport_url": {"type": ["string", "null"], "description": "The lot's digital product passport."},
        "listed_at": {"type": "number", "description": "Unix time."},
    }}
    product = {"type": "object", "required": ["id", "sku"], "properties": {
        "id": {"type": "string"}, "sku": {"type": "string"},
        "name": {"type": "object", "description": "Locale → name", "additionalProperties": {"type": "string"}},
        "msme": {"type": "string"}, "msme_name": {"type": "string"}, "recycled": {"type": "string"},
        "recycled_pct": {"type": "number"}, "dyed": {"type": "string"},
        "fibre": {"type": "array", "items": {"type": "string"}},
        "aimag": {"type": "array", "items": {"type": "string"}},
        "price_minor": {"type": "integer"}, "currency": {"type": "string"},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sustainable Cashmere Union marketplace search API", "version": "1.0.0",
                 "description": "Certified cashmere lots and published MSME products. Read-only, no key needed."},
        "servers": [{"url": server}],
        "paths": {
            "/api/v1/lots": _operation("Search listed lots", LOT_PARAMS, "#/components/schemas/LotResults"),
            "/api/v1/products": _operation("Search published products", PRODUCT_PARAMS,
                                           "#/components/schemas/ProductResults"),
        },
        "components": {"schemas": {
            "Lot": lot, "Product": product,
            "LotResults": _results("#/components/schemas/Lot"),
            "ProductResults": _results("#/components/schemas/Product"),
            "Problem": {"type": "object", "required": ["error", "status"], "properties": {
                "error": {"type": "string"}, "status": {"type": "integer"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            }},
        }},
    }
