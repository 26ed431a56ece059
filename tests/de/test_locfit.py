"""R's locfit fallback trend (``localDispersionFit``) as reproduced by :mod:`mscseq.de.engine._locfit`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscseq.de.engine._locfit import locfit_1d
from mscseq.de.engine.trend import fit_trend, local_trend

REFERENCE = Path(__file__).resolve().parents[2] / "benchmarks" / "reference"


def test_matches_r_locfit_inside_and_beyond_the_data():
    path = REFERENCE / "locfit_synthetic.data.tsv.gz"
    if not path.exists():
        pytest.skip(
            "benchmarks/reference/locfit_synthetic.* not generated (benchmarks/make_r_reference.R)"
        )
    d = pd.read_csv(path, sep="\t")
    p = pd.read_csv(REFERENCE / "locfit_synthetic.predict.tsv.gz", sep="\t")
    tree = locfit_1d(d["x"].to_numpy(), d["y"].to_numpy(), np.exp(d["x"].to_numpy()))
    np.testing.assert_allclose(tree(p["at"].to_numpy()), p["fit"].to_numpy(), rtol=1e-6, atol=1e-6)


def test_reproduces_a_quadratic_exactly():
    """A local quadratic fit of quadratic data is exact at every vertex and in between."""
    x = np.linspace(0, 10, 300)
    y = 0.2 * x**2 - x + 3
    tree = locfit_1d(x, y, np.exp(x / 3))
    at = np.linspace(-2, 12, 57)
    np.testing.assert_allclose(tree(at), 0.2 * at**2 - at + 3, atol=1e-8)


def test_tree_splits_cells_wider_than_cut_times_bandwidth():
    x = np.random.default_rng(1).uniform(0, 10, 500)
    tree = locfit_1d(x, np.sin(x), None)
    widths = np.diff(tree.vertices)
    h = tree.bandwidths
    assert tree.vertices[0] == x.min() and tree.vertices[-1] == x.max()
    assert np.all(widths <= 0.8 * np.minimum(h[:-1], h[1:]) + 1e-12)
    # bandwidth = distance to the floor(0.7 n)-th nearest point
    k = int(0.7 * x.size)
    for v, hv in zip(tree.vertices, h, strict=True):
        assert hv == pytest.approx(np.sort(np.abs(x - v))[k - 1])


def test_fit_trend_falls_back_to_local_as_r():
    rng = np.random.default_rng(2)
    means = np.exp(rng.uniform(1, 9, 2000))
    disps = 1e-3 * means**0.6 * rng.gamma(10, 0.1, 2000)  # rising with the mean: no a0 + a1/mu fit
    trend = fit_trend(means, disps)
    assert trend.fit_type == "local"
    direct = local_trend(means, disps)
    np.testing.assert_allclose(trend(means), direct(means))
    assert np.all(np.isfinite(trend(np.array([0.5, 1e6]))))
