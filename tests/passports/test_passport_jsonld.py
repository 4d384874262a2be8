"""Every credential the demo content publishes expands as JSON-LD with nothing dropped.

pyld runs offline: its frozen loader serves the W3C VC 2.0 context it bundles, the UNTP 0.6.1
contexts come from ``../shared/untp`` (as the schema tests in ``test_passports.py`` read them), and
the site's own context comes from the app. A property that expands to nothing, a type or an id left
as a relative IRI, or any processing error (a protected term redefined, say) fails the test: pyld's
equivalent of jsonld.js's safe mode.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from marketplace.certification.models import Certificate
from marketplace.extensions import db
from marketplace.passports import untp
from marketplace.passports.models import Passport, PassportVersion
from marketplace.passports.signing import canonical_json
from marketplace.products.models import ProcessingStep

SHARED = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "untp"
pyld = pytest.importorskip("pyld")


class DroppedTermError(AssertionError):
    pass


def _loader(app: Flask) -> Any:
    from pyld.documentloader.frozen import BUNDLED_CONTEXTS, FrozenDocumentLoader

    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the JSON-LD tests need the UNTP contexts in ../shared")
    client = app.test_client()
    with app.app_context():
        from marketplace.passports.services import base_url

        site = base_url()
    own = client.get("/contexts/cashmere/v1.jsonld")
    assert own.status_code == 200
    documents: dict[str, Any] = dict(BUNDLED_CONTEXTS)
    for url, folder in untp.CONTEXTS_061.items():
        documents[url] = SHARED / folder / "context.jsonld"
    documents[f"{site}/contexts/cashmere/v1.jsonld"] = json.loads(own.data)
    return FrozenDocumentLoader(documents)


ISSUER_DEPENDENT = "https://www.w3.org/ns/credentials/issuer-dependent#"  # VC 2.0's catch-all @vocab


def _undefined(iri: str) -> bool:
    return ":" not in iri or iri.startswith(ISSUER_DEPENDENT)


def _relative(expanded: Any, found: list[str], path: str = "") -> None:
    """Types, ids and property IRIs that did not become absolute IRIs (or blank nodes), or that only
    VC 2.0's issuer-dependent catch-all vocabulary gave an IRI."""
    if isinstance(expanded, list):
        for i, item in enumerate(expanded):
            _relative(item, found, f"{path}[{i}]")
    elif isinstance(expanded, dict):
        for key, value in expanded.items():
            if key == "@type" and "@value" not in expanded:
                for t in value:
                    if _undefined(t):
                        found.append(f"{path}: type {t}")
            elif key == "@id" and ":" not in value:
                found.append(f"{path}: id {value}")
            elif not key.startswith("@") and _undefined(key):
                found.append(f"{path}: property {key}")
            if key != "@value":
                _relative(value, found, f"{path}/{key}")


def expand_safely(document: dict[str, Any], loader: Any) -> list[Any]:
    """Expand like jsonld.js in safe mode: raise on a dropped property or a relative IRI."""
    from pyld import jsonld

    dropped: list[str | None] = []
    expanded = jsonld.expand(document, {"documentLoader": loader, "base": None},
                             on_property_dropped=dropped.append)
    if dropped:
        raise DroppedTermError(f"dropped: {sorted({str(d) for d in dropped})}")
    relative: list[str] = []
    _relative(expanded, relative)
    if relative:
        raise DroppedTermError(f"relative IRIs: {relative[:20]}")
    return expanded


def demo_credentials(app: Flask, query: str = "") -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Every published demo DPP, DCC and DTE as served, in the form ``query`` asks for (e.g. ``?untp=0.6.1``)."""
    client = app.test_client()
    with app.app_context():
        passports = db.session.scalars(select(Passport).order_by(Passport.id)).all()
        public_ids = [p.public_id for p in passports if p.current is not None]
        numbers = db.session.scalars(select(Certificate.number).order_by(Certificate.number)).all()
        step_ids = db.session.scalars(select(ProcessingStep.id).order_by(ProcessingStep.id)).all()
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {"dpp": [], "dcc": [], "dte": []}
    for public_id in public_ids:
        found["dpp"].append((public_id, client.get(f"/passports/{public_id}.json{query}").get_json(force=True)))
    for number in numbers:
        found["dcc"].append((number, client.get(f"/certificates/{number}.json{query}").get_json(force=True)))
    for step_id in step_ids:
        response = client.get(f"/events/steps/{step_id}.json{query}")
        if response.status_code == 200:  # steps of working copies stay private
            found["dte"].append((str(step_id), response.get_json(force=True)))
    return found


def test_every_demo_credential_expands_with_no_dropped_term(demo_app: Flask) -> None:
    loader = _loader(demo_app)
    credentials = demo_credentials(demo_app, "?untp=0.6.1")
    assert {kind: len(docs) > 0 for kind, docs in credentials.items()} == {"dpp": True, "dcc": True, "dte": True}
    errors = []
    for kind, documents in credentials.items():
        for name, document in documents:
            try:
                expand_safely(document, loader)
            except Exception as error:  # every failure is collected and reported
                errors.append(f"{kind} {name}: {str(error)[:400]}")
    counts = {kind: len(docs) for kind, docs in credentials.items()}
    print(f"\nJSON-LD expansion of the demo credentials: {counts}, errors: {len(errors)}")  # noqa: T201 (report)
    assert errors == []


# What the UNTP 0.6.1 release's JSON Schemas require as the second @context entry (``prefixItems[1].const`` of
# ``data-models/untp-<x>/artefacts/untp-<x>-schema.json`` at spec-untp tag v0.6.1, commit f6778df), and what
# UN/CEFACT's test suite (tests-untp, untp-test-suite-mocha, tier 2) checks: the vocabulary's address, not the
# ``…/context/`` address its context document is published at (which the site cited until 2026-11-30).
RELEASE_061_CONTEXTS = {"dpp": "https://test.uncefact.org/vocabulary/untp/dpp/0.6.1/",
                        "dcc": "https://test.uncefact.org/vocabulary/untp/dcc/0.6.1/",
                        "dte": "https://test.uncefact.org/vocabulary/untp/dte/0.6.1/"}


def test_every_demo_credential_cites_the_0_6_1_release_context(demo_app: Flask) -> None:
    credentials = demo_credentials(demo_app, "?untp=0.6.1")
    cited = {kind: {tuple(document["@context"][:2]) for _name, document in documents}
             for kind, documents in credentials.items()}
    assert cited == {kind: {(untp.VC_CONTEXT, context)} for kind, context in RELEASE_061_CONTEXTS.items()}


def test_every_claim_states_its_conformance_as_the_0_6_1_release_requires(demo_app: Flask) -> None:
    """The release's schema requires ``conformance`` of every claim (UN/CEFACT's suite, tier 2, checks it); the
    passport states what the certificate's conformity credential assessed, and a JSON-LD reader of the working
    context gets the release's own IRI and type for it (from the site's context)."""
    credentials = demo_credentials(demo_app, "?untp=0.6.1")
    assessed = {d["id"].rsplit("/versions/", 1)[0]: d["credentialSubject"]["assessment"][0]["conformance"]
                for _name, d in credentials["dcc"]}
    claims = [c for _name, d in credentials["dpp"] for c in d["credentialSubject"]["conformityClaim"]]
    assert claims
    assert all(isinstance(c.get("conformance"), bool) for c in claims)
    assert all(c["conformance"] == assessed[c["conformityEvidence"]["linkURL"].rsplit("/versions/", 1)[0]]
               for c in claims)
    expanded = json.dumps(expand_safely(credentials["dpp"][0][1], _loader(demo_app)))
    assert ('"https://test.uncefact.org/vocabulary/untp/core/0/conformance": [{"@type": '
            '"http://www.w3.org/2001/XMLSchema#boolean", "@value": true}]') in expanded


CRITERION_REQUIRED = {"type", "id", "name", "description", "conformityTopic", "status"}  # the 0.6.1 release's


def test_every_claim_names_the_criteria_its_certificate_assessed(demo_app: Flask) -> None:
    """UN/CEFACT's suite (tier 3) wants a claim to name at least one criterion: the claim names those its
    certificate's conformity credential assessed (all of the scheme's, published on the certification page),
    in the shape the 0.6.1 release requires of a Criterion, and the 0.7.0 form refers to the same ones."""
    credentials = demo_credentials(demo_app, "?untp=0.6.1")
    assessed = {d["id"].rsplit("/versions/", 1)[0]: d["credentialSubject"]["assessment"][0]["assessmentCriteria"]
                for _name, d in credentials["dcc"]}
    claims = [c for _name, d in credentials["dpp"] for c in d["credentialSubject"]["conformityClaim"]]
    assert claims
    page = demo_app.test_client().get("/certification").text
    for claim in claims:
        criteria = claim["assessmentCriteria"]
        assert criteria
        assert criteria == assessed[claim["conformityEvidence"]["linkURL"].rsplit("/versions/", 1)[0]]
        for criterion in criteria:
            assert set(criterion) == CRITERION_REQUIRED, criterion
            assert criterion["status"] == "active"
            assert criterion["conformityTopic"] == claim["conformityTopic"]
            assert f'id="{criterion["id"].split("#", 1)[1]}"' in page  # its table on the certification page
    current = [c for _name, d in demo_credentials(demo_app)["dpp"] for c in d["credentialSubject"]["performanceClaim"]
               if c.get("referenceStandard")]
    assert {r["id"] for c in current for r in c["referenceCriteria"]} == {c["id"] for claim in claims
                                                                           for c in claim["assessmentCriteria"]}
    expanded = json.dumps(expand_safely(credentials["dpp"][0][1], _loader(demo_app)))
    assert "/assessmentCriteria" in expanded


def test_versions_citing_the_old_0_6_1_context_address_are_published_again_once(demo_app: Flask) -> None:
    """A passport version and a conformity credential published before the contexts' address changed: the next
    publish issues each again with the release's contexts (their content is otherwise unchanged), then never."""
    from marketplace.passports import publishing
    from marketplace.passports.models import IssuedDocument

    with demo_app.app_context():
        passport = db.session.scalars(select(Passport).order_by(Passport.id)).first()
        version = passport.current
        old = copy.deepcopy(version.credential)
        old["@context"][1] = RELEASE_061_CONTEXTS["dpp"] + "context/"
        # Written as an older site wrote it (the ORM refuses to change a published version, as it should).
        db.session.execute(update(PassportVersion).where(PassportVersion.id == version.id).values(credential=old))
        dcc = db.session.scalars(select(IssuedDocument).where(IssuedDocument.kind == "dcc")
                                 .order_by(IssuedDocument.id.desc())).first()
        body = json.loads(dcc.body_061)
        body["@context"][1] = RELEASE_061_CONTEXTS["dcc"] + "context/"
        # An older site's change hash: the 0.7.0 form's content alone.
        older_hash = hashlib.sha256(canonical_json({k: v for k, v in json.loads(dcc.body).items() if k != "id"}))
        db.session.execute(update(IssuedDocument).where(IssuedDocument.id == dcc.id).values(
            body_061=json.dumps(body), change_hash=older_hash.hexdigest()))
        kind, subject, number = dcc.kind, dcc.subject, dcc.number
        db.session.commit()
        db.session.expire_all()
        assert passport.current.credential["@context"][1].endswith("/context/")
        # Its unversioned 0.6.1 address serves the credential as it reads now, not the stored old form.
        served = demo_app.test_client().get(f"/certificates/{subject}.json?untp=0.6.1")
        assert served.status_code == 200
        assert served.get_json(force=True)["@context"][1] == RELEASE_061_CONTEXTS["dcc"]
        assert publishing.publish_all()[0] >= 1  # that passport, and those claiming the certificate (a new DCC)
        assert passport.current.number == version.number + 1
        assert passport.current.credential["@context"][1] == RELEASE_061_CONTEXTS["dpp"]
        again = db.session.scalars(select(IssuedDocument).where(IssuedDocument.kind == kind,
                                                                IssuedDocument.subject == subject)
                                   .order_by(IssuedDocument.number.desc())).first()
        assert again.number == number + 1
        assert json.loads(again.body_061)["@context"][1] == RELEASE_061_CONTEXTS["dcc"]
        db.session.commit()
        assert publishing.publish_all()[0] == 0


def test_safe_expansion_catches_what_a_verifier_would_lose(demo_app: Flask) -> None:
    """The checker itself: an undefined property, an undefined type and a redefined protected term fail."""
    loader = _loader(demo_app)
    with demo_app.app_context():
        document = db.session.scalars(select(Passport).order_by(Passport.id)).first().current.credential
    expand_safely(document, loader)
    with pytest.raises(DroppedTermError, match="dropped"):
        expand_safely({**document, "credentialSubject": {**document["credentialSubject"], "colourfulness": 3}},
                      loader)
    jumper = copy.deepcopy(document)
    jumper["credentialSubject"]["product"]["type"].append("Jumper")
    with pytest.raises(DroppedTermError, match="type Jumper"):
        expand_safely(jumper, loader)
    with pytest.raises(Exception, match="protected"):
        expand_safely({**document, "@context": [*document["@context"], {"name": "https://example.org/name"}]},
                      loader)
