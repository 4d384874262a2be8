"""The provable passport log (issue 19, point 4).

Every published passport version and every change of a passport's status (its bits in the revocation and
suspension lists) is a leaf of an RFC 9162 Merkle tree (``merkle.py``). At the end of each unit of work that
appended leaves, the Union signs a checkpoint: ``{origin, treeSize, rootHash, timestamp}``. Anyone holding a
checkpoint can ask for an inclusion proof of a version and a consistency proof to a later checkpoint.

:func:`verify_log` re-derives everything from the stored rows and names each failed check on its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.passports import merkle, tiles
from marketplace.passports.log_checkpoints import (  # noqa: F401 (re-exported: the log's one import)
    PAGE_MAX,
    PENDING,
    ProofError,
    _timestamp,
    checkpoint_document,
    checkpoint_payload,
    connect,
    consistency,
    inclusion,
    latest_checkpoint,
    leaves,
    origin,
    page,
    sign_checkpoint,
    size,
)
from marketplace.passports.log_models import (
    PassportCheckpoint,
    PassportLogLeaf,
    PassportLogNode,
    PassportLogTile,
    PassportLogTree,
)
from marketplace.passports.log_status import (
    _status_problems,
    live_status_bits,
    logged_status,
)
from marketplace.passports.log_stored import Known, _filling_at, _unlogged_versions, compare_nodes, compare_tiles
from marketplace.passports.models import Passport, PassportVersion
from marketplace.passports.signing import SignatureInvalidError, Signer, canonical_json, get_signer

# ---- leaves -------------------------------------------------------------------------------------

def version_leaf(version: PassportVersion) -> dict[str, Any]:
    """What the log says of a version: its 0.7.0 form's hash (the 0.6.1 hash beside it)."""
    return _leaf_of(version.passport.public_id, version.number, version.issued_at, version.content_hash,
                    version.content_hash_070)


def _leaf_of(public_id: str, number: int, issued_at: dt.datetime, content_hash: str,
             content_hash_070: str | None) -> dict[str, Any]:
    return {
        "kind": "version", "passport": public_id, "version": number, "issuedAt": _timestamp(issued_at),
        "form": "0.7.0" if content_hash_070 else "0.6.1", "contentHash": content_hash_070 or content_hash,
        "contentHash061": content_hash,
    }


def status_leaf(passport: Passport, revoked: bool, suspended: bool, at: dt.datetime) -> dict[str, Any]:
    return {"kind": "status", "passport": passport.public_id, "statusIndex": passport.status_index,
            "revoked": revoked, "suspended": suspended, "at": _timestamp(at)}


def _tree() -> PassportLogTree:
    tree = db.session.scalar(select(PassportLogTree).where(PassportLogTree.id == 1).with_for_update())
    if tree is None:
        tree = PassportLogTree(id=1, size=0, frontier=[])
        db.session.add(tree)
        db.session.flush()
    return tree


def _append(tree: PassportLogTree, data: dict[str, Any], passport_public_id: str,
            version_id: int | None = None) -> PassportLogLeaf:
    raw = canonical_json(data)
    digest = merkle.leaf_hash(raw)
    leaf = PassportLogLeaf(index=tree.size, kind=data["kind"], passport_public_id=passport_public_id,
                           version_id=version_id, data=raw.decode(), leaf_hash=digest.hex())
    db.session.add(leaf)
    frontier = merkle.Frontier.from_json(tree.frontier)
    made = frontier.append(digest)
    for level, index, value in made:
        db.session.add(PassportLogNode(level=level, index=index, hash=value.hex()))
    tree.size, tree.frontier = tree.size + 1, frontier.to_json()
    db.session.info[PENDING] = True
    full = tiles.completed((level, index) for level, index, _ in made)
    if full:  # one append in 256: its nodes flushed, then the tile read from them
        db.session.flush()
        tiles.store(full)
    return leaf


def _backfill(tree: PassportLogTree) -> None:
    """Versions published before the Merkle log existed enter it first, in the order they were published."""
    if tree.size:
        return
    logged = select(PassportLogLeaf.version_id).where(PassportLogLeaf.version_id.is_not(None))
    for version in db.session.scalars(select(PassportVersion).where(PassportVersion.id.not_in(logged))
                                      .order_by(PassportVersion.id)):
        _append(tree, version_leaf(version), version.passport.public_id, version.id)


def backfill() -> int:
    """Log every version not yet in the log (a database published before the Merkle log existed)."""
    tree = _tree()
    before = tree.size
    _backfill(tree)
    db.session.flush()
    return tree.size - before


def append_version(version: PassportVersion) -> None:
    """Log a newly published version (called by ``services.publish``)."""
    append_versions([version])


def append_versions(versions: list[PassportVersion]) -> None:
    """Log newly published versions in order, locking the tree once (``services.publish_many``)."""
    if versions:
        db.session.flush()  # the versions get their ids
        append_version_rows([(version.id, version.passport.public_id, version.number, version.issued_at,
                              version.content_hash, version.content_hash_070) for version in versions])


VersionRow = tuple[int, str, int, dt.datetime, str, "str | None"]  # id, passport, number, issued, hashes


def append_version_rows(versions: list[VersionRow]) -> None:
    """Log newly inserted versions (``VersionRow``: no ORM objects needed) in order, locking the tree once;
    their entries and the subtrees they complete are written with one bulk insert each."""
    if not versions:
        return
    tree = _tree()
    _backfill(tree)  # logs these versions too, when they are the first ever appended
    db.session.flush()  # and the query below sees them, even with autoflush off (publish_many)
    logged = set(db.session.scalars(select(PassportLogLeaf.version_id).where(
        PassportLogLeaf.version_id.in_([row[0] for row in versions]))))
    frontier = merkle.Frontier.from_json(tree.frontier)
    entries: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    for version_id, public_id, number, issued_at, content_hash, content_hash_070 in versions:
        if version_id in logged:
            continue
        raw = canonical_json(_leaf_of(public_id, number, issued_at, content_hash, content_hash_070))
        digest = merkle.leaf_hash(raw)
        entries.append({"leaf_index": tree.size + len(entries), "kind": "version", "passport_public_id": public_id,
                        "version_id": version_id, "data": raw.decode(), "leaf_hash": digest.hex()})
        nodes += [{"level": level, "node_index": index, "hash": value.hex()}
                  for level, index, value in frontier.append(digest)]
    if not entries:
        return
    connection = db.session.connection()
    connection.execute(PassportLogLeaf.__table__.insert(), entries)
    connection.execute(PassportLogNode.__table__.insert(), nodes)
    tiles.store(tiles.completed((node["level"], node["node_index"]) for node in nodes))
    tree.size, tree.frontier = tree.size + len(entries), frontier.to_json()
    db.session.info[PENDING] = True
    db.session.flush()


def record_status(flagged: dict[str, set[int]]) -> int:
    """Append a status entry for every passport whose status-list bits (``flagged``, from
    ``services.status_indexes()``) differ from the last logged ones. Called when a certificate's status
    changes, after publishing, and by ``flask passports checkpoint``."""
    logged = logged_status()
    changed = [(public_id, bits) for public_id, bits in sorted(live_status_bits(flagged).items())
               if bits != logged.get(public_id, (False, False))]
    if not changed:
        return 0
    tree = _tree()
    _backfill(tree)
    now = utcnow()
    passports = {p.public_id: p for p in db.session.scalars(
        select(Passport).where(Passport.public_id.in_([public_id for public_id, _ in changed])))}
    for public_id, (revoked, suspended) in changed:
        _append(tree, status_leaf(passports[public_id], revoked, suspended, now), public_id)
    db.session.flush()
    return len(changed)


# ---- verification -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckpointClaim:
    tree_size: int
    root_hash: str
    timestamp: str


def _checkpoint_claim(checkpoint: PassportCheckpoint, signer: Signer) -> tuple[CheckpointClaim | None, str]:
    """What the checkpoint's signature says, or the reason it says nothing."""
    try:
        payload = signer.verify(checkpoint.jws)
    except SignatureInvalidError:
        return None, "its signature does not verify with the Union's key"
    try:
        claim = CheckpointClaim(int(payload["treeSize"]), str(payload["rootHash"]), str(payload["timestamp"]))
    except (KeyError, TypeError, ValueError):
        return None, "its signed payload is not a checkpoint"
    if payload.get("origin") != origin():
        return None, f"it was signed for another log ({payload.get('origin')})"
    if (claim.tree_size, claim.root_hash) != (checkpoint.tree_size, checkpoint.root_hash):
        return None, "its stored size or root differs from what was signed"
    return claim, ""


STREAM_PAGE = 200  # entries read at a time by verify_log (and the versions they name: two credentials each)
STREAM_PAGE_LIGHT = 2000  # the same without the credentials (``contents=False``)
NODE_BATCH = 4096  # computed subtree hashes compared with the stored ones at a time
TILE_BATCH = 64  # computed full tiles compared with the stored ones at a time


def verify_log(flagged: dict[str, set[int]], contents: bool = True) -> list[str]:
    """Check the Merkle log, its checkpoints, and the status lists as served (``flagged``, from
    ``services.status_indexes()``) against it; each failed check is named. An empty list: all good.

    ``contents``: also hash each version's published credential against the hash its entry logs. A full
    ``passports verify`` passes False: ``verify_all`` checks every credential against the version's stored
    hash, and each entry is compared with those stored hashes here, so reading every credential twice adds no check.

    Streamed: the entries (and the versions they name) are read a page at a time, the tree is rebuilt in a
    frontier of O(log n) hashes, and each checkpoint's root is compared when the stream reaches its size;
    memory does not grow with the log (only the per-passport status maps do, with the passports)."""
    signer = get_signer()
    problems: list[str] = []
    # Each signed root is recomputed from the entries themselves. (No consistency proof between two
    # checkpoints: when both roots are the entries' roots, the proof between them is valid by construction,
    # so that check could never fail on its own. Proofs are for readers who do not hold the entries:
    # ``/passports/log/consistency`` and ``passports verify --since``.)
    claims: dict[int, list[tuple[str, bytes]]] = {}
    for checkpoint in db.session.scalars(select(PassportCheckpoint).order_by(PassportCheckpoint.tree_size,
                                                                             PassportCheckpoint.id)):
        label = f"checkpoint of size {checkpoint.tree_size} ({_timestamp(checkpoint.timestamp)})"
        claim, reason = _checkpoint_claim(checkpoint, signer)
        if claim is None:
            problems.append(f"{label}: {reason}")
        else:
            claims.setdefault(claim.tree_size, []).append((label, bytes.fromhex(claim.root_hash)))
    stream = _Stream(claims, contents)
    problems.extend(stream.run())
    stored = db.session.scalar(select(func.count()).select_from(PassportLogNode)) or 0
    if stored > stream.nodes:
        problems.append(f"Merkle log: {stored - stream.nodes} stored subtree hashes beyond what the entries give")
    stored_tiles = db.session.scalar(select(func.count()).select_from(PassportLogTile)) or 0
    if stored_tiles > stream.tiles:
        problems.append(f"Merkle log: {stored_tiles - stream.tiles} stored tiles beyond what the entries give")
    problems.extend(f"{version}: missing from the Merkle log" for version in _unlogged_versions())
    tree = db.session.get(PassportLogTree, 1)
    if stream.position and (tree is None or tree.size != stream.position
                            or merkle.Frontier.from_json(tree.frontier).root() != stream.frontier.root()):
        problems.append("Merkle log: the stored tree head does not match its entries")
    problems.extend(f"{label}: the log has only {stream.position} entries (its tail was deleted)"
                    for labelled in claims.values() for label, _root in labelled)  # sizes never reached
    if stream.position and not stream.covered and not problems:
        problems.append("Merkle log: no signed checkpoint covers it")
    problems.extend(_status_problems(flagged))
    return problems


class _Stream:
    """The log's entries in index order, a page at a time: each entry's index and hash, the version it
    names, the subtree hashes it completes and the checkpoints it reaches (``claims``, popped when met)."""

    def __init__(self, claims: dict[int, list[tuple[str, bytes]]], contents: bool = True,
                 frontier: merkle.Frontier | None = None, start: int = 0, end: int | None = None) -> None:
        """``frontier``, ``start``, ``end``: only the entries [start, end) after a tree of ``start`` entries
        whose frontier is given (``passports verify --since``)."""
        self.claims = claims
        self.contents = contents
        self.frontier = frontier or merkle.Frontier()
        self.position, self.end = start, end
        self.nodes = self.covered = self.tiles = 0
        self.passports: set[str] = set()  # the passports the streamed entries name
        self.version_ids: list[int] = []
        # The full tiles the entries give, compared with the stored ones in batches, and the hashes of the
        # tile being filled at each tile level (from the stored nodes before ``start`` when it is not 0).
        self.tiles_made: dict[tuple[int, int], Known] = {}
        self.filling: dict[int, Known] = {} if not start else _filling_at(start)

    def run(self) -> list[str]:
        problems: list[str] = []
        made: dict[tuple[int, int], str] = {}
        last = self.position - 1
        query = select(PassportLogLeaf.index, PassportLogLeaf.kind, PassportLogLeaf.version_id, PassportLogLeaf.data,
                       PassportLogLeaf.leaf_hash, PassportLogLeaf.passport_public_id)
        if self.end is not None:
            query = query.where(PassportLogLeaf.index < self.end)
        while rows := db.session.execute(
                query.where(PassportLogLeaf.index > last)
                .order_by(PassportLogLeaf.index).limit(STREAM_PAGE if self.contents else STREAM_PAGE_LIGHT)).all():
            problems.extend(_version_leaf_problems(rows, self.contents))
            for index, _kind, version_id, data, stored_hash, public_id in rows:
                problems.extend(self.entry(index, data, stored_hash, made))
                if self.end is not None:  # an incremental verify: what its other checks need
                    self.passports.add(public_id)
                    if version_id is not None:
                        self.version_ids.append(version_id)
            last = rows[-1][0]
            if len(made) >= NODE_BATCH:
                problems.extend(compare_nodes(made))
                made = {}
            if len(self.tiles_made) >= TILE_BATCH:
                problems.extend(compare_tiles(self.tiles_made))
                self.tiles_made = {}
        problems.extend(compare_nodes(made))
        problems.extend(compare_tiles(self.tiles_made))
        return problems

    def entry(self, index: int, data: str, stored_hash: str, made: dict[tuple[int, int], str]) -> list[str]:
        problems = []
        if index != self.position:
            problems.append(f"Merkle log entry {index}: expected index {self.position} (an entry is missing)")
        if merkle.leaf_hash(data.encode()).hex() != stored_hash:
            problems.append(f"Merkle log entry {index}: its hash does not match its data (changed entry)")
        for level, node_index, value in self.frontier.append(bytes.fromhex(stored_hash)):
            made[(level, node_index)] = value.hex()
            self.nodes += 1
            if level % tiles.HEIGHT == 0:
                self.fill(level // tiles.HEIGHT, node_index, value)
        self.position += 1
        for label, root in self.claims.pop(self.position, []):
            if self.frontier.root() != root:
                problems.append(f"{label}: the entries no longer hash to the signed root (the log was rewritten)")
            else:
                self.covered += 1
        return problems


    def fill(self, tile_level: int, index: int, value: bytes) -> None:
        hashes = self.filling.setdefault(tile_level, [])
        hashes.append(value)
        if index % tiles.WIDTH == tiles.WIDTH - 1:  # the tile is full
            self.tiles_made[(tile_level, index // tiles.WIDTH)] = hashes
            self.tiles += 1
            self.filling[tile_level] = []


def _version_leaf_problems(rows: list[Any], contents: bool = True) -> list[str]:
    """The version entries of one page against the versions they name (read for that page only; their
    credentials too when ``contents``)."""
    ids = [version_id for _index, kind, version_id, *_rest in rows if kind == "version" and version_id]
    columns = [PassportVersion.id, Passport.public_id, PassportVersion.number, PassportVersion.issued_at,
               PassportVersion.content_hash, PassportVersion.content_hash_070]
    if contents:
        columns += [PassportVersion.credential, PassportVersion.credential_070]
    versions = {v.id: v for v in db.session.execute(
        select(*columns).join(Passport, Passport.id == PassportVersion.passport_id)
        .where(PassportVersion.id.in_(ids)))}
    problems = []
    for index, kind, version_id, data, *_rest in rows:
        if kind != "version":
            continue
        version = versions.get(version_id or 0)
        try:
            entry = json.loads(data)
        except ValueError:
            problems.append(f"Merkle log entry {index}: its data is not JSON")
            continue
        if version is None:
            problems.append(f"Merkle log entry {index}: names a version that does not exist")
            continue
        if entry != _leaf_of(version.public_id, version.number, version.issued_at, version.content_hash,
                             version.content_hash_070):
            problems.append(f"Merkle log entry {index}: does not match passport {version.public_id} "
                            f"version {version.number} as stored")
        elif contents and entry["contentHash"] != hashlib.sha256(canonical_json(
                version.credential_070 if version.content_hash_070 else version.credential)).hexdigest():
            problems.append(f"Merkle log entry {index}: the logged hash does not match the published credential")
    return problems
