"""Likelihood-ratio test (R DESeq2 ``nbinomLRT`` + ``results()``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import chdtrc

from mscseq.errors import MscseqError

from .glm import fit_nb_glm
from .likelihood import LOG2E, nb_loglike
from .results import _finish


def lrt_results(
    fit: object,
    reduced_design: pd.DataFrame,
    *,
    alpha: float = 0.1,
    coef: str | None = None,
    cooks_cutoff: bool | float = True,
    independent_filtering: bool = True,
) -> pd.DataFrame:
    """LRT of the full design against ``reduced_design``, with R's results() post-processing.

    The reduced model is fitted with the final (full-design) dispersions, as ``nbinomLRT``
    does; ``stat`` is twice the log-likelihood difference, ``pvalue`` its chi-square tail with
    ``p_full - p_reduced`` degrees of freedom. ``log2FoldChange``/``lfcSE`` are those of ``coef``
    (default: the last design column, as R reports).

    Parameters
    ----------
    fit
        A DESeq2Fit of the full design.
    reduced_design
        ``(n_samples, p_reduced)`` nested model matrix.
    alpha
        FDR level for independent filtering.
    coef
        Design column whose fold change is reported.
    cooks_cutoff
        As :func:`~mscseq.de.engine.results.results`.
    independent_filtering
        As :func:`~mscseq.de.engine.results.results`.

    Returns
    -------
    pandas.DataFrame
        ``baseMean, log2FoldChange, lfcSE, stat, pvalue, padj, dispersion`` plus ``df`` in attrs.

    Raises
    ------
    MscseqError
        When the reduced design is not nested or has as many columns as the full one.

    """
    xr = np.asarray(
        reduced_design.to_numpy(dtype=float)
        if isinstance(reduced_design, pd.DataFrame)
        else reduced_design,
        dtype=float,
    )
    if xr.ndim == 1:
        xr = xr[:, None]
    x = fit.design.to_numpy(dtype=float)
    if xr.shape[0] != x.shape[0]:
        msg = f"reduced design has {xr.shape[0]} rows, the full design {x.shape[0]}"
        raise MscseqError(msg)
    df = x.shape[1] - xr.shape[1]
    if df < 1:
        msg = "the reduced design must have fewer columns than the full design"
        raise MscseqError(msg)
    if np.linalg.matrix_rank(xr) < xr.shape[1]:
        msg = "the reduced design matrix is not full rank"
        raise MscseqError(msg)
    # nested: columns of the reduced design lie in the span of the full design
    proj = x @ np.linalg.lstsq(x, xr, rcond=None)[0]
    if not np.allclose(proj, xr, atol=1e-8):
        msg = "the reduced design is not nested in the full design"
        raise MscseqError(msg)
    nz = ~np.isnan(fit.dispersion) & ~fit.all_zero
    ll_red = np.full(fit.base_mean.size, np.nan)
    y = fit.counts_fit[nz]
    if xr.shape[1] == 1 and np.all(xr == 1.0):
        # R's intercept-only shortcut: the mean of normalised counts, not the NB MLE
        mu_red = fit.size_factors * (y / fit.size_factors).mean(axis=1)[:, None]
        ll_red[nz] = nb_loglike(y, mu_red, fit.dispersion[nz])
        n_conv = int(nz.sum())
    else:
        red = fit_nb_glm(y, fit.size_factors, xr, fit.dispersion[nz])
        ll_red[nz] = red.loglike
        n_conv = int(red.converged.sum())
    with np.errstate(invalid="ignore"):
        stat = 2.0 * (fit.loglike - ll_red)
    # R: pchisq(stat, df, lower.tail = FALSE), which is 1 for a (rounding-level) negative statistic
    pval = chdtrc(df, np.maximum(stat, 0.0))
    names = fit.coef_names
    j = len(names) - 1 if coef is None else names.index(coef)
    lfc = fit.beta[:, j] * LOG2E
    se = np.sqrt(np.maximum(fit.beta_var[:, j], 0)) * LOG2E
    out = _finish(
        fit, lfc.copy(), se.copy(), stat, pval, alpha, cooks_cutoff, independent_filtering
    )
    out.attrs["df"] = df
    out.attrs["reduced_converged"] = n_conv
    return out
