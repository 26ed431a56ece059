"""DESeq2 median-of-ratios size factors, normalised counts and the blind variance-stabilising transformation."""

from __future__ import annotations

import logging

import numpy as np

from mscseq.errors import MscseqError

log = logging.getLogger(__name__)

#: R DESeq2's bounds on dispersion estimates.
MIN_DISP = 1e-8


def size_factors(counts: np.ndarray) -> np.ndarray:
    """Median-of-ratios size factors (R's ``estimateSizeFactorsForMatrix``).

    Parameters
    ----------
    counts
        Raw counts, samples × genes.

    Returns
    -------
    numpy.ndarray
        One size factor per sample, geometric mean 1.

    Raises
    ------
    MscseqError
        When no gene is counted in every sample (the geometric means are all zero).

    """
    with np.errstate(divide="ignore"):
        logc = np.log(counts)
    log_geo = logc.mean(axis=0)
    use = np.isfinite(log_geo)
    if not use.any():
        msg = (
            "every gene has a zero count in at least one sample, so median-of-ratios size factors cannot be "
            "computed; remove empty or failed libraries from the sample sheet"
        )
        raise MscseqError(msg)
    ratios = logc[:, use] - log_geo[use]
    sf = np.exp(np.median(ratios, axis=1))
    return sf


def _nb_cr_loglik(log_alpha: np.ndarray, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Cox–Reid adjusted NB log-likelihood of an intercept-only model, per gene.

    ``log_alpha`` has shape (G,) or (K, G); ``y`` and ``mu`` (n, G).
    """
    from scipy.special import gammaln

    alpha = np.exp(log_alpha)[..., None, :]
    inv = 1.0 / alpha
    ll = (
        gammaln(y + inv) - gammaln(inv) - y * np.log(mu + inv) - inv * np.log1p(mu * alpha)
    ).sum(axis=-2)
    w = 1.0 / (1.0 / mu + alpha)
    cr = -0.5 * np.log(w.sum(axis=-2))
    return ll + cr


def genewise_dispersion_intercept(counts: np.ndarray, sf: np.ndarray) -> np.ndarray:
    """Gene-wise dispersion MLE (Cox–Reid adjusted) for the design ``~ 1``.

    Maximised on a log-spaced grid then refined by golden-section search; bounds as R's
    ``estimateDispersionsGeneEst`` (``1e-8`` to ``max(10, n_samples)``).

    Parameters
    ----------
    counts
        Raw counts, samples × genes.
    sf
        Size factors.

    Returns
    -------
    numpy.ndarray
        One dispersion per gene.

    """
    n = counts.shape[0]
    max_disp = max(10.0, float(n))
    norm = counts / sf[:, None]
    mu = np.maximum(sf[:, None] * norm.mean(axis=0)[None, :], 1e-300)
    lo, hi = np.log(MIN_DISP), np.log(max_disp)
    grid = np.linspace(lo, hi, 41)
    vals = np.stack([_nb_cr_loglik(np.full(counts.shape[1], g), counts, mu) for g in grid])
    best = vals.argmax(axis=0)
    step = grid[1] - grid[0]
    a = np.clip(grid[best] - step, lo, hi)
    b = np.clip(grid[best] + step, lo, hi)
    ratio = (np.sqrt(5) - 1) / 2
    c = b - ratio * (b - a)
    d = a + ratio * (b - a)
    fc = _nb_cr_loglik(c, counts, mu)
    fd = _nb_cr_loglik(d, counts, mu)
    for _ in range(40):
        left = fc > fd  # the maximum lies in [a, d]
        a = np.where(left, a, c)
        b = np.where(left, d, b)
        x_new = np.where(left, b - ratio * (b - a), a + ratio * (b - a))
        f_new = _nb_cr_loglik(x_new, counts, mu)
        c, d = np.where(left, x_new, d), np.where(left, c, x_new)
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
    return np.clip(np.exp((a + b) / 2), MIN_DISP, max_disp)


def parametric_trend(means: np.ndarray, disps: np.ndarray) -> tuple[float, float] | None:
    """Fit R DESeq2's parametric dispersion trend ``disp = asymptDisp + extraPois / mean``.

    A gamma-family GLM with identity link, refitted while dropping genes whose dispersion is far from
    the current fit (ratio outside 1e-4 to 15), as R's ``parametricDispersionFit``.

    Parameters
    ----------
    means
        Mean normalised counts of the genes used for the fit.
    disps
        Their gene-wise dispersions.

    Returns
    -------
    tuple of float or None
        ``(asympt_disp, extra_pois)``, or ``None`` when the fit fails (non-positive coefficients or
        no convergence).

    """
    coefs = np.array([0.1, 1.0])
    for _ in range(11):
        resid = disps / (coefs[0] + coefs[1] / means)
        good = (resid > 1e-4) & (resid < 15)
        if good.sum() < 3:
            return None
        x = np.column_stack([np.ones(good.sum()), 1.0 / means[good]])
        y = disps[good]
        beta = coefs.copy()
        converged = False
        for _ in range(25):
            fit = x @ beta
            if (fit <= 0).any():
                return None
            w = 1.0 / fit**2
            new = np.linalg.solve(x.T @ (w[:, None] * x), x.T @ (w * y))
            dev_old = _gamma_deviance(y, fit)
            dev_new = _gamma_deviance(y, np.maximum(x @ new, 1e-300))
            beta = new
            if abs(dev_new - dev_old) / (abs(dev_new) + 0.1) < 1e-8:
                converged = True
                break
        old = coefs
        coefs = beta
        if not (coefs > 0).all():
            return None
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and converged:
            return float(coefs[0]), float(coefs[1])
    return None


def _gamma_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    return float(2 * np.sum(-np.log(y / mu) + (y - mu) / mu))


def vst(
    counts: np.ndarray, sf: np.ndarray, *, nsub: int = 1000
) -> tuple[np.ndarray, dict[str, float | str]]:
    """Blind variance-stabilising transformation, as R DESeq2's ``vst(blind=TRUE)``.

    The dispersion trend is fitted on ``nsub`` genes with mean normalised count > 5 chosen evenly
    along their mean (all genes when fewer qualify, as R's ``varianceStabilizingTransformation``), with
    the design ``~ 1``. The parametric trend gives a closed-form transformation; when it cannot be fitted
    the mean dispersion is used (R's ``fitType="mean"``), with a warning.

    Parameters
    ----------
    counts
        Raw counts, samples × genes.
    sf
        Size factors.
    nsub
        Number of genes for the trend fit.

    Returns
    -------
    tuple
        The VST matrix (samples × genes, log2 scale) and the fit parameters.

    """
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
    disp = genewise_dispersion_intercept(counts[:, idx], sf)
    use = disp > 100 * MIN_DISP
    fit = parametric_trend(base_mean[idx][use], disp[use]) if use.sum() >= 3 else None
    if fit is not None:
        a0, a1 = fit
        q = norm
        out = np.log2(
            (1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q))) / (4 * a0)
        )
        return out, {"fit_type": "parametric", "asympt_disp": a0, "extra_pois": a1}
    log.warning("the parametric dispersion trend could not be fitted; the VST uses the mean dispersion")
    alpha = float(np.mean(disp[use])) if use.any() else 0.1
    out = (2 * np.arcsinh(np.sqrt(alpha * norm)) - np.log(alpha) - np.log(4)) / np.log(2)
    return out, {"fit_type": "mean", "asympt_disp": alpha, "extra_pois": 0.0}


def normalize(adata) -> None:
    """Size factors, normalised counts and blind VST, written into ``adata``.

    Parameters
    ----------
    adata
        AnnData with raw counts in ``X``.

    Notes
    -----
    Writes ``obs["size_factor"]``, ``var["base_mean"]``, ``layers["normalized"]``,
    ``layers["vst"]`` and ``uns["vst"]``.

    """
    counts = np.asarray(adata.X, dtype=np.float64)
    sf = size_factors(counts)
    adata.obs["size_factor"] = sf
    norm = counts / sf[:, None]
    adata.layers["normalized"] = norm
    adata.var["base_mean"] = norm.mean(axis=0)
    vst_mat, params = vst(counts, sf)
    adata.layers["vst"] = vst_mat
    adata.uns["vst"] = params
