"""The log's stored hashes (subtree hashes, full tiles) against those its entries give, for ``log.verify_log``
and ``passports verify --since``; and the versions no entry names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports import tiles
from marketplace.passports.log_models import PassportLogLeaf, PassportLogNode, PassportLogTile
from marketplace.passports.models import Passport, PassportVersion


def _stored(model: type[PassportLogNode] | type[PassportLogTile], keys: Iterable[tuple[int, int]],
            *columns: Any) -> dict[tuple[int, int], Any]:
    """The rows of ``model`` (nodes or tiles) in the key range of each level among ``keys`` (one range query per
    level), as {(level, index): row of ``columns``}."""
    by_level: dict[int, list[int]] = {}
    for level, index in keys:
        by_level.setdefault(level, []).append(index)
    found = {}
    for level, indexes in by_level.items():
        for row in db.session.execute(select(model.index, *columns).where(
                model.level == level, model.index >= min(indexes), model.index <= max(indexes))):
            found[(level, row[0])] = row[1:]
    return found


def compare_nodes(expected: dict[tuple[int, int], str]) -> list[str]:
    """Each computed subtree hash against the stored one (a range query per level): changed or missing."""
    stored = {key: row[0] for key, row in _stored(PassportLogNode, expected, PassportLogNode.hash).items()}
    problems = []
    for (level, index), value in sorted(expected.items()):
        if (level, index) not in stored:
            problems.append(f"Merkle log node {level}/{index}: missing")
        elif stored[(level, index)] != value:
            problems.append(f"Merkle log node {level}/{index}: does not match the entries (a stored subtree "
                            "hash was changed)")
    return problems


Known = list[bytes | None]  # a tile's hashes as the entries give them; None: before the start, not stored


def compare_tiles(expected: dict[tuple[int, int], Known]) -> list[str]:
    """Each full tile the entries give against the stored one (its hashes and those inside it): changed or
    missing. A tile an incremental verify began inside is checked from the stored hashes before its start;
    when one of those is missing, the rest is still compared and the tile is named as not checked in full."""
    stored = {key: (bytes(hashes), bytes(interior)) for key, (hashes, interior) in _stored(
        PassportLogTile, expected, PassportLogTile.hashes, PassportLogTile.interior).items()}
    problems = []
    for (level, index), known in sorted(expected.items()):
        if (level, index) not in stored:
            problems.append(f"Merkle log tile {level}/{index}: missing")
            continue
        hashes, interior = stored[(level, index)]
        gaps = known.count(None)
        if gaps:
            problems.append(f"Merkle log tile {level}/{index}: not checked in full ({gaps} stored subtree hashes "
                            "before the given checkpoint are missing)")
            same = all(value is None or hashes[at * 32:(at + 1) * 32] == value for at, value in enumerate(known))
        else:
            whole = b"".join(value for value in known if value is not None)
            same = (hashes, interior) == (whole, tiles.interior_levels(whole))
        if not same:
            problems.append(f"Merkle log tile {level}/{index}: does not match the entries (a stored tile was "
                            "changed)")
    return problems


def _filling_at(start: int) -> dict[int, Known]:
    """The hashes of the tile being filled at each tile level in a tree of ``start`` entries, from the stored
    nodes (an incremental verify starts there), None for one not stored."""
    filling: dict[int, Known] = {}
    tile_level = 0
    while start >> (tiles.HEIGHT * tile_level):
        count = start >> (tiles.HEIGHT * tile_level)
        first = count - count % tiles.WIDTH
        level = tile_level * tiles.HEIGHT
        found = _stored(PassportLogNode, [(level, at) for at in range(first, count)], PassportLogNode.hash)
        filling[tile_level] = [bytes.fromhex(found[(level, at)][0]) if (level, at) in found else None
                               for at in range(first, count)]
        tile_level += 1
    return filling


def _unlogged_versions() -> list[str]:
    """Versions no log entry names (one anti-join)."""
    logged = select(PassportLogLeaf.version_id).where(PassportLogLeaf.version_id.is_not(None))
    return [f"passport {public_id} version {number}" for public_id, number in db.session.execute(
        select(Passport.public_id, PassportVersion.number).join(Passport, Passport.id == PassportVersion.passport_id)
        .where(PassportVersion.id.not_in(logged)).order_by(PassportVersion.id))]
