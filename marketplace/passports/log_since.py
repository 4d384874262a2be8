"""Incremental verification of the provable log: only what was appended after a trusted checkpoint
(``passports verify --since``), and reading that checkpoint's signed note."""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports import merkle
from marketplace.passports.log import _checkpoint_claim, _Stream, _timestamp
from marketplace.passports.log_checkpoints import ProofError, _nodes, latest_checkpoint, origin
from marketplace.passports.log_models import PassportCheckpoint
from marketplace.passports.log_status import _status_problems
from marketplace.passports.signing import Signer, get_signer


def verify_since(size: int, signed_root: bytes,
                 status_of: Callable[[Collection[str]], dict[str, set[int]]]) -> tuple[list[str], list[int]]:
    """Check only what was appended after a trusted checkpoint (``size`` entries, root ``signed_root``): the
    latest checkpoint's signature, the consistency proof from the trusted one to it (from stored nodes), and
    each new entry (against the version it names), node and intermediate checkpoint, streamed; then the live
    status of the passports those entries name (``status_of(public_ids)``: ``services.status_indexes``)
    against the log. Nothing here reads every passport or entry: the time follows the entries since.
    Returns (problems, ids of versions logged since, for their signatures to be checked)."""
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
    claims: dict[int, list[tuple[str, bytes]]] = {}
    for checkpoint in db.session.scalars(select(PassportCheckpoint).where(
            PassportCheckpoint.tree_size > size, PassportCheckpoint.tree_size <= claim.tree_size)
            .order_by(PassportCheckpoint.tree_size, PassportCheckpoint.id)):
        claims.setdefault(checkpoint.tree_size, []).append(
            (f"checkpoint of size {checkpoint.tree_size} ({_timestamp(checkpoint.timestamp)})",
             bytes.fromhex(checkpoint.root_hash)))
    stream = _Stream(claims, contents=False, frontier=frontier, start=size, end=claim.tree_size)
    problems.extend(stream.run())
    if stream.position < claim.tree_size:
        problems.append(f"the latest checkpoint: the log has only {stream.position} entries (its tail was deleted)")
    elif stream.frontier.root() != latest_root:
        problems.append("the latest checkpoint: the entries since the given checkpoint do not hash to its root")
    problems.extend(_status_problems(status_of(stream.passports), stream.passports))
    return problems, stream.version_ids


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
