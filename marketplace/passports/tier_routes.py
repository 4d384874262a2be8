"""A passport's restricted tiers (ESPR): the value-chain tier (verified buyers, recyclers, repairers) and the
authority tier. Each endpoint declares its roles (``access.TIER_ROLES``, enforced before the view by
``access.enforce``) and checks the organisation's verification (``access.require_tier``); the credentials are
served byte for byte as issued (the public passport links to them with their digest)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, render_template, request

from marketplace.access import AUTHORITY_ROLES, VALUE_CHAIN_ROLES, require_tier, roles
from marketplace.passports import tiers
from marketplace.passports.models import IssuedDocument
from marketplace.passports.routes import JSONLD, VCJWT, _passport_or_404, _prefers, bp

PRIVATE = "private, no-store"


def _tier_link(public_id: str, tier: str) -> tuple[Any, IssuedDocument | None]:
    """The passport and the tier version its current version links to (None: it has no such tier)."""
    passport = _passport_or_404(public_id)
    subject = passport.current.credential["credentialSubject"]  # type: ignore[union-attr]
    for link in (subject.get("cashmere") or {}).get("accessTiers") or []:
        if link.get("accessTier") == tier:
            number = str(link.get("id", "")).rsplit("/", 1)[-1].removesuffix(".json")
            if number.isdigit():
                return passport, tiers.version(passport.public_id, tier, int(number))
    return passport, None


def _rows(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """The tier's data as (path, value) rows, for a page that works without any script."""
    if isinstance(node, dict):
        return [row for key, value in node.items() for row in _rows(value, f"{path}.{key}" if path else key)]
    if isinstance(node, list):
        return [row for i, value in enumerate(node) for row in _rows(value, f"{path}[{i + 1}]")]
    return [(path, node)]


def _page(public_id: str, tier: str) -> Response:
    require_tier(tier)
    passport, document = _tier_link(public_id, tier)
    if document is None:
        abort(404)
    credential = json.loads(document.body)
    data = {k: v for k, v in credential["credentialSubject"].items() if k not in ("id", "accessTier")}
    response = Response(render_template("passports/tier.html", passport=passport, tier=tier, document=document,
                                        rows=_rows(data), credential=credential,
                                        json_url=tiers.document_url(document)))
    response.headers["Cache-Control"] = PRIVATE
    return response


def _version(public_id: str, tier: str, number: int) -> Response:
    require_tier(tier)
    document = tiers.version(public_id, tier, number)
    if document is None:
        abort(404)
    if _prefers(request.accept_mimetypes, VCJWT):
        response = Response(document.jwt, mimetype=VCJWT)
    else:
        response = Response(document.body.encode(), mimetype=JSONLD)
    response.headers["Cache-Control"] = PRIVATE
    response.vary.add("Accept")
    return response


@bp.route("/passports/<public_id>/tiers/value-chain")
@roles(*VALUE_CHAIN_ROLES)
def tier_value_chain(public_id: str):  # type: ignore[no-untyped-def]
    return _page(public_id, tiers.VALUE_CHAIN)


@bp.route("/passports/<public_id>/tiers/value-chain/versions/<int:number>.json")
@roles(*VALUE_CHAIN_ROLES)
def tier_value_chain_version(public_id: str, number: int):  # type: ignore[no-untyped-def]
    return _version(public_id, tiers.VALUE_CHAIN, number)


@bp.route("/passports/<public_id>/tiers/authority")
@roles(*AUTHORITY_ROLES)
def tier_authority(public_id: str):  # type: ignore[no-untyped-def]
    return _page(public_id, tiers.AUTHORITY)


@bp.route("/passports/<public_id>/tiers/authority/versions/<int:number>.json")
@roles(*AUTHORITY_ROLES)
def tier_authority_version(public_id: str, number: int):  # type: ignore[no-untyped-def]
    return _version(public_id, tiers.AUTHORITY, number)
