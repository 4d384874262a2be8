"""The issuers' trust documents and their issued credentials, each version at an immutable URL:
``/orgs/<slug>/did.json`` (did:web:<host>:orgs:<slug>), ``/orgs/<slug>/identity.json`` (the Union's identity
anchor for the organisation), ``/events/steps/<id>/versions/<n>.json|.jwt``; the certificates' versions are
served by ``certification.routes``."""

from __future__ import annotations

from flask import Response, abort
from sqlalchemy import select

from marketplace.access import public
from marketplace.extensions import db
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.passports import documents, keys
from marketplace.passports.models import IssuedDocument
from marketplace.passports.routes import JSONLD, VCJWT, _json, bp, untp_version

IMMUTABLE = "public, max-age=31536000, immutable"


def issued_response(document: IssuedDocument | None, fmt: str) -> Response:
    """One issued version, byte for byte as stored (its digestMultibase is over exactly these bytes)."""
    if document is None:
        abort(404)
    asked = untp_version()
    if fmt == "jwt":
        body, mimetype = (document.jwt if asked == "0.7.0" else document.jwt_061), VCJWT
    else:
        body, mimetype = (document.body if asked == "0.7.0" else document.body_061), JSONLD
    response = Response(body.encode(), mimetype=mimetype)
    response.headers["Cache-Control"] = IMMUTABLE
    response.set_etag(document.digest if asked == "0.7.0" and fmt == "json" else f"{document.digest}-{asked}-{fmt}")
    return response


def _issuer_or_404(slug: str) -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.slug == slug[:80]))
    if org is None or org.kind is OrgKind.union:
        abort(404)
    return org


@bp.route("/orgs/<slug>/did.json")
@public
def org_did_document(slug: str):  # type: ignore[no-untyped-def]
    """did:web:<host>:orgs:<slug>, with every key the organisation has signed with."""
    document = keys.did_document(_issuer_or_404(slug))
    if document is None:
        abort(404)
    response = _json(document, "application/did+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/orgs/<slug>/identity.json")
@public
def org_identity(slug: str):  # type: ignore[no-untyped-def]
    """The latest identity anchor the Union issued for the organisation."""
    return issued_response(documents.latest("dia", _issuer_or_404(slug).slug), "json")


@bp.route("/orgs/<slug>/identity/versions/<int:version>.<any(json, jwt):fmt>")
@public
def org_identity_version(slug: str, version: int, fmt: str):  # type: ignore[no-untyped-def]
    return issued_response(documents.version("dia", slug, version), fmt)


@bp.route("/events/steps/<int:step_id>/versions/<int:version>.<any(json, jwt):fmt>")
@public
def traceability_event_version(step_id: int, version: int, fmt: str):  # type: ignore[no-untyped-def]
    """An issued version of a step's event (issued only when a published passport linked to it)."""
    return issued_response(documents.version("dte", str(step_id), version), fmt)
