"""The cyclic garbage collector around bulk work.

``frozen_meanwhile()`` moves what the process holds into the collector's permanent generation for the length
of a block (``gc.freeze``), so that collections inside it walk only what the block makes, and forked children
do not copy the parent's pages when they collect. Objects someone else froze before (a test process freezes
its own between tests) stay frozen after the block, with what the block froze beside them: it unfreezes only
when nothing was frozen before it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def frozen_meanwhile() -> Iterator[None]:
    ours = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()
