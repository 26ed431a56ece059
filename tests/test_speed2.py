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


def _png(path):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGBA")).astype(int)


@pytest.mark.parametrize("title_above", [False, True])
def test_a_figure_is_drawn_once_for_its_png_with_matplotlib_s_tight_picture(
    tmp_path, monkeypatch, title_above
):
    """``save_figure``'s PNG (the drawn canvas cut to the tight box) is matplotlib's ``bbox_inches`` PNG.

    Same size and the same picture up to sub-pixel placement; with a title above the figure (cut off
    on the canvas) the PNG is drawn again, exactly as matplotlib draws it.
    """
    import numpy as np
    from matplotlib import rcParams

    from mscseq.report.static import DPI, _figure, save_figure

    def draw():
        fig = _figure(4, 3)
        ax = fig.add_subplot()
        ax.scatter(np.arange(50), np.sin(np.arange(50)), s=12)
        ax.set_xlabel("x label reaching the edge")
        if title_above:
            fig.suptitle("above the figure", y=1.08)
        return fig

    from matplotlib.figure import Figure

    saved, savefig = [], Figure.savefig

    def counted(self, path, **kwargs):
        saved.append(kwargs.get("format"))
        return savefig(self, path, **kwargs)

    monkeypatch.setattr(Figure, "savefig", counted)
    files = save_figure(draw(), tmp_path / "ours")
    monkeypatch.undo()
    assert saved == (["pdf", "png"] if title_above else ["pdf"])  # PNG drawn again only then
    assert [p.name for p in files] == ["ours.pdf", "ours.png"]
    ref = draw()
    ref.set_dpi(DPI)
    ref.savefig(
        tmp_path / "ref.png",
        dpi=DPI,
        bbox_inches="tight",
        pad_inches=rcParams["savefig.pad_inches"],
    )
    ours, theirs = _png(tmp_path / "ours.png"), _png(tmp_path / "ref.png")
    assert ours.shape == theirs.shape
    differing = (np.abs(ours - theirs).max(axis=2) > 0).mean()
    if title_above:
        assert differing == 0
    else:
        assert differing < 0.1  # anti-aliased edges moved by less than a pixel
        assert (ours[..., 3] == 255).all()  # opaque, padding in the background colour
