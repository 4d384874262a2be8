"""The provable passport log: Merkle leaves, the tree's frontier and signed checkpoints (RFC 9162 style)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, immutable, utcnow
from marketplace.passports.models import ImmutableVersionError


class PassportLogLeaf(Base):
    """One entry of the Merkle log: a published passport version or a change of a passport's status.

    ``data`` holds the exact bytes hashed (canonical JSON); ``leaf_hash`` = SHA-256(0x00 || data)."""

    __tablename__ = "passport_log_leaf"

    index: Mapped[int] = mapped_column("leaf_index", Integer, primary_key=True, autoincrement=False)  # from 0
    kind: Mapped[str] = mapped_column(String(10))  # "version" or "status"
    passport_public_id: Mapped[str] = mapped_column(String(40), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("passport_version.id"), unique=True, nullable=True)
    data: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    appended_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PassportLogTree(Base):
    """The single row holding the tree's size and frontier; appends lock it (SELECT … FOR UPDATE)."""

    __tablename__ = "passport_log_tree"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer, default=0)
    frontier: Mapped[list[Any]] = mapped_column(JSON, default=list)


class PassportLogNode(Base):
    """The hash of one perfect subtree: ``level`` 0 are the leaf hashes, level L index i covers leaves
    [i·2^L, (i+1)·2^L). Written as appends complete them, so proofs and roots read O(log² n) rows, never
    every leaf; ``passports verify`` recomputes them all from the entries."""

    __tablename__ = "passport_log_node"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column("node_index", Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


class PassportLogTile(Base):
    """A full C2SP tile: ``hashes``, the 256 hashes (32 bytes each, concatenated) of level-8·``level``
    subtrees ``[256·tile_index, 256·tile_index + 256)``, as served at ``/passports/tlog/tile/<level>/<tile_index>``,
    and ``interior``, the 254 subtree hashes between them and the tile's root (128 of the level above, then 64, …,
    2). Written once, when its last hash is. An inclusion proof reads one row per tile level (three at
    1,000,000 entries) instead of about 20 scattered subtree hashes. Partial tiles are read from
    ``passport_log_node``, which keeps every subtree hash."""

    __tablename__ = "passport_log_tile"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column("tile_index", Integer, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)
    interior: Mapped[bytes] = mapped_column(LargeBinary)


class PassportCheckpoint(Base):
    """A signed statement of the log's size and root hash at a time."""

    __tablename__ = "passport_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(Integer, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    jws: Mapped[str] = mapped_column(Text)


immutable(PassportLogLeaf, ImmutableVersionError, "An entry of the passport Merkle log")
immutable(PassportLogNode, ImmutableVersionError, "A node of the passport Merkle log")
immutable(PassportLogTile, ImmutableVersionError, "A tile of the passport Merkle log")
immutable(PassportCheckpoint, ImmutableVersionError, "A signed log checkpoint")
