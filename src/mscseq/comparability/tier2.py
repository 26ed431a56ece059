"""Tier 2 of the comparability rule: the fraction of genes whose group difference is beyond the margin.

The gene set is fixed before this step without the group labels (:mod:`mscseq.comparability.genesets`); ``y``
holds the VST values of those genes, products as rows. For each gene ``g`` the group model gives the
estimate ``d_g = target - reference`` (log2), a residual variance ``s²_g`` with ``df`` degrees of freedom,
moderated as limma's ``eBayes`` does (Smyth 2004: a scaled inverse-chi-square prior fitted to all the
``s²_g`` by the method of moments on ``log s²``), and ``se_g = s̃_g·sqrt(c)`` with ``c`` the contrast's
variance factor.

The group model (the same for every gene, so all genes share one linear map ``d = A·Y``):

* two levels, no ``pair``/``batch``: two-sample difference of means, pooled variance;
* ``pair``: paired differences (target mean − reference mean within each pair present in both levels);
* ``batch`` bridged (some batch holds both levels): least squares with group + batch (with ``pair``: the
  pair differences regressed on the batch differences);
* ``batch`` aliased with group, one product per level without ``pair``, fewer than two pairs, or no residual
  degree of freedom: ``not_estimable``.

Decision (``F`` is the true fraction of genes with ``|β_g| ≥ m``, ``G`` the number of genes):

* point estimate ``F̂ = n_beyond / G`` with ``n_beyond = #{|d_g| > m}``;
* upper bound: a gene with ``|β_g| ≥ m`` has ``|d_g| > m`` with probability at least 1/2 (symmetric
  error), so ``n_beyond`` stochastically dominates ``Binomial(F·G, 1/2)`` for independent genes; the exact
  inversion gives ``U_bin``. Genes are not independent (co-regulated programs): the count's variance over
  that of independent genes, ``phi`` (a design effect), is estimated from the residual correlations of the
  genes (:func:`residual_overdispersion`), and the inversion of ``phi·Binomial(K/phi, 1/2)`` gives
  ``U_dep``; ``upper = max(U_bin, U_dep)``. Nothing is random: the result does not depend on ``seed``;
* lower bound: genes *shown* beyond the margin, each by the exact test of ``H0: |β_g| ≤ m`` with the
  moderated t, Holm-adjusted at ``alpha`` over the ``G`` genes: ``lower = n_shown_beyond / G`` (with
  probability at least ``1 - alpha`` every shown gene is truly beyond). Two stronger options
  (``lower_bound``): closed testing with Simes local tests (positive dependence), or the counting bound of
  Katsevich & Ramdas on the small p-values with the design effect (with Holm, each at ``alpha/2``), which
  reaches ``fail`` at 3 products per group when many genes differ;
* ``pass`` iff ``upper ≤ f0``; ``fail`` iff ``lower > f0``; otherwise ``inconclusive``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

#: Products per group searched for ``n_needed``.
N_NEEDED_MAX = 200

#: Relative floor on the residual variances before moderation (as limma's ``fitFDist``).
_VAR_FLOOR = 1e-5


@dataclass(frozen=True)
class GeneFit:
    """Per-gene estimates of one comparison (all arrays of length ``G``).

    Attributes
    ----------
    estimate
        ``d_g``, target − reference (log2).
    s2
        Residual variance of each gene.
    df
        Residual degrees of freedom (the same for every gene).
    s2_post
        Moderated (posterior) variance.
    df_total
        ``df + d0`` (``inf`` when the prior is infinitely strong).
    d0, s0_2
        The fitted prior degrees of freedom and prior variance.
    se
        Standard error of ``estimate`` from the moderated variance.
    weights
        The linear map of the estimate: ``estimate = weights @ units`` (length: number of units).
    units
        The units the model is fitted on (products, or pair differences), ``n_units × G``.
    design
        Design matrix of the units.
    resid
        Residuals in an orthonormal basis of the residual space, ``df × G``.
    contrast_factor
        ``c`` with ``se = sqrt(s2_post · c)``.
    per_unit
        Number of units a product of each level contributes: 2 for two groups (``n_needed`` counts
        products per group through ``c = 2/n``), 1 for pairs (``c = 1/n``).
    model
        Text naming the model.

    """

    estimate: np.ndarray
    s2: np.ndarray
    df: int
    s2_post: np.ndarray
    df_total: float
    d0: float
    s0_2: float
    se: np.ndarray
    weights: np.ndarray
    units: np.ndarray
    design: np.ndarray
    resid: np.ndarray
    contrast_factor: float
    per_unit: int
    model: str


class NotEstimableError(ValueError):
    """The comparison cannot be estimated (aliased batch, no replicates, too few pairs)."""


# --------------------------------------------------------------------------------------------------
# Empirical-Bayes moderation (own implementation of Smyth 2004, section 6)
# --------------------------------------------------------------------------------------------------


def trigamma_inverse(y: np.ndarray | float) -> np.ndarray:
    """Solve ``trigamma(x) = y`` for ``x > 0`` by Newton's method.

    Parameters
    ----------
    y
        Positive values.

    Returns
    -------
    numpy.ndarray
        ``x`` with ``polygamma(1, x) == y`` (to a relative 1e-8).

    Notes
    -----
    Newton's iteration on ``1/trigamma(x)``, which is nearly linear in ``x``, started at ``0.5 + 1/y``,
    converges monotonically (Smyth 2004, appendix); very large and very small ``y`` use the asymptotes
    ``1/sqrt(y)`` and ``1/y``.

    """
    y = np.atleast_1d(np.asarray(y, dtype=float))
    x = np.empty_like(y)
    big = y > 1e7
    small = y < 1e-6
    mid = ~(big | small)
    x[big] = 1.0 / np.sqrt(y[big])
    x[small] = 1.0 / y[small]
    ym = y[mid]
    xm = 0.5 + 1.0 / ym
    for _ in range(50):
        tri = special.polygamma(1, xm)
        step = tri * (1.0 - tri / ym) / special.polygamma(2, xm)
        xm = xm + step
        if np.all(-step / xm < 1e-8):
            break
    x[mid] = xm
    return x


def fit_prior(s2: np.ndarray, df: float) -> tuple[float, float]:
    """Fit the scaled inverse-chi-square prior of the gene variances (limma's ``fitFDist``, no covariate).

    Parameters
    ----------
    s2
        Residual variances (``G``), each with ``df`` degrees of freedom.
    df
        Residual degrees of freedom (> 0).

    Returns
    -------
    tuple of float
        ``(d0, s0²)``; ``d0`` is ``inf`` when the variances are no more spread than sampling alone explains.

    Notes
    -----
    ``z = log s²`` has mean ``log s0² + digamma(df/2) - log(df/2) - digamma(d0/2) + log(d0/2)`` and variance
    ``trigamma(df/2) + trigamma(d0/2)``; the moments of ``z`` give ``d0`` through the inverse trigamma.

    """
    s2 = np.asarray(s2, dtype=float)
    ok = np.isfinite(s2)
    s2 = s2[ok]
    if s2.size == 0:
        return 0.0, float("nan")
    floor = _VAR_FLOOR * max(float(np.median(s2)), np.finfo(float).tiny)
    z = np.log(np.maximum(s2, floor))
    e = z - special.digamma(df / 2.0) + np.log(df / 2.0)
    emean = float(np.mean(e))
    if s2.size < 2:
        return 0.0, float(np.exp(emean))
    evar = float(np.var(e, ddof=1)) - float(special.polygamma(1, df / 2.0))
    if evar > 0:
        d0 = 2.0 * float(trigamma_inverse(evar)[0])
        s0_2 = float(np.exp(emean + special.digamma(d0 / 2.0) - np.log(d0 / 2.0)))
    else:
        d0 = float("inf")
        s0_2 = float(np.exp(emean))
    return d0, s0_2


def moderate(s2: np.ndarray, df: float, d0: float, s0_2: float) -> np.ndarray:
    """Posterior variances ``(d0·s0² + df·s²)/(d0 + df)`` (``s0²`` when ``d0`` is infinite)."""
    s2 = np.asarray(s2, dtype=float)
    if np.isinf(d0):
        return np.full_like(s2, s0_2)
    if d0 == 0:
        return s2.copy()
    return (d0 * s0_2 + df * s2) / (d0 + df)


# --------------------------------------------------------------------------------------------------
# The group model
# --------------------------------------------------------------------------------------------------


def _dummies(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indicator columns of the levels of ``values`` (levels sorted)."""
    levels, codes = np.unique(values.astype(str), return_inverse=True)
    return (codes[:, None] == np.arange(levels.size)[None, :]).astype(float), levels


def _units(
    y: np.ndarray,
    labels: np.ndarray,
    target: str,
    reference: str,
    pair: np.ndarray | None,
    batch: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, int, int, str]:
    """The units, their design matrix, the contrast column, the units per product count and the model.

    Raises
    ------
    NotEstimableError
        A level has no product, or no pair holds both levels.

    """
    labels = np.asarray(labels).astype(str)
    keep = (labels == target) | (labels == reference)
    n_t = int(np.sum(labels == target))
    n_r = int(np.sum(labels == reference))
    if n_t == 0 or n_r == 0:
        msg = f"no product in level {target if n_t == 0 else reference!r}"
        raise NotEstimableError(msg)
    y = y[keep]
    is_t = labels[keep] == target
    b = None if batch is None else np.asarray(batch).astype(str)[keep]
    if b is not None and np.unique(b).size < 2:
        b = None
    if pair is None:
        cols = [np.ones(y.shape[0]), is_t.astype(float)]
        model = "two-sample difference of means, pooled variance"
        if b is not None:
            cols.extend(_dummies(b)[0].T)
            model = "least squares with group + batch"
        return y, np.column_stack(cols), 1, 2, model
    p_raw = np.asarray(pair, dtype=object)[keep]
    p = np.where(pd.isna(p_raw), "", p_raw.astype(str))  # no pair: in no pair
    pairs = np.array(sorted((set(p[is_t]) & set(p[~is_t])) - {""}))
    if pairs.size == 0:
        msg = "no pair holds products of both levels"
        raise NotEstimableError(msg)
    # mean of each level within each pair, as an averaging matrix (pairs × products)
    member = p[None, :] == pairs[:, None]
    wt = member & is_t[None, :]
    wr = member & ~is_t[None, :]
    avg = wt / wt.sum(axis=1, keepdims=True) - wr / wr.sum(axis=1, keepdims=True)
    units = avg @ y
    cols = [np.ones(pairs.size)]
    model = "paired differences (target − reference within each pair)"
    if b is not None:
        z = avg @ _dummies(b)[0]
        if np.any(np.abs(z) > 1e-12):
            cols.extend(z.T)
            model = "paired differences regressed on the batch differences"
    return units, np.column_stack(cols), 0, 1, model


def fit_genes(
    y: np.ndarray,
    labels: np.ndarray,
    target: str,
    reference: str,
    *,
    pair: np.ndarray | None = None,
    batch: np.ndarray | None = None,
) -> GeneFit:
    """Estimate every gene's group difference with its moderated standard error.

    Parameters
    ----------
    y
        VST values, products × genes.
    labels
        Group level of each product; products of other levels are left out.
    target, reference
        The levels compared (estimate = target − reference).
    pair
        Pair (donor) of each product, or None.
    batch
        Sequencing batch of each product, or None.

    Returns
    -------
    GeneFit
        The per-gene estimates.

    Raises
    ------
    NotEstimableError
        Batch aliased with group, no residual degree of freedom, or no usable pair.

    """
    y = np.asarray(y, dtype=float)
    units, x, col, per_unit, model = _units(y, labels, target, reference, pair, batch)
    x_pinv = np.linalg.pinv(x)
    contrast = np.zeros(x.shape[1])
    contrast[col] = 1.0
    # the contrast is estimable iff it lies in the row space of x
    if not np.allclose(contrast @ x_pinv @ x, contrast, atol=1e-8):
        what = "the group difference is not estimable"
        if batch is not None:
            what = "batch is aliased with group (no batch holds both levels)"
        raise NotEstimableError(what)
    rank = int(np.linalg.matrix_rank(x))
    df = units.shape[0] - rank
    if df < 1:
        msg = f"no residual degree of freedom ({units.shape[0]} units, {rank} parameters)"
        raise NotEstimableError(msg)
    weights = contrast @ x_pinv
    estimate = weights @ units
    # residuals in an orthonormal basis of the residual space (df × G): Qᵀ·y, as Qᵀ·x = 0
    q = np.linalg.svd(np.eye(x.shape[0]) - x @ x_pinv)[0][:, :df]
    resid = q.T @ units
    s2 = np.einsum("ij,ij->j", resid, resid) / df
    d0, s0_2 = fit_prior(s2, df)
    s2_post = moderate(s2, df, d0, s0_2)
    c = float(weights @ weights)
    return GeneFit(
        estimate=estimate,
        s2=s2,
        df=df,
        s2_post=s2_post,
        df_total=df + d0,
        d0=d0,
        s0_2=s0_2,
        se=np.sqrt(s2_post * c),
        weights=weights,
        units=units,
        design=x,
        resid=resid,
        contrast_factor=c,
        per_unit=per_unit,
        model=model,
    )


# --------------------------------------------------------------------------------------------------
# Bounds
# --------------------------------------------------------------------------------------------------


def p_beyond(estimate: np.ndarray, se: np.ndarray, df: float, margin: float) -> np.ndarray:
    """P-values of ``H0: |β| ≤ margin`` against ``|β| > margin`` (moderated t).

    The p-value is the largest ``P(|d| ≥ |d_obs|)`` over the null, reached at ``|β| = margin``:
    ``sf((|d| - m)/se) + sf((|d| + m)/se)``. The second term keeps the level exact when ``se`` is large
    next to the margin (a one-sided t alone reaches up to ``2·alpha`` at ``β = 0`` then).
    """
    a = np.abs(estimate)
    return np.minimum(
        special.stdtr(df, (margin - a) / se) + special.stdtr(df, -(a + margin) / se), 1.0
    )


def holm(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down rejections at family-wise level ``alpha`` (boolean per hypothesis)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    ok = p[order] <= alpha / (m - np.arange(m))
    n_reject = m if ok.all() else int(np.argmin(ok))
    out = np.zeros(m, dtype=bool)
    out[order[:n_reject]] = True
    return out


def simes_true_discoveries(p: np.ndarray, alpha: float) -> int:
    """Lower ``1 - alpha`` confidence bound on the number of false null hypotheses among all ``p``.

    Closed testing with Simes local tests (Goeman, Meijer, Krebs & Solari 2019), with the Hommel value
    ``h`` replaced by the number of hypotheses (conservative): ``max_u (1 − u + #{p ≤ u·alpha/G})``.
    Valid when the p-values are positively dependent (PRDS, where Simes' inequality holds).
    """
    p = np.sort(np.asarray(p, dtype=float))
    m = p.size
    if m == 0:
        return 0
    u = np.arange(1, m + 1)
    counts = np.searchsorted(p, u * alpha / m, side="right")
    return int(max(0, np.max(1 - u + counts)))


def counting_true_discoveries(p: np.ndarray, alpha: float, phi: float = 1.0) -> int:
    """Lower ``1 - alpha`` bound on the number of false null hypotheses, from the counts of small p-values.

    With independent null p-values, ``V(t) = #{null p ≤ t} ≤ c·(1 + G·t)`` for every ``t`` at once with
    probability at least ``1 - alpha``, ``c = log(1/α)/log(1 + log(1/α))`` (Katsevich & Ramdas 2020);
    so ``max_k (k − ⌊c·(1 + G·p_(k))⌋)`` genes among the ``k`` smallest p-values are false nulls. A count
    with design effect ``phi`` behaves as ``phi`` times a count of mean ``G·t/phi``, which gives
    ``c·(phi + G·t)`` (an approximation for dependent genes; exact for ``phi = 1``).
    """
    p = np.sort(np.asarray(p, dtype=float))
    if p.size == 0:
        return 0
    c = np.log(1.0 / alpha) / np.log(1.0 + np.log(1.0 / alpha))
    k = np.arange(1, p.size + 1)
    return int(max(0, np.max(k - np.floor(c * (max(phi, 1.0) + p.size * p)))))


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    """The standard normal density."""
    return np.exp(-(x**2) / 2.0) / np.sqrt(2.0 * np.pi)


def _binom_cdf_half(x: np.ndarray | int, n: np.ndarray | int) -> np.ndarray:
    """P(Binomial(n, 1/2) ≤ x) for whole numbers x ≥ 0, n ≥ 0: the regularised incomplete beta I_½(n − x, x + 1)."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    return np.where(x >= n, 1.0, special.betainc(np.maximum(n - x, 1.0), x + 1.0, 0.5))


def binomial_upper(n_beyond: int, n_genes: int, alpha: float) -> int:
    """Largest ``K ≤ n_genes`` with ``P(Binomial(K, 1/2) ≤ n_beyond) ≥ alpha`` (exact)."""
    # K/2 - z·sqrt(K)/2 <= n_beyond bounds K for any alpha above 1e-15 (z = 8); all K when it does not
    cap = int(((8.0 + np.sqrt(64.0 + 8.0 * n_beyond)) / 2.0) ** 2) + 2
    k = np.arange(n_beyond, min(n_genes, cap) + 1)
    ok = _binom_cdf_half(n_beyond, k) >= alpha
    if ok[-1] and k[-1] < n_genes:
        k = np.arange(n_beyond, n_genes + 1)
        ok = _binom_cdf_half(n_beyond, k) >= alpha
    return int(k[ok][-1])


def max_count_passing(n_genes: int, f0: float, alpha: float, phi: float = 1.0) -> int:
    """Largest ``n_beyond`` whose upper bounds (binomial, and inflated by ``phi``) are ≤ ``f0`` (−1: none)."""
    k_lim = int(np.floor(f0 * n_genes + 1e-9))
    if k_lim >= n_genes:
        return n_genes
    c = np.arange(k_lim + 2)
    ok = _binom_cdf_half(c, k_lim + 1) < alpha
    if phi > 1.0:
        # inflated bound <= k_lim  <=>  P(Binomial((k_lim + 1)/phi, 1/2) <= c/phi) < alpha
        big_n, x = (k_lim + 1) / phi, c / phi
        cdf = np.where(big_n > x, special.betainc(np.maximum(big_n - x, 1e-300), x + 1.0, 0.5), 1.0)
        ok &= cdf < alpha
    return int(c[ok][-1]) if ok.any() else -1


def residual_overdispersion(fit: GeneFit, margin: float, centre: np.ndarray | None = None) -> float:
    """Design effect of the genes' dependence on ``n_beyond``, from the residual correlations.

    ``Var(n_beyond) = Σ_g p_g(1 − p_g) + Σ_{g≠h} Cov(I_g, I_h)``. For jointly normal estimates with
    correlation ``ρ``, the Mehler expansion gives ``Cov(I_g, I_h) ≈ ρ²·h_g·h_h / 2`` with
    ``h = u·φ(u) + v·φ(v)``, ``u = (m − μ)/se``, ``v = (m + μ)/se``. ``ρ²`` is estimated from the residual
    correlations ``r`` (``df`` dimensions) without bias under independence, ``(r² − 1/df)·df/(df − 1)``;
    the double sum is one ``df × df`` matrix product (``Σ h_g h_h r²_gh = ‖Z diag(h) Zᵀ‖²_F``).

    Parameters
    ----------
    fit
        The gene fit.
    margin
        The gene margin.
    centre
        Means ``μ`` the probabilities are taken at (default: zero, every gene at no difference).

    Returns
    -------
    float
        ``Var(n_beyond) / Σ p(1 − p)``, at least 1 (1 when ``df < 2``).

    """
    if fit.df < 2:
        return 1.0
    mu = np.zeros_like(fit.estimate) if centre is None else np.asarray(centre, dtype=float)
    u = (margin - mu) / fit.se
    v = (margin + mu) / fit.se
    p = special.ndtr(-u) + special.ndtr(-v)
    v_ind = float(np.sum(p * (1.0 - p)))
    if v_ind <= 0:
        return 1.0
    h = u * _normal_pdf(u) + v * _normal_pdf(v)
    # only genes with a weight count (and no subnormal numbers, which slow the products down)
    keep = np.abs(h) > 1e-6 * max(float(np.max(np.abs(h))), np.finfo(float).tiny)
    h = h[keep]
    z = fit.resid[:, keep]
    norm = np.sqrt(np.einsum("ij,ij->j", z, z))
    h = np.where(norm > 0, h, 0.0)
    z = z / np.where(norm > 0, norm, 1.0)
    m = (z * h) @ z.T
    s_r = float(np.sum(m * m)) - float(np.sum(h * h))
    s_1 = float(np.sum(h)) ** 2 - float(np.sum(h * h))
    v_pairs = 0.5 * fit.df / (fit.df - 1) * (s_r - s_1 / fit.df)
    return max(1.0, 1.0 + v_pairs / v_ind)


def inflated_upper(n_beyond: int, n_genes: int, alpha: float, phi: float) -> int:
    """Upper bound on ``K`` when the count is ``phi·Binomial(K/phi, 1/2)`` (mean ``K/2``, variance ``phi·K/4``).

    The largest ``N`` with ``P(Binomial(N, 1/2) ≤ n_beyond/phi) ≥ alpha`` (continuous in ``N`` through the
    regularized incomplete beta), times ``phi``; equals :func:`binomial_upper` when ``phi`` is 1.
    """
    if phi <= 1.0:
        return binomial_upper(n_beyond, n_genes, alpha)
    x = n_beyond / phi
    # P(Bin(N, 1/2) <= x) = I_{1/2}(N - x, x + 1), decreasing in N
    lo, hi = x, max(x + 1.0, 2.0 * x + 10.0)
    while special.betainc(hi - x, x + 1.0, 0.5) >= alpha and hi < n_genes:
        hi *= 2.0
    if special.betainc(hi - x, x + 1.0, 0.5) >= alpha:
        return n_genes
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mid - x <= 0 or special.betainc(mid - x, x + 1.0, 0.5) >= alpha:
            lo = mid
        else:
            hi = mid
    return min(n_genes, int(np.floor(lo * phi + 1e-9)))


def _n_needed(
    fit: GeneFit, margin: float, f0: float, alpha: float, power: float, phi: float
) -> int | None:
    """Smallest products per group (pairs when paired) at which ``P(upper ≤ f0) ≥ power`` when no gene differs.

    ``se_g(n) = s̃_g·sqrt(per_unit/n)`` with the residual degrees of freedom of ``n`` (plus ``d0``);
    ``n_beyond`` is then a sum of Bernoulli(``2·P(t > m/se_g)``), approximated as normal with a continuity
    correction and its variance inflated by ``phi`` (the genes' dependence), against the largest count the
    bounds pass.
    """
    n_genes = fit.estimate.size
    c_max = max_count_passing(n_genes, f0, alpha, phi)
    if c_max < 0:
        return None
    sd = np.sqrt(fit.s2_post * fit.per_unit)
    # residual df at n per group: units minus the parameters the design has now
    n_params = fit.units.shape[0] - fit.df

    def ok(n: int) -> bool:
        df = max(n * fit.per_unit - n_params, 1) + fit.d0
        z = margin * np.sqrt(n) / sd
        z = z[z < special.stdtrit(df, 1.0 - 1e-12)]  # the others add less than 1e-12 each
        p = 2.0 * special.stdtr(df, -z)
        mean = float(p.sum())
        var = phi * float((p * (1 - p)).sum())
        if var <= 0:
            return mean <= c_max
        return float(special.ndtr((c_max + 0.5 - mean) / np.sqrt(var))) >= power

    if not ok(N_NEEDED_MAX):
        return None
    lo, hi = 2, N_NEEDED_MAX
    if ok(lo):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _method(fit: GeneFit | None, alpha: float, lower_bound: str = "holm") -> str:
    model = "" if fit is None else f"Model: {fit.model}; "
    return (
        f"{model}per-gene residual variances moderated by an empirical-Bayes prior (limma eBayes, Smyth 2004). "
        "Estimate: fraction of genes with |d| > margin. Upper bound: the exact binomial inversion "
        f"(largest F with P(Binomial(F·G, 1/2) ≤ n_beyond) ≥ {alpha:g}), or the same inversion with the "
        "count's variance inflated by the genes' dependence (design effect from the residual gene-gene "
        "correlations, debiased) when larger. "
        f"Lower bound: genes shown beyond the margin (moderated t test of |β| > margin, Holm at {alpha:g} "
        "over the G genes) divided by G"
        + {
            "simes": ", or when larger the closed-testing (Simes) lower bound on the number of genes "
            "beyond it",
            "counting": " at half the level, or when larger the bound on the number of genes beyond it "
            "from the counts of small p-values (Katsevich-Ramdas, with the design effect) at half the level",
        }.get(lower_bound, "")
        + ". Pass iff upper ≤ f0; fail iff lower > f0."
    )


def tier2(
    y: np.ndarray,
    labels: np.ndarray,
    target: str,
    reference: str,
    *,
    margin: float,
    f0: float,
    alpha: float,
    pair: np.ndarray | None = None,
    batch: np.ndarray | None = None,
    seed: int,
    n_boot: int = 200,
    power: float = 0.8,
    lower_bound: str = "holm",
) -> dict:
    """Tier 2: is the fraction of genes beyond the margin at most ``f0``?

    Parameters
    ----------
    y
        VST values on the Tier-2 gene set, products × genes.
    labels
        Group level of each product.
    target, reference
        The levels compared (estimates are target − reference).
    margin
        Gene margin (log2).
    f0
        Largest tolerated fraction of genes beyond the margin.
    alpha
        Level of each bound (one-sided).
    pair
        Pair (donor) of each product, or None.
    batch
        Sequencing batch of each product, or None.
    seed, n_boot
        Kept for the shared signature; the bounds are analytic, so the result does not depend on them
        (a product-level bootstrap overstated the genes' dependence about five-fold at 6 products per group,
        as its resamples live in the few dimensions of the residuals).
    power
        Power ``n_needed`` is computed for.
    lower_bound
        ``"holm"``: genes shown beyond the margin with family-wise control (valid under any dependence);
        ``"simes"``: the closed-testing (Simes) lower bound on the number of genes beyond the margin
        (:func:`simes_true_discoveries`; valid under positive dependence, far stronger when many genes are
        moderately beyond); ``"counting"``: the larger of Holm's count and the bound from the counts of
        small p-values (:func:`counting_true_discoveries`, with the genes' design effect), each at
        ``alpha/2`` (valid for independent genes, approximate for dependent ones; the strongest at 3 per
        group). ``n_shown_beyond`` is Holm's count at ``alpha`` in every case.

    Returns
    -------
    dict
        ``result`` (``pass``/``fail``/``inconclusive``/``not_estimable``), ``n_genes``, ``margin``, ``f0``,
        ``estimate``, ``lower``, ``upper``, ``n_beyond``, ``n_shown_beyond``, ``n_needed`` (for an
        inconclusive result: products per group, pairs when paired, for ``power`` to pass when no gene
        differs; None otherwise or above 200), ``method``.

    """
    if lower_bound not in {"holm", "simes", "counting"}:
        msg = f"lower_bound must be 'holm', 'simes' or 'counting', not {lower_bound!r}"
        raise ValueError(msg)
    y = np.asarray(y, dtype=float)
    n_genes = int(y.shape[1])
    out: dict = {
        "result": "not_estimable",
        "n_genes": n_genes,
        "margin": float(margin),
        "f0": float(f0),
        "estimate": None,
        "lower": None,
        "upper": None,
        "n_beyond": None,
        "n_shown_beyond": None,
        "n_needed": None,
        "method": _method(None, alpha),
    }
    if n_genes == 0:
        out["method"] = "no gene in the Tier-2 gene set"
        return out
    try:
        fit = fit_genes(y, labels, target, reference, pair=pair, batch=batch)
    except NotEstimableError as exc:
        out["method"] = f"not estimable: {exc}"
        return out
    n_beyond = int(np.count_nonzero(np.abs(fit.estimate) > margin))
    p = p_beyond(fit.estimate, fit.se, fit.df_total, margin)
    n_shown = int(holm(p, alpha).sum())
    u_bin = binomial_upper(n_beyond, n_genes, alpha)
    phi = residual_overdispersion(fit, margin, fit.estimate)
    u_dep = inflated_upper(n_beyond, n_genes, alpha, phi)
    upper = max(u_bin, u_dep) / n_genes
    if lower_bound == "simes":
        lower = max(n_shown, simes_true_discoveries(p, alpha)) / n_genes
    elif lower_bound == "counting":
        # each of the two bounds at alpha/2, so that the larger holds with probability 1 - alpha
        lower = (
            max(int(holm(p, alpha / 2).sum()), counting_true_discoveries(p, alpha / 2, phi))
            / n_genes
        )
    else:
        lower = n_shown / n_genes
    result = "pass" if upper <= f0 else "fail" if lower > f0 else "inconclusive"
    out.update(
        result=result,
        estimate=n_beyond / n_genes,
        lower=lower,
        upper=upper,
        n_beyond=n_beyond,
        n_shown_beyond=n_shown,
        n_needed=(
            _n_needed(fit, margin, f0, alpha, power, residual_overdispersion(fit, margin))
            if result == "inconclusive"
            else None
        ),
        method=_method(fit, alpha, lower_bound),
    )
    return out


def gene_table(
    y: np.ndarray,
    labels: np.ndarray,
    target: str,
    reference: str,
    *,
    margin: float,
    alpha: float,
    pair: np.ndarray | None = None,
    batch: np.ndarray | None = None,
    gene_ids: np.ndarray | None = None,
    gene_names: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-gene Tier-2 table (written as ``tables/tier2_genes.tsv``).

    Parameters
    ----------
    y, labels, target, reference, margin, alpha, pair, batch
        As :func:`tier2`.
    gene_ids
        Index of the table, ``gene_id`` (default ``0..G-1``).
    gene_names
        Gene symbols: a first column ``gene_name`` when given.

    Returns
    -------
    pandas.DataFrame
        Columns (``gene_name``), ``estimate``, ``se``, ``df`` (total, moderated), ``beyond`` (``|estimate| > margin``),
        ``p_beyond``, ``shown_beyond`` (Holm at ``alpha``); empty when the comparison is not estimable.

    """
    y = np.asarray(y, dtype=float)
    index = pd.Index(
        np.arange(y.shape[1]) if gene_ids is None else np.asarray(gene_ids), name="gene_id"
    )
    names = {} if gene_names is None else {"gene_name": np.asarray(gene_names, dtype=object)}
    columns = [*names, "estimate", "se", "df", "beyond", "p_beyond", "shown_beyond"]
    try:
        fit = fit_genes(y, labels, target, reference, pair=pair, batch=batch)
    except NotEstimableError:
        return pd.DataFrame(columns=columns, index=index[:0])
    p = p_beyond(fit.estimate, fit.se, fit.df_total, margin)
    return pd.DataFrame(
        {
            **names,
            "estimate": fit.estimate,
            "se": fit.se,
            "df": np.full(fit.estimate.size, fit.df_total),
            "beyond": np.abs(fit.estimate) > margin,
            "p_beyond": p,
            "shown_beyond": holm(p, alpha),
        },
        index=index,
    )
