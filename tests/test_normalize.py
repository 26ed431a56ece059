import numpy as np
import pytest

from mscseq.errors import MscseqError
from mscseq.normalize import genewise_dispersion_intercept, parametric_trend, size_factors, vst


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


def test_genewise_dispersion_recovers_simulated_value():
    rng = np.random.default_rng(1)
    n, g, alpha = 40, 300, 0.2
    mu = np.full((n, g), 200.0)
    lam = rng.gamma(1 / alpha, mu * alpha)
    counts = rng.poisson(lam).astype(float)
    est = genewise_dispersion_intercept(counts, np.ones(n))
    assert abs(np.median(est) - alpha) < 0.03


def test_genewise_dispersion_is_the_maximum_of_the_cr_likelihood():
    from mscseq.normalize import _nb_cr_loglik

    rng = np.random.default_rng(2)
    counts = rng.poisson(rng.gamma(5, 20, size=(8, 50))).astype(float)
    sf = np.ones(8)
    est = genewise_dispersion_intercept(counts, sf)
    mu = np.broadcast_to(counts.mean(axis=0), counts.shape)
    best = _nb_cr_loglik(np.log(est), counts, mu)
    for factor in (0.97, 1.03):
        assert (best >= _nb_cr_loglik(np.log(est * factor), counts, mu) - 1e-9).all()


def test_parametric_trend_recovers_coefficients():
    rng = np.random.default_rng(3)
    means = 10 ** rng.uniform(0, 4, 2000)
    disp = (0.05 + 2.0 / means) * rng.gamma(20, 1 / 20, 2000)
    a0, a1 = parametric_trend(means, disp)
    assert a0 == pytest.approx(0.05, rel=0.1)
    assert a1 == pytest.approx(2.0, rel=0.1)


def test_vst_closed_form_matches_r_formula():
    rng = np.random.default_rng(4)
    counts = rng.poisson(rng.gamma(2, 100, size=(6, 1500))).astype(float)
    sf = size_factors(counts)
    out, params = vst(counts, sf)
    assert params["fit_type"] == "parametric"
    a0, a1 = params["asympt_disp"], params["extra_pois"]
    q = counts / sf[:, None]
    expected = np.log((1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q))) / (4 * a0)) / np.log(2)
    np.testing.assert_allclose(out, expected)
    # VST is close to log2 for high counts
    hi = q > 300
    assert np.abs(out[hi] - np.log2(q[hi])).max() < 1.0
