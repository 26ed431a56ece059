"""Hand-checkable unit tests of the engine's building blocks."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _engine_data import toy_counts as _toy
from scipy.stats import nbinom, norm

from mscseq.de.engine import fit_deseq2, lrt_results, results, threshold_test
from mscseq.de.engine._rstats import lowess, p_adjust_bh, trimmed_mean_rows
from mscseq.de.engine.backends import NumbaBackend
from mscseq.de.engine.dispersion import fit_dispersion_line_search
from mscseq.de.engine.glm import fit_nb_glm
from mscseq.de.engine.likelihood import dlog_posterior, log_posterior, outer_rows
from mscseq.de.engine.trend import glm_gamma_identity, r_loess_1d
from mscseq.errors import MscseqError


def test_irls_matches_statsmodels_nb_glm() -> None:
    sm = pytest.importorskip("statsmodels.api")
    y, x, sf = _toy()
    xv = x.to_numpy()
    alpha = np.full(y.shape[1], 0.1)
    fit = fit_nb_glm(y.T, sf, xv, alpha, lambda_log2=np.full(3, 1e-12), tol=1e-14)
    for g in range(0, 300, 37):
        ref = sm.GLM(
            y[:, g], xv, family=sm.families.NegativeBinomial(alpha=0.1), offset=np.log(sf)
        ).fit(tol=1e-12)
        np.testing.assert_allclose(fit.beta[g], ref.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.sqrt(fit.beta_var[g]), ref.bse, rtol=1e-4)


def test_cox_reid_log_posterior_direct() -> None:
    y, x, sf = _toy(2, g=5)
    xv = x.to_numpy()
    mu = np.maximum(sf[:, None] * y.mean(0), 0.5).T  # (G, n) any positive means
    a = np.log(np.array([0.05, 0.2, 1.0, 0.01, 3.0]))
    got = log_posterior(a, y.T, mu, outer_rows(xv), 3, None, 1.0)
    for g in range(5):
        alpha = np.exp(a[g])
        ll = nbinom.logpmf(y[:, g], 1 / alpha, 1 / (1 + alpha * mu[g])).sum()
        # DESeq2's log posterior omits -log(y!) and y log(mu) (constant in alpha)
        from scipy.special import gammaln

        ll += gammaln(y[:, g] + 1).sum() - (y[:, g] * np.log(mu[g])).sum()
        w = 1 / (1 / mu[g] + alpha)
        cr = -0.5 * np.linalg.slogdet(xv.T @ (xv * w[:, None]))[1]
        assert got[g] == pytest.approx(ll + cr, rel=1e-10)
    # derivative w.r.t. log alpha vs central differences (with the prior)
    pm = np.log(np.full(5, 0.1))
    h = 1e-6
    num = (
        log_posterior(a + h, y.T, mu, outer_rows(xv), 3, pm, 0.5)
        - log_posterior(a - h, y.T, mu, outer_rows(xv), 3, pm, 0.5)
    ) / (2 * h)
    np.testing.assert_allclose(
        dlog_posterior(a, y.T, mu, outer_rows(xv), 3, pm, 0.5), num, rtol=1e-5, atol=1e-6
    )


def test_line_search_reaches_maximum() -> None:
    y, x, sf = _toy(3, g=50)
    xv = x.to_numpy()
    mu = fit_nb_glm(y.T, sf, xv, np.full(50, 0.1)).mu
    res = fit_dispersion_line_search(y.T, xv, mu, np.log(np.full(50, 0.1)))
    xx = outer_rows(xv)
    ok = res.iterations < 100
    for d in (-0.05, 0.05):
        worse = log_posterior(res.log_alpha + d, y.T, mu, xx, 3, None, 1.0)
        assert np.all(worse[ok] <= res.last_lp[ok] + 1e-6)


def test_less_abs_is_max_of_one_sided_tests() -> None:
    lfc = np.array([0.0, 0.5, -0.8, 1.2, -3.0])
    se = np.array([0.2, 0.3, 0.25, 0.4, 0.5])
    stat, p = threshold_test(lfc, se, 1.0, "lessAbs")
    p_upper = norm.cdf((lfc - 1.0) / se)  # H0: lfc >= 1
    p_lower = norm.sf((lfc + 1.0) / se)  # H0: lfc <= -1
    np.testing.assert_allclose(p, np.maximum(p_upper, p_lower))
    np.testing.assert_allclose(
        stat, np.minimum(np.maximum((1 - lfc) / se, 0), np.maximum((lfc + 1) / se, 0))
    )
    _, pg = threshold_test(lfc, se, 1.0, "greaterAbs")
    np.testing.assert_allclose(pg, np.minimum(1, 2 * norm.sf((np.abs(lfc) - 1) / se)))


def test_reversed_and_general_contrasts() -> None:
    y, x, _ = _toy(4)
    fit = fit_deseq2(y, x)
    fwd = results(fit, ("group", "B", "A"))
    rev = results(fit, ("group", "A", "B"))
    np.testing.assert_allclose(rev["log2FoldChange"], -fwd["log2FoldChange"])
    np.testing.assert_allclose(rev["pvalue"], fwd["pvalue"])
    vec = results(fit, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(vec["pvalue"], fwd["pvalue"])
    # a general vector through the sandwich covariance gives the same as the coefficient
    gen = results(fit, np.array([0.0, 0.0, 2.0]))
    np.testing.assert_allclose(gen["log2FoldChange"], 2 * fwd["log2FoldChange"], rtol=1e-10)
    np.testing.assert_allclose(gen["pvalue"], fwd["pvalue"], rtol=1e-8)
    # lessAbs on the reversed contrast equals lessAbs on the forward one (symmetric test)
    a = results(fit, ("group", "B", "A"), lfc_threshold=0.5, alt_hypothesis="lessAbs")
    b = results(fit, ("group", "A", "B"), lfc_threshold=0.5, alt_hypothesis="lessAbs")
    np.testing.assert_allclose(a["pvalue"], b["pvalue"])
    g = results(fit, ("group", "B", "A"), lfc_threshold=0.5, alt_hypothesis="greater")
    ls = results(fit, ("group", "A", "B"), lfc_threshold=0.5, alt_hypothesis="less")
    np.testing.assert_allclose(g["pvalue"], ls["pvalue"])


def test_lrt_of_single_coefficient_close_to_wald() -> None:
    y, x, _ = _toy(5)
    fit = fit_deseq2(y, x)
    lrt = lrt_results(fit, x[["Intercept", "batch[T.b]"]])
    wald = results(fit, "group[T.B]")
    assert lrt.attrs["df"] == 1
    ok = (wald["baseMean"] > 50).to_numpy()
    r = np.corrcoef(np.log10(lrt["pvalue"][ok]), np.log10(wald["pvalue"][ok]))[0, 1]
    assert r > 0.98


def test_rank_deficient_design_names_columns() -> None:
    y, x, _ = _toy(6)
    x = x.assign(dup=x["group[T.B]"])
    with pytest.raises(MscseqError, match=r"dup|group"):
        fit_deseq2(y, x)


def test_bad_inputs() -> None:
    y, x, _ = _toy(7)
    with pytest.raises(MscseqError, match="integers"):
        fit_deseq2(y + 0.5, x)
    with pytest.raises(MscseqError, match="rows"):
        fit_deseq2(y[:5], x)
    fit = fit_deseq2(y, x)
    with pytest.raises(MscseqError, match="lessAbs"):
        results(fit, "group[T.B]", alt_hypothesis="lessAbs")
    with pytest.raises(MscseqError, match="not a design column"):
        results(fit, "nope")


def test_p_adjust_and_trim_and_lowess() -> None:
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.2])
    got = p_adjust_bh(p)
    np.testing.assert_allclose(got[[0, 2, 3, 4]], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert np.isnan(got[1])
    # R: mean(c(1, 2, 3, 100), trim = 0.25) == 2.5
    assert trimmed_mean_rows(np.array([[1.0, 2, 3, 100]]), 0.25)[0] == 2.5
    sm = pytest.importorskip("statsmodels.nonparametric.smoothers_lowess")
    rng = np.random.default_rng(0)
    xs = np.linspace(0, 1, 50)
    ys = np.sin(6 * xs) * 100 + rng.normal(0, 10, 50)
    ref = sm.lowess(ys, xs, frac=0.2, it=3, delta=0.01, return_sorted=False)
    np.testing.assert_allclose(lowess(xs, ys, f=0.2), ref, rtol=1e-6, atol=1e-6)


def test_gamma_glm_recovers_line() -> None:
    rng = np.random.default_rng(1)
    m = np.exp(rng.uniform(0, 8, 2000))
    true = 0.05 + 2 / m
    d = true * rng.gamma(5, 1 / 5, 2000)
    coef, conv = glm_gamma_identity(
        np.column_stack([np.ones_like(m), 1 / m]), d, np.array([0.1, 1.0])
    )
    assert conv
    np.testing.assert_allclose(coef, [0.05, 2.0], rtol=0.1)


def test_loess_reproduces_r_prior_variance_choice() -> None:
    """R's loess(span=0.2) on airway's simulated KL curve picks 0.5285285 (DESeq2's dispPriorVar)."""
    kl = pd.read_csv(
        Path(__file__).resolve().parents[2]
        / "benchmarks"
        / "reference"
        / "airway_prior_kl_seed2.tsv",
        sep="\t",
    )
    fine = np.linspace(0, 8, 1000)
    fitted = r_loess_1d(kl["grid"].to_numpy(), kl["kl"].to_numpy(), fine, span=0.2)
    assert fine[np.argmin(fitted)] == pytest.approx(0.5285285285, abs=1e-9)


def test_r_random_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draws of set.seed(2); rchisq(5, 3) in R 4.2.2, and the stored tables equal the generator."""
    pytest.importorskip("numba")
    tool = Path(__file__).resolve().parents[2] / "benchmarks" / "make_rsim_tables.py"
    if not tool.is_file():
        pytest.skip(f"{tool} not available (source checkout only)")
    monkeypatch.syspath_prepend(str(tool.parent))
    rsim = importlib.import_module("make_rsim_tables")  # numba's cache needs an importable module
    got = rsim.r_rchisq(5, 3, 2)
    r = [
        0.60839875872378502,
        0.53883407524968197,
        0.37812323397130138,
        2.2591307791793858,
        0.83222761479705842,
    ]
    np.testing.assert_allclose(got, r, rtol=1e-13)
    from mscseq.de.engine._rsim_tables import simulated_counts

    sims = rsim.simulated_histograms(3, np.linspace(0, 8, 200)[:5])
    np.testing.assert_array_equal(sims, simulated_counts(3)[:5])


@pytest.mark.parametrize("n", [12, 60])
def test_compiled_kernels_match_numpy(n: int) -> None:
    """The per-gene numba kernels implement the same algorithms as the batched numpy code."""
    from mscseq.de.engine.dispersion import fit_dispersion_grid

    y, x, sf = _toy(5, g=400, n=n)
    y = y[:, y.sum(0) > 0]
    yt, xv = y.T.copy(), x.to_numpy()
    alpha = 0.05 + 1.0 / (yt.mean(1) + 1.0)
    f0 = fit_nb_glm(yt, sf, xv, alpha)
    f1 = fit_nb_glm(yt, sf, xv, alpha, backend=NumbaBackend())
    for k in ("beta", "beta_var", "mu", "hat", "loglike"):
        np.testing.assert_allclose(getattr(f1, k), getattr(f0, k), rtol=1e-7, atol=1e-10, err_msg=k)
    np.testing.assert_array_equal(f1.iterations, f0.iterations)
    mu = np.maximum(f0.mu, 0.5)
    pm = np.log(np.full(yt.shape[0], 0.08))
    for prior in (None, pm):
        a0 = np.log(alpha)
        r0 = fit_dispersion_line_search(yt, xv, mu, a0, prior_mean=prior, prior_var=0.6)
        r1 = fit_dispersion_line_search(
            yt, xv, mu, a0, prior_mean=prior, prior_var=0.6, backend=NumbaBackend()
        )
        same = r0.iterations == r1.iterations
        assert same.mean() > 0.99
        np.testing.assert_allclose(r1.log_alpha[same], r0.log_alpha[same], rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(r1.initial_lp, r0.initial_lp, rtol=1e-12)
        if prior is not None:  # without a prior the grid's flat tails are decided by rounding
            g0 = fit_dispersion_grid(yt[:50], xv, mu[:50], prior_mean=prior[:50], prior_var=0.6)
            g1 = fit_dispersion_grid(
                yt[:50], xv, mu[:50], prior_mean=prior[:50], prior_var=0.6, backend=NumbaBackend()
            )
            np.testing.assert_allclose(g1, g0, rtol=1e-10)
    full0 = fit_deseq2(y, x, kernels=False)
    full1 = fit_deseq2(y, x, kernels=True)
    np.testing.assert_allclose(full1.dispersion, full0.dispersion, rtol=1e-6)
    np.testing.assert_allclose(full1.beta, full0.beta, rtol=1e-6, atol=1e-8)
