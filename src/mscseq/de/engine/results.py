"""Results tables from a :class:`~mscseq.de.engine.fit.DESeq2Fit`, as R DESeq2's ``results()``.

Covers contrasts given as numeric vectors, coefficient names or ``(factor, target, reference)``
triples (resolved through formulaic column names ``factor[T.level]``), ``lfcThreshold`` with the
four alternative hypotheses applied to the *contrast* (not per coefficient), Cook's distance
filtering (with R's two-group heuristic), the zero-count rules, and independent filtering exactly
as ``pvalueAdjustment`` + ``genefilter::filtered_p`` (50 quantiles of baseMean, lowess-based
choice of the threshold, BH).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import fdtri, ndtr

from mscseq.errors import MscseqError

from ._rstats import lowess, p_adjust_bh
from .likelihood import LN2, LOG2E, outer_rows, sandwich

ALT_HYPOTHESES = ("greaterAbs", "lessAbs", "greater", "less")


@dataclass
class ResolvedContrast:
    """A contrast as a numeric vector plus how R would treat it."""

    vector: np.ndarray
    kind: str  # "coef", "negcoef" or "general"
    coef: int
    level_samples: np.ndarray | None  # samples of the two levels (character contrasts)


def _factor_columns(names: list[str], factor: str) -> dict[str, int]:
    prefix = f"{factor}[T."
    out = {}
    for j, nm in enumerate(names):
        if nm.startswith(prefix) and nm.endswith("]"):
            out[nm[len(prefix) : -1]] = j
    return out


def resolve_contrast(names: list[str], x: np.ndarray, contrast: object) -> ResolvedContrast:
    """Turn a user contrast into R's treatment of it.

    Parameters
    ----------
    names
        Design column names.
    x
        ``(n, p)`` design.
    contrast
        Numeric vector of length ``p``, a column name, or ``(factor, target, reference)``.

    Returns
    -------
    ResolvedContrast
        Vector and kind.

    Raises
    ------
    MscseqError
        When the contrast does not match the design.

    """
    p = len(names)
    if isinstance(contrast, str):
        if contrast not in names:
            msg = f"contrast {contrast!r} is not a design column; columns: {names}"
            raise MscseqError(msg)
        j = names.index(contrast)
        v = np.zeros(p)
        v[j] = 1.0
        return ResolvedContrast(v, "coef", j, None)
    if (
        isinstance(contrast, Sequence)
        and len(contrast) == 3
        and all(isinstance(c, str) for c in contrast)
    ):
        factor, target, ref = contrast  # type: ignore[misc]
        cols = _factor_columns(names, factor)
        if not cols:
            msg = f"no design columns of the form {factor}[T.<level>] for contrast {contrast!r}"
            raise MscseqError(msg)
        fac = x[:, list(cols.values())]
        base = fac.sum(axis=1) == 0

        def samples(level: str) -> np.ndarray:
            if level in cols:
                return x[:, cols[level]] != 0
            return base

        for lv in (target, ref):
            if lv not in cols and not base.any():
                msg = f"level {lv!r} of {factor!r} is neither a design column nor the reference"
                raise MscseqError(msg)
        lvl = samples(target) | samples(ref)
        v = np.zeros(p)
        if ref not in cols and target in cols:
            v[cols[target]] = 1.0
            return ResolvedContrast(v, "coef", cols[target], lvl)
        if target not in cols and ref in cols:
            v[cols[ref]] = -1.0
            return ResolvedContrast(v, "negcoef", cols[ref], lvl)
        if target in cols and ref in cols:
            v[cols[target]] = 1.0
            v[cols[ref]] = -1.0
            return ResolvedContrast(v, "general", -1, None)
        msg = f"contrast {contrast!r} compares a level with itself"
        raise MscseqError(msg)
    v = np.asarray(contrast, dtype=float).ravel()
    if v.size != p:
        msg = f"numeric contrast has {v.size} values but the design has {p} columns ({names})"
        raise MscseqError(msg)
    nzi = np.flatnonzero(v)
    if nzi.size == 1 and abs(v[nzi[0]]) == 1.0:
        j = int(nzi[0])
        kind = "coef" if v[j] == 1.0 else "negcoef"
        return ResolvedContrast(v, kind, j, _level_samples_of(names, x, j))
    return ResolvedContrast(v, "general", -1, None)


def _level_samples_of(names: list[str], x: np.ndarray, j: int) -> np.ndarray | None:
    """Samples of level ``j`` and of the reference of its factor (formulaic ``f[T.l]`` names).

    A unit vector on a treatment-coded column is R's ``c(factor, level, reference)`` contrast,
    whose zero-count rule looks at the samples of both levels.
    """
    nm = names[j]
    if "[T." not in nm or not nm.endswith("]"):
        return None
    factor = nm[: nm.index("[T.")]
    cols = list(_factor_columns(names, factor).values())
    base = x[:, cols].sum(axis=1) == 0
    return (x[:, j] != 0) | base


def _wald_pvalue(stat: np.ndarray) -> np.ndarray:
    return 2.0 * ndtr(-np.abs(stat))


def contrast_estimates(fit: object, rc: ResolvedContrast, *, minmu: float = 0.5) -> tuple:
    """Log2 fold change, SE, Wald statistic and p-value of a contrast for every gene.

    Parameters
    ----------
    fit
        A :class:`~mscseq.de.engine.fit.DESeq2Fit`.
    rc
        Resolved contrast.
    minmu
        Mean clamp used when recomputing the covariance (R's ``getContrast``).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lfc, se, stat, pvalue)``.

    """
    if rc.kind in ("coef", "negcoef"):
        lfc = fit.lfc[:, rc.coef].copy()
        se = fit.lfc_se[:, rc.coef].copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            stat = lfc / se
        pval = _wald_pvalue(stat)
        if rc.kind == "negcoef":
            lfc, stat = -lfc, -stat
        return lfc, se, stat, pval
    c = rc.vector
    x = fit.design.to_numpy(dtype=float)
    p = x.shape[1]
    lfc = np.full(fit.base_mean.size, np.nan)
    se = np.full(fit.base_mean.size, np.nan)
    ok = ~np.isnan(fit.beta).any(axis=1)
    idx = np.flatnonzero(ok)
    xx = outer_rows(x)
    lam = np.full(p, 1e-6) / LN2**2
    for start in range(0, idx.size, 50_000):
        b = idx[start : start + 50_000]
        mu = np.maximum(fit.size_factors * np.exp(fit.beta[b] @ x.T), minmu)
        w = mu / (1.0 + fit.dispersion[b, None] * mu)
        _, sigma = sandwich(w, xx, p, lam)
        lfc[b] = LOG2E * (fit.beta[b] @ c)
        se[b] = LOG2E * np.sqrt(np.einsum("i,gij,j->g", c, sigma, c))
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = lfc / se
    return lfc, se, stat, _wald_pvalue(stat)


def threshold_test(
    lfc: np.ndarray, se: np.ndarray, threshold: float, alt: str
) -> tuple[np.ndarray, np.ndarray]:
    """R's ``results(lfcThreshold, altHypothesis)`` statistic and p-value for a contrast.

    Parameters
    ----------
    lfc, se
        Log2 fold changes and standard errors of the contrast.
    threshold
        Non-negative log2 fold-change threshold.
    alt
        ``"greaterAbs"``, ``"lessAbs"``, ``"greater"`` or ``"less"``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(stat, pvalue)``; ``lessAbs`` p-value is the larger of the two one-sided p-values.

    """
    t = float(threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        if alt == "greaterAbs":
            stat = np.sign(lfc) * np.maximum((np.abs(lfc) - t) / se, 0.0)
            pv = np.minimum(1.0, 2.0 * ndtr(-(np.abs(lfc) - t) / se))
        elif alt == "lessAbs":
            above = (t - lfc) / se
            below = (lfc + t) / se
            stat = np.minimum(np.maximum(above, 0.0), np.maximum(below, 0.0))
            pv = np.maximum(ndtr(-above), ndtr(-below))
        elif alt == "greater":
            stat = np.maximum((lfc - t) / se, 0.0)
            pv = ndtr(-(lfc - t) / se)
        elif alt == "less":
            stat = np.minimum((lfc + t) / se, 0.0)
            pv = ndtr(-(-t - lfc) / se)
        else:
            msg = f"alt_hypothesis must be one of {ALT_HYPOTHESES}, got {alt!r}"
            raise MscseqError(msg)
    return stat, pv


def independent_filtering(
    base_mean: np.ndarray, pvalue: np.ndarray, alpha: float
) -> tuple[np.ndarray, dict]:
    """R's ``pvalueAdjustment`` with ``genefilter::filtered_p`` (filter = baseMean, BH).

    Parameters
    ----------
    base_mean
        Filter statistic per gene (including all-zero genes).
    pvalue
        P-values (NaN = not tested).
    alpha
        Target FDR used to count rejections.

    Returns
    -------
    tuple
        Adjusted p-values and a dict with ``filterThreshold``, ``filterTheta``, ``numRej``.

    """
    lower = float(np.mean(base_mean == 0))
    upper = 0.95 if lower < 0.95 else 1.0
    theta = np.linspace(lower, upper, 50)
    cutoffs = np.quantile(base_mean, theta)
    padj_cols = np.full((base_mean.size, theta.size), np.nan)
    tested = np.flatnonzero(~np.isnan(pvalue))
    order = tested[np.argsort(-pvalue[tested], kind="stable")]  # decreasing p, as p.adjust
    for i, cut in enumerate(cutoffs):
        sel = order[base_mean[order] >= cut]
        n = sel.size
        if n:
            adj = np.minimum.accumulate(n / np.arange(n, 0, -1) * pvalue[sel])
            padj_cols[sel, i] = np.minimum(adj, 1.0)
    with np.errstate(invalid="ignore"):
        num_rej = np.sum(padj_cols < alpha, axis=0)
    fitted = lowess(theta, num_rej.astype(float), f=1 / 5)
    if num_rej.max() <= 10:
        j = 0
    else:
        if np.all(num_rej == 0):
            resid = np.array([0.0])
        else:
            resid = num_rej[num_rej > 0] - fitted[num_rej > 0]
        thresh = fitted.max() - np.sqrt(np.mean(resid**2))
        above = np.flatnonzero(num_rej > thresh)
        j = int(above[0]) if above.size else 0
    info = {
        "filterThreshold": float(cutoffs[j]),
        "filterTheta": float(theta[j]),
        "numRej": num_rej,
        "theta": theta,
    }
    return padj_cols[:, j], info


def cooks_filter(fit: object, cutoff: float | bool) -> np.ndarray:
    """Genes whose p-value R sets to NA because of a large Cook's distance.

    Parameters
    ----------
    fit
        A DESeq2Fit.
    cutoff
        True for R's default ``qf(0.99, p, m - p)``, False for none, or a number.

    Returns
    -------
    numpy.ndarray
        Boolean mask.

    """
    x = fit.design.to_numpy(dtype=float)
    m, p = x.shape
    if cutoff is False:
        return np.zeros(fit.base_mean.size, dtype=bool)
    cut = float(fdtri(p, m - p, 0.99)) if cutoff is True else float(cutoff)
    with np.errstate(invalid="ignore"):
        out = fit.max_cooks > cut
    if out.any() and _single_two_level_factor(x):
        # R: for a single two-level factor, keep genes where 3+ counts exceed the outlier count
        for i in np.flatnonzero(out):
            cts = fit.counts[i]
            oc = cts[np.nanargmax(fit.cooks[i])]
            if np.sum(cts > oc) >= 3:
                out[i] = False
    return out


def _single_two_level_factor(x: np.ndarray) -> bool:
    if x.shape[1] != 2:
        return False
    ones = np.all(x == 1.0, axis=0)
    if ones.sum() != 1:
        return False
    other = x[:, ~ones][:, 0]
    return bool(np.all((other == 0) | (other == 1)))


def results(
    fit: object,
    contrast: object,
    *,
    alpha: float = 0.1,
    lfc_threshold: float = 0.0,
    alt_hypothesis: str = "greaterAbs",
    cooks_cutoff: bool | float = True,
    independent_filtering: bool = True,
) -> pd.DataFrame:
    """R's ``results(dds, contrast, alpha, lfcThreshold, altHypothesis)`` for a fitted model.

    Parameters
    ----------
    fit
        A :class:`~mscseq.de.engine.fit.DESeq2Fit`.
    contrast
        Numeric vector (length ``p``), design column name, or ``(factor, target, reference)``.
    alpha
        FDR level for independent filtering.
    lfc_threshold
        Non-negative log2 fold-change threshold.
    alt_hypothesis
        ``greaterAbs`` | ``lessAbs`` | ``greater`` | ``less``.
    cooks_cutoff
        True (R default), False, or a number.
    independent_filtering
        Whether to filter on baseMean before BH.

    Returns
    -------
    pandas.DataFrame
        Columns ``baseMean, log2FoldChange, lfcSE, stat, pvalue, padj, dispersion``; the
        filter threshold is in ``df.attrs``.

    Raises
    ------
    MscseqError
        For invalid options.

    """
    if not 0 < alpha < 1:
        msg = f"alpha must be between 0 and 1, got {alpha}"
        raise MscseqError(msg)
    if lfc_threshold < 0:
        msg = f"lfc_threshold must be >= 0, got {lfc_threshold}"
        raise MscseqError(msg)
    if alt_hypothesis not in ALT_HYPOTHESES:
        msg = f"alt_hypothesis must be one of {', '.join(ALT_HYPOTHESES)}, got {alt_hypothesis!r}"
        raise MscseqError(msg)
    if lfc_threshold == 0 and alt_hypothesis == "lessAbs":
        msg = "alt_hypothesis 'lessAbs' needs a positive lfc_threshold"
        raise MscseqError(msg)
    x = fit.design.to_numpy(dtype=float)
    rc = resolve_contrast(fit.coef_names, x, contrast)
    lfc, se, stat, pval = contrast_estimates(fit, rc)
    zero = _contrast_all_zero(fit, rc, x)
    lfc[zero], stat[zero], pval[zero] = 0.0, 0.0, 1.0
    if not (lfc_threshold == 0 and alt_hypothesis == "greaterAbs"):
        stat, pval = threshold_test(lfc, se, lfc_threshold, alt_hypothesis)
    return _finish(fit, lfc, se, stat, pval, alpha, cooks_cutoff, independent_filtering)


def _contrast_all_zero(fit: object, rc: ResolvedContrast, x: np.ndarray) -> np.ndarray:
    if rc.level_samples is not None:
        z = (fit.counts[:, rc.level_samples] == 0).all(axis=1)
    elif rc.kind == "general" and (rc.vector > 0).any() and (rc.vector < 0).any():
        which = (x @ (rc.vector != 0).astype(float)) != 0
        z = fit.counts[:, which].sum(axis=1) == 0
    else:
        z = np.zeros(fit.base_mean.size, dtype=bool)
    return z & ~fit.all_zero


def _finish(
    fit: object,
    lfc: np.ndarray,
    se: np.ndarray,
    stat: np.ndarray,
    pval: np.ndarray,
    alpha: float,
    cooks_cutoff: bool | float,
    indep: bool,
) -> pd.DataFrame:
    pval = pval.copy()
    pval[cooks_filter(fit, cooks_cutoff)] = np.nan
    if fit.info.get("n_refit", 0) or fit.info.get("new_all_zero", 0):
        rep = fit.info.get("replace")
        if rep is not None:
            now_zero = rep & (fit.base_mean == 0)
            lfc[now_zero], se[now_zero], stat[now_zero], pval[now_zero] = 0.0, 0.0, 0.0, 1.0
    attrs: dict = {}
    if indep:
        padj, info = independent_filtering(fit.base_mean, pval, alpha)
        attrs = {"filterThreshold": info["filterThreshold"], "filterTheta": info["filterTheta"]}
    else:
        padj = p_adjust_bh(pval)
    df = pd.DataFrame(
        {
            "baseMean": fit.base_mean,
            "log2FoldChange": lfc,
            "lfcSE": se,
            "stat": stat,
            "pvalue": pval,
            "padj": padj,
            "dispersion": fit.dispersion,
        }
    )
    df.attrs.update(attrs)
    df.attrs["alpha"] = alpha
    return df
