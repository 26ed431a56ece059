"""PERMANOVA (Anderson 2001) and PERMDISP (Anderson 2006) on Euclidean distances between VST profiles.

PERMANOVA partitions the sum of squared distances into between- and within-group parts:

    SS_T = (1/N) Σ_{i<j} d²_ij,   SS_W = Σ_g (1/n_g) Σ_{i<j ∈ g} d²_ij,   SS_A = SS_T − SS_W
    pseudo-F = (SS_A / (a − 1)) / (SS_W / (N − a)),   R² = SS_A / SS_T

and the p-value is ``(1 + #{F* ≥ F}) / (1 + B)`` over ``B`` seeded permutations. Permutations respect the
sample structure when a blocking column (donor) is known: labels are shuffled *within* donors when the
group varies within donors, and whole donors are shuffled when each donor sits in one group.

A significant PERMANOVA says the group centroids differ (or the dispersions, see PERMDISP); a
non-significant one is never evidence that the groups are the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def euclidean_sq(x: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``x``."""
    sq = (x**2).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    d2 = np.clip((d2 + d2.T) / 2.0, 0.0, None)
    np.fill_diagonal(d2, 0.0)
    return d2


def _codes(labels: Sequence[object]) -> tuple[np.ndarray, int]:
    levels = sorted({str(v) for v in labels})
    lookup = {lv: i for i, lv in enumerate(levels)}
    return np.array([lookup[str(v)] for v in labels], dtype=int), len(levels)


def pseudo_f_batch(
    d2: np.ndarray, codes: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-F and R² for one or many labelings.

    Parameters
    ----------
    d2
        ``N × N`` squared distances.
    codes
        Group codes ``0..a-1``: shape ``(N,)`` or ``(B, N)``.
    n_groups
        ``a``.

    Returns
    -------
    tuple of numpy.ndarray
        Pseudo-F and R², shape ``()`` or ``(B,)``.

    """
    single = codes.ndim == 1
    c = np.atleast_2d(codes)
    n = d2.shape[0]
    onehot = (c[:, :, None] == np.arange(n_groups)[None, None, :]).astype(np.float64)  # B, N, a
    sizes = onehot.sum(axis=1)  # B, a
    within_pairs = np.einsum("bia,ij,bja->ba", onehot, d2, onehot, optimize=True) / 2.0
    ss_w = (within_pairs / np.where(sizes > 0, sizes, 1.0)).sum(axis=1)
    ss_t = d2.sum() / 2.0 / n
    ss_a = ss_t - ss_w
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (ss_a / (n_groups - 1)) / (ss_w / (n - n_groups))
        r2 = ss_a / ss_t if ss_t > 0 else np.zeros_like(ss_a)
    if single:
        return f[0], r2[0]
    return f, r2


def permutations_of(
    codes: np.ndarray, strata: np.ndarray | None, n_perm: int, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """Permuted labelings: free, within strata, or of whole strata.

    Returns
    -------
    tuple
        ``(B × N codes, scheme)`` with scheme ``"free"``, ``"within_blocks"`` or ``"between_blocks"``.

    """
    n = len(codes)
    out = np.empty((n_perm, n), dtype=int)
    scheme = "free"
    blocks: list[np.ndarray] = []
    if strata is not None:
        blocks = [np.flatnonzero(strata == s) for s in np.unique(strata)]
        varies = [len(np.unique(codes[b])) > 1 for b in blocks if len(b) > 1]
        constant = all(len(np.unique(codes[b])) == 1 for b in blocks)
        if varies and all(varies):
            scheme = "within_blocks"
        elif constant and len(blocks) < n:
            scheme = "between_blocks"
    for k in range(n_perm):
        if scheme == "within_blocks":
            perm = codes.copy()
            for b in blocks:
                perm[b] = codes[rng.permutation(b)]
        elif scheme == "between_blocks":
            block_labels = np.array([codes[b[0]] for b in blocks])
            shuffled = rng.permutation(block_labels)
            perm = np.empty(n, dtype=int)
            for b, lab in zip(blocks, shuffled, strict=True):
                perm[b] = lab
        else:
            perm = codes[rng.permutation(n)]
        out[k] = perm
    return out, scheme


def distinct_labelings(codes: np.ndarray, strata: np.ndarray | None, scheme: str) -> int:
    """Number of distinct labelings the permutation scheme can produce (bounds the smallest p)."""

    def multinomial(c: np.ndarray) -> int:
        counts = np.bincount(c)
        total = math.factorial(len(c))
        for k in counts:
            total //= math.factorial(int(k))
        return total

    if scheme == "within_blocks" and strata is not None:
        out = 1
        for s in np.unique(strata):
            out *= multinomial(codes[strata == s])
        return out
    if scheme == "between_blocks" and strata is not None:
        first = [codes[np.flatnonzero(strata == s)[0]] for s in np.unique(strata)]
        return multinomial(np.asarray(first))
    return multinomial(codes)


def permanova(
    x: np.ndarray,
    labels: Sequence[object],
    *,
    permutations: int = 999,
    seed: int = 0,
    strata: Sequence[object] | None = None,
) -> dict[str, object]:
    """PERMANOVA on Euclidean distances between the rows of ``x``.

    Parameters
    ----------
    x
        Samples × features (VST of informative genes).
    labels
        Group of each sample.
    permutations
        Number of permutations ``B``.
    seed
        Seed of the permutation generator.
    strata
        Blocking label per sample (donor), or ``None``.

    Returns
    -------
    dict
        ``pseudo_f``, ``r2``, ``p_value``, ``permutations``, ``scheme``, ``n_samples``, ``n_groups``,
        ``distinct_labelings`` and ``min_p_value`` (the smallest p-value the design allows).

    """
    codes, a = _codes(labels)
    d2 = euclidean_sq(np.asarray(x, dtype=np.float64))
    f, r2 = pseudo_f_batch(d2, codes, a)
    rng = np.random.default_rng(seed)
    st = None if strata is None else _codes(strata)[0]
    perms, scheme = permutations_of(codes, st, permutations, rng)
    f_perm, _ = pseudo_f_batch(d2, perms, a)
    tol = 1e-10 * max(1.0, abs(float(f)))
    exceed = int(np.sum(f_perm >= f - tol)) if permutations else 0
    n_lab = distinct_labelings(codes, st, scheme)
    return {
        "pseudo_f": float(f),
        "r2": float(r2),
        "p_value": (1 + exceed) / (1 + permutations),
        "permutations": int(permutations),
        "scheme": scheme,
        "n_samples": len(codes),
        "n_groups": a,
        "distinct_labelings": int(min(n_lab, 10**15)),
        "min_p_value": max(1.0 / n_lab, 1.0 / (1 + permutations)),
    }


def permdisp(
    x: np.ndarray,
    labels: Sequence[object],
    *,
    permutations: int = 999,
    seed: int = 0,
) -> dict[str, object]:
    """PERMDISP (homogeneity of multivariate dispersions) with scikit-bio, distances to group medians.

    Parameters
    ----------
    x
        Samples × features.
    labels
        Group of each sample.
    permutations
        Number of permutations.
    seed
        Seed.

    Returns
    -------
    dict
        ``f``, ``p_value``, ``permutations``, ``test`` (``"median"``) and ``mean_distance`` per group.

    """
    import warnings

    import pandas as pd
    from skbio import DistanceMatrix
    from skbio.stats.distance import permdisp as sk_permdisp

    d = np.sqrt(euclidean_sq(np.asarray(x, dtype=np.float64)))
    ids = [f"s{i}" for i in range(d.shape[0])]
    dm = DistanceMatrix(d, ids)
    lab = [str(v) for v in labels]
    dims = max(1, min(10, d.shape[0] - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sk_permdisp(
            dm, lab, test="median", permutations=permutations, seed=seed, dimensions=dims
        )
    dist_to_median = _distances_to_group_median(x, lab)
    means = pd.Series(dist_to_median).groupby(lab).mean()
    return {
        "f": float(res["test statistic"]),
        "p_value": float(res["p-value"]) if permutations else None,
        "permutations": int(permutations),
        "test": "median",
        "mean_distance": {str(k): float(v) for k, v in means.items()},
    }


def _distances_to_group_median(x: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Distance of each sample to its group's coordinate-wise median (a readable dispersion summary)."""
    lab = np.asarray(labels)
    out = np.empty(len(lab))
    for g in np.unique(lab):
        idx = lab == g
        med = np.median(x[idx], axis=0)
        out[idx] = np.linalg.norm(x[idx] - med, axis=1)
    return out
