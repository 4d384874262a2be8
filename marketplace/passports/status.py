"""Bitstring Status List (W3C VC) for passport revocation and suspension, derived live from the database."""

from __future__ import annotations

import base64
import gzip

LIST_SIZE = 131_072  # the spec's minimum length, so that one entry does not stand out
PURPOSES = ("revocation", "suspension")


def encode(set_indexes: set[int], size: int = LIST_SIZE) -> str:
    """Multibase (base64url, no padding, prefix "u") of the GZIP-compressed bitstring."""
    bits = bytearray(size // 8)
    for index in set_indexes:
        if not 0 <= index < size:
            raise ValueError(f"status index {index} is outside the list")
        bits[index // 8] |= 0x80 >> (index % 8)  # index 0 is the left-most bit
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def decode(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url (prefix u)")
    data = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def is_set(bitstring: bytes, index: int) -> bool:
    return bool(bitstring[index // 8] & (0x80 >> (index % 8)))
