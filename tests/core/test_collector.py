"""``frozen_meanwhile``: what the process holds is frozen for a block, and only what the block froze is unfrozen."""

from __future__ import annotations

import gc

import pytest

from marketplace.collector import frozen_meanwhile


@pytest.mark.usefixtures("nothing_frozen")
def test_the_block_freezes_what_is_held_and_unfreezes_it_afterwards() -> None:
    held = [object()]
    with frozen_meanwhile():
        assert gc.get_freeze_count() > 0
        assert held
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("nothing_frozen")
def test_objects_someone_else_froze_stay_frozen_and_nothing_more_is_frozen() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with frozen_meanwhile():
        made = [[index] for index in range(1000)]  # new objects: left to the collector, not frozen
    assert 0 < gc.get_freeze_count() <= frozen
    assert made


@pytest.mark.usefixtures("nothing_frozen")
def test_a_failing_block_still_unfreezes() -> None:
    with pytest.raises(RuntimeError), frozen_meanwhile():
        raise RuntimeError("the block failed")
    assert gc.get_freeze_count() == 0
