"""Compiled per-gene kernels (numba) for the dispersion line search, the grid and the NB GLM.

The numpy routines in :mod:`.dispersion` and :mod:`.glm` process all genes at once and pay for
every special-function call on the full ``genes × samples`` arrays. With many samples that is
the bottleneck, so for large inputs the same algorithms run here gene by gene, with

* each gene's counts compressed to distinct values and their multiplicities before any
  ``lgamma``/``digamma`` call (a gene seen in 1,000 samples usually has a few dozen to a few
  hundred distinct counts);
* the Cox–Reid matrix ``X^T W X`` accumulated over distinct design rows ("cells") rather than
  samples, and factorised with a small in-place Cholesky;
* no temporaries of size ``genes × samples``.

The kernels are compiled with ``cache=True`` and ``nogil=True``; :class:`.backends.NumbaBackend`
calls them on parts of the genes from a thread pool (each gene's result is independent of the
others, so the split never changes a bit). This module imports numba, so it is imported only when
the input is large enough for the compile-cache load (≈0.3 s) to pay
(:func:`.backends.use_kernels`).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

_EPSILON = 1e-4
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
#: up to this ``r = 1/alpha`` the NB term ``r log1p(mu alpha)`` is computed as
#: ``r (log(mu + r) - log r)``, sharing the logarithm with ``y log(mu + r)`` (absolute error
#: below ``r * 1e-15`` per sample)
_ONE_LOG_MAX_R = 1e4

#: The normal prior on ``log alpha`` (``has_prior`` False: no prior; mean and variance unused).
LogPrior = namedtuple("LogPrior", ["has_prior", "mean", "var"])
#: Scratch arrays reused for every evaluation: per-cell weights ``wc`` and their derivatives
#: ``dwc``, packed ``X^T W X`` and its derivative (``bp``, ``dbp``), the ``p × p`` matrix ``b``
#: (its Cholesky factor in place), ``linv``/``binv`` for the inverse and a zero ridge.
Workspace = namedtuple("Workspace", ["wc", "dwc", "bp", "dbp", "b", "linv", "binv", "zero"])


@njit(cache=True, nogil=True, error_model="numpy")
def lgamma(x: float) -> float:  # pragma: no cover - compiled
    """``log Gamma(x)`` for ``x > 0``: Stirling's series from 10 on, the C library below."""
    if x < 10.0:
        return math.lgamma(x)
    f = 1.0 / (x * x)
    t = (
        1.0 / 12.0
        + f
        * (
            -1.0 / 360.0
            + f
            * (1.0 / 1260.0 + f * (-1.0 / 1680.0 + f * (1.0 / 1188.0 + f * (-691.0 / 360360.0))))
        )
    ) / x
    return (x - 0.5) * math.log(x) - x + _HALF_LOG_2PI + t


@njit(cache=True, nogil=True, error_model="numpy")
def digamma(x: float) -> float:  # pragma: no cover - compiled
    """Digamma function for ``x > 0`` (recurrence to ``x >= 10``, then the asymptotic series)."""
    res = 0.0
    while x < 10.0:
        res -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    t = f * (
        -1.0 / 12.0
        + f
        * (
            1.0 / 120.0
            + f
            * (
                -1.0 / 252.0
                + f * (1.0 / 240.0 + f * (-1.0 / 132.0 + f * (691.0 / 32760.0 + f * (-1.0 / 12.0))))
            )
        )
    )
    return res + math.log(x) - 0.5 / x + t


@njit(cache=True, nogil=True)
def _distinct(row: np.ndarray, vals: np.ndarray, mult: np.ndarray) -> int:  # pragma: no cover
    """Write the distinct positive values of ``row`` and their multiplicities; return how many."""
    s = np.sort(row)
    k = 0
    prev = -1.0
    for v in s:
        if v <= 0.0:
            continue
        if v != prev:
            vals[k] = v
            mult[k] = 1.0
            k += 1
            prev = v
        else:
            mult[k - 1] += 1.0
    return k


@njit(cache=True, nogil=True, error_model="numpy")
def _chol_logdet(b: np.ndarray, p: int) -> float:  # pragma: no cover - compiled
    """In-place lower Cholesky of ``b[:p, :p]``; returns ``log det`` (NaN if not PD)."""
    ld = 0.0
    for j in range(p):
        s = b[j, j]
        for k in range(j):
            s -= b[j, k] * b[j, k]
        if not s > 0.0:
            return np.nan
        d = math.sqrt(s)
        b[j, j] = d
        ld += 2.0 * math.log(d)
        for i in range(j + 1, p):
            t = b[i, j]
            for k in range(j):
                t -= b[i, k] * b[j, k]
            b[i, j] = t / d
    return ld


@njit(cache=True, nogil=True)
def _packed_outer(xc: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Lower triangles of the cells' outer products ``x_c x_c^T``, packed row by row."""
    ncell, p = xc.shape
    out = np.empty((ncell, p * (p + 1) // 2))
    for c in range(ncell):
        t = 0
        for i in range(p):
            for q in range(i + 1):
                out[c, t] = xc[c, i] * xc[c, q]
                t += 1
    return out


@njit(cache=True, nogil=True)
def _weighted_sum(wc: np.ndarray, xxp: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out = sum_c wc[c] * xxp[c]`` (a packed ``X^T W X``; the inner loop vectorises)."""
    m = xxp.shape[1]
    for t in range(m):
        out[t] = 0.0
    for c in range(xxp.shape[0]):
        w = wc[c]
        if w == 0.0:
            continue
        for t in range(m):
            out[t] += w * xxp[c, t]


@njit(cache=True, nogil=True)
def _unpack(bp: np.ndarray, b: np.ndarray, p: int, ridge: np.ndarray) -> None:  # pragma: no cover
    """Lower triangle of ``b`` from the packed ``bp``, plus ``ridge`` on the diagonal."""
    t = 0
    for i in range(p):
        for q in range(i + 1):
            b[i, q] = bp[t]
            t += 1
        b[i, i] += ridge[i]


@njit(cache=True, nogil=True)
def _workspace(ncell: int, p: int) -> Workspace:  # pragma: no cover - compiled
    """Scratch arrays for :func:`_log_post` and :func:`_dlog_post`."""
    m = p * (p + 1) // 2
    return Workspace(
        np.empty(ncell),
        np.empty(ncell),
        np.empty(m),
        np.empty(m),
        np.empty((p, p)),
        np.empty((p, p)),
        np.empty((p, p)),
        np.zeros(p),
    )


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _log_post(
    a: float,
    y: np.ndarray,
    mu: np.ndarray,
    vals: np.ndarray,
    mult: np.ndarray,
    k: int,
    cell: np.ndarray,
    xxp: np.ndarray,
    prior: LogPrior,
    work: Workspace,
) -> float:  # pragma: no cover - compiled
    """Cox–Reid adjusted log posterior of one gene at ``log alpha = a``."""
    wc, bp, b = work.wc, work.bp, work.b
    n = y.shape[0]
    ncell = xxp.shape[0]
    p = b.shape[0]
    alpha = math.exp(a)
    r = 1.0 / alpha
    lgr = lgamma(r)
    ll = 0.0
    for u in range(k):
        ll += mult[u] * (lgamma(vals[u] + r) - lgr)
    for c in range(ncell):
        wc[c] = 0.0
    if r <= _ONE_LOG_MAX_R:
        acc = 0.0
        for j in range(n):
            m = mu[j]
            acc += (y[j] + r) * math.log(m + r)
            wc[cell[j]] += m / (1.0 + m * alpha)
        ll -= acc - n * r * math.log(r)
    else:
        for j in range(n):
            m = mu[j]
            if y[j] > 0.0:
                ll -= y[j] * math.log(m + r)
            ll -= r * math.log1p(m * alpha)
            wc[cell[j]] += m / (1.0 + m * alpha)
    _weighted_sum(wc, xxp, bp)
    _unpack(bp, b, p, work.zero)
    out = ll - 0.5 * _chol_logdet(b, p)
    if prior.has_prior:
        out -= 0.5 * (a - prior.mean) ** 2 / prior.var
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _dlog_post(
    a: float,
    y: np.ndarray,
    mu: np.ndarray,
    vals: np.ndarray,
    mult: np.ndarray,
    k: int,
    cell: np.ndarray,
    xxp: np.ndarray,
    prior: LogPrior,
    work: Workspace,
) -> float:  # pragma: no cover - compiled
    """Derivative of :func:`_log_post` with respect to ``log alpha``."""
    wc, dwc, bp, dbp, b, linv, binv, zero = work
    n = y.shape[0]
    ncell = xxp.shape[0]
    p = b.shape[0]
    alpha = math.exp(a)
    r = 1.0 / alpha
    dgr = digamma(r)
    s = 0.0
    for u in range(k):
        s += mult[u] * (dgr - digamma(vals[u] + r))
    for c in range(ncell):
        wc[c] = 0.0
        dwc[c] = 0.0
    for j in range(n):
        m = mu[j]
        ma = m * alpha
        inv = 1.0 / (1.0 + ma)
        # log1p(m a) - m a / (1 + m a) + y / (m + r), with 1 / (m + r) = a / (1 + m a)
        s += math.log1p(ma) - ma * inv + y[j] * alpha * inv
        w = m * inv
        wc[cell[j]] += w
        dwc[cell[j]] -= w * w
    ll = s / (alpha * alpha)
    _weighted_sum(wc, xxp, bp)
    _weighted_sum(dwc, xxp, dbp)
    _unpack(bp, b, p, zero)
    ld = _chol_logdet(b, p)
    if np.isnan(ld):
        cr = np.nan
    else:
        # trace(B^{-1} dB) over the packed lower triangle (off-diagonal entries count twice)
        _chol_inverse(b, p, linv, binv)
        tr = 0.0
        t = 0
        for i in range(p):
            for q in range(i):
                tr += 2.0 * binv[i, q] * dbp[t]
                t += 1
            tr += binv[i, i] * dbp[t]
            t += 1
        cr = -0.5 * tr
    out = (ll + cr) * alpha
    if prior.has_prior:
        out -= (a - prior.mean) / prior.var
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def line_search(
    y: np.ndarray,
    mu: np.ndarray,
    cell: np.ndarray,
    xc: np.ndarray,
    log_alpha0: np.ndarray,
    has_prior: bool,
    prior_mean: np.ndarray,
    prior_var: float,
    min_log_alpha: float,
    kappa0: float,
    tol: float,
    maxit: int,
    out_a: np.ndarray,
    out_iter: np.ndarray,
    out_lp0: np.ndarray,
    out_lp: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """DESeq2's Armijo line search on ``log alpha``, gene by gene (see ``fit_dispersion_line_search``)."""
    g, n = y.shape
    ncell, p = xc.shape
    xxp = _packed_outer(xc)
    vals = np.empty(n)
    mult = np.empty(n)
    work = _workspace(ncell, p)
    for gi in range(g):
        yg = y[gi]
        mg = mu[gi]
        k = _distinct(yg, vals, mult)
        prior = LogPrior(has_prior, prior_mean[gi] if has_prior else 0.0, prior_var)
        a = log_alpha0[gi]
        lp = _log_post(a, yg, mg, vals, mult, k, cell, xxp, prior, work)
        dlp = _dlog_post(a, yg, mg, vals, mult, k, cell, xxp, prior, work)
        out_lp0[gi] = lp
        kappa = kappa0
        iters = 0
        accepts = 0
        for _ in range(maxit):
            iters += 1
            step = kappa
            proposal = a + step * dlp
            if proposal < -30.0:
                step = (-30.0 - a) / dlp
            if proposal > 10.0:
                step = (10.0 - a) / dlp
            a_new = a + step * dlp
            lp_new = _log_post(a_new, yg, mg, vals, mult, k, cell, xxp, prior, work)
            theta_hat = -lp - step * _EPSILON * dlp * dlp
            if -lp_new <= theta_hat:
                kappa = step
                accepts += 1
                a = a_new
                change = lp_new - lp
                if change < tol:
                    lp = lp_new
                    break
                if a_new < min_log_alpha:
                    break
                lp = lp_new
                dlp = _dlog_post(a, yg, mg, vals, mult, k, cell, xxp, prior, work)
                k_next = min(kappa * 1.1, kappa0)
                if accepts % 5 == 0:
                    k_next = k_next / 2.0
                kappa = k_next
            else:
                kappa = step / 2.0
        out_a[gi] = a
        out_iter[gi] = iters
        out_lp[gi] = lp


@njit(cache=True, nogil=True, error_model="numpy")
def grid_search(
    y: np.ndarray,
    mu: np.ndarray,
    cell: np.ndarray,
    xc: np.ndarray,
    grid: np.ndarray,
    has_prior: bool,
    prior_mean: np.ndarray,
    prior_var: float,
    out_a: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """DESeq2's two-stage grid (coarse ``grid``, then 20 points over ± one step); writes ``log alpha``."""
    g, n = y.shape
    ncell, p = xc.shape
    xxp = _packed_outer(xc)
    vals = np.empty(n)
    mult = np.empty(n)
    work = _workspace(ncell, p)
    npt = grid.shape[0]
    delta = grid[1] - grid[0]
    fine = np.empty(npt)
    for t in range(npt):
        fine[t] = -delta + 2.0 * delta * t / (npt - 1)
    for gi in range(g):
        yg = y[gi]
        mg = mu[gi]
        k = _distinct(yg, vals, mult)
        prior = LogPrior(has_prior, prior_mean[gi] if has_prior else 0.0, prior_var)
        best = -np.inf
        a_hat = grid[0]
        for t in range(npt):
            v = _log_post(grid[t], yg, mg, vals, mult, k, cell, xxp, prior, work)
            if v > best:
                best = v
                a_hat = grid[t]
        best = -np.inf
        a2 = a_hat + fine[0]
        for t in range(npt):
            pt = a_hat + fine[t]
            v = _log_post(pt, yg, mg, vals, mult, k, cell, xxp, prior, work)
            if v > best:
                best = v
                a2 = pt
        out_a[gi] = a2


def design_cells(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct design rows and each sample's row index.

    Parameters
    ----------
    x
        ``(n, p)`` design.

    Returns
    -------
    tuple of numpy.ndarray
        ``(xc, cell)``: ``(k, p)`` distinct rows and ``(n,)`` int64 indices into them.

    """
    xc, inv = np.unique(x, axis=0, return_inverse=True)
    return np.ascontiguousarray(xc, dtype=np.float64), inv.ravel().astype(np.int64)


@njit(cache=True, nogil=True, error_model="numpy")
def _chol_solve(
    low: np.ndarray, rhs: np.ndarray, p: int, out: np.ndarray
) -> None:  # pragma: no cover
    """Solve ``L L^T x = rhs`` in place into ``out``."""
    for i in range(p):
        t = rhs[i]
        for k in range(i):
            t -= low[i, k] * out[k]
        out[i] = t / low[i, i]
    for i in range(p - 1, -1, -1):
        t = out[i]
        for k in range(i + 1, p):
            t -= low[k, i] * out[k]
        out[i] = t / low[i, i]


@njit(cache=True, nogil=True, error_model="numpy")
def _chol_inverse(
    low: np.ndarray, p: int, linv: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    """``B^{-1} = L^{-T} L^{-1}`` from the Cholesky factor of ``B``."""
    for i in range(p):
        for j in range(p):
            linv[i, j] = 0.0
    for i in range(p):
        linv[i, i] = 1.0 / low[i, i]
        for j in range(i):
            t = 0.0
            for k in range(j, i):
                t += low[i, k] * linv[k, j]
            linv[i, j] = -t / low[i, i]
    for i in range(p):
        for j in range(i + 1):
            t = 0.0
            for k in range(i, p):
                t += linv[k, i] * linv[k, j]
            out[i, j] = t
            out[j, i] = t


@njit(cache=True, nogil=True, error_model="numpy")
def _nb_terms(y: np.ndarray, mu: np.ndarray, r: float) -> float:  # pragma: no cover - compiled
    """``sum_j r log(r / (r + mu_j)) + y_j log(mu_j / (r + mu_j))`` (the mu-dependent NB part)."""
    s = 0.0
    for j in range(y.shape[0]):
        m = mu[j]
        s += r * math.log(r / (r + m))
        if y[j] > 0.0:
            s += y[j] * math.log(m / (r + m))
    return s


@njit(cache=True, nogil=True, error_model="numpy")
def _nb_terms_log(
    y: np.ndarray, mu: np.ndarray, lmu: np.ndarray, r: float
) -> float:  # pragma: no cover
    """:func:`_nb_terms` given ``log mu``; one logarithm per sample when ``r`` is moderate."""
    if r > _ONE_LOG_MAX_R:
        return _nb_terms(y, mu, r)
    s = 0.0
    for j in range(y.shape[0]):
        lr = math.log(r + mu[j])
        s += y[j] * (lmu[j] - lr) - r * lr
    return s + y.shape[0] * r * math.log(r)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cell_eta(xc: np.ndarray, beta: np.ndarray, eta_c: np.ndarray) -> None:  # pragma: no cover
    """Linear predictor of each distinct design row: ``eta_c[c] = xc[c] · beta``."""
    for c in range(xc.shape[0]):
        t = 0.0
        for i in range(xc.shape[1]):
            t += xc[c, i] * beta[i]
        eta_c[c] = t


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _clamped_means(
    log_sf: np.ndarray,
    eta_c: np.ndarray,
    cell: np.ndarray,
    minmu: float,
    log_minmu: float,
    muh: np.ndarray,
    lmu: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Means ``exp(log s_j + eta)`` clamped below at ``minmu`` (``muh``) and their logs (``lmu``)."""
    for j in range(log_sf.size):
        e = log_sf[j] + eta_c[cell[j]]
        m = math.exp(e)
        if m < minmu:
            m = minmu
            e = log_minmu
        muh[j] = m
        lmu[j] = e


@njit(cache=True, nogil=True, error_model="numpy")
def irls(
    y: np.ndarray,
    log_sf: np.ndarray,
    cell: np.ndarray,
    xc: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    lam: np.ndarray,
    tol: float,
    maxit: int,
    minmu: float,
    large: float,
    out_var: np.ndarray,
    out_mu: np.ndarray,
    out_hat: np.ndarray,
    out_iter: np.ndarray,
    out_ll: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """DESeq2's ``fitBeta`` IRLS gene by gene (see :func:`mscseq.de.engine.glm.fit_nb_glm`).

    ``beta`` holds the starting values and receives the estimates; ``out_mu`` receives the
    unclamped means, ``out_hat`` the hat diagonals, ``out_var`` the sandwich variances and
    ``out_ll`` the NB log-likelihoods.
    """
    g, n = y.shape
    ncell, p = xc.shape
    xxp = _packed_outer(xc)
    bp = np.empty(xxp.shape[1])
    vals = np.empty(n)
    mult = np.empty(n)
    muh = np.empty(n)
    lmu = np.empty(n)
    log_minmu = math.log(minmu)
    eta_c = np.empty(ncell)
    wc = np.empty(ncell)
    wzc = np.empty(ncell)
    b = np.empty((p, p))
    b0 = np.empty((p, p))
    rhs = np.empty(p)
    bnew = np.empty(p)
    linv = np.empty((p, p))
    binv = np.empty((p, p))
    for gi in range(g):
        yg = y[gi]
        a = alpha[gi]
        r = 1.0 / a
        k = _distinct(yg, vals, mult)
        lgr = lgamma(r)
        const = 0.0
        for u in range(k):
            const += mult[u] * (lgamma(vals[u] + r) - lgr - lgamma(vals[u] + 1.0))
        bg = beta[gi]
        _cell_eta(xc, bg, eta_c)
        _clamped_means(log_sf, eta_c, cell, minmu, log_minmu, muh, lmu)
        dev_old = 0.0
        iters = 0
        for t_it in range(maxit):
            for c in range(ncell):
                wc[c] = 0.0
                wzc[c] = 0.0
            for j in range(n):
                m = muh[j]
                w = m / (1.0 + a * m)
                z = lmu[j] - log_sf[j] + (yg[j] - m) / m
                wc[cell[j]] += w
                wzc[cell[j]] += w * z
            for i in range(p):
                t = 0.0
                for c in range(ncell):
                    t += wzc[c] * xc[c, i]
                rhs[i] = t
            _weighted_sum(wc, xxp, bp)
            _unpack(bp, b, p, lam)
            ld = _chol_logdet(b, p)
            if np.isnan(ld):
                for i in range(p):
                    bnew[i] = np.nan
            else:
                _chol_solve(b, rhs, p, bnew)
            iters += 1
            diverged = False
            for i in range(p):
                bg[i] = bnew[i]
                if not abs(bnew[i]) <= large:
                    diverged = True
            if diverged:
                iters = maxit
                break
            _cell_eta(xc, bg, eta_c)
            _clamped_means(log_sf, eta_c, cell, minmu, log_minmu, muh, lmu)
            dev = -2.0 * (const + _nb_terms_log(yg, muh, lmu, r))
            conv = abs(dev - dev_old) / (abs(dev) + 0.1)
            if np.isnan(conv):
                iters = maxit
                break
            if t_it > 0 and conv < tol:
                break
            dev_old = dev
        out_iter[gi] = iters
        # sandwich covariance and hat diagonals at the last clamped means
        for c in range(ncell):
            wc[c] = 0.0
        for j in range(n):
            m = muh[j]
            wc[cell[j]] += m / (1.0 + a * m)
        _weighted_sum(wc, xxp, bp)
        _unpack(bp, b, p, lam)
        t = 0
        for i in range(p):
            for q in range(i + 1):
                b0[i, q] = bp[t]
                b0[q, i] = bp[t]
                t += 1
        ld = _chol_logdet(b, p)
        if np.isnan(ld):
            for i in range(p):
                out_var[gi, i] = np.nan
            for j in range(n):
                out_hat[gi, j] = np.nan
        else:
            _chol_inverse(b, p, linv, binv)
            for i in range(p):
                t = 0.0
                for q in range(p):
                    for s_ in range(p):
                        t += binv[i, q] * b0[q, s_] * binv[s_, i]
                out_var[gi, i] = t
            for c in range(ncell):
                t = 0.0
                for i in range(p):
                    for q in range(p):
                        t += xc[c, i] * binv[i, q] * xc[c, q]
                eta_c[c] = t  # reuse as x_c^T B^-1 x_c
            for j in range(n):
                m = muh[j]
                out_hat[gi, j] = m / (1.0 + a * m) * eta_c[cell[j]]
        # unclamped means and the log-likelihood at them
        _cell_eta(xc, bg, eta_c)
        for j in range(n):
            out_mu[gi, j] = math.exp(log_sf[j] + eta_c[cell[j]])
        out_ll[gi] = const + _nb_terms(yg, out_mu[gi], r)
