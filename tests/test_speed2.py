"""Issue 15, the second speed round: less CPU in the forked children and the figures."""

from __future__ import annotations

import gc
import os

import pytest


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_the_child_sees_the_parent_objects_frozen_and_the_parent_does_not():
    """``background.start`` freezes the parent's objects for the collector across the fork only."""
    from mscseq.background import start

    assert gc.get_freeze_count() == 0
    job = start(gc.get_freeze_count)
    assert gc.get_freeze_count() == 0  # the parent collects as before
    assert job.result() > 1000  # the child's collections leave the inherited objects alone
