"""Dispersion trend and the prior variance of log dispersions (R DESeq2 ``estimateDispersionsFit``).

The parametric trend ``alpha(mu) = a0 + a1 / mu`` is fitted as R does: a Gamma-family GLM with
identity link (R's ``glm.fit`` IRLS, started from the previous coefficients, step halving when a
mean goes non-positive, ``epsilon = 1e-8``), refitted on the genes whose residual ratio lies in
``(1e-4, 15)`` until the coefficients move by less than ``1e-6`` (squared log ratio). When that
fails R switches to a local regression (``locfit``), reproduced by :mod:`._locfit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import polygamma

from mscseq.errors import MscseqError

from ._rsim_tables import simulated_counts
from ._rstats import mad
from .likelihood import MIN_DISP


class TrendFitError(RuntimeError):
    """The parametric trend could not be fitted (R falls back to a local fit)."""


class DispersionTrendError(MscseqError, ValueError):
    """No dispersion trend can be fitted on these data (R's ``DESeq`` stops there too).

    A problem of the user's data, so a :class:`~mscseq.errors.MscseqError` (exit 2; the pipeline puts
    the counts file in front of the message), and a ``ValueError`` for the blind VST, which uses the
    mean dispersion instead (:func:`mscseq.normalize.blind_dispersion_trend`).
    """


#: What a user can do when the dispersion trend cannot be fitted (R's advice, in mscseq's terms).
_TREND_ADVICE = (
    "differential expression needs biological replicates whose counts vary more than Poisson noise "
    "(not technical replicates or simulated Poisson counts) and a whole-transcriptome count matrix"
)


def _gamma_dev(y: np.ndarray, mu: np.ndarray) -> float:
    return float(np.sum(-2.0 * (np.log(np.where(y == 0, 1.0, y / mu)) - (y - mu) / mu)))


def glm_gamma_identity(
    x: np.ndarray, y: np.ndarray, start: np.ndarray, *, epsilon: float = 1e-8, maxit: int = 25
) -> tuple[np.ndarray, bool]:
    """R's ``glm(y ~ x, family = Gamma("identity"), start = start)`` IRLS.

    Parameters
    ----------
    x
        ``(n, 2)`` model matrix (intercept, covariate).
    y
        Positive responses.
    start
        Starting coefficients.
    epsilon, maxit
        R's ``glm.control`` defaults.

    Returns
    -------
    tuple
        Coefficients and whether the fit converged.

    """
    coef = np.array(start, dtype=float)
    coefold = coef.copy()
    mu = x @ coef
    if not (np.all(np.isfinite(mu)) and np.all(mu > 0)):
        raise TrendFitError("cannot find valid starting values")
    devold = _gamma_dev(y, mu)
    conv = False
    for _ in range(maxit):
        w = 1.0 / mu
        coef_new, *_ = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)
        if not np.all(np.isfinite(coef_new)):
            break
        coef = coef_new
        mu = x @ coef
        dev = _gamma_dev(y, mu) if np.all(mu > 0) else np.nan
        ii = 1
        while not (np.isfinite(dev) and np.all(np.isfinite(mu)) and np.all(mu > 0)):
            if ii > maxit:
                raise TrendFitError("inner loop; cannot correct step size")
            ii += 1
            coef = (coef + coefold) / 2.0
            mu = x @ coef
            dev = _gamma_dev(y, mu) if np.all(mu > 0) else np.nan
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            conv = True
            break
        devold = dev
        coefold = coef.copy()
    return coef, conv


def parametric_trend(means: np.ndarray, disps: np.ndarray) -> np.ndarray:
    """R's ``parametricDispersionFit``: coefficients ``(asymptDisp, extraPois)``.

    Parameters
    ----------
    means, disps
        Base means and gene-wise dispersions of the genes used for the fit.

    Returns
    -------
    numpy.ndarray
        The two coefficients.

    Raises
    ------
    TrendFitError
        When a coefficient is not positive or after 10 refits without convergence.

    """
    coefs = np.array([0.1, 1.0])
    it = 0
    while True:
        resid = disps / (coefs[0] + coefs[1] / means)
        good = (resid > 1e-4) & (resid < 15)
        xg = np.column_stack([np.ones(good.sum()), 1.0 / means[good]])
        new, conv = glm_gamma_identity(xg, disps[good], coefs)
        old = coefs
        coefs = new
        if not np.all(coefs > 0):
            raise TrendFitError("parametric dispersion fit failed")
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and conv:
            return coefs
        it += 1
        if it > 10:
            raise TrendFitError("dispersion fit did not converge")


def local_trend(means: np.ndarray, disps: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """R's ``localDispersionFit``: ``locfit(log(disp) ~ log(mean), weights = mean)`` (the fallback).

    Genes with a dispersion below ``10 * minDisp`` are left out of the fit; when all are, the trend
    is ``minDisp``. The local regression is locfit's default (nearest-neighbour fraction 0.7,
    degree 2, tricube weights, adaptive-tree evaluation with cubic Hermite interpolation and the
    parametric component; :func:`._locfit.locfit_1d`), which reproduces R's trend to ~1e-8.

    Parameters
    ----------
    means, disps
        Genes used for the fit.

    Returns
    -------
    callable
        Trend function of base mean.

    """
    from ._locfit import locfit_1d

    keep = disps >= MIN_DISP * 10
    if not keep.any():
        return lambda m: np.full(np.shape(m), MIN_DISP)
    tree = locfit_1d(np.log(means[keep]), np.log(disps[keep]), means[keep])

    def fn(m: np.ndarray) -> np.ndarray:
        return np.exp(tree(np.log(m)))

    return fn


@dataclass
class Trend:
    """A fitted dispersion trend.

    Attributes
    ----------
    fit_type
        ``"parametric"``, ``"local"`` or ``"mean"``.
    coefficients
        ``(asymptDisp, extraPois)`` for the parametric trend, else None.
    func
        Callable mapping base means to trend dispersions.

    """

    fit_type: str
    coefficients: np.ndarray | None
    func: Callable[[np.ndarray], np.ndarray]

    def __call__(self, means: np.ndarray) -> np.ndarray:
        """Evaluate the trend at ``means``."""
        return np.asarray(self.func(np.asarray(means, dtype=float)), dtype=float)


def fit_trend(base_mean: np.ndarray, disp_gene: np.ndarray, fit_type: str = "parametric") -> Trend:
    """R's ``estimateDispersionsFit`` for non-zero genes.

    Parameters
    ----------
    base_mean, disp_gene
        Base means and gene-wise dispersions of the non-zero genes.
    fit_type
        ``"parametric"`` (falls back to ``"local"`` as R does), ``"local"`` or ``"mean"``.

    Returns
    -------
    Trend
        The fitted trend.

    Raises
    ------
    DispersionTrendError
        When all gene-wise estimates are near the minimum (R stops there too), or when the local
        fit cannot be built on the few genes left.

    """
    use = disp_gene > 100 * MIN_DISP
    if not use.any():
        msg = (
            f"the gene-wise dispersion estimates of all {disp_gene.size} gene(s) are within 2 orders "
            "of magnitude of the minimum, so the dispersion trend cannot be fitted (R's DESeq2 stops "
            f"here too): {_TREND_ADVICE}"
        )
        raise DispersionTrendError(msg)
    if fit_type == "parametric":
        try:
            c = parametric_trend(base_mean[use], disp_gene[use])
            return Trend("parametric", c, lambda m, c=c: c[0] + c[1] / m)
        except (TrendFitError, np.linalg.LinAlgError):
            fit_type = "local"
    if fit_type == "local":
        try:
            return Trend("local", None, local_trend(base_mean[use], disp_gene[use]))
        except ValueError:
            msg = (
                f"the local dispersion trend cannot be fitted on the {int(use.sum())} gene(s) whose "
                f"dispersion is above the minimum: {_TREND_ADVICE}"
            )
            raise DispersionTrendError(msg) from None
    if fit_type == "mean":
        sel = disp_gene > 10 * MIN_DISP
        v = np.sort(disp_gene[sel])
        lo = int(np.floor(v.size * 0.001))
        md = float(np.mean(v[lo : v.size - lo]))
        return Trend("mean", None, lambda m, md=md: np.full(np.shape(m), md))
    msg = f"unknown fit_type {fit_type!r}"
    raise ValueError(msg)


def var_log_disp_residuals(disp_gene: np.ndarray, disp_fit: np.ndarray) -> float:
    """``mad(log(gene) - log(fit))^2`` over genes with gene-wise estimate ``>= 1e-6``.

    Parameters
    ----------
    disp_gene, disp_fit
        Gene-wise and trend dispersions.

    Returns
    -------
    float
        Variance of the log residuals.

    """
    above = disp_gene >= MIN_DISP * 100
    return mad(np.log(disp_gene[above]) - np.log(disp_fit[above])) ** 2


def r_loess_1d(x: np.ndarray, y: np.ndarray, at: np.ndarray, span: float = 0.2) -> np.ndarray:
    """R's ``predict(loess(y ~ x, span = span), at)`` for one predictor (degree 2, gaussian).

    Reproduces R's default ``surface = "interpolate"``: a k-d tree over x (cells of at most
    ``floor(n * span * 0.2)`` points, split at the median point), local quadratic fits with
    tricube weights over the ``floor(n * span)`` nearest points at the cell vertices, and cubic
    Hermite interpolation of value and slope between vertices.

    Parameters
    ----------
    x, y
        Data (distinct x).
    at
        Points to predict at (inside the range of x).
    span
        Fraction of points in each local fit.

    Returns
    -------
    numpy.ndarray
        Predictions.

    """
    order = np.argsort(x, kind="stable")
    x = np.asarray(x, float)[order]
    y = np.asarray(y, float)[order]
    n = x.size
    q = int(np.floor(n * span))
    fc = int(np.floor(n * span * 0.2))
    rng = x[-1] - x[0]
    margin = 0.005 * max(rng, 1e-10 * max(abs(x[0]), abs(x[-1])) + 1e-30)
    verts = [x[0] - margin, x[-1] + margin]

    def split(lo: int, hi: int) -> None:  # 0-based inclusive point range
        if hi - lo + 1 <= fc:
            return
        m = (lo + hi + 2) // 2 - 1  # R's m = (l + u) / 2 on 1-based indices
        verts.append(x[m])
        split(lo, m)
        split(m + 1, hi)

    split(0, n - 1)
    v = np.unique(np.asarray(verts))
    d = np.abs(v[:, None] - x[None, :])
    h = np.sort(d, axis=1)[:, q - 1]
    w = np.clip(1.0 - (d / h[:, None]) ** 3, 0.0, None) ** 3
    dx = x[None, :] - v[:, None]
    xm = np.stack([np.ones_like(dx), dx, dx**2], axis=-1)
    xtw = xm * w[..., None]
    a = np.einsum("vnp,vnq->vpq", xtw, xm)
    b = np.einsum("vnp,n->vp", xtw, y)
    coef = np.linalg.solve(a, b[..., None])[..., 0]
    val, slope = coef[:, 0], coef[:, 1]
    k = np.clip(np.searchsorted(v, at, side="right") - 1, 0, v.size - 2)
    hh = v[k + 1] - v[k]
    u = (at - v[k]) / hh
    phi0 = (1 - u) ** 2 * (1 + 2 * u)
    phi1 = u**2 * (3 - 2 * u)
    psi0 = u * (1 - u) ** 2
    psi1 = -(u**2) * (1 - u)
    return phi0 * val[k] + phi1 * val[k + 1] + (psi0 * slope[k] + psi1 * slope[k + 1]) * hh


def _prior_var_low_df(resid: np.ndarray, df: int) -> float:
    """R's simulation-matched prior variance for 1–3 residual degrees of freedom (``df``).

    R's simulated histograms for these ``df`` are stored (:mod:`._rsim_tables`); DESeq2 uses
    this rule for no other ``df``.
    """
    brks = np.arange(-20, 21) / 2.0
    obs = resid[(resid > brks[0]) & (resid < brks[-1])]
    grid = np.linspace(0, 8, 200)
    # R's hist(right = TRUE) with its 1e-7 * bin-width fuzz on the breaks
    idx = np.ceil((obs - 5e-8 + 10.0) / 0.5).astype(np.int64) - 1
    oh = np.bincount(np.clip(idx, 0, 39), minlength=40).astype(float)
    sims = simulated_counts(df).astype(float)
    od = oh / (oh.sum() * 0.5)
    kls = np.empty(grid.size)
    for i in range(grid.size):
        rd = sims[i] / (sims[i].sum() * 0.5)
        z = np.concatenate([od, rd])
        small = z[z > 0].min()
        kls[i] = np.sum(od * (np.log(od + small) - np.log(rd + small)))
    fine = np.linspace(0, 8, 1000)
    fitted = r_loess_1d(grid, kls, fine, span=0.2)
    return float(fine[np.argmin(fitted)])


def prior_variance(
    disp_gene: np.ndarray, disp_fit: np.ndarray, var_log_disp: float, m: int, p: int
) -> float:
    """R's ``estimateDispersionsPriorVar``.

    Parameters
    ----------
    disp_gene, disp_fit
        Gene-wise and trend dispersions (non-zero genes).
    var_log_disp
        :func:`var_log_disp_residuals`.
    m, p
        Samples and design columns.

    Returns
    -------
    float
        Prior variance of log dispersions (at least 0.25 when ``m > p``).

    """
    if 0 < m - p <= 3:
        above = disp_gene >= MIN_DISP * 100
        resid = np.log(disp_gene[above]) - np.log(disp_fit[above])
        return max(_prior_var_low_df(resid, m - p), 0.25)
    if m > p:
        exp_var = float(polygamma(1, (m - p) / 2.0))
        return max(var_log_disp - exp_var, 0.25)
    return var_log_disp
