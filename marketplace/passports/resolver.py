"""The GS1-Conformant resolver (GS1 resolver standard 1.2) for products with a GTIN.

One table of links per product (``links``) feeds every answer: the 307 redirect to the default link
or to the link of a requested ``linkType``, the RFC 9264 linkset, the ``Link`` response header and the
description file at ``/.well-known/gs1resolver``. The choice between a redirect, the linkset and a
406 is made in ``decide`` from the query and the ``Accept`` header only (pure, tested on its own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from marketplace.passports.untp import LINK_TYPES

GS1_VOC = "https://gs1.org/voc/"
LINKSET = "application/linkset+json"
JSONLD = "application/ld+json"
VCJWT = "application/vc+jwt"
HTML = "text/html"
# The prefixes a linkType may use, and the namespaces they stand for.
PREFIXES = {"gs1": GS1_VOC, "untp": LINK_TYPES}
OTHER_NAMESPACES = ("https://ref.gs1.org/voc/", "http://gs1.org/voc/")  # the same GS1 terms, spelled otherwise
_LINK_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{1,200}$")
# What the passport page itself can answer (it negotiates), so what the default link may be asked for.
PAGE_TYPES = (HTML, "application/xhtml+xml", JSONLD, "application/json", VCJWT)


def parse_accept(header: str) -> MIMEAccept:
    """The ``Accept`` header's media ranges without their parameters (other than the quality): a client
    asking for ``application/ld+json; profile="https://www.w3.org/ns/credentials/v2"`` or
    ``application/json; charset=utf-8`` asks for JSON-LD or JSON, which werkzeug alone would not match
    against the bare types the site serves. The one parser for every negotiating route."""
    if not (header or "").strip():  # no header: anything is acceptable, as werkzeug answers without one
        return MIMEAccept(None)
    ranges = parse_accept_header(header, MIMEAccept)
    return MIMEAccept([(value.split(";", 1)[0].strip().lower(), quality) for value, quality in ranges])


@dataclass(frozen=True)
class Link:
    rel: str  # the full IRI of the link type
    href: str
    title: str
    type: str

    def as_linkset(self) -> dict[str, Any]:
        return {"href": self.href, "title": self.title, "type": self.type, "hreflang": ["en"]}


class UnknownLinkTypeError(LookupError):
    """A well-formed linkType this resolver has no link of."""


class MalformedLinkTypeError(ValueError):
    """A linkType that is neither a known compact form (gs1:…, untp:…) nor an absolute IRI."""


def expand_link_type(value: str) -> str:
    """``gs1:pip``, ``https://gs1.org/voc/pip`` or ``https://ref.gs1.org/voc/pip`` → ``https://gs1.org/voc/pip``."""
    if not _LINK_TYPE.match(value):
        raise MalformedLinkTypeError(value[:60])
    prefix, _, rest = value.partition(":")
    if prefix in PREFIXES:
        return PREFIXES[prefix] + rest
    for namespace in OTHER_NAMESPACES:
        if value.startswith(namespace):
            return GS1_VOC + value[len(namespace):]
    return value


def compact(rel: str) -> str:
    for prefix, namespace in PREFIXES.items():
        if rel.startswith(namespace):
            return f"{prefix}:{rel[len(namespace):]}"
    return rel


def product_links(*, passport_url: str, product_url: str | None, certificate_urls: list[tuple[str, str]],
                  care: bool, repair: bool, verify_url: str) -> list[Link]:
    """Every link the resolver serves for a product, the default link first."""
    links = [
        Link(GS1_VOC + "defaultLink", passport_url, "Digital product passport", HTML),
        Link(GS1_VOC + "pip", passport_url, "Digital product passport", HTML),
        Link(GS1_VOC + "sustainabilityInfo", passport_url + ".json", "UNTP Digital Product Passport", JSONLD),
        Link(GS1_VOC + "sustainabilityInfo", passport_url + ".jwt", "UNTP Digital Product Passport, signed",
             VCJWT),
        Link(GS1_VOC + "dpp", passport_url + ".json", "UNTP Digital Product Passport", JSONLD),
        Link(LINK_TYPES + "dpp", passport_url + ".json", "UNTP Digital Product Passport", JSONLD),
        Link(GS1_VOC + "jws", passport_url + ".jwt", "UNTP Digital Product Passport, signed (VC-JOSE)", VCJWT),
        Link(GS1_VOC + "verificationService", verify_url, "Check a passport's signature and status", HTML),
    ]
    for number, url in certificate_urls:
        links.append(Link(GS1_VOC + "certificationInfo", url, f"Certificate {number} (UNTP conformity credential)",
                          JSONLD))
        links.append(Link(LINK_TYPES + "dcc", url, f"Certificate {number} (UNTP conformity credential)", JSONLD))
    if product_url and care:
        links.append(Link(GS1_VOC + "careInstructions", product_url + "#care-h", "Care instructions (ISO 3758)",
                          HTML))
    if product_url and repair:
        links.append(Link(GS1_VOC + "repairInformation", product_url + "#circular-h", "Repair service", HTML))
        links.append(Link(LINK_TYPES + "repair", product_url + "#circular-h", "Repair service", HTML))
    return links


def linkset(anchor: str, links: list[Link]) -> dict[str, Any]:
    """An RFC 9264 linkset in JSON (``application/linkset+json``), as GS1 resolvers return it."""
    entry: dict[str, Any] = {"anchor": anchor}
    for link in links:
        entry.setdefault(link.rel, []).append(link.as_linkset())
    return {"linkset": [entry]}


def link_header(anchor: str, links: list[Link]) -> str:
    """RFC 8288 ``Link`` header: the linkset first, then one entry per link (ASCII only, no titles)."""
    parts = [f'<{anchor}?linkType=linkset>; rel="linkset"; type="{LINKSET}"']
    seen: set[tuple[str, str]] = set()
    for link in links:
        if (link.rel, link.href) not in seen:
            seen.add((link.rel, link.href))
            parts.append(f'<{link.href}>; rel="{link.rel}"; type="{link.type}"')
    return ", ".join(parts)


@dataclass(frozen=True)
class Decision:
    kind: str  # "linkset", "redirect" or "not acceptable"
    link: Link | None = None


def _explicit_quality(accept: MIMEAccept, mimetype: str) -> float:
    return max((q for value, q in accept if value.lower() == mimetype), default=0)


def decide(link_type: str | None, accept: MIMEAccept, has_accept: bool, links: list[Link]) -> Decision:
    """What to answer. Raises UnknownLinkTypeError or MalformedLinkTypeError for a bad ``linkType``."""
    if link_type in ("linkset", "all"):  # "all" is the deprecated spelling
        return Decision("linkset")
    if link_type:
        return _for_link_type(expand_link_type(link_type), accept, has_accept, links)
    # No linkType: the linkset only when it is asked for by name (never for */*), else the default link.
    default = links[0]
    if not has_accept:
        return Decision("redirect", default)
    wanted = _explicit_quality(accept, LINKSET)
    page = max(accept.quality(t) for t in PAGE_TYPES)
    if wanted > 0 and wanted >= page:
        return Decision("linkset")
    return Decision("redirect", default) if page > 0 else Decision("not acceptable")


def _for_link_type(rel: str, accept: MIMEAccept, has_accept: bool, links: list[Link]) -> Decision:
    if rel == GS1_VOC + "linkset":
        return Decision("linkset")
    candidates = [link for link in links if link.rel == rel]
    if not candidates:
        raise UnknownLinkTypeError(compact(rel))
    if not has_accept:
        return Decision("redirect", candidates[0])
    best = accept.best_match([link.type for link in candidates])
    if best is None:
        return Decision("not acceptable")
    return Decision("redirect", next(link for link in candidates if link.type == best))


def description(base_url: str, link_types: list[str]) -> dict[str, Any]:
    """The resolver description file served at ``/.well-known/gs1resolver``."""
    return {
        "name": "Union of Sustainable Cashmere Cooperatives: GS1-Conformant resolver",
        "resolverRoot": base_url,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [
            {"namespace": GS1_VOC, "prefix": "gs1:", "profile": GS1_VOC},
            {"namespace": LINK_TYPES, "prefix": "untp:", "profile": LINK_TYPES},
        ],
        "linkTypes": sorted(compact(rel) for rel in link_types),
        "linkTypeDefaultCanBeLinkset": True,
        "linkTypeDefaultCanBeAll": True,
        "supportedContextValuesEnumerated": [],
        "contact": f"{base_url}/about",
    }
