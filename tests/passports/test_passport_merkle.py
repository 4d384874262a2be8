"""The passport log's Merkle tree against the RFC 6962 / RFC 9162 reference vectors (transparency-dev/merkle
testonly constants), plus every proof of every tree up to 40 leaves and their tamperings."""

from __future__ import annotations

import pytest

from marketplace.passports import merkle

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
CONSISTENCY = [
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def test_roots_match_the_reference_for_every_size() -> None:
    for size, expected in enumerate(ROOTS):
        assert merkle.root(HASHES[:size]).hex() == expected
        frontier = merkle.Frontier()
        for leaf in HASHES[:size]:
            frontier.append(leaf)
        assert frontier.root().hex() == expected
        assert merkle.Frontier.from_json(frontier.to_json()).root().hex() == expected


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_reference(index: int, size: int, proof: list[str]) -> None:
    assert [p.hex() for p in merkle.inclusion_proof(HASHES[:size], index)] == proof
    assert merkle.verify_inclusion(HASHES[index], index, size, [bytes.fromhex(p) for p in proof],
                                   bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_reference(first: int, second: int, proof: list[str]) -> None:
    assert [p.hex() for p in merkle.consistency_proof(HASHES[:second], first)] == proof
    assert merkle.verify_consistency(first, second, bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second]),
                                     [bytes.fromhex(p) for p in proof])


def test_every_proof_verifies_and_every_tampering_fails() -> None:
    leaves = [merkle.leaf_hash(bytes([i, i * 7 % 256])) for i in range(40)]
    roots = [merkle.root(leaves[:n]) for n in range(41)]
    for n in range(1, 41):
        for i in range(n):
            proof = merkle.inclusion_proof(leaves[:n], i)
            assert merkle.verify_inclusion(leaves[i], i, n, proof, roots[n])
            assert not merkle.verify_inclusion(leaves[i], i, n, proof, roots[n - 1])
            assert not merkle.verify_inclusion(leaves[(i + 1) % n], i, n, proof, roots[n]) or n == 1
            assert not merkle.verify_inclusion(leaves[i], i, n, [*proof, b"\xab" * 32], roots[n])
            if proof:
                assert not merkle.verify_inclusion(leaves[i], i, n, proof[:-1], roots[n])
                flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                assert not merkle.verify_inclusion(leaves[i], i, n, flipped, roots[n])
        for m in range(n + 1):
            proof = merkle.consistency_proof(leaves[:n], m)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof)
            if 0 < m < n:
                assert not merkle.verify_consistency(m, n, roots[m], roots[n - 1], proof)
                assert not merkle.verify_consistency(m, n, roots[m - 1] if m > 1 else b"\0" * 32, roots[n], proof)
                assert not merkle.verify_consistency(m, n, roots[m], roots[n], proof[:-1])
                assert not merkle.verify_consistency(m, n, roots[m], roots[n], [*proof, b"\xcd" * 32])


def test_out_of_range_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_proof(HASHES, 8)
    with pytest.raises(ValueError, match="outside"):
        merkle.consistency_proof(HASHES[:3], 4)
    assert not merkle.verify_inclusion(HASHES[5], 8, 8, [], bytes.fromhex(ROOTS[8]))
    assert not merkle.verify_consistency(8, 6, bytes.fromhex(ROOTS[8]), bytes.fromhex(ROOTS[6]), [])


def test_the_standalone_verifier_agrees_with_the_reference_and_the_writer() -> None:
    """``verifier/passport_verify/merkle.py`` is written apart from the log writer: both agree with the
    reference vectors and with each other on every proof of trees up to 40 leaves."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "verifier"))
    from passport_verify import merkle as independent

    assert [independent.leaf_hash(leaf) for leaf in LEAVES] == HASHES
    for index, size, proof in INCLUSION:
        assert independent.verify_inclusion(HASHES[index], index, size, [bytes.fromhex(p) for p in proof],
                                            bytes.fromhex(ROOTS[size]))
    leaves = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    for n in range(1, 41):
        root = merkle.root(leaves[:n])
        for i in range(n):
            proof = merkle.inclusion_proof(leaves[:n], i)
            assert independent.verify_inclusion(leaves[i], i, n, proof, root)
            assert not independent.verify_inclusion(leaves[i], i, n, proof, merkle.root(leaves[:n - 1]))
            assert not independent.verify_inclusion(leaves[i], i + 1, n, proof, root)  # wrong position
