"""The provable passport log (issue 19, point 4).

Every published passport version and every change of a passport's status (its bits in the revocation and
suspension lists) is a leaf of an RFC 9162 Merkle tree (``merkle.py``). At the end of each unit of work that
appended leaves, the Union signs a checkpoint: ``{origin, treeSize, rootHash, timestamp}``. Anyone holding a
checkpoint can ask for an inclusion proof of a version and a consistency proof to a later checkpoint.

:func:`verify_log` re-derives everything from the stored rows and names each failed check on its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from sqlalchemy import event, select, tuple_
from sqlalchemy.orm import Session

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.passports import merkle
from marketplace.passports.log_models import PassportCheckpoint, PassportLogLeaf, PassportLogNode, PassportLogTree
from marketplace.passports.models import Passport, PassportVersion
from marketplace.passports.signing import SignatureInvalidError, Signer, canonical_json, get_signer
from marketplace.urls import public_base_url

PENDING = "passport_log_pending"  # Session.info flag: leaves appended, a checkpoint is due at commit


def origin() -> str:
    return urlsplit(public_base_url()).netloc + "/passports/log"


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- leaves -------------------------------------------------------------------------------------

def version_leaf(version: PassportVersion) -> dict[str, Any]:
    """What the log says of a version: its 0.7.0 form's hash (the 0.6.1 hash beside it)."""
    return {
        "kind": "version", "passport": version.passport.public_id, "version": version.number,
        "issuedAt": _timestamp(version.issued_at),
        "form": "0.7.0" if version.content_hash_070 else "0.6.1",
        "contentHash": version.content_hash_070 or version.content_hash,
        "contentHash061": version.content_hash,
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
    for level, index, value in frontier.append(digest):
        db.session.add(PassportLogNode(level=level, index=index, hash=value.hex()))
    tree.size, tree.frontier = tree.size + 1, frontier.to_json()
    db.session.info[PENDING] = True
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
    if not versions:
        return
    tree = _tree()
    _backfill(tree)  # logs these versions too, when they are the first ever appended
    logged = set(db.session.scalars(select(PassportLogLeaf.version_id).where(
        PassportLogLeaf.version_id.in_([version.id for version in versions]))))
    for version in versions:
        if version.id not in logged:
            _append(tree, version_leaf(version), version.passport.public_id, version.id)
    db.session.flush()


def logged_status() -> dict[str, tuple[bool, bool]]:
    """Each passport's last logged status (revoked, suspended); passports never logged read (False, False)."""
    latest: dict[str, tuple[bool, bool]] = {}
    for data in db.session.scalars(select(PassportLogLeaf.data).where(PassportLogLeaf.kind == "status")
                                   .order_by(PassportLogLeaf.index)):
        entry = json.loads(data)
        latest[entry["passport"]] = (bool(entry["revoked"]), bool(entry["suspended"]))
    return latest


def live_status_bits(flagged: dict[str, set[int]]) -> dict[str, tuple[bool, bool]]:
    """Each passport's bits in the status lists as served now (``flagged``: ``services.status_indexes()``)."""
    return {public_id: (index in flagged["revocation"], index in flagged["suspension"])
            for public_id, index in db.session.execute(select(Passport.public_id, Passport.status_index))}


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


def _nodes(wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored subtree hashes asked for, in one query (a proof needs about 2·log₂ n of them)."""
    found: dict[tuple[int, int], bytes] = {}
    keys = sorted(wanted)
    for start in range(0, len(keys), 400):
        for level, index, value in db.session.execute(
                select(PassportLogNode.level, PassportLogNode.index, PassportLogNode.hash).where(
                    tuple_(PassportLogNode.level, PassportLogNode.index).in_(keys[start:start + 400]))):
            found[(level, index)] = bytes.fromhex(value)
    missing = wanted - found.keys()
    if missing:
        raise ProofError(f"the log's stored nodes are incomplete ({len(missing)} missing); run "
                         "`flask passports checkpoint`")
    return found


class ProofError(ValueError):
    """A proof was asked for sizes or entries the log does not have (``size``: the log's size)."""

    def __init__(self, message: str, size: int = 0) -> None:
        super().__init__(message)
        self.size = size


def inclusion(version: PassportVersion, checkpoint: PassportCheckpoint | None = None) -> dict[str, Any]:
    """The leaf of a version and its audit path to a checkpoint (the latest by default)."""
    checkpoint = checkpoint or latest_checkpoint()
    leaf = db.session.scalar(select(PassportLogLeaf).where(PassportLogLeaf.version_id == version.id))
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


def verify_log(flagged: dict[str, set[int]]) -> list[str]:
    """Check the Merkle log, its checkpoints, and the status lists as served (``flagged``, from
    ``services.status_indexes()``) against it; each failed check is named. An empty list: all good."""
    signer = get_signer()
    problems: list[str] = []
    rows = leaves()
    hashes: list[bytes] = []
    for position, leaf in enumerate(rows):
        if leaf.index != position:
            problems.append(f"Merkle log entry {leaf.index}: expected index {position} (an entry is missing)")
        if merkle.leaf_hash(leaf.data.encode()).hex() != leaf.leaf_hash:
            problems.append(f"Merkle log entry {leaf.index}: its hash does not match its data (changed entry)")
        hashes.append(bytes.fromhex(leaf.leaf_hash))
    problems.extend(_version_leaf_problems(rows))
    problems.extend(_node_problems(hashes))
    tree = db.session.get(PassportLogTree, 1)
    if rows and (tree is None or tree.size != len(rows)
                 or merkle.Frontier.from_json(tree.frontier).root() != merkle.root(hashes)):
        problems.append("Merkle log: the stored tree head does not match its entries")
    # Each signed root is recomputed from the entries themselves. (No consistency proof between two
    # checkpoints: when both roots are the entries' roots, the proof between them is valid by construction,
    # so that check could never fail on its own. Proofs are for readers who do not hold the entries:
    # ``/passports/log/consistency`` and ``passports verify --since``.)
    covered = False
    for checkpoint in db.session.scalars(select(PassportCheckpoint).order_by(PassportCheckpoint.tree_size,
                                                                             PassportCheckpoint.id)):
        label = f"checkpoint of size {checkpoint.tree_size} ({_timestamp(checkpoint.timestamp)})"
        claim, reason = _checkpoint_claim(checkpoint, signer)
        if claim is None:
            problems.append(f"{label}: {reason}")
            continue
        if claim.tree_size > len(hashes):
            problems.append(f"{label}: the log has only {len(hashes)} entries (its tail was deleted)")
            continue
        signed_root = bytes.fromhex(claim.root_hash)
        if merkle.root(hashes[:claim.tree_size]) != signed_root:
            problems.append(f"{label}: the entries no longer hash to the signed root (the log was rewritten)")
            continue
        covered = True
    if rows and not covered and not problems:
        problems.append("Merkle log: no signed checkpoint covers it")
    problems.extend(_status_problems(flagged))
    return problems


def _node_problems(hashes: list[bytes]) -> list[str]:
    """Every stored subtree hash (what proofs are served from) must be the one the entries give."""
    expected: dict[tuple[int, int], str] = {}
    frontier = merkle.Frontier()
    for digest in hashes:
        for level, index, value in frontier.append(digest):
            expected[(level, index)] = value.hex()
    problems = []
    for level, index, value in db.session.execute(select(PassportLogNode.level, PassportLogNode.index,
                                                         PassportLogNode.hash)):
        if expected.pop((level, index), None) != value:
            problems.append(f"Merkle log node {level}/{index}: does not match the entries (a stored subtree "
                            "hash was changed)")
    problems.extend(f"Merkle log node {level}/{index}: missing" for level, index in sorted(expected))
    return problems


def _version_leaf_problems(rows: list[PassportLogLeaf]) -> list[str]:
    problems = []
    versions = {v.id: v for v in db.session.scalars(select(PassportVersion))}
    seen: set[int] = set()
    for leaf in rows:
        if leaf.kind != "version":
            continue
        version = versions.get(leaf.version_id or 0)
        try:
            data = json.loads(leaf.data)
        except ValueError:
            problems.append(f"Merkle log entry {leaf.index}: its data is not JSON")
            continue
        if version is None:
            problems.append(f"Merkle log entry {leaf.index}: names a version that does not exist")
            continue
        seen.add(version.id)
        if data != version_leaf(version):
            problems.append(f"Merkle log entry {leaf.index}: does not match passport {version.passport.public_id} "
                            f"version {version.number} as stored")
        elif data["contentHash"] != hashlib.sha256(canonical_json(
                version.credential_070 if version.content_hash_070 else version.credential)).hexdigest():
            problems.append(f"Merkle log entry {leaf.index}: the logged hash does not match the published credential")
    for version in versions.values():
        if version.id not in seen:
            problems.append(f"passport {version.passport.public_id} version {version.number}: "
                            "missing from the Merkle log")
    return problems


def _status_problems(flagged: dict[str, set[int]]) -> list[str]:
    """The status lists served now must say what the log last said of each passport; a revocation is final."""
    problems = []
    logged = logged_status()
    ever_revoked = set()
    for data in db.session.scalars(select(PassportLogLeaf.data).where(PassportLogLeaf.kind == "status")):
        entry = json.loads(data)
        if entry.get("revoked"):
            ever_revoked.add(entry["passport"])
    for public_id, (revoked, suspended) in sorted(live_status_bits(flagged).items()):
        if public_id in ever_revoked and not revoked:
            problems.append(f"passport {public_id}: the log records its revocation, but the status list no longer "
                            "shows it revoked (status rolled back)")
        elif (revoked, suspended) != logged.get(public_id, (False, False)):
            was = logged.get(public_id, (False, False))
            problems.append(f"passport {public_id}: the status list shows {_state(revoked, suspended)} but the log "
                            f"last recorded {_state(*was)} (a status change was not logged)")
    return problems


def _state(revoked: bool, suspended: bool) -> str:
    return "revoked" if revoked else "suspended" if suspended else "active"



# ---- incremental verification -------------------------------------------------------------------

def verify_since(size: int, signed_root: bytes, flagged: dict[str, set[int]]) -> tuple[list[str], list[int]]:
    """Check only what was appended after a trusted checkpoint (``size`` entries, root ``signed_root``): the
    latest checkpoint's signature, the consistency proof from the trusted one to it (from stored nodes), and
    each new entry, node and intermediate checkpoint, streamed. Returns (problems, ids of versions logged
    since, for their signatures to be checked)."""
    problems: list[str] = []
    latest = latest_checkpoint()
    if latest is None:
        return ["Merkle log: no signed checkpoint"], []
    claim, reason = _checkpoint_claim(latest, get_signer())
    if claim is None:
        return [f"the latest checkpoint: {reason}"], []
    latest_root = bytes.fromhex(claim.root_hash)
    if size > claim.tree_size:
        return [(f"the given checkpoint has {size} entries, more than the latest ({claim.tree_size}): "
                 "the log was truncated or the checkpoint is forged")], []
    try:
        proof = merkle.consistency_proof_from(_nodes, size, claim.tree_size)
        frontier = merkle.Frontier([(level, _nodes({(level, index)})[(level, index)])
                                    for level, index in merkle._range_nodes(0, size)])
    except ProofError as error:
        return [f"Merkle log: {error}"], []
    if not merkle.verify_consistency(size, claim.tree_size, signed_root, latest_root, proof):
        problems.append(f"the latest checkpoint (size {claim.tree_size}) is not consistent with the given one "
                        f"(size {size}): the log was rewritten")
    if frontier.root() != signed_root:
        problems.append(f"Merkle log: the stored nodes do not give the given checkpoint's root at size {size}")
    streamed, version_ids, position = _stream_since(size, claim.tree_size, frontier)
    problems.extend(streamed)
    if position < claim.tree_size:
        problems.append(f"the latest checkpoint: the log has only {position} entries (its tail was deleted)")
    elif frontier.root() != latest_root:
        problems.append("the latest checkpoint: the entries since the given checkpoint do not hash to its root")
    problems.extend(_status_problems(flagged))
    return problems, version_ids


def _stream_since(size: int, end: int, frontier: merkle.Frontier) -> tuple[list[str], list[int], int]:
    """Each entry from ``size`` on, in pages: its hash, the nodes it completes, the checkpoints it reaches."""
    problems: list[str] = []
    checkpoints = {c.tree_size: c for c in db.session.scalars(select(PassportCheckpoint).where(
        PassportCheckpoint.tree_size > size))}
    made: dict[tuple[int, int], str] = {}
    version_ids: list[int] = []
    position = size
    for leaf in db.session.scalars(select(PassportLogLeaf).where(PassportLogLeaf.index >= size,
                                                                 PassportLogLeaf.index < end)
                                   .order_by(PassportLogLeaf.index).execution_options(yield_per=1000)):
        if leaf.index != position:
            problems.append(f"Merkle log entry {leaf.index}: expected index {position} (an entry is missing)")
        digest = merkle.leaf_hash(leaf.data.encode())
        if digest.hex() != leaf.leaf_hash:
            problems.append(f"Merkle log entry {leaf.index}: its hash does not match its data (changed entry)")
        for level, index, value in frontier.append(digest):
            made[(level, index)] = value.hex()
        if leaf.version_id is not None:
            version_ids.append(leaf.version_id)
        position += 1
        checkpoint = checkpoints.get(position)
        if checkpoint is not None and checkpoint.root_hash != frontier.root().hex():
            problems.append(f"checkpoint of size {position}: the entries no longer hash to the signed root")
        if len(made) >= 4096:
            problems.extend(_compare_nodes(made))
            made = {}
    problems.extend(_compare_nodes(made))
    return problems, version_ids, position


def _compare_nodes(expected: dict[tuple[int, int], str]) -> list[str]:
    if not expected:
        return []
    stored: dict[tuple[int, int], str] = {}
    by_level: dict[int, list[int]] = {}
    for level, index in expected:
        by_level.setdefault(level, []).append(index)
    for level, indexes in by_level.items():
        for index, value in db.session.execute(select(PassportLogNode.index, PassportLogNode.hash).where(
                PassportLogNode.level == level, PassportLogNode.index >= min(indexes),
                PassportLogNode.index <= max(indexes))):
            stored[(level, index)] = value
    return [f"Merkle log node {level}/{index}: does not match the entries (a stored subtree hash was changed)"
            for (level, index), value in sorted(expected.items()) if stored.get((level, index)) != value]


def parse_checkpoint_note(text: str, signer: Signer) -> tuple[int, bytes]:
    """(size, root) of a signed-note checkpoint saved from ``/passports/tlog/checkpoint``, after checking it
    names this log and carries the Union's signature; ValueError otherwise."""
    from marketplace.passports import tiles  # noqa: PLC0415 (tiles reads this module's models)

    body, _, signatures = text.partition("\n\n")
    lines = body.split("\n")
    if len(lines) < 3 or lines[0] != origin() or not lines[1].isdigit():
        raise ValueError("it is not a checkpoint of this log")
    public = signer.key.public_key.public_bytes_raw()
    expected = tiles.key_id(origin(), public)
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != origin():
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
            if blob[:4] == expected:
                signer.key.public_key.verify(blob[4:], (body + "\n").encode())
                return int(lines[1]), base64.b64decode(lines[2], validate=True)
        except (ValueError, InvalidSignature):
            break
    raise ValueError("its signature does not verify with the Union's key")
