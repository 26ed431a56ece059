"""DESeq2's median-of-ratios size factors (R's ``estimateSizeFactorsForMatrix``).

The one implementation in mscseq: :func:`mscseq.normalize.size_factors` (samples × genes, for the
AnnData) and :func:`mscseq.de.engine.fit_deseq2` (genes × samples) both call it.
"""

from __future__ import annotations

import numpy as np

from mscseq.errors import MscseqError


def size_factors_median_ratio(counts_gn: np.ndarray) -> np.ndarray:
    """DESeq2 median-of-ratios size factors (``estimateSizeFactorsForMatrix``).

    Genes with a zero count in some sample have a geometric mean of 0 and are left out; each
    sample's factor is the median, over the other genes, of its count divided by the gene's
    geometric mean. The factors are not rescaled (as R).

    Parameters
    ----------
    counts_gn
        ``(n_genes, n_samples)`` counts (any memory layout; a transposed samples × genes array
        works without a copy).

    Returns
    -------
    numpy.ndarray
        ``(n_samples,)`` size factors.

    Raises
    ------
    MscseqError
        When no gene has a positive count in every sample.

    """
    # numpy sums the log counts in memory order, so a transposed samples × genes array and a
    # genes × samples one can differ in the last bit of a mean; each caller keeps its layout
    with np.errstate(divide="ignore"):
        log_counts = np.log(counts_gn)
    log_geo_mean = log_counts.mean(axis=1)
    use = np.isfinite(log_geo_mean)
    if not use.any():
        msg = (
            "every gene has a zero count in at least one sample, so median-of-ratios size factors "
            "cannot be computed; remove empty or failed libraries (samples with few detected "
            "genes) from the sample sheet, and check that the counts are raw read counts"
        )
        raise MscseqError(msg)
    log_ratios = log_counts[use] - log_geo_mean[use, None]
    return np.exp(np.median(log_ratios, axis=0))


#: Size-factor estimators (R's ``estimateSizeFactors(type = ...)``).
SIZE_FACTOR_TYPES = ("ratio", "poscounts", "iterate")


def size_factors_poscounts(counts_gn: np.ndarray) -> np.ndarray:
    """R's ``estimateSizeFactors(type = "poscounts")``: median of ratios over positive counts.

    The geometric mean of a gene is taken over its positive counts but divided by the number of
    samples (``exp(sum(log(x[x > 0])) / n)``, 0 for an all-zero gene); each sample's factor is the
    median of ``count / geometric mean`` over the genes with a positive count there and a positive
    geometric mean; the factors are scaled to geometric mean 1. Works when every gene has a zero
    in some sample (sparse, low-input or targeted data).

    Parameters
    ----------
    counts_gn
        ``(n_genes, n_samples)`` counts.

    Returns
    -------
    numpy.ndarray
        ``(n_samples,)`` size factors.

    Raises
    ------
    MscseqError
        When every gene is zero in every sample, or a sample has no positive count.

    """
    counts_gn = np.asarray(counts_gn, dtype=float)
    positive = counts_gn > 0
    with np.errstate(divide="ignore"):
        log_counts = np.log(counts_gn)
    n = counts_gn.shape[1]
    log_geo = np.where(positive, log_counts, 0.0).sum(axis=1) / n
    use_gene = positive.any(axis=1)
    if not use_gene.any():
        msg = "every gene is zero in every sample; poscounts size factors cannot be computed"
        raise MscseqError(msg)
    sf = np.empty(n)
    for j in range(n):
        keep = use_gene & positive[:, j]
        if not keep.any():
            msg = f"sample {j + 1} has no positive count; poscounts size factors cannot be computed"
            raise MscseqError(msg)
        sf[j] = np.exp(np.median(log_counts[keep, j] - log_geo[keep]))
    return sf / np.exp(np.mean(np.log(sf)))


def size_factors_iterate(counts_gn: np.ndarray, *, niter: int = 10, q: float = 0.05) -> np.ndarray:
    """R's ``estimateSizeFactors(type = "iterate")`` (``estimateSizeFactorsIterate``).

    From size factors 1, repeat: dispersions of the design ``~ 1`` with a mean trend (gene-wise,
    trend, MAP: R's ``estimateDispersions(fitType = "mean")``), then the size factors (scaled to
    geometric mean 1) that maximise the NB log-likelihood summed over the genes above the ``q``
    quantile of gene log-likelihood (L-BFGS-B with R ``optim``'s central-difference gradient),
    until the squared change of the log factors is below 1e-4. Only genes with a positive count
    enter.

    Parameters
    ----------
    counts_gn
        ``(n_genes, n_samples)`` counts.
    niter
        Maximum outer iterations (R's ``niter``).
    q
        Quantile of gene log-likelihood below which genes are left out of the objective.

    Returns
    -------
    numpy.ndarray
        ``(n_samples,)`` size factors.

    Raises
    ------
    MscseqError
        When the iteration does not converge (R stops too).

    """
    from scipy.optimize import minimize
    from scipy.special import gammaln

    from .dispersion import genewise_dispersions, map_dispersions
    from .trend import fit_trend, prior_variance, var_log_disp_residuals

    cts = np.asarray(counts_gn, dtype=float)
    cts = np.ascontiguousarray(cts[cts.sum(axis=1) > 0])
    n = cts.shape[1]
    x = np.ones((n, 1))
    sf = np.ones(n)
    const = gammaln(cts + 1.0)
    for i in range(niter):
        norm = cts / sf
        bm = norm.mean(axis=1)
        bv = norm.var(axis=1, ddof=1)
        gw = genewise_dispersions(cts, sf, x, bm, bv)
        trend = fit_trend(bm, gw.disp, "mean")
        disp_fit = trend(bm)
        vld = var_log_disp_residuals(gw.disp, disp_fit)
        prior = prior_variance(gw.disp, disp_fit, vld, n, 1)
        disps, _, _ = map_dispersions(cts, x, gw.mu, gw.disp, disp_fit, prior, vld)
        qmat = gw.mu / sf
        size = 1.0 / disps[:, None]
        base = gammaln(cts + size) - gammaln(size) - const

        def objective(p: np.ndarray, qmat=qmat, size=size, base=base) -> float:
            s = np.exp(p - p.mean())
            mu = qmat * s
            ll = base + size * np.log(size / (size + mu)) + cts * np.log(mu / (size + mu))
            gene_ll = ll.sum(axis=1)
            return -float(gene_ll[gene_ll > np.quantile(gene_ll, q)].sum())

        def gradient(p: np.ndarray, objective=objective) -> np.ndarray:
            g = np.empty(p.size)
            for k in range(p.size):  # R optim's default: central differences, ndeps 1e-3
                e = np.zeros(p.size)
                e[k] = 1e-3
                g[k] = (objective(p + e) - objective(p - e)) / 2e-3
            return g

        sf_old = sf
        res = minimize(
            objective,
            np.log(sf_old),
            jac=gradient,
            method="L-BFGS-B",
            options={"maxcor": 5, "ftol": 1e7 * np.finfo(float).eps, "gtol": 0.0, "maxiter": 100},
        )
        if not res.success and res.nit >= 100:
            msg = "iterative size factors: the likelihood maximisation did not converge within an iteration"
            raise MscseqError(msg)
        sf = np.exp(res.x - res.x.mean())
        if i > 0 and np.sum((np.log(sf_old) - np.log(sf)) ** 2) < 1e-4:
            return sf
    msg = "iterative size factors did not converge (R's estimateSizeFactorsIterate stops too); use poscounts or ratio"
    raise MscseqError(msg)


def estimate_size_factors(counts_gn: np.ndarray, type: str = "ratio") -> np.ndarray:
    """Size factors of the chosen type (R's ``estimateSizeFactors(type = ...)``).

    Parameters
    ----------
    counts_gn
        ``(n_genes, n_samples)`` counts.
    type
        ``"ratio"`` (median of ratios, the default), ``"poscounts"`` or ``"iterate"``.

    Returns
    -------
    numpy.ndarray
        ``(n_samples,)`` size factors.

    Raises
    ------
    MscseqError
        Unknown type, or data the estimator cannot use.

    """
    if type == "ratio":
        return size_factors_median_ratio(counts_gn)
    if type == "poscounts":
        return size_factors_poscounts(counts_gn)
    if type == "iterate":
        return size_factors_iterate(counts_gn)
    msg = f"size factor type {type!r}: expected one of {', '.join(SIZE_FACTOR_TYPES)}"
    raise MscseqError(msg)
