"""``fit_deseq2``: size factors → dispersions → NB GLM → Cook's distances → outlier refit.

The steps and their order are R DESeq2 1.38's ``DESeq()`` with default arguments (parametric
trend, Wald test, ``minReplicatesForReplace = 7``). The per-gene loops run in one backend
(:mod:`.backends`, chosen once per fit) on blocks of genes whose boundaries depend on the input
size only, so memory stays proportional to one block plus the ``genes × samples`` arrays that are
kept (counts, means, Cook's distances), and the result does not depend on ``threads``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import fdtri

from mscseq.errors import MscseqError

from .backends import EngineBackend, select_backend
from .cooks import cooks_distance, max_cooks, n_or_more_in_cell, replacement_counts
from .dispersion import genewise_dispersions, map_dispersions
from .glm import fit_nb_glm
from .likelihood import LOG2E
from .sizefactors import size_factors_median_ratio
from .trend import Trend, fit_trend, prior_variance, var_log_disp_residuals

_CELLS_PER_BLOCK = 2_000_000


@dataclass
class DESeq2Fit:
    """Everything ``fit_deseq2`` estimates; gene arrays have one row per gene (NaN if all zero).

    Attributes
    ----------
    design
        The ``(n_samples, p)`` model matrix used.
    counts
        ``(n_genes, n_samples)`` original counts (float).
    counts_fit
        Counts the final fit used (outliers replaced); the same object as ``counts`` when
        nothing was replaced.
    size_factors
        ``(n_samples,)``.
    base_mean, base_var
        Mean and variance of normalised counts (of ``counts_fit``, as R reports them).
    all_zero
        Genes with no counts (in ``counts_fit``).
    disp_gene, disp_fit, disp_map, dispersion
        Gene-wise, trend, MAP and final dispersions.
    disp_outlier
        Genes whose gene-wise estimate was kept (more than 2 prior SDs above the trend).
    trend
        The dispersion trend.
    prior_var
        Prior variance of log dispersions; ``var_log_disp`` is the MAD² of log residuals.
    beta, beta_var
        ``(n_genes, p)`` coefficients and their variances on the natural-log scale.
    mu, hat
        ``(n_genes, n_samples)`` fitted means and hat diagonals.
    cooks
        ``(n_genes, n_samples)`` Cook's distances of the first fit (R keeps these too).
    max_cooks
        Maximum Cook's distance used by ``results()`` for filtering.
    converged, iterations, loglike
        Per-gene GLM convergence, IRLS iterations and log-likelihood.
    replaced
        Genes whose outlier counts were replaced and that were refitted.
    replaceable
        Samples whose counts may be replaced (cells of ``min_replicates_for_replace``+).

    """

    design: pd.DataFrame
    counts: np.ndarray
    counts_fit: np.ndarray
    size_factors: np.ndarray
    base_mean: np.ndarray
    base_var: np.ndarray
    all_zero: np.ndarray
    disp_gene: np.ndarray
    disp_fit: np.ndarray
    disp_map: np.ndarray
    dispersion: np.ndarray
    disp_outlier: np.ndarray
    trend: Trend
    prior_var: float
    var_log_disp: float
    beta: np.ndarray
    beta_var: np.ndarray
    mu: np.ndarray
    hat: np.ndarray
    cooks: np.ndarray
    max_cooks: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    loglike: np.ndarray
    replaced: np.ndarray
    replaceable: np.ndarray
    threads: int = 1
    info: dict = field(default_factory=dict)

    @property
    def coef_names(self) -> list[str]:
        """Design column names."""
        return [str(c) for c in self.design.columns]

    @property
    def lfc(self) -> np.ndarray:
        """``(n_genes, p)`` coefficients on the log2 scale."""
        return self.beta * LOG2E

    @property
    def lfc_se(self) -> np.ndarray:
        """``(n_genes, p)`` standard errors on the log2 scale."""
        return np.sqrt(np.maximum(self.beta_var, 0.0)) * LOG2E


def _check_design(design: pd.DataFrame, n: int) -> np.ndarray:
    if not isinstance(design, pd.DataFrame):
        msg = "design must be a pandas DataFrame (samples × model-matrix columns)"
        raise MscseqError(msg)
    x = design.to_numpy(dtype=float)
    if x.shape[0] != n:
        msg = f"design has {x.shape[0]} rows but counts have {n} samples"
        raise MscseqError(msg)
    if not np.all(np.isfinite(x)):
        msg = "design contains missing or infinite values"
        raise MscseqError(msg)
    p = x.shape[1]
    rank = np.linalg.matrix_rank(x)
    if rank < p:
        from scipy.linalg import qr

        _, _r, piv = qr(x, pivoting=True, mode="economic")
        dep = [str(design.columns[j]) for j in piv[rank:]]
        msg = (
            f"the design matrix is not full rank (rank {rank} < {p} columns): column(s) "
            f"{', '.join(repr(d) for d in dep)} are linear combinations of the others; "
            "remove or merge the confounded variables"
        )
        raise MscseqError(msg)
    if n <= p:
        msg = (
            f"the number of samples ({n}) is not larger than the number of model coefficients "
            f"({p}): there are no replicates to estimate dispersions; use a simpler design"
        )
        raise MscseqError(msg)
    return x


def _check_counts(counts: np.ndarray) -> np.ndarray:
    c = np.asarray(counts)
    if c.ndim != 2:
        msg = "counts must be a 2-D array (samples × genes)"
        raise MscseqError(msg)
    c = c.astype(float, copy=False)
    if not np.all(np.isfinite(c)) or (c < 0).any():
        msg = "counts must be finite and non-negative"
        raise MscseqError(msg)
    if not np.all(c == np.round(c)):
        msg = "counts must be integers (raw read counts, not normalised values)"
        raise MscseqError(msg)
    return np.ascontiguousarray(c.T)


def _check_size_factors(size_factors: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """Given size factors, validated, or median-of-ratios ones of ``y`` (genes × samples)."""
    n = y.shape[1]
    if size_factors is None:
        return size_factors_median_ratio(y)
    sf = np.asarray(size_factors, dtype=float)
    if sf.shape != (n,) or not np.all(sf > 0):
        msg = f"size_factors must be {n} positive numbers"
        raise MscseqError(msg)
    return sf


def _blocks(g: int, n: int) -> list[slice]:
    """Consecutive gene ranges of at most ``_CELLS_PER_BLOCK`` cells (at least 256 genes).

    The ranges depend on the input size only, never on the number of threads: the numpy
    backend's matrix products round differently with the number of rows they get, so the same
    input must always be cut the same way to give the same bytes.
    """
    size = max(256, min(_CELLS_PER_BLOCK // max(n, 1), g))
    return [slice(i, min(i + size, g)) for i in range(0, g, size)]


def _mean_var(y: np.ndarray, sf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    norm = y / sf
    return norm.mean(axis=1), norm.var(axis=1, ddof=1), y.sum(axis=1) == 0


_GENE_FIELDS = {
    "disp_gene": (float, np.nan),
    "disp_fit": (float, np.nan),
    "disp_map": (float, np.nan),
    "dispersion": (float, np.nan),
    "disp_outlier": (bool, False),
    "beta": (float, np.nan),
    "beta_var": (float, np.nan),
    "mu": (float, np.nan),
    "hat": (float, np.nan),
    "converged": (bool, False),
    "iterations": (float, np.nan),
    "loglike": (float, np.nan),
}


def _gene_arrays(g: int, n: int, p: int) -> dict[str, np.ndarray]:
    """Full-size per-gene outputs, filled with NaN/False (the values of all-zero genes)."""
    width = {"beta": p, "beta_var": p, "mu": n, "hat": n}
    out = {}
    for k, (dt, fill) in _GENE_FIELDS.items():
        shape = (g, width[k]) if k in width else (g,)
        out[k] = np.full(shape, fill, dtype=dt)
    return out


@dataclass
class _Prior:
    """The dispersion trend and prior of the first fit (reused when outliers are refitted)."""

    trend: Trend
    prior_var: float
    var_log_disp: float


def _fit_genes(
    y_src: np.ndarray,
    dest: np.ndarray,
    sf: np.ndarray,
    x: np.ndarray,
    base_mean: np.ndarray,
    base_var: np.ndarray,
    prior: _Prior | None,
    backend: EngineBackend,
    out: dict[str, np.ndarray],
    fit_type: str = "parametric",
) -> _Prior:
    """Dispersions and the Wald GLM for rows ``dest`` of ``y_src`` (``prior`` given for refits).

    Results are written into the full-size arrays ``out`` at rows ``dest``, block by block, so
    no ``genes × samples`` array is concatenated or copied; only the gene-wise means are kept
    between the two passes.
    """
    g = dest.size
    n = y_src.shape[1]
    m, p = x.shape
    bm = base_mean[dest]
    bv = base_var[dest]
    disp_gene = np.empty(g)
    mu_genewise = np.empty((g, n))
    for b in _blocks(g, n):
        r = genewise_dispersions(y_src[dest[b]], sf, x, bm[b], bv[b], backend=backend)
        disp_gene[b] = r.disp
        mu_genewise[b] = r.mu
    if prior is None:
        trend = fit_trend(bm, disp_gene, fit_type)
        disp_fit = trend(bm)
        var_log_disp = var_log_disp_residuals(disp_gene, disp_fit)
        prior_var = prior_variance(disp_gene, disp_fit, var_log_disp, m, p)
        prior = _Prior(trend, prior_var, var_log_disp)
    else:
        disp_fit = prior.trend(bm)
    out["disp_gene"][dest] = disp_gene
    out["disp_fit"][dest] = disp_fit
    for b in _blocks(g, n):
        rows = dest[b]
        yb = y_src[rows]
        final, dmap, outlier = map_dispersions(
            yb,
            x,
            mu_genewise[b],
            disp_gene[b],
            disp_fit[b],
            prior.prior_var,
            prior.var_log_disp,
            backend=backend,
        )
        fit = fit_nb_glm(yb, sf, x, final, backend=backend)
        out["dispersion"][rows] = final
        out["disp_map"][rows] = dmap
        out["disp_outlier"][rows] = outlier
        for k in ("beta", "beta_var", "mu", "hat", "converged", "iterations", "loglike"):
            out[k][rows] = getattr(fit, k)
    return prior


@dataclass
class _Replacement:
    """What the outlier replacement changed (R's ``replaceOutliers`` + refit)."""

    counts_fit: np.ndarray
    replaced: np.ndarray
    max_cooks: np.ndarray
    info: dict


def _replace_outliers(
    y_all: np.ndarray,
    sf: np.ndarray,
    x: np.ndarray,
    cooks: np.ndarray,
    cooks_max: np.ndarray,
    replaceable: np.ndarray,
    moments: tuple[np.ndarray, np.ndarray, np.ndarray],
    prior: _Prior,
    backend: EngineBackend,
    fields: dict[str, np.ndarray],
) -> _Replacement:
    """Replace Cook's outliers of replaceable samples by trimmed means and refit those genes.

    ``moments`` (base mean, variance, all-zero flags) and ``fields`` are updated in place for
    the refitted genes.
    """
    g_all = y_all.shape[0]
    m, p = x.shape
    base_mean, base_var, all_zero = moments
    cutoff = float(fdtri(p, m - p, 0.99))
    with np.errstate(invalid="ignore"):
        out_mask = cooks > cutoff
    replace = out_mask.any(axis=1)
    replaced = np.zeros(g_all, dtype=bool)
    if not replace.any():
        return _Replacement(y_all, replaced, cooks_max, {})
    counts_fit = y_all.copy()
    rows = np.flatnonzero(replace)
    rep = replacement_counts(y_all[rows], sf)
    sub = counts_fit[rows]
    sel = out_mask[rows] & replaceable[None, :]
    sub[sel] = rep[sel]
    counts_fit[rows] = sub
    mean_rep, var_rep, zero_rep = _mean_var(counts_fit[rows], sf)
    base_mean[rows], base_var[rows], all_zero[rows] = mean_rep, var_rep, zero_rep
    refit_rows = rows[~zero_rep]
    new_zero = rows[zero_rep]
    if refit_rows.size:
        _fit_genes(counts_fit, refit_rows, sf, x, base_mean, base_var, prior, backend, fields)
    for k in ("beta", "beta_var"):
        fields[k][new_zero] = np.nan
    replaced[refit_rows] = True
    if refit_rows.size and replaceable.all():
        cooks_max = np.full(g_all, np.nan)
    elif refit_rows.size:
        cooks_kept = np.where(replaceable[None, :], 0.0, cooks)
        cooks_max = max_cooks(cooks_kept, x)
        cooks_max[all_zero] = np.nan
    info = {
        "n_refit": int(refit_rows.size),
        "new_all_zero": int(new_zero.size),
        "replace": replace,
    }
    return _Replacement(counts_fit, replaced, cooks_max, info)


def fit_deseq2(
    counts: np.ndarray,
    design: pd.DataFrame,
    *,
    size_factors: np.ndarray | None = None,
    threads: int = 1,
    min_replicates_for_replace: int = 7,
    refit_cooks: bool = True,
    kernels: bool | None = None,
    fit_type: str = "parametric",
) -> DESeq2Fit:
    """Fit DESeq2's model to all genes (R's ``DESeq()`` with default settings).

    Parameters
    ----------
    counts
        ``(n_samples, n_genes)`` raw integer counts.
    design
        ``(n_samples, p)`` full-rank model matrix with named columns.
    size_factors
        Precomputed size factors; default median-of-ratios.
    threads
        Worker threads of the numba backend (:mod:`.backends`). The result is the same, bit for
        bit, whatever the number of threads.
    min_replicates_for_replace
        Replace Cook's outliers and refit when a design cell has this many samples.
    refit_cooks
        Set False to skip the replacement step entirely.
    kernels
        The backend of the per-gene loops: True for the compiled numba kernels, False for the
        batched numpy code; both implement the same algorithm. Default: numba for inputs of at
        least ``backends.KERNEL_MIN_CELLS`` genes × samples (or as ``MSCSEQ_ENGINE_KERNELS=0/1``
        says), numpy below, where importing numba would cost more than it saves.
    fit_type
        Dispersion trend, R's ``fitType``: ``"parametric"`` (falls back to ``"local"`` as R
        does), ``"local"`` or ``"mean"``.

    Returns
    -------
    DESeq2Fit
        The fitted model.

    Raises
    ------
    MscseqError
        For malformed counts or a rank-deficient design.

    """
    from threadpoolctl import threadpool_limits

    threads = max(1, int(threads))
    y_all = _check_counts(counts)
    g_all, n = y_all.shape
    x = _check_design(design, n)
    m, p = x.shape
    sf = _check_size_factors(size_factors, y_all)
    # parallelism comes from the numba backend's worker threads; BLAS stays single-threaded
    # (its threads only spin on the small products here, and it splits them by thread count)
    with threadpool_limits(limits=1):
        base_mean, base_var, all_zero = _mean_var(y_all, sf)
        dest = np.flatnonzero(~all_zero)
        backend = select_backend(dest.size, n, kernels=kernels, threads=threads)
        fields = _gene_arrays(g_all, n, p)
        prior = _fit_genes(y_all, dest, sf, x, base_mean, base_var, None, backend, fields, fit_type)
        cooks = np.full((g_all, n), np.nan)
        for b in _blocks(dest.size, n):
            rows = dest[b]
            cooks[rows] = cooks_distance(
                y_all[rows], sf, x, fields["mu"][rows], fields["hat"][rows]
            )
        cooks_max = max_cooks(cooks, x)
        replaceable = n_or_more_in_cell(x, min_replicates_for_replace)
        replacement = _Replacement(y_all, np.zeros(g_all, dtype=bool), cooks_max, {})
        if refit_cooks and replaceable.any() and m > p:
            replacement = _replace_outliers(
                y_all,
                sf,
                x,
                cooks,
                cooks_max,
                replaceable,
                (base_mean, base_var, all_zero),
                prior,
                backend,
                fields,
            )
    info: dict = {
        "fit_type": prior.trend.fit_type,
        "n_refit": 0,
        "new_all_zero": 0,
        "kernels": backend.name == "numba",
        "backend": backend.name,
        **replacement.info,
    }
    return DESeq2Fit(
        design=design,
        counts=y_all,
        counts_fit=replacement.counts_fit,
        size_factors=sf,
        base_mean=base_mean,
        base_var=base_var,
        all_zero=all_zero,
        trend=prior.trend,
        prior_var=float(prior.prior_var),
        var_log_disp=float(prior.var_log_disp),
        cooks=cooks,
        max_cooks=replacement.max_cooks,
        replaced=replacement.replaced,
        replaceable=replaceable,
        threads=threads,
        info=info,
        **fields,
    )


__all__ = ["DESeq2Fit", "fit_deseq2", "size_factors_median_ratio"]
