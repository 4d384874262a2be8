"""Each test makes its own app, so each test's Jinja environment parsed and compiled every template it
rendered again (``base.html`` and its macros on nearly every test; about a twentieth of a second a template
on this machine). The test apps share one in-memory bytecode cache instead, Jinja's own mechanism for
this (``Environment.bytecode_cache``): a template is compiled once per test process, and every app runs
the same code object in its own environment, with its own globals and filters. Jinja files the code under
the template's name and file and checks it against the source's checksum, so an edited template is
compiled afresh. The apps under test are configured alike (``create_app``), and compiled code depends
only on the source and the environment's settings. ``tests/core/test_template_cache.py`` checks that a
page renders the same with and without the cache, and that a changed template is not served stale.
Nothing outside the tests is changed."""

from __future__ import annotations

from types import CodeType

from jinja2.bccache import Bucket, BytecodeCache


class SharedBytecode(BytecodeCache):
    def __init__(self) -> None:
        self.code: dict[str, tuple[str, CodeType]] = {}  # bucket key → (source checksum, code)

    def load_bytecode(self, bucket: Bucket) -> None:
        cached = self.code.get(bucket.key)
        if cached is not None and cached[0] == bucket.checksum:
            bucket.code = cached[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self.code[bucket.key] = (bucket.checksum, bucket.code)

    def clear(self) -> None:
        self.code.clear()


SHARED = SharedBytecode()
