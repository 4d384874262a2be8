"""The provable log's signed checkpoints, its entries read by page, and inclusion and consistency proofs
served from the stored subtree hashes (O(log n) rows each)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.passports import merkle, tiles
from marketplace.passports.log_models import (
    PassportCheckpoint,
    PassportLogLeaf,
    PassportLogNode,
    PassportLogTile,
    PassportLogTree,
)
from marketplace.passports.models import PassportVersion
from marketplace.passports.signing import get_signer
from marketplace.urls import public_base_url

PENDING = "passport_log_pending"  # Session.info flag: leaves appended, a checkpoint is due at commit


def origin() -> str:
    return urlsplit(public_base_url()).netloc + "/passports/log"


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- checkpoints --------------------------------------------------------------------------------

def checkpoint_payload(size: int, root_hash: bytes, moment: dt.datetime) -> dict[str, Any]:
    return {"type": "PassportLogCheckpoint", "origin": origin(), "treeSize": size, "rootHash": root_hash.hex(),
            "timestamp": _timestamp(moment)}


def sign_checkpoint(session: Session | None = None) -> PassportCheckpoint | None:
    """Sign the tree as it stands in ``session`` (the app's by default), unless the latest checkpoint
    already covers it."""
    session = session or db.session()
    tree = session.get(PassportLogTree, 1)
    if tree is None:
        return None
    latest = session.scalar(select(PassportCheckpoint).order_by(PassportCheckpoint.tree_size.desc(),
                                                                PassportCheckpoint.id.desc()).limit(1))
    if latest is not None and latest.tree_size == tree.size:
        return None
    root_hash = merkle.Frontier.from_json(tree.frontier).root()
    moment = utcnow().replace(microsecond=0)
    payload = checkpoint_payload(tree.size, root_hash, moment)
    checkpoint = PassportCheckpoint(tree_size=tree.size, root_hash=root_hash.hex(), timestamp=moment,
                                    jws=get_signer().sign(payload))
    session.add(checkpoint)
    session.flush()
    return checkpoint


def _checkpoint_at_commit(session: Session) -> None:
    if session.info.pop(PENDING, False):
        sign_checkpoint(session)


def connect() -> None:
    """Sign a checkpoint in every unit of work that appended leaves, just before it commits."""
    if not event.contains(Session, "before_commit", _checkpoint_at_commit):
        event.listen(Session, "before_commit", _checkpoint_at_commit)


def latest_checkpoint() -> PassportCheckpoint | None:
    return db.session.scalar(select(PassportCheckpoint).order_by(PassportCheckpoint.tree_size.desc(),
                                                                 PassportCheckpoint.id.desc()).limit(1))


def checkpoint_document(checkpoint: PassportCheckpoint) -> dict[str, Any]:
    return {"checkpoint": checkpoint_payload(checkpoint.tree_size, bytes.fromhex(checkpoint.root_hash),
                                             checkpoint.timestamp),
            "jws": checkpoint.jws}


# ---- reading and proofs -------------------------------------------------------------------------

def leaves(size: int | None = None) -> list[PassportLogLeaf]:
    stmt = select(PassportLogLeaf).order_by(PassportLogLeaf.index)
    if size is not None:
        stmt = stmt.where(PassportLogLeaf.index < size)
    return list(db.session.scalars(stmt))


PAGE_MAX = 1000  # entries per page of /passports/log/entries


def page(start: int, limit: int) -> list[PassportLogLeaf]:
    """Entries [start, start + limit) (limit at most ``PAGE_MAX``), read by primary key range."""
    limit = max(0, min(limit, PAGE_MAX))
    return list(db.session.scalars(select(PassportLogLeaf).where(
        PassportLogLeaf.index >= start, PassportLogLeaf.index < start + limit).order_by(PassportLogLeaf.index)))


def size() -> int:
    tree = db.session.get(PassportLogTree, 1)
    return tree.size if tree is not None else 0


# (table, index column, value column) of the two stores a proof reads
NODES = (PassportLogNode.__tablename__, "node_index", "hash")
TILES = (PassportLogTile.__tablename__, "tile_index", "hashes, interior")


def _nodes(wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The subtree hashes asked for (a proof needs about 2·log₂ n of them): those inside a full tile hashed
    up from the stored tile (one row per tile, about three for a proof at 1,000,000 entries), the rest (the
    log's right edge, in tiles not yet full) read from the stored nodes. Each query is one primary-key lookup
    per row: ``level = L AND node_index IN (…)`` per level, OR-ed. (A row-value IN list,
    ``(level, node_index) IN (VALUES …)``, made SQLite scan every node: a proof's time grew with the log.)

    The statements are handed to the driver as SQL with one named parameter per value: building them as
    expressions (about 40 of them, and their cache key) cost more CPU than the lookups themselves."""
    connection = db.session.connection()
    named = NAMED_PARAMETER[connection.dialect.paramstyle]  # the two drivers the site runs on
    found = _from_tiles(wanted, connection, named)
    for level, index, value in _lookup(connection, named, NODES, wanted - found.keys()):
        found[(level, index)] = bytes.fromhex(value)
    missing = wanted - found.keys()
    if missing:
        raise ProofError(f"the log's stored nodes are incomplete ({len(missing)} missing); run "
                         "`flask passports checkpoint`")
    return found


def _from_tiles(wanted: set[tuple[int, int]], connection: Any, named: str) -> dict[tuple[int, int], bytes]:
    """The subtree hashes asked for that lie in a stored (full) tile: its hashes, or those inside it."""
    stored = {(level, index): bytes(hashes) + bytes(interior) for level, index, hashes, interior in _lookup(
        connection, named, TILES, {tiles.tile_of(*key) for key in wanted})}
    return tiles.nodes_in(wanted, stored)


def _lookup(connection: Any, named: str, table: tuple[str, str, str],
            keys: set[tuple[int, int]]) -> list[Any]:
    """(level, index, value…) of the rows of ``table`` (``NODES`` or ``TILES``) with these (level, index) keys."""
    if not keys:
        return []
    by_level: dict[int, list[int]] = {}
    for level, index in sorted(keys):
        by_level.setdefault(level, []).append(index)
    levels = sorted(by_level)
    rows = []
    for start in range(0, len(levels), 40):
        sql, params = _node_query([(level, by_level[level]) for level in levels[start:start + 40]], named, table)
        rows += connection.exec_driver_sql(sql, params).all()
    return rows


# How each of the site's two drivers writes a named parameter: psycopg's ``pyformat``; sqlite3 takes ``:name``
# beside its ``qmark``. Another driver fails here (KeyError), not with a malformed statement.
NAMED_PARAMETER = {"pyformat": "%({})s", "qmark": ":{}"}


def _node_query(levels: list[tuple[int, list[int]]], named: str,
                table: tuple[str, str, str] = NODES) -> tuple[str, dict[str, int]]:
    """``level = :l0 AND node_index IN (:n0_0, …)`` per level (of the nodes, or of the tiles), OR-ed, for the
    driver itself (``named`` formats its named parameters): parameter names from positions only, every value
    bound. Not compiled by SQLAlchemy, so its many shapes (how many nodes each level needs) stay out of the
    engine's statement cache."""
    name, index_column, value_column = table
    params: dict[str, int] = {}
    terms = []
    for number, (level, indexes) in enumerate(levels):
        params[f"l{number}"] = level
        params.update({f"n{number}_{at}": index for at, index in enumerate(indexes)})
        names = ", ".join(named.format(f"n{number}_{at}") for at in range(len(indexes)))
        terms.append(f"(level = {named.format(f'l{number}')} AND {index_column} IN ({names}))")
    # The table and column names are this module's constants, never input; every value is bound.
    return (f"SELECT level, {index_column}, {value_column} FROM {name} WHERE {' OR '.join(terms)}",  # noqa: S608
            params)


class ProofError(ValueError):
    """A proof was asked for sizes or entries the log does not have (``size``: the log's size)."""

    def __init__(self, message: str, size: int = 0) -> None:
        super().__init__(message)
        self.size = size


def inclusion(version: PassportVersion, checkpoint: PassportCheckpoint | None = None) -> dict[str, Any]:
    """The leaf of a version and its audit path to a checkpoint (the latest by default)."""
    checkpoint = checkpoint or latest_checkpoint()
    leaf = db.session.execute(select(PassportLogLeaf.index, PassportLogLeaf.data, PassportLogLeaf.leaf_hash)
                              .where(PassportLogLeaf.version_id == version.id)).first()
    if checkpoint is None or leaf is None or leaf.index >= checkpoint.tree_size:
        raise ProofError("this version is not yet covered by a signed checkpoint")
    proof = merkle.inclusion_proof_from(_nodes, leaf.index, checkpoint.tree_size)
    return {"leafIndex": leaf.index, "treeSize": checkpoint.tree_size, "leafData": leaf.data,
            "leafHash": leaf.leaf_hash, "proof": [p.hex() for p in proof], **checkpoint_document(checkpoint)}


def consistency(first: int, second: int) -> dict[str, Any]:
    logged = size()
    if not 0 <= first <= second <= logged:
        raise ProofError(f"sizes must satisfy 0 ≤ first ≤ second ≤ {logged}", logged)
    return {"first": first, "second": second, "firstRoot": merkle.root_from(_nodes, first).hex(),
            "secondRoot": merkle.root_from(_nodes, second).hex(),
            "proof": [p.hex() for p in merkle.consistency_proof_from(_nodes, first, second)]}
