"""One-predictor local regression evaluated as R's ``locfit`` does with its defaults.

R DESeq2's ``localDispersionFit`` calls ``locfit(logDisps ~ logMeans, weights = means)`` and
predicts with ``predict(fit, newdata)``. With locfit's defaults for a numeric response (family
quasi-gaussian with identity link, ``alpha = 0.7``, ``deg = 2``, tricube kernel, no rescaling of the
predictor, evaluation structure ``rbox(cut = 0.8, type = "tree")``) the result is:

1. Fit points (vertices) start at the two ends of the data range. A cell ``[a, b]`` is split at its
   midpoint while ``(b - a) / min(h(a), h(b)) > cut`` (``h`` the bandwidths at the two vertices);
   every new midpoint is a fitted vertex.
2. At each vertex ``v`` the bandwidth ``h(v)`` is the distance to the ``k``-th nearest data point,
   ``k = floor(n * alpha)``; a weighted least-squares quadratic in ``x - v`` is fitted with weights
   ``prior_weight * (1 - (|x - v| / h)^3)^3`` (zero from distance ``h`` on). The vertex keeps the
   fitted value and slope.
3. A global "parametric component" is fitted too: the polynomial of the same degree by weighted
   least squares with the prior weights over all points. The vertices store value and slope minus
   this polynomial's; the surface is the polynomial plus the cubic Hermite interpolant of the stored
   differences between vertices, and plus their linear continuation (end vertex's slope) beyond the
   data range. Inside the range this equals the Hermite interpolant of the local fits themselves
   (Hermite interpolation reproduces quadratics); outside, the extrapolation follows the polynomial.

This module implements that algorithm from its description (no locfit code is used).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _bandwidth(x: np.ndarray, at: float, k: int) -> float:
    """Distance from ``at`` to its ``k``-th nearest point of ``x`` (0 when ``k < 1``)."""
    if k < 1:
        return 0.0
    d = np.abs(x - at)
    if k >= x.size:
        return float(d.max()) * (k / x.size)
    return float(np.partition(d, k - 1)[k - 1])


def _local_quadratic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, at: float, h: float, degree: int
) -> tuple[float, float]:
    """Value and slope at ``at`` of the kernel-weighted polynomial fit of degree ``degree``."""
    dx = x - at
    if h > 0:
        u = np.abs(dx) / h
        kern = np.where(u < 1.0, (1.0 - u**3) ** 3, 0.0)
    else:
        kern = (dx == 0).astype(float)
    sel = kern > 0
    if not sel.any():
        return np.nan, np.nan
    dxs = dx[sel]
    ws = w[sel] * kern[sel]
    cols = [np.ones_like(dxs)]
    if degree >= 1:
        cols.append(dxs)
    if degree >= 2:
        cols.append(dxs**2 / 2.0)
    xm = np.column_stack(cols)
    a = xm.T @ (xm * ws[:, None])
    b = xm.T @ (ws * y[sel])
    try:
        coef = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        coef = np.linalg.lstsq(a, b, rcond=None)[0]
    slope = float(coef[1]) if degree >= 1 else 0.0
    return float(coef[0]), slope


@dataclass
class LocfitTree:
    """A fitted one-predictor locfit surface (vertices with values and slopes).

    Attributes
    ----------
    vertices
        Sorted fit points.
    values, slopes
        Local fit's value and first derivative at each vertex.
    bandwidths
        Nearest-neighbour bandwidth at each vertex.
    poly
        Coefficients of the parametric component, highest power first (``numpy.polyval`` order).

    """

    vertices: np.ndarray
    values: np.ndarray
    slopes: np.ndarray
    bandwidths: np.ndarray
    poly: np.ndarray

    def __call__(self, at: np.ndarray) -> np.ndarray:
        """Evaluate the surface: cubic Hermite inside, linear beyond the end vertices (plus the polynomial)."""
        at = np.asarray(at, dtype=float)
        v = self.vertices
        dpoly = np.polyder(self.poly) if self.poly.size > 1 else np.zeros(1)
        f = self.values - np.polyval(self.poly, v)
        s = self.slopes - np.polyval(dpoly, v)
        if v.size == 1:
            return f[0] + np.polyval(self.poly, at)
        k = np.clip(np.searchsorted(v, at, side="right") - 1, 0, v.size - 2)
        width = v[k + 1] - v[k]
        t = (at - v[k]) / width
        inside = (t >= 0) & (t <= 1)
        tc = np.clip(t, 0.0, 1.0)
        h01 = tc * tc * (3.0 - 2.0 * tc)
        h00 = 1.0 - h01
        h10 = tc * (1.0 - tc) ** 2
        h11 = tc * tc * (tc - 1.0)
        cubic = h00 * f[k] + h01 * f[k + 1] + (h10 * s[k] + h11 * s[k + 1]) * width
        left = f[k] + (at - v[k]) * s[k]
        right = f[k + 1] + (at - v[k + 1]) * s[k + 1]
        return np.where(inside, cubic, np.where(t < 0, left, right)) + np.polyval(self.poly, at)


def locfit_1d(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    alpha: float = 0.7,
    degree: int = 2,
    cut: float = 0.8,
    max_vertices: int = 10_000,
    max_depth: int = 64,
) -> LocfitTree:
    """Fit ``locfit(y ~ x, weights = weights)`` with locfit's default adaptive-tree evaluation.

    Parameters
    ----------
    x, y
        Predictor and response (finite, same length).
    weights
        Prior weights (default 1).
    alpha
        Nearest-neighbour fraction of the bandwidth.
    degree
        Local polynomial degree (0, 1 or 2).
    cut
        Cell refinement parameter of the tree (``rbox(cut=)``).
    max_vertices
        Guard on the number of fit points.
    max_depth
        Guard on how often a cell is halved (a cell halved 64 times is below the resolution of
        the data range).

    Returns
    -------
    LocfitTree
        The surface; call it on new predictor values.

    Raises
    ------
    ValueError
        When ``x`` is empty or the inputs differ in length, or the tree does not stop growing
        (fewer than 3 distinct points: the bandwidth is 0 at each of them).

    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.size == 0 or x.shape != y.shape or x.shape != w.shape:
        msg = "locfit_1d needs non-empty x, y and weights of the same length"
        raise ValueError(msg)
    k = int(x.size * alpha + 1e-12)
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo
    fits: dict[float, tuple[float, float, float]] = {}

    def vertex(at: float) -> tuple[float, float, float]:
        if at not in fits:
            if len(fits) >= max_vertices:
                msg = "locfit_1d: too many fit points"
                raise ValueError(msg)
            h = _bandwidth(x, at, k)
            val, slope = _local_quadratic(x, y, w, at, h, degree)
            fits[at] = (h, val, slope)
        return fits[at]

    def grow(a: float, b: float, depth: int = 0) -> None:
        ha, hb = vertex(a)[0], vertex(b)[0]
        positive = [h for h in (ha, hb) if h > 0]
        if positive:
            score = (b - a) / min(positive)
        else:
            score = 2.0 * (b - a) / span if span > 0 else 0.0
        if score > cut:
            if depth >= max_depth:
                # bandwidths shrinking with the cell (k = 1: zero at every data point) never stop it
                msg = (
                    f"locfit_1d: cells split more than {max_depth} times; too few points ({x.size})"
                )
                raise ValueError(msg)
            mid = (a + b) / 2.0
            vertex(mid)
            grow(a, mid, depth + 1)
            grow(mid, b, depth + 1)

    vertex(lo)
    if span > 0:
        vertex(hi)
        grow(lo, hi)
    verts = np.array(sorted(fits))
    h = np.array([fits[v][0] for v in verts])
    vals = np.array([fits[v][1] for v in verts])
    slopes = np.array([fits[v][2] for v in verts])
    return LocfitTree(verts, vals, slopes, h, _parametric_component(x, y, w, degree))


def _parametric_component(x: np.ndarray, y: np.ndarray, w: np.ndarray, degree: int) -> np.ndarray:
    """Global weighted least-squares polynomial (prior weights only), centred at the weighted mean."""
    centre = float(np.sum(w * x) / np.sum(w))
    dx = x - centre
    xm = np.vander(dx, degree + 1)
    a = xm.T @ (xm * w[:, None])
    b = xm.T @ (w * y)
    try:
        coef = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        coef = np.linalg.lstsq(a, b, rcond=None)[0]
    # substitute dx = x - centre: coefficients in powers of x (numpy.polyval order)
    return np.atleast_1d(np.poly1d(coef)(np.poly1d([1.0, -centre])).coeffs)
