"""Every 0.7.0 conformity credential (DCC) and traceability event (DTE) the site publishes validates
against UNTP's own 0.7.0 JSON Schemas (draft 2020-12, formats checked), read from
``UNTP070_DIR`` (tests/UNTP070.md: source and licence; skipped without them). The DPP schema is checked
in ``test_untp070.py`` (with dppvalidator)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator

from tests.passports.test_untp070_jsonld import demo_credentials_070, fixtures

# SHA-256 of the JSON with keys sorted and no whitespace (the DCC's as recorded for the v0.7.0 tag).
DCC_SHA256 = "10869cc870bdf9e1d499c46a319c78fcdae7b1a4f37d837a84d34a4aaffb0883"
DTE_SHA256 = "84b56cebf8ae724add5c37d8889a3cb01bf740ce3c415b6320e5c4ff95d69168"
DIA_SCHEMA = "DigitalIdentityAnchor-schema-0.7.0.json"  # optional: its test is skipped without it
DIA_SHA256 = "0f125c2e8c6f0b01c79c7bf05ece2e33a88982edf023ee90479454b60b6b5eea"


def _validator(name: str, digest: str) -> Draft202012Validator:
    schema = json.loads((fixtures() / name).read_text(encoding="utf-8"))
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest() == digest, f"the vendored {name} was altered"
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validators() -> dict[str, Draft202012Validator]:
    return {"dcc": _validator("DigitalConformityCredential-schema-0.7.0.json", DCC_SHA256),
            "dte": _validator("DigitalTraceabilityEvent-schema-0.7.0.json", DTE_SHA256)}


def problems(validator: Draft202012Validator, document: dict[str, Any]) -> list[str]:
    found = []
    for error in validator.iter_errors(document):
        found.append(f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}")
        found += [f"  {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in (error.context or [])[:6]]
    return found


def test_every_070_dcc_and_dte_validates_against_the_untp_schemas(demo_app: Flask) -> None:
    checks = validators()
    credentials = demo_credentials_070(demo_app)
    invalid = []
    for kind in ("dcc", "dte"):
        assert credentials[kind], kind
        for name, document in credentials[kind]:
            found = problems(checks[kind], document)
            if found:
                invalid.append(f"{kind} {name}: {found[:8]}")
    counts = {kind: len(credentials[kind]) for kind in ("dcc", "dte")}
    print(f"\nUNTP 0.7.0 JSON Schema validation: {counts}, invalid: {len(invalid)}")  # noqa: T201 (report)
    for line in invalid[:3] + invalid[-2:]:
        print(line)  # noqa: T201
    assert invalid == []


@pytest.mark.parametrize(("kind", "damage"), [
    ("dcc", lambda d: d["credentialSubject"].pop("referenceScheme")),
    ("dcc", lambda d: d["credentialSubject"].update(assessorLevel="auditor")),
    ("dte", lambda d: d["credentialSubject"][0].pop("madeAtFacility")),
    ("dte", lambda d: d["credentialSubject"][0].update(type=["MakeEvent"])),
    ("dte", lambda d: d["credentialSubject"][0]["outputProduct"][0]["product"].pop("idGranularity")),
])
def test_the_schemas_catch_a_broken_credential(demo_app: Flask, kind: str, damage: Any) -> None:
    checks = validators()
    document = copy.deepcopy(demo_credentials_070(demo_app)[kind][0][1])
    assert problems(checks[kind], document) == []
    damage(document)
    assert problems(checks[kind], document) != []


def test_every_070_identity_anchor_validates_against_the_untp_schema(demo_app: Flask) -> None:
    from tests.passports.test_identity_anchors import demo_anchors

    if not (fixtures() / DIA_SCHEMA).is_file():
        pytest.skip(f"{DIA_SCHEMA} not found beside the other UNTP 0.7.0 files (tests/UNTP070.md)")
    check = _validator(DIA_SCHEMA, DIA_SHA256)
    anchors = demo_anchors(demo_app)
    assert anchors
    invalid = [f"{slug}: {found[:8]}" for slug, anchor in anchors if (found := problems(check, anchor))]
    assert invalid == []
    broken = copy.deepcopy(anchors[0][1])
    broken["credentialSubject"].pop("registeredDate")
    assert problems(check, broken) != []
