"""Full tiles stored whole (issue 26, point 3: an inclusion proof reads one row per tile level, not about 20
scattered subtree hashes): both ways the log appends store each tile as it fills; proofs read from the tiles
give RFC 9162's path; the tile served is the one stored; ``passports verify`` names a changed or missing tile;
the migration fills the tiles of a log written before it."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy import text as sql

from marketplace.extensions import db
from marketplace.passports import log as merkle_log
from marketplace.passports import merkle, services, tiles
from marketplace.passports.log_checkpoints import _nodes
from marketplace.passports.log_models import PassportLogLeaf, PassportLogTile
from marketplace.passports.models import Passport, PassportVersion

AT = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parent.parent.parent


def _reference_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect subtree hash of the tree, computed from the leaf hashes alone."""
    found: dict[tuple[int, int], bytes] = {}
    level_hashes, level = list(leaves), 0
    while level_hashes:
        found.update({(level, index): value for index, value in enumerate(level_hashes)})
        level_hashes = [merkle.node_hash(level_hashes[i], level_hashes[i + 1])
                        for i in range(0, len(level_hashes) - 1, 2)]
        level += 1
    return found


@pytest.mark.parametrize("size", [256, 700, 65_536 + 300])
def test_every_subtree_hash_sliced_from_full_tiles_is_the_trees(size: int) -> None:
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(size)]
    reference = _reference_nodes(leaves)
    stored = {}
    for (level, index), _value in reference.items():  # every full tile, as the log stores it
        if level % tiles.HEIGHT == 0 and index % tiles.WIDTH == tiles.WIDTH - 1:
            hashes = b"".join(reference[(level, i)] for i in range(index - tiles.WIDTH + 1, index + 1))
            stored[(level // tiles.HEIGHT, index // tiles.WIDTH)] = hashes + tiles.interior_levels(hashes)
    assert len(stored) == size // 256 + size // 65_536
    found = tiles.nodes_in(set(reference), stored)
    assert found == {key: reference[key] for key in found}
    # What a full tile holds comes from it: every hash of its levels, and nothing of a partial tile.
    in_full = {key for key in reference if tiles.tile_of(*key) in stored}
    assert set(found) == in_full
    assert {key[0] for key in found} == set(range(16 if size > 65_536 else 8))  # the levels of tile levels 0 (and 1)


def _log_tables_emptied() -> None:
    for table in ("passport_checkpoint", "passport_log_tile", "passport_log_node", "passport_log_leaf",
                  "passport_log_tree"):
        db.session.execute(sql(f"DELETE FROM {table}"))


def _status_entries(count: int) -> None:
    """``count`` entries appended one at a time (the path of status changes), naming a demo passport as it
    stands (not revoked, not suspended)."""
    passport = db.session.scalars(select(Passport).order_by(Passport.id)).first()
    assert passport is not None
    tree = merkle_log._tree()
    for _ in range(count):
        merkle_log._append(tree, merkle_log.status_leaf(passport, False, False, AT), passport.public_id)


def _build_log_through_both_appends() -> int:
    """A log whose first tile is filled by the bulk append (publishing) and its second by single appends."""
    _log_tables_emptied()
    versions = db.session.execute(select(
        PassportVersion.id, Passport.public_id, PassportVersion.number, PassportVersion.issued_at,
        PassportVersion.content_hash, PassportVersion.content_hash_070).join(Passport)
        .order_by(PassportVersion.id)).all()
    assert 10 < len(versions) < 250
    _status_entries(250)
    merkle_log.append_version_rows([tuple(row) for row in versions])  # entries 250 … crossing 256
    _status_entries(520 - 250 - len(versions))  # … and 512, one at a time
    db.session.commit()
    return 520


def _leaf_hashes() -> list[bytes]:
    stored = db.session.scalars(select(PassportLogLeaf.leaf_hash).order_by(PassportLogLeaf.index))
    return [bytes.fromhex(value) for value in stored]


def _tile_problems() -> list[str]:
    return [p for p in merkle_log.verify_log(services.status_indexes(), contents=False) if "tile" in p]


def test_both_appends_store_each_tile_as_it_fills_and_proofs_read_it(demo_app: Flask) -> None:
    with demo_app.app_context():
        size = _build_log_through_both_appends()
        stored = {(t.level, t.index): t for t in db.session.scalars(select(PassportLogTile))}
        assert set(stored) == {(0, 0), (0, 1)}  # two full tiles; the third (8 entries) is partial
        leaves = _leaf_hashes()
        assert len(leaves) == size
        for number, tile in stored.items():
            assert tile.hashes == b"".join(leaves[number[1] * 256:(number[1] + 1) * 256])
            assert tile.interior == tiles.interior_levels(tile.hashes)
        for index in (0, 1, 255, 256, 300, 511, 512, 519):
            assert merkle.inclusion_proof_from(_nodes, index, size) == merkle.inclusion_proof(leaves, index)
        for first in (1, 255, 256, 300, 512):
            assert merkle.consistency_proof_from(_nodes, first, size) == merkle.consistency_proof(leaves, first)
        assert _tile_problems() == []
    client = demo_app.test_client()
    served = client.get("/passports/tlog/tile/0/001")
    assert served.status_code == 200
    assert served.get_data() == b"".join(leaves[256:512])
    assert "immutable" in served.headers["Cache-Control"]
    assert client.get("/passports/tlog/tile/0/002.p/8").get_data() == b"".join(leaves[512:520])


def test_a_proof_reads_the_tile_and_verify_names_a_changed_or_missing_tile(demo_app: Flask) -> None:
    with demo_app.app_context():
        size = _build_log_through_both_appends()
        leaves = _leaf_hashes()
        root = merkle.root(leaves)
        # Planted: the tile's hash of leaf 3 (as the proof of leaf 2 reads it) changed; the nodes are intact.
        tile = db.session.get(PassportLogTile, (0, 0))
        changed = tile.hashes[:3 * 32] + b"\xab" * 32 + tile.hashes[4 * 32:]
        db.session.execute(sql("UPDATE passport_log_tile SET hashes = :h WHERE level = 0 AND tile_index = 0"),
                           {"h": changed})
        db.session.commit()
        db.session.expire_all()
        proof = merkle.inclusion_proof_from(_nodes, 2, size)
        assert not merkle.verify_inclusion(leaves[2], 2, size, proof, root)  # the proof came from the tile
        served = demo_app.test_client().get("/passports/tlog/tile/0/000").get_data()
        assert served == changed  # the tile served is the one stored: a client reading it sees the change
        assert _tile_problems() == ["Merkle log tile 0/0: does not match the entries (a stored tile was changed)"]
        # The hashes inside the tile are checked too.
        db.session.execute(sql("UPDATE passport_log_tile SET hashes = :h, interior = :i WHERE level = 0"
                               " AND tile_index = 0"), {"h": tile.hashes, "i": b"\x00" * len(tile.interior)})
        db.session.commit()
        assert _tile_problems() == ["Merkle log tile 0/0: does not match the entries (a stored tile was changed)"]
        # A missing tile: named, and proofs fall back on the stored nodes.
        db.session.execute(delete(PassportLogTile).where(PassportLogTile.index == 1))
        db.session.commit()
        assert "Merkle log tile 0/1: missing" in _tile_problems()
        assert merkle.inclusion_proof_from(_nodes, 300, size) == merkle.inclusion_proof(leaves, 300)


def test_a_tile_no_entry_gives_is_named(demo_app: Flask) -> None:
    with demo_app.app_context():
        _build_log_through_both_appends()
        db.session.execute(PassportLogTile.__table__.insert(), [{"level": 0, "tile_index": 7, "hashes": b"\x01" * 8192,
                                                                 "interior": b"\x02" * 8128}])
        db.session.commit()
        assert _tile_problems() == ["Merkle log: 1 stored tiles beyond what the entries give"]


def test_verify_since_checks_the_tiles_filled_since_the_checkpoint(demo_app: Flask) -> None:
    from marketplace.passports.log_since import verify_since

    with demo_app.app_context():
        _build_log_through_both_appends()
        leaves = _leaf_hashes()
        db.session.execute(sql("UPDATE passport_log_tile SET interior = :i WHERE level = 0 AND tile_index = 1"),
                           {"i": b"\x00" * 8128})
        db.session.commit()
        for since in (300, 510):  # tile 0/1 fills after both: its first hashes are read from the stored nodes
            problems, _ = verify_since(since, merkle.root(leaves[:since]), services.status_indexes)
            assert [p for p in problems if "tile" in p] == [
                "Merkle log tile 0/1: does not match the entries (a stored tile was changed)"], since
        problems, _ = verify_since(515, merkle.root(leaves[:515]), services.status_indexes)
        assert [p for p in problems if "tile" in p] == []  # filled before: not the incremental check's


def _migrate_0018_again() -> None:
    """Migration 0018 run again on the app's database: its table dropped, then its upgrade."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    spec = importlib.util.spec_from_file_location("m0018", ROOT / "migrations" / "versions" / "0018_k26_log_tiles.py")
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    db.session.execute(sql("DROP TABLE passport_log_tile"))
    migration.op = Operations(MigrationContext.configure(db.session.connection()))
    migration.upgrade()
    db.session.commit()


def test_the_migration_fills_the_tiles_of_a_log_written_before_it(demo_app: Flask) -> None:
    with demo_app.app_context():
        _build_log_through_both_appends()
        before = {(t.level, t.index): (t.hashes, t.interior) for t in db.session.scalars(select(PassportLogTile))}
        assert len(before) == 2
        _migrate_0018_again()
        after = {(t.level, t.index): (t.hashes, t.interior) for t in db.session.scalars(select(PassportLogTile))}
        assert after == before
        # A stored hash missing in the first tile: that tile is left out (verify names it), the next one is filled.
        db.session.execute(sql("DELETE FROM passport_log_node WHERE level = 0 AND node_index = 100"))
        _migrate_0018_again()
        after = {(t.level, t.index): (t.hashes, t.interior) for t in db.session.scalars(select(PassportLogTile))}
        assert after == {(0, 1): before[(0, 1)]}


def test_a_missing_stored_hash_leaves_its_tile_out_and_appending_goes_on(demo_app: Flask) -> None:
    with demo_app.app_context():
        _log_tables_emptied()
        _status_entries(200)
        db.session.commit()
        db.session.execute(sql("DELETE FROM passport_log_node WHERE level = 0 AND node_index = 100"))
        db.session.commit()
        _status_entries(100)  # fills tile 0/0: not stored (a hash below it is missing), and no error
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(PassportLogTile)) == 0
        problems = merkle_log.verify_log(services.status_indexes(), contents=False)
        assert "Merkle log node 0/100: missing" in problems
        assert "Merkle log tile 0/0: missing" in problems


def test_verify_since_names_a_tile_it_cannot_check_in_full_and_still_compares_the_rest(demo_app: Flask) -> None:
    from marketplace.passports.log_since import verify_since

    with demo_app.app_context():
        _build_log_through_both_appends()
        leaves = _leaf_hashes()
        db.session.execute(sql("DELETE FROM passport_log_node WHERE level = 0 AND node_index = 260"))
        db.session.commit()
        problems, _ = verify_since(300, merkle.root(leaves[:300]), services.status_indexes)
        not_in_full = ("Merkle log tile 0/1: not checked in full (1 stored subtree hashes before the given "
                       "checkpoint are missing)")
        assert [p for p in problems if "tile" in p] == [not_in_full]
        tile = db.session.get(PassportLogTile, (0, 1))
        changed = tile.hashes[:144 * 32] + b"\xab" * 32 + tile.hashes[145 * 32:]  # entry 400's hash, after the start
        db.session.execute(sql("UPDATE passport_log_tile SET hashes = :h WHERE level = 0 AND tile_index = 1"),
                           {"h": changed})
        db.session.commit()
        problems, _ = verify_since(300, merkle.root(leaves[:300]), services.status_indexes)
        assert "Merkle log tile 0/1: does not match the entries (a stored tile was changed)" in problems
