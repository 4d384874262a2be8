"""Incremental verification of the provable log: only what was appended after a trusted checkpoint
(``passports verify --since``), and reading that checkpoint's signed note."""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports import merkle
from marketplace.passports.log import _checkpoint_claim, _status_problems, compare_nodes
from marketplace.passports.log_checkpoints import ProofError, _nodes, latest_checkpoint, origin
from marketplace.passports.log_models import PassportCheckpoint, PassportLogLeaf
from marketplace.passports.signing import Signer, get_signer


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
            problems.extend(compare_nodes(made))
            made = {}
    problems.extend(compare_nodes(made))
    return problems, version_ids, position


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
