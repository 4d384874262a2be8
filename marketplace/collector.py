"""The cyclic garbage collector around bulk work.

``frozen_meanwhile()`` moves what the process holds into the collector's permanent generation for the length
of a block (``gc.freeze``), so that collections inside it walk only what the block makes, and forked children
do not copy the parent's pages when they collect; afterwards it unfreezes them. When something is frozen
already (a test process freezes its own objects between tests), it does nothing: whoever froze first decides
when to unfreeze, and freezing more would keep what the block's caller held (an app, a session) out of every
collection after the block, until that unfreeze.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def frozen_meanwhile() -> Iterator[None]:
    ours = gc.get_freeze_count() == 0
    if ours:
        gc.freeze()
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()
