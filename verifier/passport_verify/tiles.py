"""A version's inclusion read from C2SP tlog-tiles (height 8) and a signed-note checkpoint, written apart from
the site's log writer: the note's Ed25519 signature, the entry from its entry bundle, and the tree's root
rebuilt from the entry and the O(log n) subtree hashes the hash tiles hold."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from passport_verify.merkle import leaf_hash

HEIGHT = 8
WIDTH = 1 << HEIGHT
TILE = re.compile(r"^log/tile/(\d{1,2}|entries)/((?:x\d{3}/)*\d{3})(?:\.p/(\d{1,3}))?$")


class TileError(ValueError):
    """The tiles or the note cannot give what is asked (missing, short or malformed)."""


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def read_note(text: str, keys: list[Ed25519PublicKey]) -> tuple[str, int, bytes]:
    """(origin, size, root) of a signed note whose signature line verifies with one of ``keys`` (the key ID
    is SHA-256(origin || "\\n" || 0x01 || public key)[:4]); TileError otherwise."""
    body, separator, signatures = text.partition("\n\n")
    lines = body.split("\n")
    if not separator or len(lines) < 3 or not lines[1].isdigit():
        raise TileError("is not a signed note checkpoint")
    origin = lines[0]
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise TileError("its root hash is not base64") from None
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != origin:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        for key in keys:
            raw = key.public_bytes_raw()
            if blob[:4] != hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]:
                continue
            try:
                key.verify(blob[4:], (body + "\n").encode())
            except InvalidSignature:
                raise TileError("its signature does not verify with the issuer's key (forged note)") from None
            return origin, int(lines[1]), root
    raise TileError("carries no signature by the issuer's key")


def index_tiles(names: list[str]) -> dict[tuple[str, int], str]:
    """Tile members by (level or "entries", tile index)."""
    found = {}
    for name in names:
        match = TILE.match(name)
        if match:
            found[(match.group(1), int(match.group(2).replace("x", "").replace("/", "")))] = name
    return found


def entry(read: Callable[[str], bytes | None], tiles: dict[tuple[str, int], str], index: int) -> bytes:
    """The exact bytes of entry ``index``, from its entry bundle (2-byte big-endian length, then the data)."""
    name = tiles.get(("entries", index // WIDTH))
    data = read(name) if name else None
    if data is None:
        raise TileError(f"the entry bundle holding entry {index} is missing")
    at, position = 0, 0
    while at + 2 <= len(data):
        length = int.from_bytes(data[at:at + 2], "big")
        if position == index % WIDTH:
            found = data[at + 2:at + 2 + length]
            if len(found) != length:
                break
            return found
        at, position = at + 2 + length, position + 1
    raise TileError(f"the entry bundle {name} does not hold entry {index}")


def root_from_tiles(read: Callable[[str], bytes | None], tiles: dict[tuple[str, int], str], index: int,
                    size: int, leaf: bytes) -> bytes:
    """The root of the tree of ``size`` entries from entry ``index``'s data and the hash tiles."""

    def stored(height: int, number: int) -> bytes:
        level, rest = divmod(height, HEIGHT)
        first = number << rest  # the first of the 2^rest hashes at level 8·level under this subtree
        name = tiles.get((str(level), first // WIDTH))
        data = read(name) if name else None
        offset = (first % WIDTH) * 32
        if data is None or len(data) < offset + (32 << rest):
            raise TileError(f"the hash tile of level {level} holding subtree {height}/{number} is missing or short")
        hashes = [data[at:at + 32] for at in range(offset, offset + (32 << rest), 32)]
        while len(hashes) > 1:
            hashes = [_node(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def mth(start: int, end: int) -> bytes:
        count = end - start
        if count == 1 and start == index:
            return leaf_hash(leaf)
        if not start <= index < end and count & (count - 1) == 0:
            return stored(count.bit_length() - 1, start >> (count.bit_length() - 1))
        split = 1 << ((count - 1).bit_length() - 1)
        return _node(mth(start, start + split), mth(start + split, end))

    if not 0 <= index < size:
        raise TileError(f"entry {index} is outside a tree of {size} entries")
    return mth(0, size)
