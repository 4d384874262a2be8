"""Every address of this site that a published credential names answers, down to the fragment.

A credential names things by address: a certificate's claim (``/certificates/<n>#claim``), a processing step's
event (``/events/steps/<n>``), the measures and topics of a claim (``/how-to-read-a-passport#metric-…``), the
register an identity anchor is kept in. A JSON-LD reader, or a person following the link, must find what the
address names: the page answers (after any redirect), and a fragment is an element of that id on it, in every
language the site speaks (the guide's headings are translated; the ids it sets are not)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports.models import IssuedDocument, PassportVersion
from marketplace.urls import public_base_url

LOCALES = ("en", "mn", "fr", "de", "it", "zh")


def _strings(value: Any) -> Iterator[str]:
    """The strings in a credential. A status entry's id is left out: by the Bitstring Status List's convention
    it is the list's address with the entry's index as fragment (the list itself, its ``statusListCredential``,
    is checked)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if not (key == "id" and "BitstringStatusListEntry" in value.get("type", ())):
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def site_addresses(app: Flask) -> set[str]:
    """Every address on this site that a published passport version or issued credential names (both forms)."""
    with app.app_context():
        base = public_base_url()
        documents: list[Any] = []
        for version in db.session.scalars(select(PassportVersion)):
            documents += [version.credential, version.credential_070]
        for issued in db.session.scalars(select(IssuedDocument)):
            documents += [json.loads(body) for body in (issued.body_061, issued.body) if body]
    return {s for document in documents for s in _strings(document) if s.startswith(base + "/")}


TRANSLATED_IDS = ("/how-to-read-a-passport",)  # written pages whose ids are set in each language's text


def unresolved(app: Flask, addresses: set[str]) -> list[str]:
    """What is wrong with each address (empty: every one answers, down to its fragment). A template's ids are
    the same in every language; a written page's are checked in each."""
    with app.app_context():
        base = public_base_url()
    client = app.test_client()
    answers: dict[tuple[str, str, str], Any] = {}

    def answer(path: str, query: str, locale: str) -> Any:
        if (path, query, locale) not in answers:
            client.set_cookie("lang", locale)
            answers[path, query, locale] = client.get(path, query_string=query, follow_redirects=True)
        return answers[path, query, locale]

    problems = []
    for address in sorted(addresses):
        parts = urlsplit(address[len(base):])
        for locale in LOCALES if parts.fragment and parts.path in TRANSLATED_IDS else ("en",):
            response = answer(parts.path, parts.query, locale)
            if response.status_code != 200:
                problems.append(f"{address}: {response.status_code}")
                break
            body = response.get_data(as_text=True)
            found = (f'id="{parts.fragment}"' in body if response.mimetype == "text/html"
                     else json.dumps(address) in body)  # a node of a JSON-LD document is named by its id there
            if parts.fragment and not found:
                problems.append(f"{address}: no {parts.fragment!r} on the {locale} page")
    return problems


def test_every_address_a_credential_names_answers_down_to_the_fragment(demo_app: Flask) -> None:
    addresses = site_addresses(demo_app)
    paths = {urlsplit(a).path.split("/")[1] for a in addresses}
    assert {"certificates", "events", "how-to-read-a-passport", "organisations", "orgs"} <= paths, paths
    assert any("#claim" in a for a in addresses)
    assert any("#metric-" in a for a in addresses)
    assert unresolved(demo_app, addresses) == []


def test_the_identifier_schemes_of_lots_and_products_lead_to_their_lists(demo_app: Flask) -> None:
    """A product without a GTIN is identified in the SKU scheme ``/products/`` (none in the demo has none)."""
    client = demo_app.test_client()
    assert client.get("/lots/").location == "/lots"
    assert client.get("/products/").location == "/products"
    for scheme in ("/lots/", "/products/"):
        assert client.get(scheme, follow_redirects=True).status_code == 200
