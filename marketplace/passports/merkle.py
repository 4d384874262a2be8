"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, inclusion and consistency proofs.

Leaves hash as SHA-256(0x00 || data), interior nodes as SHA-256(0x01 || left || right), and a tree of n
leaves splits at the largest power of two below n (RFC 9162 section 2.1.1). Proof generation follows
sections 2.1.3.1 and 2.1.4.1, verification the algorithms of 2.1.3.2 and 2.1.4.2. Checked against the
published RFC 6962 / transparency-dev test vectors in ``tests/passports/test_passport_merkle.py``.

A :class:`Frontier` (the roots of the perfect subtrees, left to right) appends in O(log n) and gives the
root of the whole tree without reading the leaves again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over the leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, leaves): the audit path of one leaf in the tree of ``leaves``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is outside a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], first: int) -> list[bytes]:
    """PROOF(first, leaves): that the tree of the first ``first`` leaves is a prefix of this one."""
    n = len(leaves)
    if not 0 <= first <= n:
        raise ValueError(f"size {first} is outside a tree of {n}")
    if first in (0, n):
        return []
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    if not 0 <= first <= second or any(len(p) != 32 for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a subtree of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


class Frontier:
    """The roots of the perfect subtrees of a tree, largest first, with their heights."""

    def __init__(self, nodes: Sequence[tuple[int, bytes]] = ()) -> None:
        self.nodes = list(nodes)

    @property
    def size(self) -> int:
        return sum(1 << height for height, _ in self.nodes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf; returns the perfect subtrees it completes as (level, index at that level, hash),
        the leaf itself first."""
        index = self.size
        self.nodes.append((0, leaf))
        made = [(0, index, leaf)]
        while len(self.nodes) > 1 and self.nodes[-1][0] == self.nodes[-2][0]:
            (height, left), (_, right) = self.nodes[-2], self.nodes[-1]
            self.nodes[-2:] = [(height + 1, node_hash(left, right))]
            made.append((height + 1, index >> (height + 1), self.nodes[-1][1]))
        return made

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            result = node_hash(left, result)
        return result

    def to_json(self) -> list[list[int | str]]:
        return [[height, value.hex()] for height, value in self.nodes]

    @classmethod
    def from_json(cls, data: Sequence[Sequence[int | str]]) -> Frontier:
        return cls([(int(height), bytes.fromhex(str(value))) for height, value in data])


# ---- proofs from stored perfect subtrees ----------------------------------------------------------
# Every subtree the RFC 9162 algorithms name is a range [start, end) whose perfect parts are aligned, so a
# proof needs O(log² n) stored nodes (level, index) and never the leaves: ``NodeSource`` fetches them at once.

def _range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees whose roots, folded right to left, give MTH of leaves [start, end)."""
    found = []
    while start < end:
        level = (end - start).bit_length() - 1  # the largest power of two that fits …
        if start:
            level = min(level, (start & -start).bit_length() - 1)  # … and is aligned at start
        found.append((level, start >> level))
        start += 1 << level
    return found


def _range_root(start: int, end: int, nodes: dict[tuple[int, int], bytes]) -> bytes:
    parts = [nodes[key] for key in _range_nodes(start, end)]
    result = parts[-1]
    for left in reversed(parts[:-1]):
        result = node_hash(left, result)
    return result


def _inclusion_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    if end - start == 1:
        return []
    k = _split(end - start)
    if index < start + k:
        return [*_inclusion_ranges(index, start, start + k), (start + k, end)]
    return [*_inclusion_ranges(index, start + k, end), (start, start + k)]


def _consistency_ranges(m: int, start: int, end: int, complete: bool) -> list[tuple[int, int]]:
    n = end - start
    if m == n:
        return [] if complete else [(start, end)]
    k = _split(n)
    if m <= k:
        return [*_consistency_ranges(m, start, start + k, complete), (start + k, end)]
    return [*_consistency_ranges(m - k, start + k, end, False), (start, start + k)]


def _fetch(ranges: list[tuple[int, int]], source: Any) -> list[bytes]:
    wanted = {key for start, end in ranges for key in _range_nodes(start, end)}
    nodes = source(wanted)
    return [_range_root(start, end, nodes) for start, end in ranges]


def inclusion_proof_from(source: Any, index: int, size: int) -> list[bytes]:
    """PATH(index) in the tree of ``size`` leaves, from stored nodes."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a tree of {size}")
    return _fetch(_inclusion_ranges(index, 0, size), source)


def consistency_proof_from(source: Any, first: int, second: int) -> list[bytes]:
    if not 0 <= first <= second:
        raise ValueError(f"size {first} is outside a tree of {second}")
    if first in (0, second):
        return []
    return _fetch(_consistency_ranges(first, 0, second, True), source)


def root_from(source: Any, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else _fetch([(0, size)], source)[0]
