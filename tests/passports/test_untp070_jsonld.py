"""The UNTP 0.7.0 forms (DPP, DCC, DTE) expand as JSON-LD offline with nothing dropped.

Every remote context comes from a local copy and the loader refuses anything else (no network): the
W3C VC 2.0 context pyld bundles, the UNTP 0.7.0 context from ``UNTP070_DIR`` (tests/UNTP070.md: source
and licence) and the site's own context, read from the app. The checks are those of
``test_passport_jsonld.expand_safely``: a dropped property, a type or property only the VC catch-all
vocabulary names, an id left relative, or any processing error (a protected term redefined) fails.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from marketplace.passports import untp070
from tests.passports.test_passport_jsonld import DroppedTermError, demo_credentials, expand_safely

pyld = pytest.importorskip("pyld")
ROOT = Path(__file__).resolve().parent.parent.parent
UNTP070_FILES = ("untp-context-0.7.0.jsonld", "DigitalConformityCredential-schema-0.7.0.json",
                  "DigitalTraceabilityEvent-schema-0.7.0.json")
# SHA-256 of the context's JSON with keys sorted and no whitespace, as recorded for the v0.7.0 tag.
CONTEXT_SHA256 = "3c0f6d7e6fdd4e54fc167c98a8ae232739c582fab845522bf81e7c67c881714f"


def fixtures() -> Path:
    """The UNTP 0.7.0 context and DCC/DTE schemas: UN/CEFACT's files, which this repository may not hold
    (fetched upstream files stay out of commits). Looked for in ``UNTP070_DIR`` or ``../shared/untp-0.7/``;
    without them these tests are skipped with the reason (tests/UNTP070.md says where the files come from)."""
    for folder in (os.environ.get("UNTP070_DIR"), str(ROOT.parent / "shared" / "untp-0.7")):
        if folder and all((Path(folder) / name).is_file() for name in UNTP070_FILES):
            return Path(folder)
    pytest.skip("UNTP 0.7.0 context and DCC/DTE schemas not found (set UNTP070_DIR; see tests/UNTP070.md)")


class NetworkRefusedError(RuntimeError):
    pass


def vendored_context() -> dict[str, Any]:
    document = json.loads((fixtures() / "untp-context-0.7.0.jsonld").read_text())
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest() == CONTEXT_SHA256, "the vendored UNTP 0.7.0 context was altered"
    return document


def offline_loader(app: Flask) -> Any:
    """A document loader serving local copies only; any other URL raises instead of fetching."""
    from pyld.documentloader.frozen import BUNDLED_CONTEXTS

    with app.app_context():
        from marketplace.passports.services import base_url

        site = base_url()
    own = app.test_client().get("/contexts/cashmere/v2.jsonld")
    assert own.status_code == 200
    vc = BUNDLED_CONTEXTS["https://www.w3.org/ns/credentials/v2"]  # the path of pyld's bundled copy
    documents: dict[str, Any] = {"https://www.w3.org/ns/credentials/v2": json.loads(Path(vc).read_text())}
    documents[untp070.CONTEXT] = vendored_context()
    documents[untp070.cashmere_context_url(site)] = json.loads(own.data)

    def load(url: str, options: Any = None) -> dict[str, Any]:
        if url not in documents:
            raise NetworkRefusedError(f"no local copy of {url}: the loader does not use the network")
        return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
                "document": documents[url]}

    return load


def demo_credentials_070(app: Flask) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    return demo_credentials(app)  # the default form is 0.7.0


def test_every_070_credential_expands_offline_with_no_dropped_term(demo_app: Flask) -> None:
    from tests.passports.test_identity_anchors import demo_anchors

    loader = offline_loader(demo_app)
    credentials = demo_credentials_070(demo_app) | {"dia": demo_anchors(demo_app)}
    for kind, documents in credentials.items():
        assert documents, kind
        assert all(untp070.CONTEXT in d["@context"] for _, d in documents), kind
    errors = []
    for kind, documents in credentials.items():
        for name, document in documents:
            try:
                expand_safely(document, loader)
            except Exception as error:  # every failure is collected and reported
                errors.append(f"{kind} {name}: {str(error)[:400]}")
    counts = {kind: len(docs) for kind, docs in credentials.items()}
    print(f"\nJSON-LD expansion of the 0.7.0 credentials: {counts}, errors and dropped terms: {len(errors)}")  # noqa: T201
    assert errors == []


def test_the_offline_loader_refuses_the_network(demo_app: Flask) -> None:
    loader = offline_loader(demo_app)
    with pytest.raises(NetworkRefusedError):
        loader("https://vocabulary.uncefact.org/untp/0.7.1/context/")


def test_070_expansion_catches_what_a_verifier_would_lose(demo_app: Flask) -> None:
    loader = offline_loader(demo_app)
    credentials = demo_credentials_070(demo_app)
    dpp = credentials["dpp"][0][1]
    dte = credentials["dte"][0][1]
    expand_safely(dpp, loader)
    expand_safely(dte, loader)
    # A term no context defines (in an input product, outside any type's vocabulary) is caught.
    odd = copy.deepcopy(dte)
    odd["credentialSubject"][0]["inputProduct"][0]["colourfulness"] = 3
    with pytest.raises(DroppedTermError, match="colourfulness"):
        expand_safely(odd, loader)
    # So is a type no context defines (the 0.6 "Event" the 0.7.0 form once carried).
    odd = copy.deepcopy(dte)
    odd["credentialSubject"][0]["type"] = ["MakeEvent", "Event"]
    with pytest.raises(DroppedTermError, match="type Event"):
        expand_safely(odd, loader)
    # Redefining a protected UNTP term fails.
    with pytest.raises(Exception, match="protected"):
        expand_safely({**dpp, "@context": [*dpp["@context"], {"Product": "https://example.org/Product"}]}, loader)
