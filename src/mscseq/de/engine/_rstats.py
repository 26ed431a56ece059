"""Small statistical helpers that reproduce base R's definitions exactly.

R's ``mean(x, trim=)``, ``mad()``, ``p.adjust(method="BH")`` and ``lowess()`` differ in details
from the obvious numpy equivalents (trimming rule, NA handling, the robustness iterations of
``lowess``). DESeq2's results depend on those details, so they are written out here.
"""

from __future__ import annotations

import numpy as np


def trimmed_mean_rows(x: np.ndarray, trim: float) -> np.ndarray:
    """Row-wise ``mean(x, trim = trim)`` as in base R.

    Parameters
    ----------
    x
        Matrix (rows are the vectors to average).
    trim
        Fraction trimmed from each end, in ``[0, 0.5)``.

    Returns
    -------
    numpy.ndarray
        One trimmed mean per row.

    """
    n = x.shape[1]
    if trim <= 0 or n == 0:
        return x.mean(axis=1)
    if trim >= 0.5:
        return np.median(x, axis=1)
    lo = int(np.floor(n * trim)) + 1
    hi = n + 1 - lo
    xs = np.sort(x, axis=1)
    return xs[:, lo - 1 : hi].mean(axis=1)


def mad(x: np.ndarray) -> float:
    """R's ``mad(x, na.rm = TRUE)`` (constant 1.4826, centre = median).

    Parameters
    ----------
    x
        Values; NaN ignored.

    Returns
    -------
    float
        Scaled median absolute deviation.

    """
    x = x[~np.isnan(x)]
    med = np.median(x)
    return float(1.4826 * np.median(np.abs(x - med)))


def p_adjust_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjustment as R's ``p.adjust(p, "BH")`` (NaN kept as NaN).

    Parameters
    ----------
    p
        P-values, NaN for untested.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values.

    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    pv = p[ok]
    n = pv.size
    if n == 0:
        return out
    order = np.argsort(-pv, kind="stable")
    ranks = np.arange(n, 0, -1, dtype=float)
    adj = np.minimum.accumulate(n / ranks * pv[order])
    res = np.empty(n)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def _lowest(
    x: np.ndarray,
    y: np.ndarray,
    xs: float,
    nleft: int,
    nright: int,
    rw: np.ndarray,
    userw: bool,
) -> tuple[float, bool]:
    """Local weighted linear fit at ``xs`` over ``x[nleft..]`` (0-based), R's ``lowest``."""
    n = x.size
    rng = x[-1] - x[0]
    h = max(xs - x[nleft], x[nright] - xs)
    h9 = 0.999 * h
    h1 = 0.001 * h
    w = np.zeros(n)
    a = 0.0
    j = nleft
    while j < n:
        r = abs(x[j] - xs)
        if r <= h9:
            if r <= h1:
                w[j] = 1.0
            else:
                w[j] = (1.0 - (r / h) ** 3) ** 3
            if userw:
                w[j] *= rw[j]
            a += w[j]
        elif x[j] > xs:
            break
        j += 1
    nrt = j - 1
    if a <= 0.0:
        return 0.0, False
    sl = slice(nleft, nrt + 1)
    w[sl] /= a
    if h > 0.0:
        a = float(np.sum(w[sl] * x[sl]))
        b = xs - a
        c = float(np.sum(w[sl] * (x[sl] - a) ** 2))
        if np.sqrt(c) > 0.001 * rng:
            b /= c
            w[sl] *= b * (x[sl] - a) + 1.0
    return float(np.sum(w[sl] * y[sl])), True


def lowess(x: np.ndarray, y: np.ndarray, f: float = 2 / 3, iters: int = 3) -> np.ndarray:
    """R's ``lowess(x, y, f, iter)`` (Cleveland's clowess), fitted values in the order of sorted x.

    Parameters
    ----------
    x, y
        Data.
    f
        Smoother span.
    iters
        Robustness iterations.

    Returns
    -------
    numpy.ndarray
        Smoothed y at ``sort(x)``.

    """
    order = np.argsort(x, kind="stable")
    x = np.asarray(x, dtype=float)[order]
    y = np.asarray(y, dtype=float)[order]
    n = x.size
    if n < 2:
        return y.copy()
    delta = 0.01 * (x[-1] - x[0])
    ns = max(2, min(n, int(f * n + 1e-7)))
    ys = np.zeros(n)
    rw = np.ones(n)
    it = 1
    while it <= iters + 1:
        nleft, nright, last, i = 0, ns - 1, -1, 0
        while True:
            if nright < n - 1:
                d1 = x[i] - x[nleft]
                d2 = x[nright + 1] - x[i]
                if d1 > d2:
                    nleft += 1
                    nright += 1
                    continue
            val, ok = _lowest(x, y, x[i], nleft, nright, rw, it > 1)
            ys[i] = val if ok else y[i]
            if last < i - 1:
                denom = x[i] - x[last]
                for j in range(last + 1, i):
                    alpha = (x[j] - x[last]) / denom
                    ys[j] = alpha * ys[i] + (1.0 - alpha) * ys[last]
            last = i
            cut = x[last] + delta
            i = last + 1
            while i < n:
                if x[i] > cut:
                    break
                if x[i] == x[last]:
                    ys[i] = ys[last]
                    last = i
                i += 1
            i = max(last + 1, i - 1)
            if last >= n - 1:
                break
        res = y - ys
        sc = float(np.mean(np.abs(res)))
        if it > iters:
            break
        ar = np.abs(res)
        srt = np.sort(ar)
        m1 = n // 2
        if n % 2 == 0:
            cmad = 3.0 * (srt[m1] + srt[n - m1 - 1])
        else:
            cmad = 6.0 * srt[m1]
        if cmad < 1e-7 * sc:
            break
        c9, c1 = 0.999 * cmad, 0.001 * cmad
        with np.errstate(invalid="ignore", divide="ignore"):
            # np.where evaluates every branch: with cmad == 0 the middle one is 0/0 but never selected
            rw = np.where(ar <= c1, 1.0, np.where(ar <= c9, (1.0 - (ar / cmad) ** 2) ** 2, 0.0))
        it += 1
    return ys
