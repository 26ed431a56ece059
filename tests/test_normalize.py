from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscseq.errors import MscseqError
from mscseq.normalize import _fmm_spline, blind_dispersion_trend, size_factors, vst, vst_local


def test_size_factors_hand_computed():
    counts = np.array([[10, 20, 30], [20, 40, 60], [5, 10, 15]], dtype=float)
    sf = size_factors(counts)
    # every gene's ratio to the geometric mean is the same: 10/10=1, 20/10=2, 5/10=0.5 (scaled)
    geo = np.exp(np.log(counts).mean(axis=0))
    expected = np.median(counts / geo, axis=1)
    np.testing.assert_allclose(sf, expected)
    np.testing.assert_allclose(sf / sf[0], [1, 2, 0.5])


def test_size_factors_ignore_genes_with_a_zero():
    counts = np.array([[10, 0, 30], [20, 5, 60]], dtype=float)
    sf = size_factors(counts)
    np.testing.assert_allclose(sf[1] / sf[0], 2.0)


def test_size_factors_refuse_when_every_gene_has_a_zero():
    counts = np.array([[0, 3], [4, 0]], dtype=float)
    with pytest.raises(MscseqError, match="zero count"):
        size_factors(counts)


def test_vst_closed_form_matches_r_formula():
    rng = np.random.default_rng(4)
    counts = rng.poisson(rng.gamma(2, 100, size=(6, 1500))).astype(float)
    sf = size_factors(counts)
    out, params = vst(counts, sf)
    assert params["fit_type"] == "parametric"
    a0, a1 = params["asympt_disp"], params["extra_pois"]
    q = counts / sf[:, None]
    expected = np.log(
        (1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q))) / (4 * a0)
    ) / np.log(2)
    np.testing.assert_allclose(out, expected)
    # VST is close to log2 for high counts
    hi = q > 300
    assert np.abs(out[hi] - np.log2(q[hi])).max() < 1.0


REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "reference"


def test_blind_trend_uses_r_subset_and_engine():
    """nsub genes with mean > 5, evenly along their sorted means; the engine's parametric trend."""
    rng = np.random.default_rng(5)
    means = 10 ** rng.uniform(0.5, 4, 3000)
    disp = 0.05 + 2.0 / means
    counts = rng.negative_binomial(1 / disp, 1 / (1 + means * disp), size=(8, 3000)).astype(float)
    trend = blind_dispersion_trend(counts, np.ones(8), nsub=1000)
    assert trend.fit_type == "parametric"
    a0, a1 = trend.coefficients
    assert a0 == pytest.approx(0.05, rel=0.3)
    assert a1 == pytest.approx(2.0, rel=0.3)


def test_fmm_spline_interpolates_and_reproduces_cubics():
    x = np.sort(np.random.default_rng(6).uniform(0, 10, 30))
    cubic = lambda t: 0.3 * t**3 - t**2 + 2 * t - 1  # noqa: E731
    f = _fmm_spline(x, cubic(x))
    at = np.linspace(-2, 12, 50)
    # FMM end conditions make the spline exact for a cubic, inside and beyond the knots
    np.testing.assert_allclose(f(at), cubic(at), rtol=1e-9, atol=1e-9)


def test_vst_local_is_log2_like_for_constant_dispersion():
    rng = np.random.default_rng(7)
    norm = rng.gamma(2, 200, size=(6, 2000))
    out = vst_local(norm, np.ones(6), lambda m: np.full(np.shape(m), 0.05))
    hi = norm > 1000
    assert np.abs(out[hi] - np.log2(norm[hi])).max() < 0.2


def test_vst_local_fallback_matches_r():
    """R's vst() where the parametric trend fails: locfit trend, numerical transformation (R reference)."""
    path = REFERENCE / "vst_local.counts.tsv.gz"
    if not path.exists():
        pytest.skip(
            "benchmarks/reference/vst_local.* not generated (benchmarks/make_r_reference.R)"
        )
    counts = pd.read_csv(path, sep="\t", index_col=0)
    r = pd.read_csv(REFERENCE / "vst_local.vst.tsv.gz", sep="\t", index_col=0)
    x = counts.to_numpy(dtype=float).T
    out, params = vst(x, size_factors(x))
    assert params["fit_type"] == "local"
    np.testing.assert_allclose(
        out, r.loc[counts.index, counts.columns].to_numpy().T, rtol=1e-6, atol=1e-6
    )
