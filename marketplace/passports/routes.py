"""Public passport pages, machine-readable credentials, QR codes, trust endpoints. The blueprint's other routes:
``resolver_routes`` (GS1 resolver), ``issuer_routes``, ``tier_routes``, ``log_routes`` (the log and its index)."""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from typing import Any

import segno
from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MIMEAccept

from marketplace.access import public
from marketplace.extensions import db
from marketplace.i18n import select_locale
from marketplace.passports import documents, geo, keys, resolver, services, source_notes, untp
from marketplace.passports.forms import VerifyForm
from marketplace.passports.gs1 import DigitalLink, is_valid_qualifier
from marketplace.passports.models import Passport, PassportVersion, StatusListVersion
from marketplace.products.services import step_public, viewer_scope
from marketplace.union import charts as union_charts

bp = Blueprint("passports", __name__)

JSONLD = "application/ld+json"
VCJWT = "application/vc+jwt"
LINKSET = "application/linkset+json"


# Machine-readable endpoints a verifier running in a browser on another site must be able to read: the
# trust documents, the credentials, the status lists, the log and the GS1 resolver. Read-only (GET, HEAD
# and the preflight OPTIONS); no credentials are ever allowed, so a signed-in visitor's cookies are not
# sent with such a request and a working-copy event stays private.
CORS_ENDPOINTS = frozenset({
    "passports.did_document", "passports.context", "passports.context_v2", "passports.page",
    "passports.credential_json", "passports.credential_jwt", "passports.version_json", "passports.status",
    "passports.log", "passports.log_checkpoint", "passports.log_entries", "passports.log_consistency",
    "passports.version_inclusion", "passports.bundle", "passports.status_version",
    "passports.digital_link", "passports.gs1_resolver_description", "passports.traceability_event",
    "certification.conformity_credential", "certification.conformity_credential_version",
    "passports.org_did_document", "passports.org_identity", "passports.org_identity_version",
    "passports.traceability_event_version", "passports.tlog_checkpoint", "passports.tlog_tile",
    "passports.traceability_event_id", "certification.certificate",  # identifiers that redirect to JSON-LD
})
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, Accept-Language, If-None-Match",
    "Access-Control-Expose-Headers": "Link, Location, ETag, Content-Language",
    "Access-Control-Max-Age": "86400",
}


@bp.after_app_request
def _cors(response: Response) -> Response:
    """CORS and ``Vary: Accept`` (the content may be negotiated) on every machine-readable endpoint."""
    if request.endpoint in CORS_ENDPOINTS and request.method in ("GET", "HEAD", "OPTIONS"):
        response.headers.update(CORS_HEADERS)
        response.vary.add("Accept")
    return response


def _passport_or_404(public_id: str) -> Passport:
    passport = services.get_passport(public_id)
    if passport is None or passport.current is None:
        abort(404, description=_("There is no passport with the id %(id)s. Check the code printed on the label.",
                                 id=public_id[:40]))
    return passport


UNTP_VERSIONS = ("0.7.0", "0.6.1")


def untp_version() -> str:
    """The UNTP version asked for with ``?untp=`` (0.7.0, the published form, by default); a 400 naming
    the versions served for any other value."""
    asked = request.args.get("untp", "0.7.0")
    if asked not in UNTP_VERSIONS:
        abort(400, description=_("This passport is published in UNTP %(versions)s; there is no version "
                                 "%(asked)s.", versions=" and ".join(UNTP_VERSIONS), asked=asked[:20]))
    return asked


def _form(version: PassportVersion, untp_asked: str) -> tuple[dict[str, Any], str]:
    """The credential and its signed JWT in the UNTP version asked for. Versions published before 0.7.0
    have only the 0.6.1 form, which is then what they serve."""
    if untp_asked == "0.7.0" and version.credential_070 is not None:
        return version.credential_070, version.signature_070 or ""
    return version.credential, version.signature


def untp_asked() -> dict[str, str]:
    """The ``?untp=`` of this request, to pass on when redirecting to a credential (nothing else of the query)."""
    return {"untp": request.args["untp"]} if "untp" in request.args else {}


def _prefers(accept: MIMEAccept, *types: str) -> str | None:
    best = accept.best_match([*types, "text/html"], default="text/html")
    return best if best in types else None


def credential_asked(*types: str) -> str | None:
    """The credential type this request's ``Accept`` prefers to a page, if any (``resolver.parse_accept``). Only a
    header naming JSON or a JWT can ask for one: a browser's, or ``*/*``, gets the page; the rest is not parsed."""
    accept = request.headers.get("Accept", "").lower()  # media types are case-insensitive
    return _prefers(resolver.parse_accept(accept), *types) if "json" in accept or "jwt" in accept else None


def passport_url(passport: Passport) -> str:
    return f"{services.base_url()}/passports/{passport.public_id}"


def _json(document: Any, mimetype: str = JSONLD) -> Response:
    return Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype=mimetype)




@bp.app_template_filter("source_note")
def _source_note(text: object) -> str:
    return source_notes.source_note(text)

@bp.route("/passports/<public_id>")
@public
def page(public_id: str):  # type: ignore[no-untyped-def]
    # May be cached, but revalidated every time: a status change shows on the very next request.
    headers = {"Cache-Control": "public, no-cache", "Vary": "Accept"}  # i18n adds Accept-Language, Cookie
    wanted = credential_asked(JSONLD, "application/json", VCJWT)
    if wanted:
        version = _passport_or_404(public_id).current
        assert version is not None
        credential, signature = _form(version, untp_version())
        response = Response(signature, mimetype=VCJWT) if wanted == VCJWT else _json(credential)
        response.headers.update(headers)
        return response
    key = services.page_key(public_id)
    if key is None:
        _passport_or_404(public_id)  # raises the helpful 404
    assert key is not None
    etag = key.etag(select_locale())  # the locale code, without building a babel Locale
    headers["ETag"] = quoted = f'"{etag}"'
    sent = request.headers.get("If-None-Match")
    # A client echoing the ETag it was given (the usual case) needs no list parsing.
    if sent and (sent == quoted or request.if_none_match.contains(etag)):
        # Nothing changed: no ORM objects loaded, nothing rendered.
        return _NotModified(status=304, headers=headers)
    return Response(_render_page(key, etag), headers=headers, mimetype="text/html")


class _NotModified(Response):
    """A 304 has no body, so no Content-Type (nor length) to set and then strip again."""

    default_mimetype = None


_RENDERED: OrderedDict[str, str] = OrderedDict()
_RENDERED_MAX = 512


def _render_page(key: services.PageKey, etag: str) -> str:
    """The page's HTML; kept in a small per-process cache keyed by the ETag, which changes with
    the version, every certificate status behind it, the locale and the date."""
    html = _RENDERED.get(etag)
    if html is not None:
        _RENDERED.move_to_end(etag)
        return html
    passport = db.session.get(Passport, key.passport_id)
    version = db.session.get(PassportVersion, key.version_id)
    assert passport is not None
    assert version is not None
    certificates = services.passport_certificates(passport)
    html = render_template(
        "passports/page.html", passport=passport, version=version, c=version.credential,
        subject=version.credential["credentialSubject"], state=services.live_status(passport, None, certificates),
        url=passport_url(passport), certificates={cert.number: cert for cert in certificates},
        geo=geo, aimags=services.aimag_centres(), today=services.today(),
        price_chart=union_charts.price_split(version.credential["credentialSubject"].get("cashmere")),
    )
    _RENDERED[etag] = html
    if len(_RENDERED) > _RENDERED_MAX:
        _RENDERED.popitem(last=False)
    return html


@bp.route("/passports/<public_id>.json")
@public
def credential_json(public_id: str):  # type: ignore[no-untyped-def]
    asked = untp_version()
    passport = _passport_or_404(public_id)
    credential, _signature = _form(passport.current, asked)  # type: ignore[arg-type]
    response = _json(credential)
    url = passport_url(passport)
    other = "0.6.1" if asked == "0.7.0" else "0.7.0"
    response.headers["Link"] = (f'<{url}.jwt?untp={asked}>; rel="alternate"; type="{VCJWT}", '
                                f'<{url}.json?untp={other}>; rel="alternate"; type="{JSONLD}"')
    return response


@bp.route("/passports/<public_id>.jwt")
@public
def credential_jwt(public_id: str):  # type: ignore[no-untyped-def]
    asked = untp_version()
    passport = _passport_or_404(public_id)
    return Response(_form(passport.current, asked)[1], mimetype=VCJWT)  # type: ignore[arg-type]


@bp.route("/passports/<public_id>/versions/<int:number>")
@public
def version_json(public_id: str, number: int):  # type: ignore[no-untyped-def]
    asked = untp_version()
    passport = _passport_or_404(public_id)
    for version in passport.versions:
        if version.number == number:  # a published version never changes: cacheable forever
            response = _json(_form(version, asked)[0])
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            return response
    abort(404)
    return None


def qr_target(passport: Passport) -> str:
    """What a passport's QR code and hang tags carry: the GS1 Digital Link URI (with the batch) when the
    product has a GTIN, so that any GS1 scanner app reads the GTIN and our resolver answers it; otherwise
    the passport's own address."""
    product = passport.product
    if product is not None and product.gtin:
        # A batch code the GS1 syntax cannot carry (over 20 characters, outside its character set) is left out.
        batch = product.batch_code if is_valid_qualifier("10", product.batch_code) else None
        return services.base_url() + DigitalLink(product.gtin, batch).path()
    return passport_url(passport)


def _qr(passport: Passport) -> segno.QRCode:
    return segno.make(qr_target(passport), error="m")


@bp.route("/passports/<public_id>/qr.svg")
@public
def qr_svg(public_id: str):  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    _qr(_passport_or_404(public_id)).save(buffer, kind="svg", scale=6, border=4, title=_("Passport QR code"))
    return Response(buffer.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@bp.route("/passports/<public_id>/qr.png")
@public
def qr_png(public_id: str):  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    _qr(_passport_or_404(public_id)).save(buffer, kind="png", scale=8, border=4)
    return Response(buffer.getvalue(), mimetype="image/png", headers={"Cache-Control": "public, max-age=86400"})


@bp.route("/passports/<public_id>/labels")
@public
def labels(public_id: str):  # type: ignore[no-untyped-def]
    passport = _passport_or_404(public_id)
    buffer = io.BytesIO()
    _qr(passport).save(buffer, kind="svg", scale=4, border=2, svgclass="qr", title=_("Passport QR code"))
    subject = passport.current.credential["credentialSubject"]  # type: ignore[union-attr]
    return render_template("passports/labels.html", passport=passport, subject=subject,
                           qr_svg=buffer.getvalue().decode(), url=passport_url(passport), count=8)


@bp.route("/passports/status/<purpose>")
@public
def status(purpose: str):  # type: ignore[no-untyped-def]
    """The latest issue of a status list (the ``passports.status`` job re-issues it when it changes or nears
    its ``validUntil``), as JSON or as its signed JWT. Reading writes nothing."""
    issued = services.current_status_list(purpose) if purpose in ("revocation", "suspension") else None
    if issued is None:
        abort(404)
    return _status_list_response(issued, "no-cache")


@bp.route("/passports/status/<purpose>/versions/<int:version>")
@public
def status_version(purpose: str, version: int):  # type: ignore[no-untyped-def]
    """Every issue of a status list stays published, byte for byte, with its signed JWT."""
    found = db.session.scalar(select(StatusListVersion).where(StatusListVersion.purpose == purpose[:20],
                                                              StatusListVersion.number == version))
    if found is None:
        abort(404)
    return _status_list_response(found, "public, max-age=31536000, immutable")


def _status_list_response(issued: StatusListVersion, cache: str) -> Response:
    if _prefers(request.accept_mimetypes, VCJWT):
        response = Response(issued.jwt, mimetype=VCJWT)
    else:
        response = Response(issued.body.encode(), mimetype="application/json")
    response.headers["Cache-Control"] = cache
    response.vary.add("Accept")
    return response


@bp.route("/passports/verify", methods=["GET", "POST"])
@public
def verify():  # type: ignore[no-untyped-def]
    form = VerifyForm()
    verdict = None
    status_code = 200
    if form.validate_on_submit():
        upload = form.file.data
        text = upload.read(2_000_001).decode("utf-8", "replace") if upload else (form.document.data or "")
        if len(text) > 2_000_000:
            form.document.errors = [_("The document is larger than 2 MB.")]
            status_code = 422
        else:
            try:
                verdict = services.verify_document(text)
            except services.UnreadableDocumentError:
                form.document.errors = [_("This document cannot be read: it is nested too deeply or holds "
                                          "characters that are not valid Unicode.")]
                status_code = 400
    elif form.is_submitted():
        status_code = 422
    return render_template("passports/verify.html", form=form, verdict=verdict), status_code


@bp.route("/.well-known/did.json")
@public
def did_document():  # type: ignore[no-untyped-def]
    """The Union's DID document, with every key it has retired (keys.union_did_document)."""
    return _json(keys.union_did_document(), "application/did+json")


@bp.route("/contexts/cashmere/v1.jsonld")
@public
def context():  # type: ignore[no-untyped-def]
    """The cashmere terms and the UNTP 0.6.1 gap terms (cited by the 0.6.1 form)."""
    return _context(1)


@bp.route("/contexts/cashmere/v2.jsonld")
@public
def context_v2():  # type: ignore[no-untyped-def]
    """The cashmere terms alone (cited by the UNTP 0.7.0 form)."""
    return _context(2)


def _context(version: int) -> Response:
    response = _json(untp.context_document(services.base_url(), version))
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.route("/events/steps/<int:step_id>")
@public
def traceability_event_id(step_id: int):  # type: ignore[no-untyped-def]
    """The identifier the event credentials give a processing step: it leads to the step's event credential
    (a step nobody may see is not found here either)."""
    if services.processing_step(step_id, *viewer_scope(current_user)) is None:
        abort(404)
    return redirect(url_for("passports.traceability_event", step_id=step_id, **untp_asked()), 303)


@bp.route("/events/steps/<int:step_id>.json")
@public
def traceability_event(step_id: str):  # type: ignore[no-untyped-def]
    """A processing step as a UNTP Digital Traceability Event (TransformationEvent: kg in → kg out)."""
    asked = untp_version()  # 0.7.0 (a MakeEvent) by default; ?untp=0.6.1 for the TransformationEvent
    step = services.processing_step(int(step_id), *viewer_scope(current_user))
    if step is None:
        abort(404)
    # The latest issued version while it is current (a passport links to its versioned URL).
    response = Response(documents.served_bytes("dte", str(step.id), lambda url: documents.event_forms(step, url),
                                               asked), mimetype=JSONLD)
    if not step_public(step):  # a working-copy step, shown to its MSME or Union staff only
        response.headers["Cache-Control"] = "private, no-store"
    return response


from marketplace.passports import (  # noqa: E402, F401 (their routes are on this blueprint)
    issuer_routes,
    log_routes,
    resolver_routes,
    tier_routes,
)
