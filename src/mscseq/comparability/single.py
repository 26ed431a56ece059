"""The single-group question: do products without a ``--group`` share one profile?

Two of the three conditions of the single-group verdict (the third, no deviating product, is
:mod:`mscseq.comparability.deviation`'s and is combined by the rule):

**No material split.** The split genes (the Tier-2 gene set, exclusions removed) are divided at
random (seeded) into halves A and B; genes that feed the panel scores go to half B. The best two-way
split of the products is found on half A by 2-means on the centred VST (products are the points),
computed in the n × n Gram matrix: a start at the best cut along PC1 and a few k-means++ starts, each
refined by Lloyd's iterations, clusters of at least 2 products. The cluster index is
CI = within-cluster SS / total SS.

Its significance is calibrated SigClust-style, under one Gaussian population, by running the same
2-means search on B simulated null datasets (only their n × n Gram matrices are drawn) and
p = (1 + #{CI_null ≤ CI_obs}) / (B + 1); because the null runs the same search, the p-value allows for
the split having been chosen from the data. The default null (``null="rotation"``) conditions on the
observed eigenvalues of the centred Gram matrix: for Gaussian products with any covariance across
genes that matrix is invariant under rotations of the products (orthogonal maps of the centred
space), so given its eigenvalues its eigenvectors are Haar-distributed, and V D Vᵀ with V Haar-random
draws from the exact conditional null. Unlike SigClust's plug-in spectrum it needs no estimate of the
background noise, so genes of unequal variance and co-regulated programs do not bias it (measured:
SigClust's MAD background with soft thresholding rejected 100 % of homogeneous samples with
co-regulated programs and 0 % with unequal gene variances). The plug-in nulls remain as options:
``"moments"`` (spikes above a moment-matched background; conservative with programs), ``"soft"``
(Huang et al. 2015, *JASA* 110:1600) and ``"hard"`` (SigClust, Liu et al. 2008), both with
σ_N = 1.4826 · MAD of the centred entries; the background is a scaled Wishart term drawn by Bartlett's
decomposition.

Its materiality is judged on half B only, with the two clusters as groups (so the selection of the
split does not bias it): material when a panel score differs between the clusters with its
(1 − 2α) Welch interval entirely beyond its margin, or when the fraction of half-B genes beyond the
gene margin has its lower bound above f₀; immaterial when every score is shown within its margin and
the upper bound of that fraction is ≤ f₀. A cohort that differs in one panel only is invisible to the
transcriptome-wide split, so each panel score also gets its own best split (:func:`score_splits`, at
the split level for each panel); a significant score split whose clusters differ beyond the margin fails
the condition too.

**Score spread.** Each panel score's between-product biological SD (technical SD removed) gets
normal-theory (χ²) bounds (:func:`score_spread`); a lower bound above the protocol's score tolerance
``score_tau`` fails the condition: the products spread in that attribute more than donors and a hidden
split at the margin together explain. It is used to fail only (a homogeneous group of 20 has an upper bound
near the tolerance; requiring it below would hold most of them `inconclusive`).

**Spread.** The between-product biological SD on the spread genes: per gene the sample variance of the
VST across products minus its technical part (counting noise; with technical replicate libraries, also
their library-to-library dispersion, :func:`mscseq.products.technical_dispersion`), floored at 0,
converted to log2 units;
spread = sqrt(mean over genes), the root mean square of the genes' biological SDs. For a count y ~ Poisson(μ s_i) normalised as q = y / s_i,
Var(q) = μ / s_i, and the delta method through the VST h gives h'(μ)² μ / s_i; on a log2 scale
(h'(q) = 1 / (q ln 2)) that is 1 / (μ s_i ln² 2). The expected sample variance of independent noise
across products is the mean over products, h'(μ)² μ · mean_i(1 / s_i), with μ the gene's mean
normalised count. DESeq2's VST is flatter than log2 at moderate counts (it stabilises the variance),
so the slope h' is read off the data (:func:`vst_slope`) rather than assumed, and the biological part
is divided by (h'(μ) μ ln 2)² to be in log2 units. The mean of the genes' unbiased variances is
unbiased for their mean biological variance (flooring at 0 adds a small upward bias, conservative); a
median would not see the minority of genes that a hidden structure moves. One-sided
(1 − α) bounds come from a bootstrap over products (percentiles). ``pass`` iff the upper bound ≤ τ;
``fail`` iff the lower bound > τ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

#: Fewest products for which the best split is assessed (two clusters of at least 2 and some room).
MIN_PRODUCTS_SPLIT = 6
#: Smallest cluster of a split.
MIN_CLUSTER = 2
#: k-means++ starts besides the PC1 start (the same for the data and every null dataset).
N_STARTS = 4
#: Lloyd iterations at most.
MAX_ITER = 30
#: Fewest products for a spread estimate.
MIN_PRODUCTS_SPREAD = 3
_MAD_SCALE = 1.482602218505602  # 1 / Φ⁻¹(0.75)


# --------------------------------------------------------------------------------------------
# 2-means in Gram space
# --------------------------------------------------------------------------------------------


def centred_gram(x: np.ndarray) -> np.ndarray:
    """Gram matrix ``X_c X_cᵀ`` of the products after centring each gene (n × n)."""
    xc = x - x.mean(axis=0, keepdims=True)
    k = xc @ xc.T
    return (k + k.T) / 2


def _leading_vector(gram: np.ndarray, squarings: int = 6) -> np.ndarray:
    """Leading eigenvector of each Gram matrix of a stack (M, n, n), by repeated squaring.

    Batched LAPACK ``eigh`` costs far more than this for many small matrices; K^(2^s) applied to a
    fixed vector converges to PC1 at the rate (λ₂/λ₁)^(2^s) (an approximate PC1 only moves the start).
    """
    p = gram / np.maximum(np.trace(gram, axis1=1, axis2=2), np.finfo(float).tiny)[:, None, None]
    for _ in range(squarings):
        p = p @ p
        p /= np.maximum(np.trace(p, axis1=1, axis2=2), np.finfo(float).tiny)[:, None, None]
    start = np.linspace(1.0, 2.0, gram.shape[1])
    return p @ start


def _pc1_cut(gram: np.ndarray, min_size: int) -> np.ndarray:
    """Best cut along PC1 for each Gram matrix of a stack (M, n, n) -> membership (M, n) bool."""
    m, n, _ = gram.shape
    order = np.argsort(_leading_vector(gram), axis=1)
    ks = np.take_along_axis(gram, order[:, :, None], axis=1)
    ks = np.take_along_axis(ks, order[:, None, :], axis=2)
    prefix = np.cumsum(np.cumsum(ks, axis=1), axis=2)
    q = np.diagonal(prefix, axis1=1, axis2=2)  # 1_Cᵀ K 1_C for the first s+1 products
    n1 = np.arange(1, n + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bss = n / (n1 * (n - n1)) * q
    ok = (n1 >= min_size) & (n - n1 >= min_size)
    bss = np.where(ok[None, :], bss, -np.inf)
    best = np.argmax(bss, axis=1)  # the first best+1 products of the order form cluster 1
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n)[None, :].repeat(m, axis=0), axis=1)
    return ranks <= best[:, None]


def _kmeanspp_starts(gram: np.ndarray, n_starts: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ starts (two centres) for a stack of Gram matrices -> membership (M, S, n) bool."""
    m, n, _ = gram.shape
    diag = np.diagonal(gram, axis1=1, axis2=2)  # (M, n)
    rows = np.arange(m)[:, None]
    c1 = rng.integers(0, n, size=(m, n_starts))
    k1 = gram[rows, c1]  # (M, S, n): K[c1, :]
    d1 = diag[:, None, :] - 2 * k1 + diag[rows, c1][:, :, None]
    d1 = np.maximum(d1, 0.0)
    tot = d1.sum(axis=2, keepdims=True)
    cdf = np.cumsum(d1, axis=2) / np.where(tot > 0, tot, 1.0)
    u = rng.random((m, n_starts, 1))
    c2 = np.minimum((cdf < u).sum(axis=2), n - 1)
    k2 = gram[rows, c2]
    d2 = diag[:, None, :] - 2 * k2 + diag[rows, c2][:, :, None]
    return d1 < d2


def two_means(
    gram: np.ndarray,
    rng: np.random.Generator,
    *,
    n_starts: int = N_STARTS,
    min_size: int = MIN_CLUSTER,
    max_iter: int = MAX_ITER,
) -> tuple[np.ndarray, np.ndarray]:
    """Best two-way split (2-means) of the products for a stack of centred Gram matrices.

    Parameters
    ----------
    gram
        Centred Gram matrices, (M, n, n) or (n, n).
    rng
        Random generator for the k-means++ starts.
    n_starts
        k-means++ starts besides the best cut along PC1.
    min_size
        Smallest cluster allowed.
    max_iter
        Lloyd iterations at most.

    Returns
    -------
    tuple
        Cluster index (within-cluster SS / total SS; shape (M,) or scalar) and the membership of the
        first cluster ((M, n) or (n,) bool).

    """
    single = gram.ndim == 2
    g = gram[None] if single else gram
    m, n, _ = g.shape
    starts = np.concatenate(
        [_pc1_cut(g, min_size)[:, None, :], _kmeanspp_starts(g, n_starts, rng)], 1
    )
    c = starts.astype(np.float64)  # (M, S, n)
    diag = np.diagonal(g, axis1=1, axis2=2)[:, None, :]
    tss = np.trace(g, axis1=1, axis2=2)[:, None]
    best_ci = np.full(c.shape[:2], np.inf)
    best_c = starts.copy()
    for _ in range(max_iter + 1):
        kc = c @ g  # K symmetric
        q = (c * kc).sum(axis=2)  # cᵀKc (= (1−c)ᵀK(1−c), K centred)
        n1 = c.sum(axis=2)
        n2 = n - n1
        valid = (n1 >= min_size) & (n2 >= min_size)
        with np.errstate(divide="ignore", invalid="ignore"):
            ci = 1.0 - n / (n1 * n2) * q / tss
        ci = np.where(valid, ci, np.inf)
        better = ci < best_ci
        best_ci = np.where(better, ci, best_ci)
        best_c = np.where(better[:, :, None], c > 0.5, best_c)
        n1s = np.maximum(n1, 1.0)[:, :, None]
        n2s = np.maximum(n2, 1.0)[:, :, None]
        d1 = diag - 2 * kc / n1s + q[:, :, None] / n1s**2
        d2 = diag + 2 * kc / n2s + q[:, :, None] / n2s**2
        new = (d1 < d2).astype(np.float64)
        if np.array_equal(new, c):
            break
        c = new
    pick = np.argmin(best_ci, axis=1)
    ci_out = best_ci[np.arange(m), pick]
    members = best_c[np.arange(m), pick]
    if single:
        return ci_out[0], members[0]
    return ci_out, members


# --------------------------------------------------------------------------------------------
# SigClust-type null
# --------------------------------------------------------------------------------------------


def null_spectrum(x: np.ndarray, *, threshold: str = "moments") -> tuple[np.ndarray, float, float]:
    """Covariance spectrum of the one-population null fitted to ``x`` (n × p).

    The null covariance has a few leading eigenvalues ("spikes") and a background represented by a
    scaled Wishart term σ²_b · W(m) (m background dimensions of variance σ²_b).

    Parameters
    ----------
    x
        Data (products × genes); genes are centred here.
    threshold
        ``"moments"`` (default): the background's total variance and the sum of its squared
        eigenvalues are matched to unbiased estimates of tr Σ and tr Σ² (Bai & Saranadasa 1996), so
        genes of unequal variance give the right effective dimension m = (tr)² / tr²; sample
        eigenvalues above the background's Marchenko–Pastur edge are spikes, each shrunk by the
        background's share tr_b / (n − 1) (a soft threshold). ``"soft"``: Huang et al. (2015),
        λ_j = max(ℓ_j − t, σ²_N) with σ²_N = (1.4826 · MAD)² of the centred entries (times
        n / (n − 1) for the centring) and t keeping the total variance. ``"hard"``: SigClust's
        λ_j = max(ℓ_j, σ²_N).

    Returns
    -------
    tuple
        The spikes (leading eigenvalues), the background variance σ²_b and the background dimension m.

    """
    n, p = x.shape
    big_n = n - 1
    xc = x - x.mean(axis=0, keepdims=True)
    ell = np.clip(np.linalg.eigvalsh(centred_gram(x))[::-1][:big_n], 0.0, None) / big_n
    total = float(ell.sum())
    if threshold == "moments":
        return _moment_spectrum(ell, total, p, big_n)
    med = np.median(xc)
    sigma2 = float((_MAD_SCALE * np.median(np.abs(xc - med))) ** 2) * n / big_n
    n_bg = float(max(p - big_n, 0))
    if threshold == "hard":
        return np.maximum(ell, sigma2), sigma2, n_bg
    if threshold != "soft":
        msg = f"threshold must be 'moments', 'soft' or 'hard', not {threshold!r}"
        raise ValueError(msg)
    if sigma2 * (n_bg + len(ell)) >= total:
        return np.full_like(ell, sigma2), sigma2, n_bg

    def kept(t: float) -> float:
        return float(np.maximum(ell - t, sigma2).sum() + n_bg * sigma2 - total)

    lo, hi = 0.0, float(ell.max())
    for _ in range(100):  # kept() is decreasing in t; kept(0) >= 0 >= kept(max ℓ)
        mid = (lo + hi) / 2
        if kept(mid) > 0:
            lo = mid
        else:
            hi = mid
    return np.maximum(ell - hi, sigma2), sigma2, n_bg


def _moment_spectrum(
    ell: np.ndarray, total: float, p: int, big_n: int
) -> tuple[np.ndarray, float, float]:
    """Spikes and a moment-matched background from the sample eigenvalues ``ell`` (N = n − 1 dof)."""
    if total <= 0 or big_n < 2:
        return np.zeros(0), 0.0, 0.0
    # unbiased under normality: E[tr S²] = (1 + 1/N) tr Σ² + (tr Σ)² / N, E[(tr S)²] = (tr Σ)² + 2 tr Σ² / N
    q = big_n**2 / ((big_n - 1) * (big_n + 2)) * (float((ell**2).sum()) - total**2 / big_n)
    k = 0
    while True:
        t_bg = float(ell[k:].sum()) / (1 - k / big_n)  # non-spike eigenvalues average t_bg / N
        spikes = ell[:k] - t_bg / big_n
        q_bg = q - float((spikes**2).sum())
        q_bg = min(max(q_bg, t_bg**2 / max(p - k, 1)), t_bg**2)  # 1 <= m <= p - k
        m = t_bg**2 / q_bg
        sigma2 = q_bg / t_bg
        edge = sigma2 * (np.sqrt(m) + np.sqrt(big_n)) ** 2 / big_n
        k_new = int(np.count_nonzero(ell > edge))
        if k_new <= k or k_new >= big_n:
            return spikes, sigma2, m
        k = k_new


def _wishart(n: int, dof: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Standard Wishart W_n(dof, I) matrices (size, n, n) by Bartlett's decomposition."""
    if dof < n:  # few background dimensions: explicit normals
        z = rng.standard_normal((size, n, max(round(dof), 0)))
        return z @ np.swapaxes(z, 1, 2)
    a = np.tril(rng.standard_normal((size, n, n)), k=-1)
    idx = np.arange(n)
    a[:, idx, idx] = np.sqrt(rng.chisquare(dof - idx, size=(size, n)))
    return a @ np.swapaxes(a, 1, 2)


def null_grams(
    spikes: np.ndarray,
    sigma2: float,
    n_bg: float,
    n: int,
    size: int,
    rng: np.random.Generator,
    *,
    fixed_spikes: bool = True,
) -> np.ndarray:
    """Centred Gram matrices of ``size`` Gaussian datasets of ``n`` products (size, n, n).

    With ``fixed_spikes`` each spike's scores have sum of squares exactly n − 1: the spike
    eigenvalues were estimated from the realised sample, so only the shape of the scores along a
    spike is random (drawing their scale again would count its sampling variation twice and cost
    power against a cluster that forms a spike).
    """
    h = np.eye(n) - 1.0 / n
    k = np.zeros((size, n, n))
    if n_bg > 0 and sigma2 > 0:
        k = h @ (sigma2 * _wishart(n, n_bg, size, rng)) @ h
    if len(spikes):
        z = rng.standard_normal((size, n, len(spikes)))
        z -= z.mean(axis=1, keepdims=True)
        if fixed_spikes:
            z *= np.sqrt((n - 1) / (z**2).sum(axis=1, keepdims=True))
        k += (z * spikes) @ np.swapaxes(z, 1, 2)
    return (k + np.swapaxes(k, 1, 2)) / 2


def _centred_basis(n: int) -> np.ndarray:
    """Orthonormal basis (n × (n − 1)) of the vectors summing to zero."""
    _, vecs = np.linalg.eigh(np.eye(n) - 1.0 / n)
    return vecs[:, 1:]


def rotation_grams(gram: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Null Gram matrices with the observed eigenvalues and Haar-random eigenvectors (size, n, n).

    For products drawn from one Gaussian population (any covariance across genes), the centred Gram
    matrix is invariant under rotations of the products (orthogonal maps fixing the all-ones
    vector), so given its eigenvalues its eigenvectors are Haar-distributed. Rotating the observed
    eigenvalues at random therefore draws from the exact conditional null.
    """
    n = gram.shape[0]
    q0 = _centred_basis(n)
    vals = np.clip(np.linalg.eigvalsh(q0.T @ gram @ q0), 0.0, None)
    v, _ = np.linalg.qr(rng.standard_normal((size, n - 1, n - 1)))  # column signs do not matter
    u = q0 @ v  # (size, n, n − 1)
    k = (u * vals) @ np.swapaxes(u, 1, 2)
    return (k + np.swapaxes(k, 1, 2)) / 2


def split_test(
    x: np.ndarray, *, seed: int, n_sim: int = 200, null: str = "rotation"
) -> dict[str, Any]:
    """Best two-way split of the products on ``x`` and its SigClust-type p-value.

    Parameters
    ----------
    x
        VST of the half-A genes (products × genes).
    seed
        Seed of the starts and the null simulation.
    n_sim
        Null datasets.
    null
        ``"rotation"`` (exact conditional null, see :func:`rotation_grams`) or a plug-in spectrum
        of :func:`null_spectrum` (``"moments"``, ``"soft"``, ``"hard"``).

    Returns
    -------
    dict
        ``ci`` (cluster index), ``members`` (bool per product, the first cluster), ``p_value``,
        ``ci_null_median``, ``n_sim``, ``null``.

    """
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    gram = centred_gram(x)
    ci, members = two_means(gram, rng)
    if null == "rotation":
        grams = rotation_grams(gram, n_sim, rng)
    else:
        spikes, sigma2, n_bg = null_spectrum(x, threshold=null)
        grams = null_grams(spikes, sigma2, n_bg, n, n_sim, rng)
    ci_null, _ = two_means(grams, rng)
    p = (1.0 + np.count_nonzero(ci_null <= ci)) / (n_sim + 1.0)
    return {
        "ci": float(ci),
        "members": members,
        "p_value": float(p),
        "ci_null_median": float(np.median(ci_null)),
        "n_sim": int(n_sim),
        "null": null,
    }


# --------------------------------------------------------------------------------------------
# Materiality of a split (half B)
# --------------------------------------------------------------------------------------------


def welch(y: np.ndarray, in_b: np.ndarray, *, alpha: float) -> dict[str, np.ndarray]:
    """Welch difference (cluster b − cluster a) per column of ``y`` with its (1 − 2α) interval."""
    a, b = y[~in_b], y[in_b]
    na, nb = len(a), len(b)
    va, vb = a.var(axis=0, ddof=1) / na, b.var(axis=0, ddof=1) / nb
    est = b.mean(axis=0) - a.mean(axis=0)
    se = np.sqrt(va + vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    df = np.where(np.isfinite(df), df, na + nb - 2.0)
    t = special.stdtrit(df, 1 - alpha)  # Student t quantile
    return {"estimate": est, "se": se, "df": df, "ci_low": est - t * se, "ci_high": est + t * se}


def _holm_count(p: np.ndarray, alpha: float) -> int:
    """Number of hypotheses Holm's procedure rejects at level ``alpha``."""
    ps = np.sort(p)
    g = len(ps)
    ok = ps <= alpha / (g - np.arange(g))
    return int(g if ok.all() else np.argmin(ok))


def beyond_fraction(
    y: np.ndarray, in_b: np.ndarray, *, margin: float, f0: float, alpha: float
) -> dict[str, Any]:
    """Fraction of genes whose cluster difference is beyond ``margin``, with Holm-based bounds.

    Stand-in for :func:`mscseq.comparability.tier2.tier2` with the same decision (fail iff the lower
    bound > f₀, pass iff the upper bound ≤ f₀). Per gene a pooled-variance t statistic; the lower
    bound is the Holm-controlled count of genes shown beyond the margin over G, the upper bound one
    minus the Holm-controlled count shown within it (two one-sided tests) over G.
    """
    a, b = y[~in_b], y[in_b]
    na, nb = len(a), len(b)
    df = na + nb - 2
    est = b.mean(axis=0) - a.mean(axis=0)
    s2 = ((na - 1) * a.var(axis=0, ddof=1) + (nb - 1) * b.var(axis=0, ddof=1)) / df
    se = np.sqrt(s2 * (1 / na + 1 / nb))
    se = np.where(se > 0, se, np.finfo(float).tiny)
    p_beyond = special.stdtr(df, -(np.abs(est) - margin) / se)  # Student t upper tails
    p_within = special.stdtr(df, -(margin - np.abs(est)) / se)
    g = y.shape[1]
    n_shown = _holm_count(p_beyond, alpha)
    n_within = _holm_count(p_within, alpha)
    lower, upper = n_shown / g, 1.0 - n_within / g
    result = "fail" if lower > f0 else "pass" if upper <= f0 else "inconclusive"
    return {
        "result": result,
        "n_genes": int(g),
        "margin": float(margin),
        "f0": float(f0),
        "estimate": float(np.mean(np.abs(est) > margin)),
        "lower": float(lower),
        "upper": float(upper),
        "n_beyond": int(np.count_nonzero(np.abs(est) > margin)),
        "n_shown_beyond": n_shown,
        "method": "pooled t per gene, Holm (stand-in for tier2)",
    }


def _gene_fraction(
    y: np.ndarray, in_b: np.ndarray, *, margin: float, f0: float, alpha: float, seed: int
) -> dict[str, Any]:
    """Tier 2's estimate of the fraction beyond the margin when available, else the stand-in."""
    try:
        from mscseq.comparability.tier2 import tier2
    except ImportError:
        return beyond_fraction(y, in_b, margin=margin, f0=f0, alpha=alpha)
    labels = np.where(in_b, "b", "a")
    return tier2(y, labels, "b", "a", margin=margin, f0=f0, alpha=alpha, seed=seed)


def split_materiality(
    y_b: np.ndarray,
    in_b: np.ndarray,
    scores: pd.DataFrame | None,
    margins: Mapping[str, float],
    *,
    gene_margin: float,
    f0: float,
    alpha: float,
    seed: int,
) -> dict[str, Any]:
    """Whether the split ``in_b`` is material, judged on the half-B genes and the panel scores.

    Returns
    -------
    dict
        ``material`` (True, False or None when neither shown), ``scores`` (one dict per panel with a
        margin: estimate, se, df, ci_low, ci_high, margin, result) and ``genes`` (the fraction of genes
        beyond the gene margin with its bounds).

    """
    rows = []
    if scores is not None:
        for panel in scores.columns:
            if panel not in margins:
                continue
            m = float(margins[panel])
            w = welch(np.asarray(scores[panel], dtype=np.float64)[:, None], in_b, alpha=alpha)
            lo, hi = float(w["ci_low"][0]), float(w["ci_high"][0])
            if not (np.isfinite(lo) and np.isfinite(hi)):
                res = "not_estimable"
            elif lo > m or hi < -m:
                res = "different"
            elif -m < lo and hi < m:
                res = "equivalent"
            else:
                res = "inconclusive"
            rows.append(
                {
                    "panel": str(panel),
                    "margin": m,
                    "estimate": float(w["estimate"][0]),
                    "se": float(w["se"][0]),
                    "df": float(w["df"][0]),
                    "ci_low": lo,
                    "ci_high": hi,
                    "result": res,
                }
            )
    genes = _gene_fraction(y_b, in_b, margin=gene_margin, f0=f0, alpha=alpha, seed=seed)
    if genes["result"] == "fail" or any(r["result"] == "different" for r in rows):
        material: bool | None = True
    elif genes["result"] == "pass" and all(r["result"] == "equivalent" for r in rows):
        material = False
    else:
        material = None
    return {"material": material, "scores": rows, "genes": genes}


def best_cut_1d(y: np.ndarray, min_size: int = MIN_CLUSTER) -> tuple[np.ndarray, np.ndarray]:
    """Exact 2-means of one-dimensional data, each row of ``y`` (M, n) a dataset.

    In one dimension the optimal clusters are the values below and above a cut of the sorted
    values, so every cut is scored from prefix sums.

    Returns
    -------
    tuple
        Cluster index (M,) and the membership of the lower cluster (M, n) bool.

    """
    m, n = y.shape
    ys = np.sort(y, axis=1)
    yc = ys - ys.mean(axis=1, keepdims=True)
    tss = (yc**2).sum(axis=1)
    s1 = np.cumsum(yc, axis=1)[:, :-1]  # sum of the lowest n1 values, n1 = 1..n−1
    n1 = np.arange(1, n, dtype=np.float64)
    bss = s1**2 * n / (n1 * (n - n1))  # n1 n2 / n (mean1 − mean2)², means from s1 (centred data)
    ok = (n1 >= min_size) & (n - n1 >= min_size)
    bss = np.where(ok[None, :], bss, -np.inf)
    best = np.argmax(bss, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ci = 1.0 - bss[np.arange(m), best] / tss
    threshold = ys[np.arange(m), best]
    return ci, y <= threshold[:, None]


def _split_test_1d(y: np.ndarray, *, seed: int, n_sim: int) -> dict[str, Any]:
    """:func:`split_test` for one variable: with rank 1 the rotation null is a Gaussian sample."""
    rng = np.random.default_rng(seed)
    ci, members = best_cut_1d(y[None, :])
    ci_null, _ = best_cut_1d(rng.standard_normal((n_sim, len(y))))
    p = (1.0 + np.count_nonzero(ci_null <= ci[0])) / (n_sim + 1.0)
    return {"ci": float(ci[0]), "members": members[0], "p_value": float(p)}


def score_splits(
    scores: pd.DataFrame | None,
    margins: Mapping[str, float],
    *,
    alpha: float,
    split_alpha: float,
    seed: int,
    n_sim: int = 200,
) -> list[dict[str, Any]]:
    """The best two-way split of the products on each panel score alone.

    A cohort that differs in one critical quality attribute only (a potency program, say) is
    invisible to the transcriptome-wide split. Per panel with a margin the best split of its score
    (2-means in one dimension) is tested with the same rotation null, which for one dimension is an
    exact test that the score is Gaussian, at level ``split_alpha`` for each panel. A significant
    split is material when the clusters' (1 − 2α) Welch interval lies entirely beyond the margin. The
    split and its difference come from the same score, so this is a screen for a clear bimodal
    attribute, used only to fail (see :func:`single_group`). A split fails only when it is both
    significant and material; for a homogeneous group whose score SD is half the margin, the pair
    happens in about 0.1 % of scores at level 0.05 (``docs/comparability.md``), so the level is not
    divided among the panels.
    """
    out = []
    for k, panel in enumerate(judged_panels(scores, margins)):
        y = np.asarray(scores[panel], dtype=np.float64)
        if len(y) < MIN_PRODUCTS_SPLIT or np.ptp(y) == 0:
            continue
        test = _split_test_1d(y, seed=seed + k, n_sim=n_sim)
        in_b = test["members"]
        if np.count_nonzero(in_b) > len(y) / 2:
            in_b = ~in_b
        w = welch(y[:, None], in_b, alpha=alpha)
        lo, hi, m = float(w["ci_low"][0]), float(w["ci_high"][0]), float(margins[panel])
        significant = test["p_value"] < split_alpha
        out.append(
            {
                "panel": str(panel),
                "p_value": test["p_value"],
                "alpha": float(split_alpha),
                "significant": bool(significant),
                "sizes": [int(len(y) - in_b.sum()), int(in_b.sum())],
                "in_b": in_b,
                "estimate": float(w["estimate"][0]),
                "ci_low": lo,
                "ci_high": hi,
                "margin": m,
                "material": bool(lo > m or hi < -m),
                "fail": bool(significant and (lo > m or hi < -m)),
            }
        )
    return out


def _chi2_quantile(q: float, df: int) -> float:
    """The ``q`` quantile of χ²_df."""
    return float(2.0 * special.gammaincinv(df / 2.0, q))


def judged_panels(scores: pd.DataFrame | None, margins: Mapping[str, float]) -> list[str]:
    """The panels judged in the single group: those with a margin and a finite score for every product."""
    if scores is None:
        return []
    return [
        str(c)
        for c in scores.columns
        if c in margins and np.all(np.isfinite(np.asarray(scores[c], np.float64)))
    ]


def score_spread(
    scores: pd.DataFrame | None,
    margins: Mapping[str, float],
    *,
    tau: float | Mapping[str, float],
    alpha: float,
    technical_sd: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Each judged panel score's between-product biological SD against the score tolerance ``tau``.

    ``tau`` is one tolerance for every panel or one per panel (log2).

    The sample variance s² of the score over the n products has the normal-theory one-sided (1 − α)
    bounds (n − 1) s² / χ²_{1−α, n−1} and (n − 1) s² / χ²_{α, n−1}; the score's technical variance
    (counting noise, and the replicate libraries' dispersion when products have several) is subtracted
    from the estimate and from both bounds, each floored at 0, and the square roots are reported.
    ``fail`` iff the lower bound > τ, ``pass`` iff the upper bound ≤ τ, else ``inconclusive``; the single
    group uses only ``fail`` (see the module docstring).

    Returns
    -------
    list of dict
        One per judged panel with at least :data:`MIN_PRODUCTS_SPREAD` products: ``panel``, ``n``,
        ``sd`` (the score's SD), ``technical_sd``, ``estimate``, ``lower``, ``upper``, ``tau``,
        ``result``.

    """
    out = []
    for panel in judged_panels(scores, margins):
        assert scores is not None
        y = np.asarray(scores[panel], dtype=np.float64)
        n = len(y)
        if n < MIN_PRODUCTS_SPREAD:
            continue
        s2 = float(np.var(y, ddof=1))
        tech = float((technical_sd or {}).get(panel, 0.0))
        df = n - 1
        lo_var = df * s2 / _chi2_quantile(1 - alpha, df) - tech**2
        hi_var = df * s2 / _chi2_quantile(alpha, df) - tech**2
        est, lower, upper = (float(np.sqrt(max(v, 0.0))) for v in (s2 - tech**2, lo_var, hi_var))
        tol = float(tau[panel] if isinstance(tau, Mapping) else tau)
        result = "fail" if lower > tol else "pass" if upper <= tol else "inconclusive"
        out.append(
            {
                "panel": panel,
                "n": n,
                "sd": float(np.sqrt(s2)),
                "technical_sd": tech,
                "estimate": est,
                "lower": lower,
                "upper": upper,
                "tau": tol,
                "result": result,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# Biological spread
# --------------------------------------------------------------------------------------------


def biological_spread(
    y: np.ndarray,
    norm: np.ndarray,
    *,
    tau: float,
    alpha: float = 0.05,
    size_factors: np.ndarray | None = None,
    n_boot: int = 200,
    seed: int = 0,
    technical_alpha: np.ndarray | None = None,
    technical_weights: np.ndarray | None = None,
    technical_df: int | None = None,
) -> dict[str, Any]:
    """Between-product biological SD (log2) on the spread genes, with bootstrap bounds.

    Parameters
    ----------
    y
        VST of the spread genes (products × genes).
    norm
        Normalised counts of the same genes.
    tau
        Tolerance (log2): pass iff the upper bound ≤ τ, fail iff the lower bound > τ.
    alpha
        One-sided level of each bound.
    size_factors
        Size factors of the products (all 1 when None).
    n_boot
        Bootstrap resamples of the products.
    seed
        Seed of the bootstrap.
    technical_alpha, technical_weights, technical_df
        From technical replicate libraries (:func:`mscseq.products.technical_dispersion`): each spread
        gene's extra-Poisson dispersion between libraries of one product, each product's weight
        ``Σ L_j² / (ΣL_j)²`` and the degrees of freedom. Given, the noise floor removed is counting
        noise plus ``α w`` (log scale); else counting noise alone.

    Returns
    -------
    dict
        ``estimate``, ``lower``, ``upper``, ``tau``, ``result``, ``n_genes``, ``n_products``,
        ``technical_sd`` (the median technical SD removed), ``technical_source``, ``method``.

    """
    n, g = y.shape
    out: dict[str, Any] = {
        "estimate": None,
        "lower": None,
        "upper": None,
        "tau": float(tau),
        "result": "not_estimable",
        "n_genes": int(g),
        "n_products": int(n),
        "technical_sd": None,
        "method": "root mean square over genes of the biological SD: sqrt(mean over genes of max(VST variance "
        "− technical variance, 0), on the log2 scale); technical = Poisson counting noise, plus the "
        "replicate libraries' extra-Poisson dispersion when products have several; product bootstrap "
        "percentile bounds",
    }
    if n < MIN_PRODUCTS_SPREAD or g == 0:
        return out
    inv_s = 1.0 / (np.ones(n) if size_factors is None else np.asarray(size_factors, np.float64))
    mu = norm.mean(axis=0)
    slope = vst_slope(y, norm, mu)  # h'(μ): VST units per normalised count
    tech = slope**2 * mu * inv_s.mean()  # Poisson: Var(y / s_i) = μ / s_i, by the delta method
    # the VST's change per log2 change, squared (1 at high counts)
    gain2 = (slope * mu * np.log(2.0)) ** 2
    if technical_alpha is not None and technical_weights is not None:
        # replicate libraries: relative variance α w beyond counting, i.e. (slope μ)² α w in VST units
        w = float(np.mean(technical_weights))
        tech = tech + (slope * mu) ** 2 * np.asarray(technical_alpha, dtype=np.float64) * w
        out["technical_source"] = (
            f"counting noise plus the library-to-library dispersion of the technical replicate "
            f"libraries ({technical_df} df)"
        )
    else:
        out["technical_source"] = "counting (Poisson) noise; no technical replicate libraries"
    ok = np.isfinite(gain2) & (gain2 > 0) & np.isfinite(tech)
    if not ok.any():
        return out
    tech, gain2 = tech[ok], gain2[ok]
    yc = y[:, ok] - y[:, ok].mean(axis=0, keepdims=True)

    def spread(w: np.ndarray, factor: float) -> np.ndarray:
        """Spread for product weights ``w`` (B, n) that sum to n; ``factor`` scales the variance."""
        mean = w @ yc / n
        var = (w @ yc**2 / n - mean**2) * factor
        return np.sqrt(np.mean(np.maximum(var - tech, 0.0) / gain2, axis=1))

    # the root mean square over genes: the mean of unbiased per-gene variances is unbiased for the mean
    # biological variance, and it weighs the minority of genes a hidden structure moves (a median would
    # not see them); same-tissue MSC donors give 0.33 log2 on it, six tissues pooled 0.60 (protocol.md)
    c_k = 1.0
    est = float(spread(np.ones((1, n)), n / (n - 1) / c_k)[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    w = np.zeros((n_boot, n))
    np.add.at(w, (np.arange(n_boot)[:, None], idx), 1.0)
    # a resample's unbiased variance estimates the sample's (n − 1) / n s²: scaled back by n / (n − 1)
    boot = spread(w, (n / (n - 1)) ** 2 / c_k**2)
    lower, upper = (float(v) for v in np.quantile(boot, [alpha, 1 - alpha]))
    tech_sd = float(np.sqrt(np.median(tech / gain2)))
    result = "pass" if upper <= tau else "fail" if lower > tau else "inconclusive"
    out.update(
        estimate=est, lower=lower, upper=upper, result=result, technical_sd=tech_sd, n_boot=n_boot
    )
    return out


def vst_slope(y: np.ndarray, norm: np.ndarray, at: np.ndarray, rel: float = 0.05) -> np.ndarray:
    """Derivative of the VST with respect to the normalised count, at the counts ``at``.

    The VST is one increasing function of the normalised count for every gene and product (DESeq2's
    parametric or local transformation alike), so the pairs (normalised count, VST) of all entries
    trace it; its slope is read off by interpolation over ±``rel`` around each value. For a pure
    log2 transformation it is 1 / (q ln 2).
    """
    q = norm.ravel()
    v = y.ravel()
    order = np.argsort(q, kind="stable")
    q, v = q[order], v[order]
    keep = np.r_[True, np.diff(q) > 0]
    q, v = q[keep], np.maximum.accumulate(v[keep])
    hi, lo = at * (1 + rel), at * (1 - rel)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.interp(hi, q, v) - np.interp(lo, q, v)) / (hi - lo)


# --------------------------------------------------------------------------------------------
# The single-group answer
# --------------------------------------------------------------------------------------------


def gene_halves(
    genes: np.ndarray, seed: int, *, to_b: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Divide gene indices at random into halves A and B; genes in ``to_b`` always go to B."""
    genes = np.asarray(genes, dtype=np.int64)
    rng = np.random.default_rng(seed)
    forced = np.isin(genes, to_b) if to_b is not None else np.zeros(len(genes), bool)
    free = genes[~forced][rng.permutation(np.count_nonzero(~forced))]
    n_a = len(genes) // 2
    half_a = np.sort(free[:n_a])
    half_b = np.sort(np.concatenate([free[n_a:], genes[forced]]))
    return half_a, half_b


def single_group(
    vst: np.ndarray,
    *,
    split_genes: np.ndarray,
    spread_genes: np.ndarray,
    norm: np.ndarray,
    scores: pd.DataFrame | None,
    margins: Mapping[str, float],
    gene_margin: float,
    f0: float,
    tau: float,
    alpha: float,
    seed: int,
    size_factors: np.ndarray | None = None,
    score_genes: Mapping[str, np.ndarray] | None = None,
    samples: Sequence[str] | None = None,
    split_alpha: float | None = None,
    n_sim: int = 200,
    n_boot: int = 200,
    null: str = "rotation",
    technical: Mapping[str, Any] | None = None,
    score_tau: float | Mapping[str, float] | None = None,
    score_technical_sd: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Conditions 2 (no material split) and 3 (spread within τ) of the single-group question.

    Parameters
    ----------
    vst
        VST, products × genes.
    split_genes
        Indices of the genes for the split (the Tier-2 set, exclusions removed).
    spread_genes
        Indices of the genes for the spread (the shipped well-expressed list ∩ data).
    norm
        Normalised counts, products × genes.
    scores
        Panel scores (products × panels, rows in the order of ``vst``), or None.
    margins
        Margin (log2) per panel; panels without one are not judged.
    gene_margin
        Margin (log2) of a gene.
    f0
        Largest fraction of genes allowed beyond the gene margin.
    tau
        Tolerance (log2) of the between-product biological SD.
    alpha
        One-sided level of the score intervals, the gene-fraction bounds and the spread bounds.
    seed
        Seed of the gene halves, the 2-means starts, the null simulation and the bootstrap.
    size_factors
        Size factors of the products (for the technical variance; all 1 when None).
    score_genes
        Gene indices feeding each score (:func:`mscseq.comparability.tier1.score_genes`); they are
        kept out of half A so the split is not chosen on them.
    samples
        Product names (members are given as names when present, else as row indices).
    split_alpha
        Level of the split test (``alpha`` when None).
    n_sim
        Null datasets of the split test.
    n_boot
        Bootstrap resamples of the spread.
    null
        Null of the split test (see :func:`split_test`).
    technical
        Technical dispersion from replicate libraries (:func:`mscseq.products.technical_dispersion`,
        ``alpha`` over all genes, ``weights`` over these products), or None: the spread's noise floor.
    score_tau
        Tolerance (log2) of a panel score's between-product biological SD (:func:`score_spread`), one
        for all panels or one per panel; None skips the score spreads.
    score_technical_sd
        Technical SD (log2) of each panel score over these products (0 when absent).

    Returns
    -------
    dict
        ``result`` (``pass``/``fail``/``inconclusive``), ``reasons``, ``split``, ``spread`` and
        ``score_spread`` (one row per judged panel score).

    """
    vst = np.asarray(vst, dtype=np.float64)
    norm = np.asarray(norm, dtype=np.float64)
    n = vst.shape[0]
    split_alpha = alpha if split_alpha is None else split_alpha
    to_b = None
    if score_genes:
        to_b = np.unique(np.concatenate([np.asarray(v, np.int64) for v in score_genes.values()]))
    half_a, half_b = gene_halves(split_genes, seed, to_b=to_b)
    names = [str(s) for s in samples] if samples is not None else list(range(n))
    split: dict[str, Any] = {
        "result": "not_estimable",
        "p_value": None,
        "alpha": float(split_alpha),
        "significant": None,
        "material": None,
        "ci": None,
        "sizes": [],  # no split: empty lists, as summary.schema.json types them arrays
        "members": [],
        "n_genes_split": len(half_a),
        "n_genes_material": len(half_b),
        "materiality": None,
        "score_splits": [],
    }
    if n >= MIN_PRODUCTS_SPLIT and len(half_a) >= 2 and len(half_b) >= 1:
        test = split_test(vst[:, half_a], seed=seed + 1, n_sim=n_sim, null=null)
        in_b = test["members"]
        if np.count_nonzero(in_b) > n - np.count_nonzero(in_b):
            in_b = ~in_b  # cluster "b" is the smaller one
        mat = split_materiality(
            vst[:, half_b],
            in_b,
            scores,
            margins,
            gene_margin=gene_margin,
            f0=f0,
            alpha=alpha,
            seed=seed + 2,
        )
        significant = test["p_value"] < split_alpha
        material = mat["material"]
        by_score = score_splits(
            scores, margins, alpha=alpha, split_alpha=split_alpha, seed=seed + 4, n_sim=n_sim
        )
        for row in by_score:
            members = row.pop("in_b")
            row["members"] = [
                [names[i] for i in np.flatnonzero(~members)],
                [names[i] for i in np.flatnonzero(members)],
            ]
        if (significant and material is True) or any(r["fail"] for r in by_score):
            result = "fail"
        elif not significant or material is False:
            result = "pass"
        else:
            result = "inconclusive"
        split.update(
            result=result,
            p_value=test["p_value"],
            significant=bool(significant),
            material=material,
            ci=test["ci"],
            ci_null_median=test["ci_null_median"],
            n_sim=test["n_sim"],
            null=test["null"],
            sizes=[int(n - in_b.sum()), int(in_b.sum())],
            members=[
                [names[i] for i in np.flatnonzero(~in_b)],
                [names[i] for i in np.flatnonzero(in_b)],
            ],
            materiality=mat,
            score_splits=by_score,
        )
    spread_genes = np.asarray(spread_genes, dtype=np.int64)
    spread = biological_spread(
        vst[:, spread_genes],
        norm[:, spread_genes],
        tau=tau,
        alpha=alpha,
        size_factors=size_factors,
        n_boot=n_boot,
        seed=seed + 3,
        technical_alpha=None if technical is None else np.asarray(technical["alpha"])[spread_genes],
        technical_weights=None if technical is None else technical["weights"],
        technical_df=None if technical is None else technical.get("df"),
    )
    by_score_spread = (
        []
        if score_tau is None
        else score_spread(
            scores, margins, tau=score_tau, alpha=alpha, technical_sd=score_technical_sd
        )
    )
    reasons = _reasons(split, spread, by_score_spread)
    score_fail = any(r["result"] == "fail" for r in by_score_spread)
    if split["result"] == "fail" or spread["result"] == "fail" or score_fail:
        result = "fail"
    elif split["result"] == "pass" and spread["result"] == "pass":
        result = "pass"
    else:
        result = "inconclusive"
    return {
        "result": result,
        "reasons": reasons,
        "split": split,
        "spread": spread,
        "score_spread": by_score_spread,
    }


def _reasons(
    split: dict[str, Any], spread: dict[str, Any], by_score_spread: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """One line per condition, failures first."""
    lines: list[tuple[int, str]] = []
    order = {"fail": 0, "inconclusive": 1, "not_estimable": 1, "pass": 2}
    if split["result"] == "not_estimable":
        lines.append(
            (1, f"split not assessable: fewer than {MIN_PRODUCTS_SPLIT} products or no split genes")
        )
    else:
        sizes = "/".join(str(s) for s in split["sizes"])
        mat = {True: "material", False: "immaterial", None: "materiality not shown"}[
            split["material"]
        ]
        sig = "significant" if split["significant"] else "not significant"
        rank = 1  # the transcriptome-wide split alone (score splits are listed apart)
        if split["significant"] and split["material"] is True:
            rank = 0
        elif not split["significant"] or split["material"] is False:
            rank = 2
        lines.append((rank, f"best split {sizes}: {sig} (p = {split['p_value']:.3g}), {mat}"))
        for row in split["score_splits"]:
            if row["fail"]:
                lines.append(
                    (
                        0,
                        f"{row['panel']} score splits the products "
                        + "/".join(str(v) for v in row["sizes"])
                        + f" (p = {row['p_value']:.3g}), {row['estimate']:.2f} log2 apart "
                        f"(interval {row['ci_low']:.2f} to {row['ci_high']:.2f}, margin "
                        f"{row['margin']:.2f})",
                    )
                )
    for row in by_score_spread:
        if row["result"] == "fail":
            lines.append(
                (
                    0,
                    f"{row['panel']} score spreads across products: SD {row['estimate']:.2f} log2 "
                    f"(lower bound {row['lower']:.2f}) above its tolerance {row['tau']:.2f}",
                )
            )
    if spread["result"] == "not_estimable":
        lines.append((1, "spread not estimable"))
    else:
        lines.append(
            (
                order[spread["result"]],
                f"between-product SD {spread['estimate']:.3g} log2 "
                f"(bounds {spread['lower']:.3g}–{spread['upper']:.3g}) vs τ {spread['tau']:.3g}",
            )
        )
    return [text for _, text in sorted(lines, key=lambda t: t[0])]
