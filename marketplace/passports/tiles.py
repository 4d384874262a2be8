"""The passport log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles), under ``/passports/tlog/``.

* ``checkpoint``: a C2SP signed note (``<origin>\\n<size>\\n<base64 root>\\n`` then an Ed25519 signature
  line by the Union's key, key ID = SHA-256(name || "\\n" || 0x01 || public key)[:4]) of the latest signed
  checkpoint. The only file that changes.
* ``tile/<L>/<N>[.p/<W>]``: the hashes of level-8·L subtrees (RFC 6962 hashing), 256 per full tile.
* ``tile/entries/<N>[.p/<W>]``: entry bundles, each entry its data (the canonical JSON hashed) after a
  2-byte big-endian length.

A full tile is stored whole (``passport_log_tile``) when its last hash is written, and served as stored;
partial tiles and bundles are read from the stored subtree hashes and leaves by key range. None changes once
served (a partial tile of width W is the same forever): ``Cache-Control: immutable``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterable

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports import merkle
from marketplace.passports.log_models import PassportCheckpoint, PassportLogLeaf, PassportLogNode, PassportLogTile
from marketplace.passports.signing import Signer

LOG = logging.getLogger(__name__)
HEIGHT = 8
WIDTH = 1 << HEIGHT
_INDEX = re.compile(r"^(?:x\d{3}/)*\d{3}$")


def encode_index(n: int) -> str:
    """``1234067`` → ``x001/x234/067``."""
    text = f"{n:d}"
    text = "0" * (-len(text) % 3) + text
    groups = [text[i:i + 3] for i in range(0, len(text), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def decode_index(path: str) -> int | None:
    if not _INDEX.match(path) or len(path) > 40:
        return None
    return int(path.replace("x", "").replace("/", ""))


def parse_tile_path(rest: str) -> tuple[str, int, int] | None:
    """``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` → (level or "entries", N, W (0 = full)); None if malformed."""
    level, _, tail = rest.partition("/")
    width = 0
    if ".p/" in tail:
        tail, _, part = tail.partition(".p/")
        if not part.isdigit() or not 1 <= int(part) < WIDTH or part != str(int(part)):
            return None
        width = int(part)
    index = decode_index(tail)
    if index is None or not (level == "entries" or (level.isdigit() and len(level) < 3 and level == str(int(level)))):
        return None
    return level, index, width


def tile_path(level: int | str, index: int, width: int = 0) -> str:
    return f"tile/{level}/{encode_index(index)}" + (f".p/{width}" if width else "")


def _served_width(index: int, width: int, available: int) -> int | None:
    """The number of items the tile holds, or None when that tile (or partial width) does not exist at the
    checkpoint's size: a full tile needs WIDTH items, a partial one exactly ``width``."""
    have = available - index * WIDTH
    if width == 0:
        return WIDTH if have >= WIDTH else None
    return width if width <= have else None  # a partial tile's first W hashes never change


def tile(level: int, index: int, width: int, size: int) -> bytes | None:
    """Tile bytes at tree ``size`` (the checkpoint's): a full tile as stored, a partial one from the nodes."""
    node_level = level * HEIGHT
    count = _served_width(index, width, size >> node_level)
    if count is None:
        return None
    if count == WIDTH:
        stored = db.session.scalar(select(PassportLogTile.hashes).where(PassportLogTile.level == level,
                                                                        PassportLogTile.index == index))
        if stored is not None:
            return bytes(stored)
    return node_hashes(node_level, index * WIDTH, count)


def node_hashes(node_level: int, first: int, count: int) -> bytes | None:
    """The stored subtree hashes [first, first + count) of one level, concatenated; None if one is missing."""
    rows = db.session.execute(select(PassportLogNode.index, PassportLogNode.hash).where(
        PassportLogNode.level == node_level, PassportLogNode.index >= first, PassportLogNode.index < first + count)
        .order_by(PassportLogNode.index)).all()
    if [row[0] for row in rows] != list(range(first, first + count)):
        return None
    return b"".join(bytes.fromhex(row[1]) for row in rows)


def interior_levels(hashes: bytes) -> bytes:
    """The subtree hashes inside a full tile above its 256: 128 of the level above, 64, …, 2, concatenated."""
    level = [hashes[at:at + 32] for at in range(0, len(hashes), 32)]
    out = []
    while len(level) > 2:
        level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        out += level
    return b"".join(out)


def interior_offset(within: int, index: int) -> int:
    """Where subtree ``index`` of ``within`` levels above a tile's hashes (1 ≤ within < 8) is in its ``interior``."""
    return (WIDTH - (2 * WIDTH >> within) + index % (WIDTH >> within)) * 32


def tile_of(level: int, index: int) -> tuple[int, int]:
    """The tile (tile level, index) holding subtree (level, index): the tile's hashes, or one inside it."""
    within = level % HEIGHT
    return level // HEIGHT, (index << within) >> HEIGHT


def nodes_in(wanted: set[tuple[int, int]], stored: dict[tuple[int, int], bytes]) -> dict[tuple[int, int], bytes]:
    """The subtree hashes (level, index) asked for that lie in one of the ``stored`` full tiles (by tile level
    and index: its hashes, then its ``interior``), sliced out of it."""
    found = {}
    for level, index in wanted:
        tile = stored.get(tile_of(level, index))
        if tile is None:
            continue
        within = level % HEIGHT
        at = (index % WIDTH) * 32 if within == 0 else WIDTH * 32 + interior_offset(within, index)
        found[(level, index)] = tile[at:at + 32]
    return found


def completed(nodes: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The tiles (tile level, index) that these newly written nodes (level, index) fill: a tile is full when
    its last hash, index 255 of the 256, is written."""
    return [(level // HEIGHT, index // WIDTH) for level, index in nodes
            if level % HEIGHT == 0 and index % WIDTH == WIDTH - 1]


def store(full: list[tuple[int, int]]) -> int:
    """Store whole these just-filled tiles (``completed``: their nodes written and flushed); returns how many."""
    rows = []
    for level, index in full:
        hashes = node_hashes(level * HEIGHT, index * WIDTH, WIDTH)
        if hashes is None:  # a stored subtree hash deleted: proofs read the nodes, ``passports verify`` names both
            LOG.warning("tile %s/%s not stored: a subtree hash below it is missing", level, index)
            continue
        rows.append({"level": level, "tile_index": index, "hashes": hashes, "interior": interior_levels(hashes)})
    if rows:
        db.session.connection().execute(PassportLogTile.__table__.insert(), rows)
    return len(rows)


def entry_bundle(index: int, width: int, size: int) -> bytes | None:
    count = _served_width(index, width, size)
    if count is None:
        return None
    first = index * WIDTH
    rows = db.session.scalars(select(PassportLogLeaf.data).where(
        PassportLogLeaf.index >= first, PassportLogLeaf.index < first + count).order_by(PassportLogLeaf.index)).all()
    if len(rows) != count:
        return None
    out = bytearray()
    for data in rows:
        raw = data.encode()
        out += len(raw).to_bytes(2, "big") + raw
    return bytes(out)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + public_key).digest()[:4]


def checkpoint_note(checkpoint: PassportCheckpoint, origin: str, signer: Signer) -> str:
    """The checkpoint as a signed note (Ed25519), the key named after the origin."""
    body = f"{origin}\n{checkpoint.tree_size}\n{base64.b64encode(bytes.fromhex(checkpoint.root_hash)).decode()}\n"
    public = signer.key.public_key.public_bytes_raw()
    signature = signer.key.private_key.sign(body.encode())
    return f"{body}\n\u2014 {origin} {base64.b64encode(key_id(origin, public) + signature).decode()}\n"


def verifier_key(origin: str, signer: Signer) -> str:
    """The note verifier key: ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
    public = signer.key.public_key.public_bytes_raw()
    encoded = base64.b64encode(b"\x01" + public).decode()
    return f"{origin}+{key_id(origin, public).hex()}+{encoded}"


def paths(size: int) -> list[str]:
    """Every tile and entry bundle of a tree of ``size`` entries (full tiles, then each level's partial one)."""
    found = []
    level, items = 0, size
    while items:
        for index in range(items // WIDTH + (1 if items % WIDTH else 0)):
            width = min(WIDTH, items - index * WIDTH)
            found.append(tile_path(level, index, 0 if width == WIDTH else width))
            if level == 0:
                found.append(tile_path("entries", index, 0 if width == WIDTH else width))
        level, items = level + 1, items >> HEIGHT
    return found
