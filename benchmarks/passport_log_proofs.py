"""Inclusion proofs on a log of N entries (issue 26, point 3: ≤ 5 ms at 1,000,000), without publishing N passports:
a synthetic log (N leaves, every stored subtree hash and full tile, one checkpoint row) written straight into a
migrated SQLite file, then proofs through ``log.inclusion`` (what the version's inclusion URL serves), each
verified against the root.

Run: .venv/bin/python -m benchmarks.passport_log_proofs FILE N [PROOFS]   (FILE is built once, then reused)
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

LEAF_SQL = ("INSERT INTO passport_log_leaf (leaf_index, kind, passport_public_id, version_id, data, leaf_hash,"
            " appended_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
NODE_SQL = "INSERT INTO passport_log_node (level, node_index, hash) VALUES (?, ?, ?)"
TILE_SQL = "INSERT INTO passport_log_tile (level, tile_index, hashes, interior) VALUES (?, ?, ?, ?)"


def build(path: Path, count: int) -> float:
    """Leaves, nodes, full tiles and a checkpoint for ``count`` entries (plain SQL: no versions behind them)."""
    from marketplace.passports import merkle, tiles

    began = time.perf_counter()
    connection = sqlite3.connect(path)
    frontier = merkle.Frontier()
    leaves: list[tuple[object, ...]] = []
    nodes: list[tuple[object, ...]] = []
    full: list[tuple[object, ...]] = []
    filling: dict[int, list[bytes]] = {}  # tile level → the hashes of its tile being filled
    for index in range(count):
        data = f'{{"contentHash":"{index:064x}","kind":"version","passport":"p{index}","version":1}}'
        digest = merkle.leaf_hash(data.encode())
        leaves.append((index, "version", f"p{index}", index + 1, data, digest.hex(), "2026-11-28 00:00:00"))
        for level, at, value in frontier.append(digest):
            nodes.append((level, at, value.hex()))
            if level % tiles.HEIGHT == 0:
                hashes = filling.setdefault(level // tiles.HEIGHT, [])
                hashes.append(value)
                if len(hashes) == tiles.WIDTH:
                    joined = b"".join(hashes)
                    full.append((level // tiles.HEIGHT, at // tiles.WIDTH, joined, tiles.interior_levels(joined)))
                    hashes.clear()
        if len(leaves) >= 100_000 or index == count - 1:
            connection.executemany(LEAF_SQL, leaves)
            connection.executemany(NODE_SQL, nodes)
            connection.executemany(TILE_SQL, full)
            leaves, nodes, full = [], [], []
    connection.execute("INSERT INTO passport_checkpoint (tree_size, root_hash, timestamp, jws) VALUES (?, ?, ?, ?)",
                       (count, frontier.root().hex(), "2026-11-28 00:00:00", "unsigned"))
    connection.commit()
    connection.close()
    return time.perf_counter() - began


def main() -> None:
    path, count = Path(sys.argv[1]).resolve(), int(sys.argv[2])
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.passports import log as merkle_log
    from marketplace.passports import merkle

    tmp = tempfile.mkdtemp()
    app = create_app({"ENV": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                      "IMAGE_STORAGE_PATH": f"{tmp}/images", "PASSPORT_SIGNING_KEY": f"{path}.key.jwk",
                      "SEARCH_INDEX_PATH": f"{tmp}/search", "MAIL_PORT": 9, "ACCESS_LOG": False})
    if not path.exists():
        from flask_migrate import upgrade

        with app.app_context():
            upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
            db.session.remove()
        print(f"built {count} entries in {build(path, count):.1f} s")
    with app.app_context():
        latest = merkle_log.latest_checkpoint()
        assert latest is not None
        assert latest.tree_size == count
        root = bytes.fromhex(latest.root_hash)
        wall, cpu = [], []
        for index in random.Random(1).sample(range(count), samples):
            began, began_cpu = time.perf_counter(), time.process_time()
            proof = merkle_log.inclusion(types.SimpleNamespace(id=index + 1))  # type: ignore[arg-type]
            wall.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
            path_hashes = [bytes.fromhex(p) for p in proof["proof"]]
            assert merkle.verify_inclusion(bytes.fromhex(proof["leafHash"]), index, count, path_hashes, root)
    wall.sort()
    cpu.sort()
    print(f"{count} entries, {samples} inclusion proofs (each verified against the root): "
          f"wall p50 {statistics.median(wall):.2f} ms, p95 {wall[int(samples * 0.95)]:.2f} ms; "
          f"CPU p50 {statistics.median(cpu):.2f} ms, p95 {cpu[int(samples * 0.95)]:.2f} ms")


if __name__ == "__main__":
    main()
