"""The GS1 Digital Link resolver (GS1-Conformant resolver standard 1.2): ``/01/<GTIN>[/10/<batch>]`` answers
with the product's links (a 307 to the one asked for, or the linkset), and its description file. The
decisions are ``resolver.py``'s; this module turns them into responses on the passports blueprint."""

from __future__ import annotations

from urllib.parse import unquote, urlencode

from flask import Response, make_response, redirect, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, NotAcceptable, NotFound

from marketplace.access import public
from marketplace.errors import render_error
from marketplace.passports import resolver, services, untp
from marketplace.passports.gs1 import DigitalLinkError, parse_path
from marketplace.passports.models import Passport
from marketplace.passports.routes import LINKSET, _json, bp, passport_url
from marketplace.payments.services import consumer_terms


def _raw_digital_link_path() -> str:
    """The request path as sent, still percent-encoded, so that ``%2F`` inside a batch stays one value.
    Taken from the server's raw URI (gunicorn, Werkzeug) when it decodes to the routed path; otherwise
    the decoded path (where a slash in a value cannot be told from a separator)."""
    raw = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "").split("?", 1)[0]
    start = raw.find("/01/")
    if start >= 0 and unquote(raw[start:]) == request.path:
        return raw[start:]
    return request.path


def _resolver_error(code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    error = {400: BadRequest, 404: NotFound, 406: NotAcceptable}[code](description=message)
    response = make_response(render_error(error))
    response.headers.update(headers or {})
    response.headers["Vary"] = "Accept"
    return response


def _links(passport: Passport) -> list[resolver.Link]:
    product = passport.product
    base = services.base_url()
    return resolver.product_links(
        passport_url=passport_url(passport),
        product_url=f"{base}/products/{product.id}" if product is not None else None,
        certificate_urls=[(cert.number, untp.certificate_url(cert, base))
                          for cert in services.passport_certificates(passport)],
        care=bool(product and product.care_codes), repair="repair" in consumer_terms(product),
        verify_url=f"{base}/passports/verify",
    )


def _decide(anchor: str, links: list[resolver.Link], headers: dict[str, str]) -> resolver.Decision | Response:
    """The resolver's decision for this request, or the 4xx answer to a bad linkType or Accept header."""
    accept_header = request.headers.get("Accept", "").strip()
    try:
        decision = resolver.decide(request.args.get("linkType"), resolver.parse_accept(accept_header),
                                   bool(accept_header), links)
    except resolver.MalformedLinkTypeError:
        return _resolver_error(400, _("The linkType is malformed: use a GS1 link type such as gs1:pip, or "
                                      "linkset for the list of links."), headers)
    except resolver.UnknownLinkTypeError as unknown:
        return _resolver_error(404, _("This product has no link of type %(type)s. The list of its links is at "
                                      "%(url)s", type=str(unknown)[:80], url=f"{anchor}?linkType=linkset"), headers)
    if decision.kind == "not acceptable":
        return _resolver_error(406, _("None of the links of this product is in a format your Accept header asks "
                                      "for. The list of its links is at %(url)s", url=f"{anchor}?linkType=linkset"),
                               headers)
    return decision


@bp.route("/01/<path:rest>")
@public
def digital_link(rest: str):  # type: ignore[no-untyped-def]
    """GS1 Digital Link resolution (GS1-Conformant resolver standard 1.2); HEAD is answered like GET."""
    try:
        link = parse_path(_raw_digital_link_path())
    except DigitalLinkError as error:
        return _resolver_error(400, _("This GS1 Digital Link is malformed: %(problem)s", problem=str(error)))
    passport = services.passport_for_gtin(link.gtin, link.lot)
    if passport is None:
        return _resolver_error(404, _("No published product has this GTIN%(lot)s.",
                                      lot=_(" and batch") if link.lot else ""))
    anchor = f"{services.base_url()}{link.path()}"
    links = _links(passport)
    headers = {"Link": resolver.link_header(anchor, links), "Vary": "Accept"}
    decision = _decide(anchor, links, headers)
    if isinstance(decision, Response):
        return decision
    if decision.kind == "linkset":
        response = _json(resolver.linkset(anchor, links), LINKSET)
        response.headers.update(headers)
        return response
    assert decision.link is not None
    # Every target is on this site: the Location is its path, and the query string is carried over as it
    # came (never fed to url_for, whose keyword arguments such as _external or _anchor a visitor must not
    # steer).
    location = decision.link.href.removeprefix(services.base_url())
    if request.args:
        path, _sep, fragment = location.partition("#")
        location = path + "?" + urlencode(list(request.args.items(multi=True))) + (f"#{fragment}" if fragment else "")
    response = redirect(location, code=307)
    response.headers.update(headers)
    return response


@bp.route("/.well-known/gs1resolver")
@public
def gs1_resolver_description():  # type: ignore[no-untyped-def]
    """The resolver description file every GS1-Conformant resolver publishes."""
    sample = resolver.product_links(passport_url="", product_url="", certificate_urls=[("", "")], care=True,
                                    repair=True, verify_url="")
    response = _json(resolver.description(services.base_url(), sorted({link.rel for link in sample})),
                     "application/json")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
