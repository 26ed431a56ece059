"""PERMANOVA (Anderson 2001) and PERMDISP (Anderson 2006) on Euclidean distances between VST profiles.

PERMANOVA partitions the sum of squared distances into between- and within-group parts:

    SS_T = (1/N) Σ_{i<j} d²_ij,   SS_W = Σ_g (1/n_g) Σ_{i<j ∈ g} d²_ij,   SS_A = SS_T − SS_W
    pseudo-F = (SS_A / (a − 1)) / (SS_W / (N − a)),   R² = SS_A / SS_T

Permutations respect the sample structure when a blocking column (donor) is known: labels are shuffled
*within* donors when the group varies within donors, and whole donors are shuffled when each donor sits in
one group. When the scheme allows no more distinct labelings ``L`` than the ``B`` permutations asked for,
every labeling is scored once and the p-value is exact, ``#{F* ≥ F} / L`` (the observed labeling is one of
them); otherwise it is ``(1 + #{F* ≥ F}) / (1 + B)`` over ``B`` seeded random permutations. ``B = 0``
computes the statistic without a p-value. At most :data:`MAX_PERMUTATIONS` permutations are accepted.

A significant PERMANOVA says the group centroids differ (or the dispersions, see PERMDISP); a
non-significant one is never evidence that the groups are the same.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np

from mscseq.errors import MscseqError

#: Most permutations accepted (``--permutations``). At 10⁵ the Monte Carlo standard error of a p-value
#: near 0.05 is 0.0007 and p-values down to 10⁻⁵ can be shown, more precision than evidence outside the
#: decision rule needs, and the cap bounds PERMDISP to about a minute. Designs with fewer distinct
#: labelings are enumerated exactly anyway.
MAX_PERMUTATIONS = 100_000
#: Labelings scored per batch: bounds memory (batch × samples × groups) and paces the progress bar.
BATCH = 4096
#: From this many permutations on, each test announces itself as a step (its elapsed time is shown).
ANNOUNCE = 10_000

log = logging.getLogger(__name__)


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


def check_permutations(permutations: int) -> None:
    """Refuse a negative or absurd number of permutations (one-line :class:`~mscseq.errors.MscseqError`)."""
    if permutations < 0:
        msg = f"--permutations {permutations}: must be 0 (no p-value) or more"
        raise MscseqError(msg)
    if permutations > MAX_PERMUTATIONS:
        msg = (
            f"--permutations {permutations}: at most {MAX_PERMUTATIONS:,} (more adds no useful precision to a "
            "p-value; designs with fewer distinct labelings are enumerated exactly)"
        )
        raise MscseqError(msg)


def permutation_scheme(
    codes: np.ndarray, strata: np.ndarray | None
) -> tuple[str, list[np.ndarray]]:
    """How labels may be permuted, and the blocks (sample indices per stratum).

    Returns
    -------
    tuple
        Scheme ``"free"``, ``"within_blocks"`` (the group varies within every replicated block: labels are
        shuffled inside blocks) or ``"between_blocks"`` (every block sits in one group: whole blocks are
        shuffled), and the blocks (empty without strata).

    """
    scheme = "free"
    blocks: list[np.ndarray] = []
    if strata is not None:
        blocks = [np.flatnonzero(strata == s) for s in np.unique(strata)]
        varies = [len(np.unique(codes[b])) > 1 for b in blocks if len(b) > 1]
        constant = all(len(np.unique(codes[b])) == 1 for b in blocks)
        if varies and all(varies):
            scheme = "within_blocks"
        elif constant and len(blocks) < len(codes):
            scheme = "between_blocks"
    return scheme, blocks


def permutations_of(
    codes: np.ndarray, strata: np.ndarray | None, n_perm: int, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """Random permuted labelings: free, within strata, or of whole strata.

    Calling it repeatedly with the same generator continues one stream: batches of ``B₁`` then ``B₂``
    permutations equal one call of ``B₁ + B₂``.

    Returns
    -------
    tuple
        ``(B × N codes, scheme)`` with scheme ``"free"``, ``"within_blocks"`` or ``"between_blocks"``.

    """
    n = len(codes)
    out = np.empty((n_perm, n), dtype=int)
    scheme, blocks = permutation_scheme(codes, strata)
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


def _arrangements(codes: np.ndarray) -> Iterator[tuple[int, ...]]:
    """Every distinct arrangement of the multiset ``codes`` (positions of each level chosen in turn)."""
    n = len(codes)
    levels, counts = np.unique(codes, return_counts=True)

    def fill(free: tuple[int, ...], k: int, row: list[int]) -> Iterator[tuple[int, ...]]:
        if k == len(levels) - 1:
            for i in free:
                row[i] = int(levels[k])
            yield tuple(row)
            return
        for chosen in itertools.combinations(free, int(counts[k])):
            for i in chosen:
                row[i] = int(levels[k])
            taken = set(chosen)
            rest = tuple(i for i in free if i not in taken)
            yield from fill(rest, k + 1, row)

    if n == 0:
        return
    yield from fill(tuple(range(n)), 0, [0] * n)


def exact_labelings(
    codes: np.ndarray, scheme: str, blocks: Sequence[np.ndarray], *, batch: int = BATCH
) -> Iterator[np.ndarray]:
    """Every distinct labeling the scheme allows, once each, in batches of at most ``batch`` rows.

    Parameters
    ----------
    codes
        Observed group codes.
    scheme
        ``"free"``, ``"within_blocks"`` or ``"between_blocks"`` (see :func:`permutation_scheme`).
    blocks
        Sample indices per block (used by the block schemes).
    batch
        Rows per yielded array.

    Yields
    ------
    numpy.ndarray
        ``b × N`` labelings; together there are :func:`distinct_labelings` of them.

    """
    n = len(codes)
    if scheme == "within_blocks":
        per_block = [np.array(list(_arrangements(codes[b])), dtype=int) for b in blocks]
        rows: Iterator[tuple[int, ...]] = itertools.product(
            *(range(len(block)) for block in per_block)
        )
        while chunk := list(itertools.islice(rows, batch)):
            picks = np.array(chunk, dtype=int)
            out = np.empty((len(chunk), n), dtype=int)
            for j, (b, arrangements) in enumerate(zip(blocks, per_block, strict=True)):
                out[:, b] = arrangements[picks[:, j]]
            yield out
        return
    if scheme == "between_blocks":
        block_codes = np.array([codes[b[0]] for b in blocks], dtype=int)
        rows = _arrangements(block_codes)
        while chunk := list(itertools.islice(rows, batch)):
            block_rows = np.array(chunk, dtype=int)
            out = np.empty((len(chunk), n), dtype=int)
            for j, b in enumerate(blocks):
                out[:, b] = block_rows[:, [j]]
            yield out
        return
    rows = _arrangements(codes)
    while chunk := list(itertools.islice(rows, batch)):
        yield np.array(chunk, dtype=int)


def _count_exceeding(
    d2: np.ndarray, batches: Iterator[np.ndarray], n_groups: int, f_obs: float
) -> int:
    """How many labelings score a pseudo-F at least the observed one (within rounding)."""
    tol = 1e-10 * max(1.0, abs(f_obs))
    exceed = 0
    for labelings in batches:
        f_perm, _ = pseudo_f_batch(d2, labelings, n_groups)
        exceed += int(np.sum(f_perm >= f_obs - tol))
    return exceed


def _random_batches(
    codes: np.ndarray, strata: np.ndarray | None, total: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    done = 0
    while done < total:
        size = min(BATCH, total - done)
        yield permutations_of(codes, strata, size, rng)[0]
        done += size


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
        Number of permutations ``B`` (at most :data:`MAX_PERMUTATIONS`). When the scheme allows at most
        ``B`` distinct labelings, all are enumerated and the p-value is exact; ``0`` gives no p-value.
    seed
        Seed of the permutation generator.
    strata
        Blocking label per sample (donor), or ``None``.

    Returns
    -------
    dict
        ``pseudo_f``, ``r2``, ``p_value`` (``None`` when ``permutations`` is 0), ``permutations`` (the
        labelings scored: all distinct ones when exact), ``exact``, ``scheme``, ``n_samples``, ``n_groups``,
        ``distinct_labelings`` and ``min_p_value`` (the smallest p-value the design and ``B`` allow).

    """
    from mscseq.logs import track

    check_permutations(permutations)
    codes, n_groups = _codes(labels)
    d2 = euclidean_sq(np.asarray(x, dtype=np.float64))
    f, r2 = pseudo_f_batch(d2, codes, n_groups)
    strata_codes = None if strata is None else _codes(strata)[0]
    scheme, blocks = permutation_scheme(codes, strata_codes)
    n_labelings = distinct_labelings(codes, strata_codes, scheme)
    # a pseudo-F of 0/0 (no spread at all) cannot be ranked
    usable = permutations if np.isfinite(f) else 0
    exact = 0 < n_labelings <= usable
    scored = n_labelings if exact else usable
    if exact:
        batches = exact_labelings(codes, scheme, blocks)
    else:
        batches = _random_batches(codes, strata_codes, usable, np.random.default_rng(seed))
    if scored >= ANNOUNCE:
        how = "every distinct labeling" if exact else "random permutations"
        log.info("PERMANOVA: %s labelings (%s)", f"{scored:,}", how)
    if scored > BATCH:
        batches = track(batches, "PERMANOVA permutations", total=-(-scored // BATCH))
    exceed = _count_exceeding(d2, batches, n_groups, float(f))
    p_value: float | None = None
    min_p = 1.0 / n_labelings
    if exact:
        p_value = exceed / n_labelings
    elif usable:
        p_value = (1 + exceed) / (1 + usable)
        min_p = max(1.0 / n_labelings, 1.0 / (1 + usable))
    return {
        "pseudo_f": float(f),
        "r2": float(r2),
        "p_value": p_value,
        "permutations": int(scored),
        "exact": exact,
        "scheme": scheme,
        "n_samples": len(codes),
        "n_groups": n_groups,
        "distinct_labelings": int(min(n_labelings, 10**15)),
        "min_p_value": min_p,
    }


#: Spatial-median iterations (Weiszfeld, as scikit-bio's ``geomedian_axis_one``): tolerance, most steps.
GEOMEDIAN_EPS = 1e-7
GEOMEDIAN_MAXITER = 500
#: Largest PCoA dimension kept for PERMDISP (scikit-bio's default ``dimensions``).
PERMDISP_DIMENSIONS = 10


def pcoa_coordinates(d2: np.ndarray, dimensions: int) -> np.ndarray:
    """Principal coordinates (scikit-bio's ``pcoa``, ``eigh``) of squared distances: samples × dims.

    Gower's centring of ``-d²/2``, its largest eigenvalues; coordinates are eigenvectors × √eigenvalue
    (negative eigenvalues, rounding noise for Euclidean distances, count as zero).
    """
    n = d2.shape[0]
    a = -0.5 * d2
    b = a - a.mean(axis=0) - a.mean(axis=1)[:, None] + a.mean()
    vals, vecs = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(vals)[::-1][: min(dimensions, n)]
    return vecs[:, order] * np.sqrt(np.clip(vals[order], 0.0, None))


def spatial_medians(points: np.ndarray) -> np.ndarray:
    """Spatial (geometric) median of each batch of points: ``(B, n, p)`` → ``(B, p)``.

    Weiszfeld's iteration with Vardi and Zhang's step at data points, step for step as scikit-bio's
    ``geomedian_axis_one`` (hdmedians): start at the mean, stop when a step moves less than
    :data:`GEOMEDIAN_EPS` (keeping the point before that step) or after :data:`GEOMEDIAN_MAXITER`.
    """
    eps = GEOMEDIAN_EPS
    y = points.mean(axis=1)
    if points.shape[1] == 1:
        return y
    n = points.shape[1]
    active = np.ones(len(points), dtype=bool)
    for _ in range(GEOMEDIAN_MAXITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        x, yy = points[idx], y[idx]
        d = np.sqrt(((x - yy[:, None, :]) ** 2).sum(axis=2))
        far = np.abs(d) > eps
        nzeros = n - far.sum(axis=1)
        all_near = nzeros == n
        with np.errstate(divide="ignore", invalid="ignore"):
            dinv = np.where(far, 1.0 / d, 0.0)
            dinvs = dinv.sum(axis=1)
            t = ((dinv / dinvs[:, None])[:, :, None] * x).sum(axis=1)
            r = np.sqrt((((t - yy) * dinvs[:, None]) ** 2).sum(axis=1))
            rinv = np.where(r > eps, nzeros / r, 0.0)
        y1 = np.where(
            (nzeros == 0)[:, None],
            t,
            np.maximum(0.0, 1.0 - rinv)[:, None] * t + np.minimum(1.0, rinv)[:, None] * yy,
        )
        moved = np.sqrt(((yy - y1) ** 2).sum(axis=1))
        step = ~all_near & ~(moved < eps)
        y[idx[step]] = y1[step]
        active[idx[~step]] = False
    return y


def dispersion_f(coords: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """PERMDISP's F (one-way ANOVA of distances to the group spatial medians) per labeling ``(B, N)``."""
    b, n = codes.shape
    dist = np.empty((b, n))
    for g in range(n_groups):
        members = np.argsort(codes != g, axis=1, kind="stable")[:, : int((codes[0] == g).sum())]
        pts = coords[members]  # (B, n_g, dims): each group's samples in sample order
        med = spatial_medians(pts)
        np.put_along_axis(
            dist, members, np.sqrt(((pts - med[:, None, :]) ** 2).sum(axis=2)), axis=1
        )
    onehot = codes[:, :, None] == np.arange(n_groups)
    size = onehot.sum(axis=1)
    group_mean = np.einsum("bn,bng->bg", dist, onehot) / size
    grand = dist.mean(axis=1)
    ss_between = (size * (group_mean - grand[:, None]) ** 2).sum(axis=1)
    resid = dist - np.take_along_axis(group_mean, codes, axis=1)
    ss_within = (resid**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ss_between / (n_groups - 1)) / (ss_within / (n - n_groups))


def permdisp(
    x: np.ndarray,
    labels: Sequence[object],
    *,
    permutations: int = 999,
    seed: int = 0,
) -> dict[str, object]:
    """PERMDISP (homogeneity of multivariate dispersions): distances to the group spatial medians.

    As scikit-bio's ``permdisp(test="median")`` (Anderson 2006): principal coordinates of the Euclidean
    distances (up to :data:`PERMDISP_DIMENSIONS`), each sample's distance to its group's spatial median,
    and the one-way ANOVA F of those distances; the p-value is ``(1 + #{F* ≥ F}) / (1 + B)`` over ``B``
    permutations ``numpy.random.default_rng(seed).permutation(groups)``, the stream scikit-bio draws.
    The permutations are scored in vectorised batches. A permuted F equal to the observed one up to
    rounding (relative 1e-9: the same partition with the group names swapped) counts as ``≥``.

    Parameters
    ----------
    x
        Samples × features.
    labels
        Group of each sample.
    permutations
        Number of random permutations (at most :data:`MAX_PERMUTATIONS`; 0: no p-value).
    seed
        Seed.

    Returns
    -------
    dict
        ``f``, ``p_value``, ``permutations``, ``test`` (``"median"``) and ``mean_distance`` per group.

    """
    import pandas as pd

    check_permutations(permutations)
    if permutations >= ANNOUNCE:
        log.info("PERMDISP: %s random permutations", f"{permutations:,}")
    x = np.asarray(x, dtype=np.float64)
    coords = pcoa_coordinates(euclidean_sq(x), max(1, min(PERMDISP_DIMENSIONS, x.shape[0] - 1)))
    groups = [str(v) for v in labels]
    codes, n_groups = _codes(groups)
    f_obs = float(dispersion_f(coords, codes[None, :], n_groups)[0])
    p_value: float | None = None
    if permutations:
        rng = np.random.default_rng(seed)
        exceed = 0
        for start in range(0, permutations, BATCH):
            perms = np.array(
                [rng.permutation(codes) for _ in range(min(BATCH, permutations - start))]
            )
            f = dispersion_f(coords, perms, n_groups)
            exceed += int((f >= f_obs - 1e-9 * abs(f_obs)).sum())
        p_value = (1 + exceed) / (1 + permutations)
    dist_to_median = _distances_to_group_median(x, groups)
    means = pd.Series(dist_to_median).groupby(groups).mean()
    return {
        "f": f_obs,
        "p_value": p_value,
        "permutations": int(permutations),
        "test": "median",
        "mean_distance": {str(k): float(v) for k, v in means.items()},
    }


def _distances_to_group_median(x: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Distance of each sample to its group's coordinate-wise median (a readable dispersion summary)."""
    groups = np.asarray(labels)
    out = np.empty(len(groups))
    for level in np.unique(groups):
        idx = groups == level
        med = np.median(x[idx], axis=0)
        out[idx] = np.linalg.norm(x[idx] - med, axis=1)
    return out
