"""Cook's distances, the maximum Cook's distance per gene and outlier replacement (R DESeq2)."""

from __future__ import annotations

import numpy as np

from ._rstats import trimmed_mean_rows


def design_cells(x: np.ndarray) -> np.ndarray:
    """Index of each sample's distinct design row (its "cell"), in order of first appearance.

    Parameters
    ----------
    x
        ``(n, p)`` design.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` integer cell codes.

    """
    _, first, inv = np.unique(x, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    rank = np.argsort(np.argsort(first))
    return rank[inv]


def n_or_more_in_cell(x: np.ndarray, n: int) -> np.ndarray:
    """R's ``nOrMoreInCell``: samples whose design row occurs at least ``n`` times.

    Parameters
    ----------
    x
        ``(n_samples, p)`` design.
    n
        Minimum replicates.

    Returns
    -------
    numpy.ndarray
        Boolean per sample.

    """
    cells = design_cells(x)
    counts = np.bincount(cells)
    return counts[cells] >= n


def _trim_for(n: int) -> tuple[float, float]:
    if n <= 3.5:
        return 1 / 3, 2.04
    if n <= 23.5:
        return 1 / 4, 1.86
    return 1 / 8, 1.51


def robust_moments_dispersion(y_norm: np.ndarray, x: np.ndarray) -> np.ndarray:
    """R's ``robustMethodOfMomentsDisp`` (trimmed within-cell variances, minimum 0.04).

    Parameters
    ----------
    y_norm
        ``(G, n)`` normalised counts.
    x
        ``(n, p)`` design.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` dispersions used only for Cook's distances.

    """
    three = n_or_more_in_cell(x, 3)
    if three.any():
        cells = design_cells(x)
        v = np.full(y_norm.shape[0], -np.inf)
        for c in np.unique(cells[three]):
            sub = y_norm[:, cells == c]
            trim, scale = _trim_for(sub.shape[1])
            cm = trimmed_mean_rows(sub, trim)
            sq = (sub - cm[:, None]) ** 2
            v = np.maximum(v, scale * trimmed_mean_rows(sq, trim))
    else:
        rm = trimmed_mean_rows(y_norm, 1 / 8)
        v = 1.51 * trimmed_mean_rows((y_norm - rm[:, None]) ** 2, 1 / 8)
    m = y_norm.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = (v - m) / m**2
    return np.maximum(alpha, 0.04)


def cooks_distance(
    y: np.ndarray,
    size_factors: np.ndarray,
    x: np.ndarray,
    mu: np.ndarray,
    hat: np.ndarray,
) -> np.ndarray:
    """Cook's distances ``(y - mu)^2 / V / p * h / (1 - h)^2`` with DESeq2's robust dispersion.

    Parameters
    ----------
    y, mu, hat
        ``(G, n)`` counts, fitted means and hat diagonals.
    size_factors
        ``(n,)`` size factors.
    x
        ``(n, p)`` design.

    Returns
    -------
    numpy.ndarray
        ``(G, n)`` Cook's distances.

    """
    p = x.shape[1]
    disp = robust_moments_dispersion(y / size_factors, x)
    v = mu + disp[:, None] * mu**2
    return (y - mu) ** 2 / v / p * hat / (1.0 - hat) ** 2


def max_cooks(cooks: np.ndarray, x: np.ndarray) -> np.ndarray:
    """R's ``recordMaxCooks``: max over samples in cells with 3+ replicates (NaN if none).

    Parameters
    ----------
    cooks
        ``(G, n)`` Cook's distances.
    x
        ``(n, p)`` design.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` maxima.

    """
    m, p = x.shape
    use = n_or_more_in_cell(x, 3)
    if m > p and use.any():
        return cooks[:, use].max(axis=1)
    return np.full(cooks.shape[0], np.nan)


def replacement_counts(y: np.ndarray, size_factors: np.ndarray, trim: float = 0.2) -> np.ndarray:
    """``as.integer(trimmed mean of normalised counts * size factor)`` for every gene and sample.

    Parameters
    ----------
    y
        ``(G, n)`` counts.
    size_factors
        ``(n,)`` size factors.
    trim
        Trim fraction (DESeq2: 0.2).

    Returns
    -------
    numpy.ndarray
        ``(G, n)`` replacement counts (truncated towards zero like ``as.integer``).

    """
    tm = trimmed_mean_rows(y / size_factors, trim)
    return np.trunc(tm[:, None] * size_factors[None, :])
