"""Per-product verdicts: leave-one-out PCA monitoring with Hotelling T² and Q (SPE) p-values.

Each product is compared with its *peers*: the other products of its group when that level has at least
``min_peers`` others, else all other products when there are at least ``min_peers`` of them, else the
product is ``not_assessable``. The peers alone define the model, so a deviating product never hides
itself in its own reference; and a product grossly far from its peers (:func:`_screen`, robust z >
:data:`SCREEN_Z`) is removed from everyone else's peers, so two deviating products do not hide each other:

1. centre the peers' profiles on their mean and take their principal components;
2. **T²**: Hotelling T² of the held-out product on the smallest ``k`` components explaining at least
   :data:`VARIANCE_EXPLAINED` of the peers' variance (capped at ``n_peers − 3``), with the exact limit for
   a new observation from the peers' population, ``T² · n(n − k) / (k(n − 1)(n + 1)) ~ F(k, n − k)``
   (``n`` peers). With genes ≫ products it is conservative: the peers' sample variances along their own
   components carry their noise, which a new product's projection does not;
3. **Q**: the product's squared distance to the affine span of its peers (its residual off *all* their
   components). Leaving the last components in Q, as classical PCA monitoring does with only ``k``, puts
   the heavy-tailed scores of donor programs the peers could not resolve into Q; off the whole span Q is
   the part of the product that no combination of its peers explains (a contaminating cell type, a
   sample swap). Its reference is the peers' own *out-of-sample* Q: each peer's distance to the span of
   the other peers (a nested leave-one-out), rescaled by ``(n² − 1)/n²`` because those spans have one
   peer fewer (the mean of ``n`` rather than ``n − 1`` peers: ``E Q ∝ 1 + 1/n``). The p-value is in
   :func:`q_pvalue`;
4. the product's p-value is ``min(1, 2 · min(p_T², p_Q))`` (Bonferroni over the two statistics), Holm-
   adjusted across the assessable products; the product is ``deviating`` when the adjusted p-value is
   below ``alpha``, else ``conforming``.

Everything runs in the products × products Gram space: ``y yᵀ`` is formed once; each product's fit is
an eigen-decomposition of a small centred sub-matrix of it and each nested reference one batched LU
solve, so 40 products × 10,000 genes take tens of milliseconds. The operating characteristics (clean products called deviating,
detection of a contaminated product) are checked by seeded simulations in ``tests/test_deviation.py``
and ``benchmarks/deviation_calibration.py``.

Drivers: a product's genes with the largest residual off its peers' span relative to the peers' SD,
and the panel scores beyond the peers' mean ± :data:`PANEL_SD` SD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from threadpoolctl import threadpool_limits

#: Components kept: the smallest k explaining at least this fraction of the peers' variance.
VARIANCE_EXPLAINED = 0.70
#: Residual degrees of freedom kept by the cap on k: k ≤ n_peers − MIN_RESIDUAL_DF.
MIN_RESIDUAL_DF = 3
#: Robust z of a product's Q among its universe above which it is removed from others' peer sets.
SCREEN_Z = 6.0
#: Genes listed as drivers of a product.
N_DRIVERS = 10
#: A panel score is a driver when it lies beyond the peers' mean ± this many peer SDs.
PANEL_SD = 3.0

#: Columns of the table returned by :func:`product_deviation`, in order.
COLUMNS = (
    "status",
    "group",
    "n_peers",
    "peers",
    "k",
    "t2",
    "p_t2",
    "q",
    "p_q",
    "p_value",
    "p_adjusted",
    "drivers",
    "panel_drivers",
)


#: Bytes of one (B, n, n) array of batched peer Gram blocks at most (:func:`_offspan_batch` works in chunks).
CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class _Fits:
    """Batched leave-out PCA fits, all in Gram space.

    ``eig`` (B, n − 1): the non-zero eigenvalues of each fit's centred Gram matrix, largest first;
    ``proj`` (B, t, n − 1): the projections of each fit's t test products on its components;
    ``dist2`` (B, t): their squared distances to the fit's peer mean;
    ``vecs`` (B, n, n − 1): the eigenvectors (only kept when asked for, to compute residuals).
    """

    eig: np.ndarray
    proj: np.ndarray
    dist2: np.ndarray
    vecs: np.ndarray | None


def _fit_batch(gram: np.ndarray, peers: np.ndarray, tests: np.ndarray, *, keep_vecs: bool) -> _Fits:
    """PCA of each peer set and projections of its test products, from the Gram matrix.

    Parameters
    ----------
    gram
        ``y yᵀ`` (N × N) of all products (y centred on any fixed vector; centring is done here).
    peers
        (B, n) indices of the peers of each fit.
    tests
        (B, t) indices of the products projected on each fit (not among its peers).
    keep_vecs
        Return the eigenvectors too.

    Returns
    -------
    _Fits
        The batched eigenvalues, projections and squared distances.

    """
    n = peers.shape[1]
    kpp = gram[peers[:, :, None], peers[:, None, :]]  # (B, n, n)
    kxp = gram[tests[:, :, None], peers[:, None, :]]  # (B, t, n)
    kxx = gram[tests, tests]  # (B, t)
    row = kpp.mean(axis=2)  # (B, n)
    grand = row.mean(axis=1)  # (B,)
    centred = kpp - row[:, :, None] - row[:, None, :] + grand[:, None, None]
    xmean = kxp.mean(axis=2)  # (B, t)
    cross = kxp - xmean[:, :, None] - row[:, None, :] + grand[:, None, None]  # (B, t, n)
    dist2 = kxx - 2.0 * xmean + grand[:, None]
    val, vec = np.linalg.eigh(centred)  # ascending
    val = val[:, ::-1][:, : n - 1]
    vec = vec[:, :, ::-1][:, :, : n - 1]
    # numerically zero eigenvalues (peers not affinely independent, e.g. duplicated profiles) are zero
    val = np.where(val > 1e-10 * np.maximum(val[:, :1], 1e-300), val, 0.0)
    scale = np.sqrt(val)
    with np.errstate(divide="ignore", invalid="ignore"):
        proj = np.einsum("btn,bnj->btj", cross, vec) / scale[:, None, :]
    proj = np.where(scale[:, None, :] > 0, proj, 0.0)
    return _Fits(eig=val, proj=proj, dist2=dist2, vecs=vec if keep_vecs else None)


def _offspan_batch(gram: np.ndarray, peers: np.ndarray, tests: np.ndarray) -> np.ndarray:
    """Squared distances of test products to the affine span of each peer set (batched), from the Gram.

    The distance is ``‖x − m‖² − cᵀ C⁺ c`` with ``C`` the peers' centred Gram matrix and ``c`` the centred
    cross products. ``C`` is singular only along the constant vector, to which ``c`` is orthogonal, so
    ``C⁺`` is replaced by ``(C + t·11ᵀ/n)⁻¹`` and one batched LU solve (several times cheaper than the
    eigen-decompositions) does it; a batch whose peers are themselves degenerate falls back to
    :func:`_fit_batch`.

    Parameters
    ----------
    gram
        ``y yᵀ`` of all products.
    peers
        (B, n) indices of the peer sets.
    tests
        (B, t) indices of the products measured against each set.

    Returns
    -------
    numpy.ndarray
        (B, t) squared distances (≥ 0).

    """
    # in chunks of about CHUNK_BYTES per (B, n, n) array: 200 products (two groups of 100) need ~10,000
    # nested fits, whose Gram blocks at once took 1.8 GiB
    step = max(1, CHUNK_BYTES // (8 * peers.shape[1] ** 2))
    if peers.shape[0] > step:
        return np.concatenate(
            [
                _offspan_batch(gram, peers[s : s + step], tests[s : s + step])
                for s in range(0, peers.shape[0], step)
            ]
        )
    n = peers.shape[1]
    kpp = gram[peers[:, :, None], peers[:, None, :]]
    kxp = gram[tests[:, :, None], peers[:, None, :]]
    kxx = gram[tests, tests]
    row = kpp.mean(axis=2)
    grand = row.mean(axis=1)
    centred = kpp - row[:, :, None] - row[:, None, :] + grand[:, None, None]
    xmean = kxp.mean(axis=2)
    cross = kxp - xmean[:, :, None] - row[:, None, :] + grand[:, None, None]
    dist2 = kxx - 2.0 * xmean + grand[:, None]
    level = np.trace(centred, axis1=1, axis2=2) / n
    padded = centred + (level / n)[:, None, None]
    try:
        sol = np.linalg.solve(padded, np.swapaxes(cross, 1, 2))  # (B, n, t)
        q = dist2 - np.einsum("btn,bnt->bt", cross, sol)
        ok = np.all(np.isfinite(q)) and np.all(q >= -1e-8 * np.maximum(dist2, 1e-300))
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        fits = _fit_batch(gram, peers, tests, keep_vecs=False)
        q = fits.dist2 - np.sum(fits.proj**2, axis=2)
    return np.maximum(q, 0.0)


def choose_k(eig: np.ndarray, n_peers: int) -> int:
    """Components to keep: the smallest k reaching :data:`VARIANCE_EXPLAINED`, capped at n − 3.

    Parameters
    ----------
    eig
        Eigenvalues of the peers' centred Gram matrix, largest first.
    n_peers
        Number of peers.

    Returns
    -------
    int
        ``k`` in ``[1, n_peers − 3]``.

    """
    total = float(eig.sum())
    cap = max(1, n_peers - MIN_RESIDUAL_DF)
    if total <= 0:
        return 1
    frac = np.cumsum(eig) / total
    k = int(np.searchsorted(frac, VARIANCE_EXPLAINED - 1e-12) + 1)
    return int(min(max(k, 1), cap))


def _t2(eig: np.ndarray, proj: np.ndarray, k: int, n: int) -> float:
    """Hotelling T² on the first k components (peer variances λ/(n − 1))."""
    lam = eig[:k] / (n - 1)
    head = proj[:k] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(np.where(lam > 0, head / lam, 0.0)))


def _offspan(proj: np.ndarray, dist2: float) -> float:
    """Q: squared distance to the peers' affine span (distance to their mean minus all projections)."""
    return float(max(dist2 - float(np.sum(proj**2)), 0.0))


def t2_pvalue(t2: float, n: int, k: int) -> float:
    """P-value of T² for a new observation: ``T² · n(n − k) / (k(n − 1)(n + 1)) ~ F(k, n − k)``.

    Parameters
    ----------
    t2
        Hotelling T² of the held-out product on the peers' k components.
    n
        Number of peers.
    k
        Number of components.

    Returns
    -------
    float
        Upper-tail p-value.

    """
    f = t2 * n * (n - k) / (k * (n - 1) * (n + 1))
    return float(special.fdtrc(k, n - k, f))  # F(k, n − k) upper tail


#: Quantiles at which the reference variance's sampling distribution is integrated out in :func:`q_pvalue`.
_NODES = (np.arange(64) + 0.5) / 64


def q_shape(eig: np.ndarray, n: int) -> float | None:
    """Effective degrees of freedom ``(tr Σ)² / tr Σ²`` of the peers' covariance, from their spectrum.

    ``tr Σ²`` uses Bai and Saranadasa's (1996) unbiased form
    ``(n − 1)² / ((n − 2)(n + 1)) · (tr S² − (tr S)² / (n − 1))``, which removes the sampling noise that
    inflates ``tr S²`` when genes ≫ products.

    Parameters
    ----------
    eig
        Eigenvalues of the peers' centred Gram matrix (``(n − 1) ×`` those of their covariance ``S``).
    n
        Number of peers (at least 3).

    Returns
    -------
    float or None
        The degrees of freedom, None when the estimate of ``tr Σ²`` is not positive.

    """
    tr_s = float(eig.sum()) / (n - 1)
    tr_s2 = float(np.sum(eig**2)) / (n - 1) ** 2
    tr_sigma2 = (n - 1) ** 2 / ((n - 2) * (n + 1)) * (tr_s2 - tr_s**2 / (n - 1))
    return tr_s**2 / tr_sigma2 if tr_sigma2 > 0 else None


def q_pvalue(q: float, reference: np.ndarray, shape: float | None = None) -> float:
    """P-value of Q against the peers' out-of-sample Q values: a predictive scaled-χ² (F) tail.

    Q of a product from the peers' population is a weighted sum of squares, ``≈ g·χ²_h`` (Box). With
    ``r`` reference values of mean ``m`` and variance ``v``:

    * ``h = 2m²/σ²`` by moments, but never above ``shape``, the effective degrees of freedom of the
      peers' whole covariance (:func:`q_shape`). The moment estimate alone misses the few large
      weights that give Q its tail when donor programs are strong (it then calls 2–3 % of clean
      products deviating in simulation); the spectral bound keeps them, and is conservative because Q,
      off the peers' span, has a flatter spectrum than the whole covariance;
    * ``Q / m ~ F(h, r·h)``, because ``m`` is itself a mean of ``r`` such values (a prediction limit,
      like the T² limit);
    * ``σ²`` is integrated over its sampling distribution, ``v(r − 1)/χ²_{r−2}``, at 64 quantiles
      (the scaled-χ² analogue of Student's t): with 6–10 peers a plug-in ``v`` is often too small.
      The reference values are not independent (any two share ``r − 2`` peers), so their variance is
      given one degree of freedom fewer than ``r − 1``: with 6 peers and ``r − 1`` the simulation
      called 1.1–1.4 % of clean products deviating, with ``r − 2`` 0.7–0.8 %; from 9 peers on the
      difference is negligible.

    Parameters
    ----------
    q
        Q of the tested product.
    reference
        The peers' out-of-sample Q values (already rescaled to the tested product's number of peers).
    shape
        Upper bound on the degrees of freedom ``h`` (None: moments only).

    Returns
    -------
    float
        Upper-tail p-value.

    """
    ref = np.asarray(reference, dtype=np.float64)
    r = ref.size
    mean = float(ref.mean())
    var = float(ref.var(ddof=1)) if r > 1 else 0.0
    bound = np.inf if shape is None else float(shape)
    return float(
        _q_pvalues(np.array([q]), np.array([mean]), np.array([var]), r, np.array([bound]))[0]
    )


def _q_pvalues(
    q: np.ndarray, mean: np.ndarray, var: np.ndarray, r: int, shape: np.ndarray
) -> np.ndarray:
    """:func:`q_pvalue` for several products with ``r`` reference values each (vectorised)."""
    p = np.where(q <= mean, 1.0, 0.0)
    ok = (mean > 0) & (var > 0) & (r >= 3)
    if not np.any(ok):
        return p
    chi2_nodes = 2.0 * special.gammaincinv((r - 2) / 2.0, _NODES)  # χ²_{r−2} quantiles
    sigma2 = var[ok, None] * (r - 1) / chi2_nodes[None, :]
    h = np.minimum(2.0 * mean[ok, None] ** 2 / sigma2, shape[ok, None])
    p[ok] = special.fdtrc(h, r * h, (q[ok] / mean[ok])[:, None]).mean(axis=1)
    return p


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values.

    Parameters
    ----------
    p
        Unadjusted p-values (1-D).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, monotone in the order of ``p`` and capped at 1.

    """
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adj
    return out


def _peer_sets(
    n_products: int,
    groups: np.ndarray | None,
    min_peers: int,
    exclude: np.ndarray | None = None,
) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Peer indices and peer kind ("group"/"all") of each product, None when not assessable.

    Products in ``exclude`` (boolean mask) are nobody's peers.
    """
    everyone = np.arange(n_products)
    eligible = np.ones(n_products, dtype=bool) if exclude is None else ~exclude
    sets: list[np.ndarray | None] = []
    kinds: list[str | None] = []
    for i in range(n_products):
        if groups is not None:
            same = np.flatnonzero((groups == groups[i]) & (everyone != i) & eligible)
            if same.size >= min_peers:
                sets.append(same)
                kinds.append("group")
                continue
        others = np.flatnonzero((everyone != i) & eligible)
        if others.size >= min_peers:
            sets.append(others)
            kinds.append("all")
        else:
            sets.append(None)
            kinds.append(None)
    return sets, kinds


def _gene_drivers(
    y: np.ndarray, i: int, peers: np.ndarray, fit: _Fits, names: Sequence[str]
) -> str:
    """The product's top genes by |residual off the peers' span| / peer SD, as one string."""
    yp = y[peers]
    mean = yp.mean(axis=0)
    centred = yp - mean
    vecs = fit.vecs[0] if fit.vecs is not None else np.zeros((peers.size, 0))
    scale = np.sqrt(fit.eig[0])
    keep = scale > 0
    # residual off the peers' span (what Q sums): (y_i − mean) − V Vᵀ(y_i − mean), V = centredᵀ W / s,
    # and Vᵀ(y_i − mean) is the projection already in the fit
    weights = vecs[:, keep] @ (fit.proj[0, 0][keep] / scale[keep])
    resid = y[i] - mean - centred.T @ weights
    sd = np.sqrt(np.einsum("pg,pg->g", centred, centred) / (peers.size - 1))
    floor = np.median(sd[sd > 0]) if np.any(sd > 0) else 1.0
    z = np.abs(resid) / np.maximum(sd, 0.1 * floor)
    n_top = min(N_DRIVERS, z.size)
    top = np.argpartition(-z, n_top - 1)[:n_top]
    top = top[np.argsort(-z[top], kind="stable")]
    return ", ".join(names[g] for g in top)


def _panel_drivers(scores: np.ndarray, columns: Sequence[str], i: int, peers: np.ndarray) -> str:
    """Panel scores beyond the peers' mean ± PANEL_SD SD, e.g. ``"licensing_potency −4.2 SD"``."""
    sp = scores[peers]
    mean = np.nanmean(sp, axis=0)
    sd = np.nanstd(sp, axis=0, ddof=1)
    out = []
    for j, col in enumerate(columns):
        x = scores[i, j]
        if not np.isfinite(x) or not np.isfinite(sd[j]) or sd[j] <= 0:
            continue
        z = (x - mean[j]) / sd[j]
        if abs(z) > PANEL_SD:
            out.append(f"{col} {z:+.1f} SD")
    return "; ".join(out)


def product_deviation(
    y: np.ndarray,
    samples: Sequence[str],
    groups: np.ndarray | Sequence[str] | None = None,
    *,
    min_peers: int = 6,
    alpha: float = 0.05,
    gene_names: Sequence[str] | None = None,
    scores: pd.DataFrame | None = None,
    drivers: bool = True,
) -> pd.DataFrame:
    """Per-product verdicts (conforming / deviating / not_assessable) with calibrated p-values.

    Parameters
    ----------
    y
        (n_products × n_genes) VST values on the fixed Tier-2 gene set; products are rows.
    samples
        Product names (the index of the result).
    groups
        Group level of each product (``--group``), or None for one group.
    min_peers
        Fewest peers a product needs to be assessable.
    alpha
        Level of the Holm-adjusted test across assessable products.
    gene_names
        Names of the columns of ``y`` for the drivers (empty names fall back to the column index).
    scores
        Panel scores (n_products × panels), rows matched to ``samples`` by index when the index holds
        them, else taken in the order of ``samples``; optional.
    drivers
        Compute the driver columns (skip for speed in simulations: they are then empty strings).

    Returns
    -------
    pandas.DataFrame
        Index ``samples``; columns :data:`COLUMNS`: ``status``, ``group``, ``n_peers``, ``peers``
        (``"group"``/``"all"``/None), ``k`` (components), ``t2``, ``p_t2``, ``q``, ``p_q``, ``p_value``
        (``min(1, 2 min(p_t2, p_q))``), ``p_adjusted`` (Holm over assessable products), ``drivers``
        (comma-separated genes), ``panel_drivers`` (``"; "``-separated panels with their peer z). The
        numeric columns are NaN for a not-assessable product (None in JSON: see :func:`to_records`).

    Raises
    ------
    ValueError
        When the shapes of ``y``, ``samples``, ``groups``, ``gene_names`` or ``scores`` disagree.

    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2:
        msg = f"y must be 2-D (products × genes), got shape {y.shape}"
        raise ValueError(msg)
    n_products, n_genes = y.shape
    samples = [str(s) for s in samples]
    if len(samples) != n_products:
        msg = f"{len(samples)} sample names for {n_products} products"
        raise ValueError(msg)
    labels = None if groups is None else np.asarray(groups).astype(str)
    if labels is not None and labels.shape != (n_products,):
        msg = f"groups has shape {labels.shape}, expected ({n_products},)"
        raise ValueError(msg)
    if gene_names is not None and len(gene_names) != n_genes:
        msg = f"{len(gene_names)} gene names for {n_genes} genes"
        raise ValueError(msg)
    if scores is not None and len(scores) != n_products:
        msg = f"scores has {len(scores)} rows for {n_products} products"
        raise ValueError(msg)
    if not np.all(np.isfinite(y)):
        msg = "y has non-finite values"
        raise ValueError(msg)
    if min_peers < 1 + MIN_RESIDUAL_DF:
        msg = f"min_peers must be at least {1 + MIN_RESIDUAL_DF}, got {min_peers}"
        raise ValueError(msg)

    # BLAS threads only spin on the hundreds of small eigen-decompositions (10× slower on 2 busy cores)
    with threadpool_limits(limits=1):
        gram = _gram(y)
        sets, _ = _peer_sets(n_products, labels, min_peers)
        suspects = _screen(gram, sets)
        sets, kinds = _peer_sets(n_products, labels, min_peers, exclude=suspects)
        stat, fits = _statistics(y, sets, gram)

    n_peers = np.array([len(s) if s is not None else n_products - 1 for s in sets], dtype=np.int64)
    assessable = np.array([s is not None for s in sets])
    p_value = np.full(n_products, np.nan)
    p_value[assessable] = np.minimum(
        1.0, 2.0 * np.minimum(stat["p_t2"][assessable], stat["p_q"][assessable])
    )
    p_adjusted = np.full(n_products, np.nan)
    p_adjusted[assessable] = holm(p_value[assessable])
    status = np.where(
        assessable,
        np.where(np.nan_to_num(p_adjusted, nan=1.0) < alpha, "deviating", "conforming"),
        "not_assessable",
    )

    names = _names(gene_names, n_genes)
    gene_drv = [""] * n_products
    panel_drv = [""] * n_products
    if drivers:
        if scores is not None and set(samples) <= {str(x) for x in scores.index}:
            scores = scores.set_axis([str(x) for x in scores.index]).loc[samples]
        score_values = None if scores is None else scores.to_numpy(dtype=np.float64)
        score_cols = [] if scores is None else [str(c) for c in scores.columns]
        for i, fit in fits.items():
            peers = np.asarray(sets[i])
            gene_drv[i] = _gene_drivers(y, i, peers, fit, names)
            if score_values is not None:
                panel_drv[i] = _panel_drivers(score_values, score_cols, i, peers)

    table = pd.DataFrame(
        {
            "status": status,
            "group": labels if labels is not None else [None] * n_products,
            "n_peers": n_peers,
            "peers": kinds,
            "k": stat["k"],
            "t2": stat["t2"],
            "p_t2": stat["p_t2"],
            "q": stat["q"],
            "p_q": stat["p_q"],
            "p_value": p_value,
            "p_adjusted": p_adjusted,
            "drivers": gene_drv,
            "panel_drivers": panel_drv,
        },
        index=pd.Index(samples, name="product"),
    )
    return table.loc[:, list(COLUMNS)]


def _names(gene_names: Sequence[str] | None, n_genes: int) -> list[str]:
    """Gene labels for the drivers: the names, or the column index where a name is empty or absent."""
    if gene_names is None:
        return [str(g) for g in range(n_genes)]
    return [
        str(n) if n is not None and str(n) not in ("", "nan") else str(g)
        for g, n in enumerate(gene_names)
    ]


def _gram(y: np.ndarray) -> np.ndarray:
    """``y yᵀ`` after centring the genes on their mean over all products (for numerical accuracy)."""
    yc = y - y.mean(axis=0)
    return yc @ yc.T


def _screen(gram: np.ndarray, sets: list[np.ndarray | None]) -> np.ndarray:
    """Products too far from their peers' span to serve as anyone's peer (masking guard).

    A grossly deviating product in the peer set of another inflates that product's Q reference and, in
    its span, absorbs any deviation the two share: two contaminated products hid each other entirely
    in simulation. So before the tests, each product's Q (distance to its peers' span) is compared
    with the other products' by a robust z, ``(Q − median) / (1.4826 · MAD)`` over the products whose
    peers are drawn from the same products; above :data:`SCREEN_Z` it is removed from every peer set
    (it is still tested itself, against the others).
    """
    n_products = gram.shape[0]
    suspects = np.zeros(n_products, dtype=bool)
    q_all = np.full(n_products, np.nan)
    by_size: dict[int, list[int]] = {}
    universes: dict[tuple[int, ...], list[int]] = {}
    for i, peers in enumerate(sets):
        if peers is not None:
            by_size.setdefault(peers.size, []).append(i)
            universes.setdefault(tuple(sorted([*peers.tolist(), i])), []).append(i)
    for members in by_size.values():
        peers = np.stack([np.asarray(sets[i]) for i in members])
        q_all[members] = _offspan_batch(gram, peers, np.array(members)[:, None])[:, 0]
    for members in universes.values():
        if len(members) < 3:
            continue
        idx = np.array(members)
        q = q_all[idx]
        med = np.median(q)
        mad = 1.4826 * np.median(np.abs(q - med))
        if mad > 0:
            suspects[idx[(q - med) / mad > SCREEN_Z]] = True
    return suspects


def _statistics(
    y: np.ndarray, sets: list[np.ndarray | None], gram: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[int, _Fits]]:
    """k, T², Q and their p-values for every assessable product (NaN elsewhere), and its peers' fit."""
    n_products = y.shape[0]
    out = {key: np.full(n_products, np.nan) for key in ("t2", "p_t2", "q", "p_q")}
    out["k"] = np.zeros(n_products, dtype=np.int64)
    todo = [i for i in range(n_products) if sets[i] is not None]
    primary: dict[int, _Fits] = {}
    if not todo:
        return out, primary

    # Primary fits: each assessable product against its peers, batched by peer-set size.
    shape_of: dict[int, float | None] = {}
    by_size: dict[int, list[int]] = {}
    for i in todo:
        by_size.setdefault(len(sets[i]), []).append(i)
    for n, members in by_size.items():
        peers = np.stack([sets[i] for i in members])
        fits = _fit_batch(gram, peers, np.array(members)[:, None], keep_vecs=True)
        for b, i in enumerate(members):
            primary[i] = _Fits(
                eig=fits.eig[b : b + 1],
                proj=fits.proj[b : b + 1],
                dist2=fits.dist2[b : b + 1],
                vecs=None if fits.vecs is None else fits.vecs[b : b + 1],
            )
            k = choose_k(fits.eig[b], n)
            shape_of[i] = q_shape(fits.eig[b], n)
            out["k"][i] = k
            out["t2"][i] = _t2(fits.eig[b], fits.proj[b, 0], k, n)
            out["q"][i] = _offspan(fits.proj[b, 0], fits.dist2[b, 0])
            out["p_t2"][i] = t2_pvalue(out["t2"][i], n, k)

    # Nested fits: Q of each peer j of i with j held out of i's peer set too. One fit
    # (peers(i) minus j) serves both (i, j) and (j, i) when i and j share their peer universe.
    models: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for i in todo:
        for j in sets[i]:
            rest = sets[i][sets[i] != j]
            models.setdefault(tuple(rest.tolist()), []).append((i, int(j)))
    ref_q: dict[tuple[int, int], float] = {}  # (i, j) -> Q of peer j in i's nested reference
    batches: dict[int, list[tuple[tuple[int, ...], list[tuple[int, int]]]]] = {}
    for rest, requests in models.items():
        batches.setdefault(len(rest), []).append((rest, requests))
    for items in batches.values():
        width = max(len(req) for _, req in items)
        peers = np.array([rest for rest, _ in items], dtype=np.int64)
        tests = np.array(
            [[j for _, j in req] + [req[0][1]] * (width - len(req)) for _, req in items]
        )
        q_all = _offspan_batch(gram, peers, tests)  # (B, t)
        for b, (_, req) in enumerate(items):
            for col, (i, j) in enumerate(req):
                ref_q[(i, j)] = float(q_all[b, col])
    by_r: dict[int, list[int]] = {}
    for i in todo:
        by_r.setdefault(len(sets[i]), []).append(i)
    for n, members in by_r.items():
        ref = np.array([[ref_q[(i, int(j))] for j in sets[i]] for i in members])
        ref *= (n * n - 1.0) / (n * n)  # spans of n − 1 peers → n peers (E Q ∝ 1 + 1/n)
        shape = np.array([np.inf if shape_of[i] is None else shape_of[i] for i in members])
        out["p_q"][members] = _q_pvalues(
            out["q"][members], ref.mean(axis=1), ref.var(axis=1, ddof=1), n, shape
        )
    return out, primary


def to_records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready records of :func:`product_deviation`'s table (NaN → None, drivers as lists).

    Parameters
    ----------
    table
        The table returned by :func:`product_deviation`.

    Returns
    -------
    list of dict
        One dict per product with key ``product`` first.

    """
    records = []
    for product, row in table.iterrows():
        rec: dict = {"product": str(product)}
        for col in COLUMNS:
            value = row[col]
            if col in ("drivers", "panel_drivers"):
                sep = ", " if col == "drivers" else "; "
                rec[col] = [v for v in str(value).split(sep) if v] if value else []
            elif isinstance(value, float | np.floating):
                rec[col] = None if not np.isfinite(value) else float(value)
            elif isinstance(value, np.integer):
                rec[col] = int(value)
            else:
                rec[col] = value
        records.append(rec)
    return records
