"""Serialising, hashing and signing passport versions on every core (issue 26).

A version's two forms are serialised (``canonical_json``), hashed and signed by the Union's key: pure work on
plain dicts, the same bytes in any process. ``publish_many`` hands each full batch to a pool of worker
processes while it builds the next one, and appends the signed versions to the log itself, in order, one
batch after the other: one log writer, the order and hashes the same as publishing one passport at a time.

The workers are started (``spawn``: nothing of the parent's connections or threads is inherited) only once a
batch fills, so publishing a few passports never starts a process. The private key reaches them as the
initializer's argument, over the pool's pipe, never through the environment, a file or a command line.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from joserfc.jwk import OKPKey

from marketplace.passports.signing import Signer, canonical_json

Forms = tuple[dict[str, Any], dict[str, Any]]  # (the 0.6.1 credential, the 0.7.0 form)
# (content hash, signature, 0.7.0 content hash, 0.7.0 signature, and the two forms as their JSON columns store them)
Signed = tuple[str, str, str, str, str, str]

_signer: Signer | None = None  # a worker's copy of the key


def sign_forms(forms: Forms, signer: Signer) -> Signed:
    """Both forms serialised once each, for their hash and their signature; and each as the text its JSON
    column stores (``json.dumps``, what SQLAlchemy's JSON type writes), so the publishing process inserts
    that text instead of encoding the forms again."""
    body, body_070 = canonical_json(forms[0]), canonical_json(forms[1])
    return (hashlib.sha256(body).hexdigest(), signer.sign_canonical(body),
            hashlib.sha256(body_070).hexdigest(), signer.sign_canonical(body_070),
            json.dumps(forms[0]), json.dumps(forms[1]))


def _start(private_jwk: dict[str, Any], did: str, kid: str) -> None:
    global _signer  # noqa: PLW0603 (one key per worker process)
    _signer = Signer(key=OKPKey.import_key(private_jwk), did=did, kid=kid)


def _sign_chunk(chunk: list[Forms]) -> list[Signed]:
    assert _signer is not None
    return [sign_forms(forms, _signer) for forms in chunk]


class SigningPool:
    """Signs batches in ``workers`` processes (none: in this one). ``submit`` returns a handle whose
    ``result()`` is the batch's ``Signed`` in the order of its forms."""

    def __init__(self, signer: Signer, workers: int) -> None:
        self.signer, self.workers = signer, workers
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, batch: Sequence[Forms], *, full: bool) -> _Pending:
        """Sign ``batch``; in the workers when it is ``full`` (or they already run), otherwise here."""
        if self.workers > 0 and (full or self._pool is not None) and len(batch) > 1:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                    initargs=(self.signer.key.as_dict(private=True), self.signer.did, self.signer.kid))
            size = -(-len(batch) // self.workers)
            try:
                return _Pending(batch, self.signer, [self._pool.submit(_sign_chunk, list(batch[start:start + size]))
                                                     for start in range(0, len(batch), size)])
            except BrokenProcessPool:  # the workers could not start or died: sign here from now on
                self.close()
                self.workers = 0
        return _Pending(batch, self.signer)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _Pending:
    """A batch being signed by the workers (``futures``), or to be signed here when its result is asked for."""

    def __init__(self, batch: Sequence[Forms], signer: Signer, futures: list[Future[list[Signed]]] | None = None
                 ) -> None:
        self._batch, self._signer, self._futures = batch, signer, futures

    def result(self) -> list[Signed]:
        if self._futures:
            try:
                return [signed for future in self._futures for signed in future.result()]
            except BrokenProcessPool:  # a worker could not start or died (the same bytes, signed here)
                pass
        return [sign_forms(forms, self._signer) for forms in self._batch]
