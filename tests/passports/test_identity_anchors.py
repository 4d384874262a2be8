"""The Union's identity anchors (UNTP DIA) as UNTP's schemas and contexts define them, in both forms.

The 0.6.1 form may only use terms the 0.6.1 release's DIA context defines: a JSON-LD processor in safe mode
(UN/CEFACT's own test suite, tier 1) refuses any other. The release's files are GPL-3.0 and not kept here,
so the terms are listed below, read from spec-untp tag v0.6.1 (f6778df),
``data-models/untp-dia/artefacts/context.jsonld``. The 0.7.0 form follows UNTP's 0.7.0 DIA schema (its
required properties and register types, below; the schema itself is checked in ``test_untp070_schemas.py``
when it is present)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select, update

from marketplace.extensions import db
from marketplace.organisations.models import Organisation
from marketplace.passports import documents, publishing, untp, untp070
from marketplace.passports.models import IssuedDocument

DIA_061 = "https://test.uncefact.org/vocabulary/untp/dia/0.6.1/"
# The 0.6.1 release's DIA context: the terms of each type (beyond the VC 2.0 context's id, type and name).
RELEASE_061_TERMS = {
    "credentialSubject": {"type", "id", "name", "registeredId", "idScheme", "registerType", "registrationScopeList"},
    "issuer": {"type", "id", "name", "issuerAlsoKnownAs"},
    "idScheme": {"type", "id", "name"},
}
RELEASE_061_REGISTER_TYPES = {"Product", "Facility", "Business", "Trademark", "Land", "Accreditation"}
# UNTP 0.7.0's RegisteredIdentity: its properties and the required ones.
TERMS_070 = {"type", "id", "registeredName", "registeredId", "registeredDate", "publicInformation", "idScheme",
             "registrar", "registerType", "registrationScope"}
REQUIRED_070 = {"id", "registeredName", "registeredId", "registeredDate", "idScheme", "registerType"}
REGISTER_TYPES_070 = {"product", "facility", "business", "trademark", "land", "accreditation"}


def demo_anchors(app: Flask, query: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every identity anchor the demo publishes, as served at its unversioned address."""
    with app.app_context():
        slugs = sorted(set(db.session.scalars(select(IssuedDocument.subject).where(IssuedDocument.kind == "dia"))))
    client = app.test_client()
    return [(slug, client.get(f"/orgs/{slug}/identity.json{query}").get_json(force=True)) for slug in slugs]


def _resolves(app: Flask, url: str) -> bool:
    """The page answers here and, for an address with a fragment, holds an element of that id."""
    parts = urlsplit(url)
    response = app.test_client().get(parts.path)
    return response.status_code == 200 and (not parts.fragment or f'id="{parts.fragment}"' in response.text)


def test_every_0_6_1_anchor_uses_only_the_release_terms(demo_app: Flask) -> None:
    anchors = demo_anchors(demo_app, "?untp=0.6.1")
    assert len(anchors) >= 4  # the certifier, cooperatives and enterprises the demo passports link to
    for slug, anchor in anchors:
        assert anchor["@context"] == [untp.VC_CONTEXT, DIA_061], slug
        subject = anchor["credentialSubject"]
        assert set(subject) <= RELEASE_061_TERMS["credentialSubject"], (slug, set(subject))
        assert set(anchor["issuer"]) <= RELEASE_061_TERMS["issuer"], slug
        assert set(subject["idScheme"]) <= RELEASE_061_TERMS["idScheme"], slug
        assert subject["registerType"] in RELEASE_061_REGISTER_TYPES
        # The anchor names the organisation in the Union's own register, which the Union (its issuer) keeps.
        assert subject["registeredId"] == slug
        assert subject["idScheme"]["id"].endswith("/organisations/")
        assert subject["registrationScopeList"], slug
        assert all(_resolves(demo_app, u) for u in subject["registrationScopeList"]), slug


def test_every_0_7_0_anchor_has_what_untp_0_7_0_requires(demo_app: Flask) -> None:
    anchors = demo_anchors(demo_app)
    assert anchors
    with demo_app.app_context():
        joined = {o.slug: o.registered_on for o in db.session.scalars(select(Organisation))}
        the_union = documents.union()
        assert the_union is not None
        union_name = the_union.name
    for slug, anchor in anchors:
        assert anchor["@context"] == [untp.VC_CONTEXT, untp070.CONTEXT], slug
        subject = anchor["credentialSubject"]
        assert REQUIRED_070 <= set(subject) <= TERMS_070, (slug, set(subject))
        assert subject["registerType"] in REGISTER_TYPES_070
        assert dt.date.fromisoformat(subject["registeredDate"]) == joined[slug]
        assert subject["registrar"]["type"] == ["Party"]
        assert subject["registrar"]["name"] == union_name
        assert _resolves(demo_app, subject["publicInformation"]), slug
        assert _resolves(demo_app, subject["idScheme"]["id"]), slug  # the register page
        assert _resolves(demo_app, subject["registrar"]["id"]), slug
        assert all(_resolves(demo_app, u) for u in subject["registrationScope"]), slug


def test_each_role_an_anchor_names_is_explained_in_every_language(demo_app: Flask) -> None:
    client = demo_app.test_client()
    for locale in ("en", "mn", "fr", "de", "it", "zh"):
        page = client.get(f"/how-to-read-a-passport?lang={locale}").text
        for fragment in ("issuers", *documents.SCOPES.values()):
            assert f'id="{fragment}"' in page, (locale, fragment)


def test_an_anchor_issued_before_its_form_changed_is_issued_again_once(demo_app: Flask) -> None:
    """An issuer's anchor is brought up to date whenever a passport links one of its credentials, even when
    those credentials themselves are unchanged (an anchor from before 2026-11-30 used 0.6.0's terms)."""
    with demo_app.app_context():
        anchor = db.session.scalars(select(IssuedDocument).where(IssuedDocument.kind == "dia")
                                    .order_by(IssuedDocument.id)).first()
        old = json.loads(anchor.body_061)
        old["@context"][1] = "https://test.uncefact.org/vocabulary/untp/dia/0.6.0/"
        # Written as an older site wrote it (the ORM refuses to change an issued version, as it should).
        db.session.execute(update(IssuedDocument).where(IssuedDocument.id == anchor.id).values(
            body_061=json.dumps(old), change_hash="0" * 64))
        slug, number = anchor.subject, anchor.number
        db.session.commit()
        publishing.publish_all()
        db.session.commit()
        latest = documents.latest("dia", slug)
        assert latest is not None
        assert latest.number == number + 1
        assert json.loads(latest.body_061)["@context"][1] == DIA_061
        publishing.publish_all()
        db.session.commit()
        assert documents.latest("dia", slug).number == number + 1
    served = demo_app.test_client().get(f"/orgs/{slug}/identity.json?untp=0.6.1").get_json(force=True)
    assert served["@context"][1] == DIA_061
