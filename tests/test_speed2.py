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


def test_the_allocator_is_left_alone_when_the_user_tunes_it():
    """``MALLOC_*_`` variables or ``GLIBC_TUNABLES`` in the environment: mscseq does not call ``mallopt``."""
    from mscseq.allocator import user_tuned

    assert not user_tuned({"PATH": "/usr/bin", "MALLOC": "x"})
    assert user_tuned({"MALLOC_ARENA_MAX_": "2"})
    assert user_tuned({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})


@pytest.mark.skipif(
    not os.path.exists("/lib/x86_64-linux-gnu/libc.so.6")
    and not os.path.exists("/lib64/libc.so.6"),
    reason="not glibc",
)
def test_the_allocator_thresholds_are_set_on_glibc(monkeypatch):
    """On Linux with glibc both thresholds are accepted; with the user's own tuning nothing is set."""
    from mscseq import allocator

    for key in [k for k in os.environ if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"]:
        monkeypatch.delenv(key)
    assert allocator.tune() is True
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert allocator.tune() is False


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_ranks_are_scipy_s(seed):
    """The Spearman correlation's ranks (pandas) equal ``scipy.stats.rankdata``'s, ties included."""
    import numpy as np
    from scipy.stats import rankdata, spearmanr

    from mscseq.explore import correlations

    rng = np.random.default_rng(seed)
    vst = rng.integers(0, 6, size=(7, 40)).astype(float)  # many ties
    vst[3] = 2.0  # a flat sample: no correlation
    with np.errstate(invalid="ignore", divide="ignore"):
        ranks = np.corrcoef(rankdata(vst, axis=1))
    _, spearman = correlations(vst)
    np.testing.assert_array_equal(spearman, ranks)
    rho = spearmanr(vst[0], vst[1]).statistic
    assert spearman[0, 1] == pytest.approx(rho, abs=1e-12)
    assert np.isnan(spearman[3, 0])
