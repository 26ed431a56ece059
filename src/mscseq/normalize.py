"""DESeq2 median-of-ratios size factors, normalised counts and the blind variance-stabilising transformation."""

from __future__ import annotations

import logging

import numpy as np

from mscseq.de.engine.likelihood import MIN_DISP
from mscseq.de.engine.sizefactors import size_factors_median_ratio
from mscseq.errors import MscseqError

log = logging.getLogger(__name__)


def size_factors(counts: np.ndarray, type: str = "ratio") -> np.ndarray:
    """Median-of-ratios size factors (R's ``estimateSizeFactorsForMatrix``), or another ``type``.

    Parameters
    ----------
    counts
        Raw counts, samples × genes.
    type
        ``ratio`` (default), ``poscounts`` or ``iterate`` (R's ``estimateSizeFactors(type=)``,
        :func:`mscseq.de.engine.sizefactors.estimate_size_factors`).

    Returns
    -------
    numpy.ndarray
        One size factor per sample (not rescaled, as R).

    Raises
    ------
    MscseqError
        When no gene is counted in every sample (the geometric means are all zero).

    Notes
    -----
    :func:`mscseq.de.engine.size_factors_median_ratio` computes them (one implementation for
    the normalised counts and the DE engine).

    """
    if type != "ratio":
        from mscseq.de.engine.sizefactors import estimate_size_factors

        return estimate_size_factors(counts.T, type)
    return size_factors_median_ratio(counts.T)


def blind_dispersion_trend(
    counts: np.ndarray, sf: np.ndarray, *, nsub: int = 1000, fit_type: str = "parametric"
):
    """The dispersion trend of R's ``vst(blind = TRUE, nsub = 1000)``, with mscseq's DESeq2 engine.

    As R: with the design ``~ 1``, gene-wise dispersions (:func:`mscseq.de.engine.dispersion.genewise_dispersions`)
    of ``nsub`` genes with mean normalised count > 5 picked evenly along their sorted means, then the
    parametric trend, or R's local (locfit) trend when the parametric fit fails
    (:func:`mscseq.de.engine.trend.fit_trend`); when no trend can be fitted (R's ``DESeq`` stops), the
    mean of the gene-wise dispersions. When fewer than ``nsub`` genes have a mean above 5, R's
    ``vst`` stops and recommends ``varianceStabilizingTransformation``; mscseq does what that function
    does: every gene with a non-zero count enters the fit.

    Parameters
    ----------
    counts
        Raw counts, samples × genes.
    sf
        Size factors.
    nsub
        Number of genes for the trend fit.
    fit_type
        R's ``fitType``: ``parametric``, ``local`` or ``mean``.

    Returns
    -------
    mscseq.de.engine.trend.Trend
        The fitted trend (``fit_type`` ``"parametric"``, ``"local"`` or ``"mean"``).

    Raises
    ------
    MscseqError
        When no gene has a non-zero count.

    """
    from mscseq.de.engine.dispersion import genewise_dispersions
    from mscseq.de.engine.trend import DispersionTrendError, fit_trend

    norm = counts / sf[:, None]
    base_mean = norm.mean(axis=0)
    eligible = np.flatnonzero(base_mean > 5)
    if len(eligible) >= nsub:
        order = eligible[np.argsort(base_mean[eligible], kind="stable")]
        pick = np.round(np.linspace(1, len(order), nsub)).astype(int) - 1
        idx = order[pick]
    else:
        idx = np.flatnonzero(base_mean > 0)
    if len(idx) == 0:
        msg = "no gene has a non-zero count; cannot transform the data"
        raise MscseqError(msg)
    y = np.ascontiguousarray(counts[:, idx].T)
    y_norm = y / sf
    bm = y_norm.mean(axis=1)
    bv = y_norm.var(axis=1, ddof=1) if counts.shape[0] > 1 else np.zeros_like(bm)
    disp = genewise_dispersions(y, sf, np.ones((counts.shape[0], 1)), bm, bv).disp
    try:
        return fit_trend(bm, disp, fit_type)
    except DispersionTrendError:
        # every gene-wise estimate is near the minimum, or too few genes for the local fit (R stops
        # here): the mean of the estimates instead
        log.warning(
            "no dispersion trend can be fitted (%d gene(s), dispersions near zero or too few for a "
            "local fit); the VST uses the mean gene-wise dispersion",
            bm.size,
        )
        return fit_trend(bm, np.maximum(disp, 1000 * MIN_DISP), "mean")


def _fmm_spline(x: np.ndarray, y: np.ndarray):
    """Interpolating cubic spline with Forsythe–Malcolm–Moler end conditions (R's ``splinefun``).

    The end conditions match the spline's third derivative in the first and last intervals to that
    of the cubic through the four end points; outside the knots the end intervals' cubics continue.
    """
    from scipy.linalg import solve_banded

    n = x.size
    h = np.diff(x)
    delta = np.diff(y) / h
    ab = np.zeros((3, n))  # banded system in the second derivatives m
    rhs = np.zeros(n)
    ab[0, 2:] = h[1:]  # super-diagonal
    ab[1, 1:-1] = 2.0 * (h[:-1] + h[1:])
    ab[2, :-2] = h[:-1]  # sub-diagonal
    rhs[1:-1] = 6.0 * (delta[1:] - delta[:-1])
    if n >= 4:

        def third(i: int) -> float:  # 6 × third divided difference over x[i..i+3]
            d2a = (delta[i + 1] - delta[i]) / (x[i + 2] - x[i])
            d2b = (delta[i + 2] - delta[i + 1]) / (x[i + 3] - x[i + 1])
            return 6.0 * (d2b - d2a) / (x[i + 3] - x[i])

        # (m1 - m0) / h0 = third(0);  (m[n-1] - m[n-2]) / h[n-2] = third(n - 4)
        ab[1, 0], ab[0, 1], rhs[0] = -1.0, 1.0, h[0] * third(0)
        ab[2, n - 2], ab[1, n - 1], rhs[n - 1] = -1.0, 1.0, h[-1] * third(n - 4)
    else:  # natural ends when there are too few points
        ab[1, 0] = ab[1, n - 1] = 1.0
    m = solve_banded((1, 1), ab, rhs)

    def evaluate(at: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, n - 2)
        t = at - x[k]
        b = delta[k] - h[k] * (2.0 * m[k] + m[k + 1]) / 6.0
        return y[k] + t * (b + t * (m[k] / 2.0 + t * (m[k + 1] - m[k]) / (6.0 * h[k])))

    return evaluate


def _log2_anchors(means: np.ndarray) -> tuple[float, float]:
    """The two mean normalised counts at which :func:`vst_local` equals ``log2`` (R: 95 % and 99.9 % quantiles).

    R takes the quantiles over every gene. When more than 95 % of the genes are all-zero, R's lower
    quantile is 0 and its transformation is NaN; mscseq then takes the quantiles over the genes with
    a non-zero mean (those R's dispersion fit uses), and, should these still coincide, the smallest
    and largest non-zero means (or one mean and twice it). Whenever R's anchors are usable they are R's.
    """
    h1, h2 = (float(h) for h in np.quantile(means, [0.95, 0.999]))
    if 0 < h1 < h2:
        return h1, h2
    counted = means[means > 0]
    if counted.size == 0:
        return 1.0, 2.0
    h1, h2 = (float(h) for h in np.quantile(counted, [0.95, 0.999]))
    if 0 < h1 < h2:
        return h1, h2
    lo, hi = float(counted.min()), float(counted.max())
    return (lo, hi) if lo < hi else (hi, 2.0 * hi)


def vst_local(norm: np.ndarray, sf: np.ndarray, trend) -> np.ndarray:
    """R's ``getVarianceStabilizedData`` for a non-parametric dispersion trend.

    Integrates ``1 / sqrt(trend(q) q² + mean(1/s) q)`` by the trapezoid rule on 999 points evenly
    spaced in ``asinh`` up to the largest normalised count, interpolates the integral with an FMM
    cubic spline in ``asinh(q)``, and scales it so that it equals ``log2`` at the 95 % and 99.9 %
    quantiles of the genes' mean normalised counts (:func:`_log2_anchors`: of the counted genes when
    more than 95 % are all-zero, where R's result is NaN).

    Parameters
    ----------
    norm
        Normalised counts, samples × genes.
    sf
        Size factors.
    trend
        Callable dispersion trend of the mean.

    Returns
    -------
    numpy.ndarray
        Transformed counts (log2 scale).

    """
    xg = np.sinh(np.linspace(0.0, np.arcsinh(norm.max()), 1000))[1:]
    xim = np.mean(1.0 / sf)
    integrand = 1.0 / np.sqrt(trend(xg) * xg**2 + xim * xg)
    knots = np.arcsinh((xg[1:] + xg[:-1]) / 2.0)
    integral = np.cumsum(np.diff(xg) * (integrand[1:] + integrand[:-1]) / 2.0)
    spline = _fmm_spline(knots, integral)
    h1, h2 = _log2_anchors(norm.mean(axis=0))
    eta = (np.log2(h2) - np.log2(h1)) / (spline(np.arcsinh(h2)) - spline(np.arcsinh(h1)))
    xi = np.log2(h1) - eta * spline(np.arcsinh(h1))
    return eta * spline(np.arcsinh(norm)) + xi


def vst(
    counts: np.ndarray, sf: np.ndarray, *, nsub: int = 1000, fit_type: str = "parametric"
) -> tuple[np.ndarray, dict[str, float | str]]:
    """Blind variance-stabilising transformation, as R DESeq2's ``vst(blind = TRUE, nsub = 1000)``.

    The trend is :func:`blind_dispersion_trend`. A parametric trend gives R's closed-form
    transformation; R's local fallback trend is transformed numerically as R does
    (:func:`vst_local`); a mean dispersion uses R's ``asinh`` form.

    Parameters
    ----------
    counts
        Raw counts, samples × genes.
    sf
        Size factors.
    nsub
        Number of genes for the trend fit.
    fit_type
        R's ``fitType``: ``parametric``, ``local`` or ``mean``.

    Returns
    -------
    tuple
        The VST matrix (samples × genes, log2 scale) and the fit parameters
        (``fit_type``, ``asympt_disp`` and ``extra_pois``; NaN when the trend is not parametric).

    """
    trend = blind_dispersion_trend(counts, sf, nsub=nsub, fit_type=fit_type)
    norm = counts / sf[:, None]
    if trend.fit_type == "parametric":
        a0, a1 = (float(c) for c in trend.coefficients)
        q = norm
        out = np.log2((1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q))) / (4 * a0))
        return out, {"fit_type": "parametric", "asympt_disp": a0, "extra_pois": a1}
    if trend.fit_type == "local" and fit_type != "local":
        log.info(
            "the parametric dispersion trend could not be fitted; the VST uses R's local (locfit) trend"
        )
        return vst_local(norm, sf, trend), {
            "fit_type": "local",
            "asympt_disp": np.nan,
            "extra_pois": np.nan,
        }
    alpha = float(trend(np.ones(1))[0])
    out = (2 * np.arcsinh(np.sqrt(alpha * norm)) - np.log(alpha) - np.log(4)) / np.log(2)
    return out, {"fit_type": "mean", "asympt_disp": alpha, "extra_pois": 0.0}


def normalize(adata, *, size_factor_type: str = "ratio", fit_type: str = "parametric") -> None:
    """Size factors, normalised counts and blind VST, written into ``adata``.

    Parameters
    ----------
    adata
        AnnData with raw counts in ``X``.
    size_factor_type
        ``ratio``, ``poscounts`` or ``iterate`` (``--size-factors``).
    fit_type
        Dispersion trend of the VST: ``parametric``, ``local`` or ``mean`` (``--fit-type``).

    Notes
    -----
    Writes ``obs["size_factor"]``, ``var["base_mean"]``, ``layers["normalized"]``,
    ``layers["vst"]`` and ``uns["vst"]``.

    """
    counts = np.asarray(adata.X, dtype=np.float64)
    sf = size_factors(counts, size_factor_type)
    adata.obs["size_factor"] = sf
    norm = counts / sf[:, None]
    adata.layers["normalized"] = norm
    adata.var["base_mean"] = norm.mean(axis=0)
    vst_mat, params = vst(counts, sf, fit_type=fit_type)
    adata.layers["vst"] = vst_mat
    adata.uns["vst"] = params
