"""Product similarity: correlation, centroid distance, robust outlier scores, concordance, two clusters.

Per product: median correlation to the other products, distance to the centroid, robust outlier scores,
concordance with the consensus, and a two-cluster cut of the sample tree.

The outlier rule (stated in ``summary.json``): a product is an *outlier* when its robust z-score exceeds
:data:`MAD_Z` on either of

* ``log(1 − r̃)``, where ``r̃`` is its median Pearson correlation (VST, informative genes) with its peers;
* ``log(d)``, where ``d`` is its Euclidean distance to its peers' centroid in PCA space (top-500 genes),

and, on that same score, it is at least :data:`MIN_RATIO` times as far from its peers as the median
product (``(1 − r̃) / median(1 − r̃)`` or ``d / median(d)``).

Robust z = (x − median) / (1.4826 · MAD) over all products (nf-core/differentialabundance uses the same
MAD-based score on correlations). The logarithms make both scores scale-free, so the threshold means the
same at any depth. Peers are the products of the same group when ``--group`` is given and the group has at
least 3 products, otherwise all products. Scores need at least :data:`MIN_PRODUCTS` products.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Robust z-score above which a product is an outlier (Iglewicz & Hoaglin's 3.5; checked in the simulation study).
MAD_Z = 3.5
#: ... and at least this many times as dissimilar as the median product (1 − r̃ or distance): an effect-size
#: floor, because with 5–20 products the MAD itself is noisy and z > 3.5 alone flags ~1.5 % of products
#: drawn from one distribution.
MIN_RATIO = 1.25
#: Fewest products for which MAD-based outlier scores are computed.
MIN_PRODUCTS = 5
#: Genes with a mean normalised count at least this are "informative" (used for correlations and distances).
MIN_BASE_MEAN = 10.0
#: Fewest informative genes; below it every gene with a non-zero count is used.
MIN_GENES = 50


def robust_z(x: np.ndarray) -> np.ndarray:
    """Robust z-scores ``(x − median) / (1.4826 · MAD)`` along the first axis.

    When the MAD is zero the mean absolute deviation (× 1.2533) is used instead (Iglewicz and Hoaglin);
    when both are zero the scores are zero.

    Parameters
    ----------
    x
        Values (1-D, or 2-D with one column per variable).

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``.

    """
    x = np.asarray(x, dtype=np.float64)
    med = np.median(x, axis=0)
    dev = np.abs(x - med)
    scale = 1.4826 * np.median(dev, axis=0)
    scale = np.where(scale > 0, scale, 1.2533 * dev.mean(axis=0))
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, (x - med) / safe, 0.0)


def informative_genes(base_mean: np.ndarray, *, min_base_mean: float = MIN_BASE_MEAN) -> np.ndarray:
    """Indices of genes with mean normalised count ≥ ``min_base_mean`` (or all non-zero genes if too few)."""
    idx = np.flatnonzero(base_mean >= min_base_mean)
    if len(idx) < MIN_GENES:
        idx = np.flatnonzero(base_mean > 0)
    return idx


def peer_sets(groups: Sequence[str] | None, n: int) -> list[np.ndarray]:
    """For each product, the indices of its peers (same group if that group has ≥ 3 products, else all others)."""
    everyone = np.arange(n)
    out = []
    g = None if groups is None else np.asarray([str(v) for v in groups])
    for i in range(n):
        peers = everyone
        if g is not None and int((g == g[i]).sum()) >= 3:
            peers = np.flatnonzero(g == g[i])
        out.append(peers[peers != i])
    return out


def median_correlation(vst: np.ndarray, peers: list[np.ndarray]) -> np.ndarray:
    """Median Pearson correlation of each product with its peers (``vst``: samples × genes).

    A flat profile (every gene the same) correlates with nothing: its undefined correlations count as 0.
    """
    if vst.shape[0] > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.nan_to_num(np.corrcoef(vst), nan=0.0)
    else:
        r = np.ones((1, 1))
    return np.array([np.median(r[i, p]) if len(p) else np.nan for i, p in enumerate(peers)])


def centroid_distance(coords: np.ndarray, peers: list[np.ndarray]) -> np.ndarray:
    """Euclidean distance of each product to the centroid of its peers (product included) in ``coords``."""
    out = np.empty(coords.shape[0])
    for i, p in enumerate(peers):
        members = np.append(p, i)
        out[i] = float(np.linalg.norm(coords[i] - coords[members].mean(axis=0)))
    return out


def concordance(vst: np.ndarray, peers: list[np.ndarray], margin: float) -> np.ndarray:
    """Fraction of genes on which each product is within ``margin`` (log2) of its peers' median."""
    out = np.empty(vst.shape[0])
    for i, p in enumerate(peers):
        if len(p) == 0:
            out[i] = np.nan
            continue
        cons = np.median(vst[p], axis=0)
        out[i] = float(np.mean(np.abs(vst[i] - cons) <= margin))
    return out


def silhouette(dist: np.ndarray, labels: Sequence[Any]) -> float:
    """Mean silhouette width (Rousseeuw 1987) of a partition, from a square distance matrix.

    Per product i: a = its mean distance to the other members of its cluster, b = its smallest mean
    distance to the members of another cluster, s = (b − a) / max(a, b), and s = 0 in a cluster of one.
    Distances to each cluster are summed row by row in product order, which gives scikit-learn's
    ``silhouette_score(..., metric="precomputed")`` to the bit (tested) without importing it.
    """
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    sizes = np.bincount(codes)
    n = len(codes)
    sums = np.zeros((n, len(sizes)), dtype=np.float64)
    for i in range(n):
        sums[i] += np.bincount(codes, weights=np.asarray(dist[i], np.float64), minlength=len(sizes))
    rows = np.arange(n)
    within = sums[rows, codes]
    sums[rows, codes] = np.inf
    between = (sums / sizes).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        within = within / (sizes - 1)[codes]
        s = (between - within) / np.maximum(within, between)
    return float(np.mean(np.nan_to_num(s)))


def adjusted_rand_index(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) of two partitions of the same items.

    From the contingency table n_ij with margins a_i, b_j: with S = Σ C(n_ij, 2), A = Σ C(a_i, 2),
    B = Σ C(b_j, 2) and N = C(n, 2), ARI = 2 (S N − A B) / ((A + B) N − 2 A B), computed in whole numbers
    and divided once (so exactly the correctly rounded value); 1 when both partitions are the same
    trivial one (the denominator is 0 only then).
    """
    _, ia = np.unique(np.asarray(a, dtype=object).astype(str), return_inverse=True)
    _, ib = np.unique(np.asarray(b, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)

    def pairs(counts: np.ndarray) -> int:
        return sum(int(c) * (int(c) - 1) // 2 for c in counts.ravel())

    s, big_a, big_b = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    big_n = len(ia) * (len(ia) - 1) // 2
    den = (big_a + big_b) * big_n - 2 * big_a * big_b
    return 1.0 if den == 0 else 2 * (s * big_n - big_a * big_b) / den


def two_clusters(
    linkage: np.ndarray, dist: np.ndarray, groups: Sequence[str] | None
) -> dict[str, object]:
    """Cut the average-linkage tree into two clusters; silhouette and agreement with the groups.

    Parameters
    ----------
    linkage
        SciPy linkage matrix of the products (``uns["clustering"]["linkage"]``).
    dist
        Square distance matrix used for the tree (``1 − Pearson``).
    groups
        Group labels, or ``None``.

    Returns
    -------
    dict
        ``labels`` (1 or 2 per product), ``sizes``, ``silhouette`` (None below 3 products) and
        ``adjusted_rand_index`` with the groups (None without groups).

    """
    from scipy.cluster.hierarchy import fcluster

    n = dist.shape[0]
    if n < 3 or len(linkage) == 0:
        return {"labels": [1] * n, "sizes": [n], "silhouette": None, "adjusted_rand_index": None}
    labels = fcluster(np.asarray(linkage, dtype=np.float64), t=2, criterion="maxclust").astype(int)
    sil = None
    if len(set(labels)) == 2 and min(np.bincount(labels)[1:]) >= 1 and n > 2:
        d = np.nan_to_num(np.clip((dist + dist.T) / 2, 0.0, None), nan=1.0)  # NaN r: no correlation
        np.fill_diagonal(d, 0.0)
        sil = silhouette(d, labels)
    ari = None
    if groups is not None:
        ari = adjusted_rand_index([str(g) for g in groups], labels)
    return {
        "labels": labels.tolist(),
        "sizes": np.bincount(labels)[1:].tolist(),
        "silhouette": sil,
        "adjusted_rand_index": ari,
    }


def product_similarity(
    vst: np.ndarray,
    coords: np.ndarray,
    base_mean: np.ndarray,
    samples: Sequence[str],
    *,
    groups: Sequence[str] | None = None,
    margin: float = 1.0,
    threshold: float = MAD_Z,
    min_ratio: float = MIN_RATIO,
) -> pd.DataFrame:
    """Per-product similarity statistics and outlier status.

    Parameters
    ----------
    vst
        Samples × genes VST.
    coords
        Samples × PCs (``obsm["X_pca"]``).
    base_mean
        Mean normalised count per gene.
    samples
        Sample names.
    groups
        Group label per product (``--group``), or ``None``.
    margin
        Log2 margin for :func:`concordance`.
    threshold
        Robust z-score threshold (:data:`MAD_Z`).
    min_ratio
        Effect-size floor (:data:`MIN_RATIO`).

    Returns
    -------
    pandas.DataFrame
        Indexed by sample: ``median_correlation``, ``centroid_distance``, ``z_correlation``,
        ``z_distance``, ``concordance``, ``outlier`` (bool) and ``reasons`` (list of str).

    """
    n = len(samples)
    genes = informative_genes(base_mean)
    sub = vst[:, genes]
    peers = peer_sets(groups, n)
    corr = median_correlation(sub, peers)
    dist = centroid_distance(np.asarray(coords, dtype=np.float64), peers)
    conc = concordance(sub, peers, margin)
    log_c = np.log(np.clip(1.0 - corr, 1e-12, None))
    log_d = np.log(np.clip(dist, 1e-12, None))
    ratio_c = np.exp(log_c - np.median(log_c)) if n else log_c
    ratio_d = np.exp(log_d - np.median(log_d)) if n else log_d
    if n >= MIN_PRODUCTS:
        z_corr = robust_z(log_c)
        z_dist = robust_z(log_d)
    else:
        z_corr = np.full(n, np.nan)
        z_dist = np.full(n, np.nan)
    reasons: list[list[str]] = []
    outlier = np.zeros(n, dtype=bool)
    for i in range(n):
        why = []
        if z_corr[i] > threshold and ratio_c[i] >= min_ratio:
            why.append(
                f"low median correlation with its peers ({corr[i]:.4f}; robust z {z_corr[i]:.1f} > {threshold:g}; "
                f"{ratio_c[i]:.2f} x the typical 1 - r)"
            )
        if z_dist[i] > threshold and ratio_d[i] >= min_ratio:
            why.append(
                f"far from its peers' centroid in PCA space ({dist[i]:.2f}; robust z {z_dist[i]:.1f} > {threshold:g}; "
                f"{ratio_d[i]:.2f} x the typical distance)"
            )
        outlier[i] = bool(why)
        reasons.append(why)
    return pd.DataFrame(
        {
            "median_correlation": corr,
            "centroid_distance": dist,
            "z_correlation": z_corr,
            "z_distance": z_dist,
            "ratio_correlation": ratio_c,
            "ratio_distance": ratio_d,
            "concordance": conc,
            "outlier": outlier,
            "reasons": reasons,
        },
        index=pd.Index([str(s) for s in samples], name="sample"),
    )
