"""The offline verifier's inclusion from tiles (``verifier/passport_verify/tiles.py``) against the site's
choice of tiles for a bundle (``bundle.proof_tiles``) on trees of several tile levels: the root comes out as
RFC 9162's over every leaf, reading only the tiles the bundle names, and a changed hash in any of them shows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from marketplace.passports import merkle, tiles
from marketplace.passports.bundle import proof_tiles

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "verifier"))
from passport_verify import tiles as offline  # the standalone verifier


def _tiles(size: int) -> tuple[dict[str, bytes], list[bytes]]:
    """Every tile of a tree of ``size`` synthetic entries, by bundle member name, and the leaf data."""
    data = [f"entry {i}".encode() for i in range(size)]
    level_hashes = [merkle.leaf_hash(d) for d in data]
    members: dict[str, bytes] = {}
    level = 0
    while level_hashes:
        for number in range(0, len(level_hashes), tiles.WIDTH):
            chunk = level_hashes[number:number + tiles.WIDTH]
            members["log/" + tiles.tile_path(level, number // tiles.WIDTH,
                                              0 if len(chunk) == tiles.WIDTH else len(chunk))] = b"".join(chunk)
        if level == 0:
            for number in range(0, size, tiles.WIDTH):
                chunk = data[number:number + tiles.WIDTH]
                members["log/" + tiles.tile_path("entries", number // tiles.WIDTH,
                                                  0 if len(chunk) == tiles.WIDTH else len(chunk))] = b"".join(
                    len(d).to_bytes(2, "big") + d for d in chunk)
        level_hashes = [merkle.root(level_hashes[i:i + tiles.WIDTH])
                        for i in range(0, len(level_hashes) - tiles.WIDTH + 1, tiles.WIDTH)]
        level += 1
    return members, data


@pytest.mark.parametrize(("size", "indexes"), [(1, [0]), (5, [0, 4]), (256, [0, 255]), (785, [0, 300, 784]),
                                               (65_536 + 300, [0, 1, 40_000, 65_535, 65_536, 65_835])])
def test_inclusion_from_the_bundles_tiles_gives_the_rfc_9162_root(size: int, indexes: list[int]) -> None:
    members, data = _tiles(size)
    root = merkle.root([merkle.leaf_hash(d) for d in data])
    for index in indexes:
        names = {"log/" + tiles.tile_path(level, number, width) for level, number, width in proof_tiles(index, size)}
        assert names <= members.keys()
        assert len(names) <= 2 + 2 * 3  # a few per tile level, never the whole log
        picked = {name: members[name] for name in names}
        found = offline.index_tiles(sorted(picked))
        entry = offline.entry(picked.get, found, index)
        assert entry == data[index]
        assert offline.root_from_tiles(picked.get, found, index, size, entry) == root
        read: set[str] = set()

        def reading(name: str, picked: dict[str, bytes] = picked, read: set[str] = read) -> bytes | None:
            read.add(name)
            return picked.get(name)

        offline.root_from_tiles(reading, found, index, size, entry)
        assert read | {n for n in names if "/entries/" in n} == names  # every tile named is needed
        for name in sorted(read):  # a hash changed in any tile read gives another root
            changed_roots = set()
            for at in range(0, len(picked[name]), 32):
                changed = bytearray(picked[name])
                changed[at] ^= 1
                changed_roots.add(offline.root_from_tiles({**picked, name: bytes(changed)}.get, found, index, size,
                                                          entry))
            assert changed_roots - {root}, (size, index, name)
