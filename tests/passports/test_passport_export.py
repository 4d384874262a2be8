"""The static mirror: ``flask passports export DIR`` written, then served by Python's plain http.server
(no application code), and every passport verified from it: its offline bundle, its JWT against the
mirrored DID document, each linked credential against its digest, the log checkpoint, the pages in six
languages and the QR code."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from joserfc import jws
from joserfc.jwk import OKPKey

VERIFIER = Path(__file__).resolve().parent.parent.parent / "verifier"
sys.path.insert(0, str(VERIFIER))
from passport_verify import verify_bundle  # noqa: E402
from passport_verify.core import digest_multibase  # noqa: E402

LOCALES = ("en", "mn", "fr", "de", "it", "zh")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def mirror(demo_app: Flask, tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    target = tmp_path / "mirror"
    result = demo_app.test_cli_runner().invoke(args=["passports", "export", str(target)])
    assert result.exit_code == 0, result.output
    assert "Exported" in result.output
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(target)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", target, demo_app.config["PUBLIC_BASE_URL"].rstrip("/")
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (a local http URL)
        assert response.status == 200
        return response.read()


def _payload(token: bytes, did_document: dict) -> dict:  # type: ignore[type-arg]
    header = json.loads(base64.urlsafe_b64decode(token.split(b".")[0] + b"=="))
    method = next(m for m in did_document["verificationMethod"] if m["id"] == header["kid"])
    result = jws.deserialize_compact(token, OKPKey.import_key(method["publicKeyJwk"]), algorithms=["Ed25519"])
    return json.loads(result.payload)


def test_passports_verify_from_a_plain_static_server(mirror: tuple[str, Path, str], tmp_path: Path) -> None:
    url, target, site = mirror
    index = json.loads(_get(f"{url}/export.json"))
    for relative, digest in index["files"].items():
        assert hashlib.sha256((target / relative).read_bytes()).hexdigest() == digest
    did = json.loads(_get(f"{url}/.well-known/did.json"))
    checkpoint = json.loads(_get(f"{url}/passports/log/checkpoint.json"))
    assert _payload(checkpoint["jws"].encode(), did) == checkpoint["checkpoint"]
    assert len(json.loads(_get(f"{url}/passports/log/entries.json"))["entries"]) == \
        checkpoint["checkpoint"]["treeSize"]
    _payload(_get(f"{url}/passports/status/revocation.jwt"), did)
    verified = 0
    for public_id in index["passports"]:
        page = f"{url}/passports/{public_id}"
        pages = {locale: _get(f"{page}/{locale}.html").decode() for locale in LOCALES}
        for locale, html in pages.items():
            assert f'lang="{locale}"' in html
        assert "Digital product passport" in pages["en"]
        assert "Digital product passport" not in pages["fr"]  # each page in its own language
        assert len(set(pages.values())) == len(LOCALES)
        assert _get(f"{page}/").startswith(b"<!DOCTYPE html>") or b"<html" in _get(f"{page}/")
        assert _get(f"{page}/qr.svg").lstrip().startswith(b"<")
        credential = json.loads(_get(f"{page}.json"))
        assert _payload(_get(f"{page}.jwt"), did) == credential
        for link in _links(credential):
            assert link["linkURL"].startswith(site)
            linked = _get(url + link["linkURL"].removeprefix(site))
            assert link["digestMultibase"] in {digest_multibase(linked), digest_multibase(
                json.dumps(json.loads(linked), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())}
        bundle = tmp_path / f"{public_id}.zip"
        bundle.write_bytes(_get(f"{page}/bundle.zip"))
        report = verify_bundle(bundle)
        assert not report.failures, (public_id, report.lines())
        verified += 1
    assert verified == len(index["passports"]) > 10


def _links(document: object) -> list[dict]:  # type: ignore[type-arg]
    found, pending = [], [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if "linkURL" in value and "digestMultibase" in value:
                found.append(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def test_export_refuses_a_folder_holding_something_else(demo_app: Flask, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = demo_app.test_cli_runner().invoke(args=["passports", "export", str(tmp_path)])
    assert result.exit_code != 0
    assert "not empty" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_the_mirror_writes_only_inside_its_folder(app: Flask, tmp_path: Path) -> None:
    from marketplace.passports.export import ExportError, _Mirror

    with app.test_request_context():
        mirror = _Mirror(tmp_path / "mirror", "http://example.test")
        for bad in ("../outside.txt", "/etc/passwd", "a/../../outside.txt", ""):
            with pytest.raises(ExportError, match="not a path inside the mirror"):
                mirror.write(bad, b"x")
        mirror.write("passports/inside.txt", b"x")
    assert (tmp_path / "mirror" / "passports" / "inside.txt").read_bytes() == b"x"
    assert not (tmp_path / "outside.txt").exists()
