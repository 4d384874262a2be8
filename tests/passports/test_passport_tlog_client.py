"""An independent tlog-tiles client (written apart from the log writer: nothing from marketplace.passports)
reads the log over HTTP, checks the signed-note checkpoint with the key from the Union's DID document,
rebuilds the tree from the entry bundles and tiles, and verifies an inclusion and a consistency proof."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from sqlalchemy import text as sql

from marketplace.extensions import db

sys.path.insert(0, str(Path(__file__).parent.parent.parent / "verifier"))
from passport_verify import merkle as offline  # the standalone verifier (no site code)

TILE = 256


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return _h(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return _h(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:]))


def _consistent(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2, written out again."""
    if m == n:
        return old == new and not proof
    if m & (m - 1) == 0:
        proof = [old, *proof]
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _h(b"\x01" + c + fr), _h(b"\x01" + c + sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old and sr == new


def _path(n: int) -> str:
    digits = f"{n:d}"
    digits = "0" * (-len(digits) % 3) + digits
    parts = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + p for p in parts[:-1]] + [parts[-1]])


def _get(client: Any, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response


def _read_log(client: Any) -> tuple[str, int, bytes, list[bytes], list[bytes]]:
    """(origin, size, root, entries, level-0 hashes) after checking the note's signature."""
    note = _get(client, "/passports/tlog/checkpoint").get_data(as_text=True)
    body, signature_block = note.split("\n\n", 1)
    origin, size_text, root_text = body.split("\n")
    jwk = json.loads(_get(client, "/.well-known/did.json").get_data())["verificationMethod"][0]["publicKeyJwk"]
    raw = base64.urlsafe_b64decode(jwk["x"] + "==")
    line = signature_block.strip()
    assert line.startswith(f"\u2014 {origin} ")
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    assert blob[:4] == _h(origin.encode() + b"\n\x01" + raw)[:4]
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(blob[4:], (body + "\n").encode())
    except InvalidSignature:
        raise AssertionError("the checkpoint's signature does not verify") from None
    size = int(size_text)
    entries: list[bytes] = []
    hashes: list[bytes] = []
    for n in range((size + TILE - 1) // TILE):
        width = min(TILE, size - n * TILE)
        suffix = "" if width == TILE else f".p/{width}"
        bundle = _get(client, f"/passports/tlog/tile/entries/{_path(n)}{suffix}")
        assert "immutable" in bundle.headers["Cache-Control"]
        data, at = bundle.get_data(), 0
        while at < len(data):
            length = int.from_bytes(data[at:at + 2], "big")
            entries.append(data[at + 2:at + 2 + length])
            at += 2 + length
        tile = _get(client, f"/passports/tlog/tile/0/{_path(n)}{suffix}").get_data()
        hashes += [tile[i:i + 32] for i in range(0, len(tile), 32)]
    return origin, size, base64.b64decode(root_text), entries, hashes


def test_an_independent_client_reads_the_tiles_and_checks_both_proofs(demo_app: Flask) -> None:
    client = demo_app.test_client()
    origin, size, root, entries, hashes = _read_log(client)
    assert origin.endswith("/passports/log")
    assert len(entries) == len(hashes) == size > 0
    assert [_h(b"\x00" + entry) for entry in entries] == hashes
    assert _mth(hashes) == root
    first = json.loads(entries[0])
    proof = _get(client, f"/passports/{first['passport']}/versions/{first['version']}/inclusion").get_json()
    assert proof["treeSize"] == size
    assert offline.verify_inclusion(hashes[0], proof["leafIndex"], size, [bytes.fromhex(p) for p in proof["proof"]],
                                    root)
    for old in (1, 2, 5, size - 1):
        found = _get(client, f"/passports/log/consistency?first={old}&second={size}").get_json()
        assert _consistent(old, size, _mth(hashes[:old]), root, [bytes.fromhex(p) for p in found["proof"]])
    assert client.get("/passports/tlog/checkpoint").headers["Cache-Control"] == "no-cache"
    # Tiles beyond the checkpoint, other widths, malformed paths: 404.
    for bad in (f"0/{_path(1 + size // TILE)}", "0/000.p/0", "0/000.p/256", "0/1", "0/x000", "entries/0000",
                f"0/000.p/{size % TILE + 1}", "99/000", "-1/000", "entries/000.p/01"):
        assert client.get(f"/passports/tlog/tile/{bad}").status_code == 404, bad


def test_the_client_detects_a_changed_entry_and_a_changed_tile(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        db.session.execute(sql("UPDATE passport_log_leaf SET data = data || ' ' WHERE leaf_index = 2"))
        db.session.commit()
    _origin, _size, root, entries, hashes = _read_log(client)
    assert _h(b"\x00" + entries[2]) != hashes[2]  # the bundle no longer matches its tile
    with demo_app.app_context():
        db.session.execute(sql("UPDATE passport_log_node SET hash = :h WHERE level = 0 AND node_index = 3"),
                           {"h": "ab" * 32})
        db.session.commit()
    _origin, _size, root, entries, hashes = _read_log(client)
    assert _mth(hashes) != root  # the tiles no longer hash to the signed root
    result = demo_app.test_cli_runner().invoke(args=["passports", "verify"])
    assert result.exit_code == 1
    assert "Merkle log entry 2: its hash does not match its data (changed entry)" in result.output
    assert "Merkle log node 0/3: does not match the entries" in result.output
