"""Gene-wise and MAP dispersion estimates, batched over genes, following R DESeq2 1.38.

The estimator is DESeq2's: the Cox–Reid adjusted NB profile log-likelihood (plus, for MAP, a
normal prior on ``log alpha``) is maximised over ``log alpha`` by the same Armijo line search as
DESeq2's C++ ``fitDisp`` (step ``kappa`` on the gradient, ``epsilon = 1e-4``, ``kappa *= 1.1`` after
an accepted step, halved every fifth accepted step and after every rejected one, bounds
``[-30, 10]``, stop when the gain is below ``tol``), run for all genes at once with masks; genes
the line search does not settle are refitted on DESeq2's two-stage 20-point grid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from ._batched import inv_spd, logdet_spd
from .glm import fit_nb_glm, outer_rows

MIN_DISP = 1e-8
EPSILON = 1e-4

#: inputs with at least this many ``genes × samples`` cells use the compiled kernels
KERNEL_MIN_CELLS = 500_000


def use_kernels(n_genes: int, n_samples: int) -> bool:
    """Whether an input of this size runs the compiled per-gene kernels (:mod:`._kernels`).

    Importing numba and loading its compile cache costs about 0.3 s, which only pays on large
    inputs; the environment variable ``MSCSEQ_ENGINE_KERNELS=1``/``0`` forces the choice.

    Parameters
    ----------
    n_genes, n_samples
        Input size.

    Returns
    -------
    bool
        True when the kernels should be used.

    """
    force = os.environ.get("MSCSEQ_ENGINE_KERNELS", "")
    if force in ("0", "1"):
        return force == "1"
    return n_genes * n_samples >= KERNEL_MIN_CELLS


def linear_model_mu(y_norm: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Project normalised counts on the column space of the design (R's ``linearModelMu``).

    Parameters
    ----------
    y_norm
        ``(G, n)`` normalised counts.
    x
        ``(n, p)`` design.

    Returns
    -------
    numpy.ndarray
        ``(G, n)`` fitted values.

    """
    q, _ = np.linalg.qr(x)
    return (y_norm @ q) @ q.T


def rough_dispersion(y_norm: np.ndarray, x: np.ndarray) -> np.ndarray:
    """R's ``roughDispEstimate``: method of moments around a linear-model fit.

    Parameters
    ----------
    y_norm
        ``(G, n)`` normalised counts.
    x
        ``(n, p)`` design.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` non-negative rough dispersions.

    """
    m, p = x.shape
    mu = np.maximum(linear_model_mu(y_norm, x), 1.0)
    est = (((y_norm - mu) ** 2 - mu) / mu**2).sum(axis=1) / (m - p)
    return np.maximum(est, 0.0)


def moments_dispersion(
    base_mean: np.ndarray, base_var: np.ndarray, size_factors: np.ndarray
) -> np.ndarray:
    """R's ``momentsDispEstimate``: ``(var - xim * mean) / mean^2`` with ``xim = mean(1/s)``.

    Parameters
    ----------
    base_mean, base_var
        Mean and variance of normalised counts per gene.
    size_factors
        ``(n,)`` size factors.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` moment dispersions.

    """
    xim = np.mean(1.0 / size_factors)
    return (base_var - xim * base_mean) / base_mean**2


def log_posterior(
    a: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    xx: np.ndarray,
    p: int,
    prior_mean: np.ndarray | None,
    prior_var: float,
) -> np.ndarray:
    """Cox–Reid adjusted NB log-likelihood of ``log alpha`` (+ normal prior), batched.

    Parameters
    ----------
    a
        ``(G,)`` log dispersions.
    y, mu
        ``(G, n)`` counts and fitted means.
    xx
        Row outer products of the design (:func:`mscseq.de.engine.glm.outer_rows`).
    p
        Number of design columns.
    prior_mean
        ``(G,)`` prior means of ``log alpha`` or None for no prior.
    prior_var
        Prior variance of ``log alpha``.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` log posterior values.

    """
    alpha = np.exp(a)[:, None]
    r = 1.0 / alpha
    ll = (gammaln(y + r) - gammaln(r) - y * np.log(mu + r) - r * np.log1p(mu * alpha)).sum(1)
    w = 1.0 / (1.0 / mu + alpha)
    b = (w @ xx).reshape(-1, p, p)
    out = ll - 0.5 * logdet_spd(b)
    if prior_mean is not None:
        out = out - 0.5 * (a - prior_mean) ** 2 / prior_var
    return out


def dlog_posterior(
    a: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    xx: np.ndarray,
    p: int,
    prior_mean: np.ndarray | None,
    prior_var: float,
) -> np.ndarray:
    """Derivative of :func:`log_posterior` with respect to ``log alpha``.

    Parameters
    ----------
    a, y, mu, xx, p, prior_mean, prior_var
        As :func:`log_posterior`.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` derivatives.

    """
    alpha1 = np.exp(a)
    alpha = alpha1[:, None]
    r = 1.0 / alpha
    ma = mu * alpha
    n = y.shape[1]
    s = (np.log1p(ma) - ma / (1.0 + ma) - digamma(y + r) + y / (mu + r)).sum(1)
    ll = (1.0 / alpha1**2) * (s + n * digamma(1.0 / alpha1))
    w = 1.0 / (1.0 / mu + alpha)
    dw = -(w**2)
    b = (w @ xx).reshape(-1, p, p)
    db = (dw @ xx).reshape(-1, p, p)
    binv = inv_spd(b)
    cr = -0.5 * np.einsum("gij,gji->g", binv, db)
    out = (ll + cr) * alpha1
    if prior_mean is not None:
        out = out - (a - prior_mean) / prior_var
    return out


@dataclass
class LineSearchResult:
    """Outcome of :func:`fit_dispersion_line_search` (arrays per gene)."""

    log_alpha: np.ndarray
    iterations: np.ndarray
    initial_lp: np.ndarray
    last_lp: np.ndarray


def fit_dispersion_line_search(
    y: np.ndarray,
    x: np.ndarray,
    mu: np.ndarray,
    log_alpha0: np.ndarray,
    *,
    prior_mean: np.ndarray | None = None,
    prior_var: float = 1.0,
    min_log_alpha: float = float(np.log(MIN_DISP / 10)),
    kappa0: float = 1.0,
    tol: float = 1e-6,
    maxit: int = 100,
    kernels: bool = False,
) -> LineSearchResult:
    """Maximise the (prior-penalised) Cox–Reid likelihood over ``log alpha`` for all genes.

    Parameters
    ----------
    y, mu
        ``(G, n)`` counts and fitted means (means already clamped by the caller).
    x
        ``(n, p)`` design.
    log_alpha0
        ``(G,)`` starting values.
    prior_mean
        ``(G,)`` prior means (MAP) or None (maximum likelihood).
    prior_var
        Prior variance of ``log alpha``.
    min_log_alpha
        Stop a gene once its estimate goes below this value.
    kappa0
        Initial and maximum step size.
    tol
        Stop when an accepted step raises the log posterior by less than this.
    maxit
        Maximum number of proposals per gene.
    kernels
        Run the compiled per-gene kernel (same algorithm) instead of the batched numpy code.

    Returns
    -------
    LineSearchResult
        Estimates, iteration counts, initial and last log posterior.

    """
    g, _ = y.shape
    p = x.shape[1]
    if kernels:
        return _line_search_kernel(
            y, x, mu, log_alpha0, prior_mean, prior_var, min_log_alpha, kappa0, tol, maxit
        )
    xx = outer_rows(x)

    def pm(idx: np.ndarray) -> np.ndarray | None:
        return None if prior_mean is None else prior_mean[idx]

    a = np.array(log_alpha0, dtype=float)
    allidx = np.arange(g)
    with np.errstate(all="ignore"):
        lp = log_posterior(a, y, mu, xx, p, prior_mean, prior_var)
        dlp = dlog_posterior(a, y, mu, xx, p, prior_mean, prior_var)
    initial_lp = lp.copy()
    kappa = np.full(g, kappa0)
    iters = np.zeros(g, dtype=np.int64)
    accepts = np.zeros(g, dtype=np.int64)
    active = allidx
    for _ in range(maxit):
        if active.size == 0:
            break
        iters[active] += 1
        ai = a[active]
        di = dlp[active]
        ki = kappa[active]
        prop = ai + ki * di
        with np.errstate(all="ignore"):
            ki = np.where(prop < -30.0, (-30.0 - ai) / di, ki)
            ki = np.where(prop > 10.0, (10.0 - ai) / di, ki)
            anew = ai + ki * di
            lpnew = log_posterior(anew, y[active], mu[active], xx, p, pm(active), prior_var)
        theta_hat = -lp[active] - ki * EPSILON * di**2
        accept = -lpnew <= theta_hat
        # rejected proposals: halve the step
        kappa[active] = np.where(accept, ki, ki / 2.0)
        acc_idx = active[accept]
        accepts[acc_idx] += 1
        a[acc_idx] = anew[accept]
        change = lpnew[accept] - lp[acc_idx]
        small = change < tol
        below = (~small) & (anew[accept] < min_log_alpha)
        lp[acc_idx[small]] = lpnew[accept][small]
        cont = ~small & ~below
        cidx = acc_idx[cont]
        lp[cidx] = lpnew[accept][cont]
        if cidx.size:
            with np.errstate(all="ignore"):
                dlp[cidx] = dlog_posterior(a[cidx], y[cidx], mu[cidx], xx, p, pm(cidx), prior_var)
            kn = np.minimum(kappa[cidx] * 1.1, kappa0)
            kn = np.where(accepts[cidx] % 5 == 0, kn / 2.0, kn)
            kappa[cidx] = kn
        stopped = np.zeros(g, dtype=bool)
        stopped[acc_idx[~cont]] = True
        active = active[~stopped[active]]
    return LineSearchResult(a, iters, initial_lp, lp)


def _line_search_kernel(
    y: np.ndarray,
    x: np.ndarray,
    mu: np.ndarray,
    log_alpha0: np.ndarray,
    prior_mean: np.ndarray | None,
    prior_var: float,
    min_log_alpha: float,
    kappa0: float,
    tol: float,
    maxit: int,
) -> LineSearchResult:
    from ._kernels import design_cells, line_search

    g = y.shape[0]
    xc, cell = design_cells(x)
    out = LineSearchResult(np.empty(g), np.empty(g, dtype=np.int64), np.empty(g), np.empty(g))
    has_prior = prior_mean is not None
    pmean = np.ascontiguousarray(prior_mean, dtype=float) if has_prior else np.zeros(1)
    line_search(
        np.ascontiguousarray(y, dtype=float),
        np.ascontiguousarray(mu, dtype=float),
        cell,
        xc,
        np.ascontiguousarray(log_alpha0, dtype=float),
        has_prior,
        pmean,
        float(prior_var),
        float(min_log_alpha),
        float(kappa0),
        float(tol),
        int(maxit),
        out.log_alpha,
        out.iterations,
        out.initial_lp,
        out.last_lp,
    )
    return out


def fit_dispersion_grid(
    y: np.ndarray,
    x: np.ndarray,
    mu: np.ndarray,
    *,
    prior_mean: np.ndarray | None = None,
    prior_var: float = 1.0,
    kernels: bool = False,
) -> np.ndarray:
    """DESeq2's grid search for ``alpha``: 20 points on ``[log 1e-8, log max(10, n)]``, then refine.

    Parameters
    ----------
    y, mu
        ``(G, n)`` counts and means.
    x
        ``(n, p)`` design.
    prior_mean
        ``(G,)`` prior means or None.
    prior_var
        Prior variance.
    kernels
        Run the compiled per-gene kernel.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` dispersion estimates (not log).

    """
    g, n = y.shape
    p = x.shape[1]
    grid = np.linspace(np.log(1e-8), np.log(max(10.0, n)), 20)
    if kernels:
        from ._kernels import design_cells, grid_search

        xc, cell = design_cells(x)
        out = np.empty(g)
        has_prior = prior_mean is not None
        pmean = np.ascontiguousarray(prior_mean, dtype=float) if has_prior else np.zeros(1)
        grid_search(
            np.ascontiguousarray(y, dtype=float),
            np.ascontiguousarray(mu, dtype=float),
            cell,
            xc,
            grid,
            has_prior,
            pmean,
            float(prior_var),
            out,
        )
        return np.exp(out)
    xx = outer_rows(x)
    delta = grid[1] - grid[0]

    def scan(points: np.ndarray) -> np.ndarray:
        vals = np.empty((g, points.shape[1]))
        for t in range(points.shape[1]):
            with np.errstate(all="ignore"):
                vals[:, t] = log_posterior(points[:, t], y, mu, xx, p, prior_mean, prior_var)
        vals = np.where(np.isnan(vals), -np.inf, vals)
        return points[np.arange(g), np.argmax(vals, axis=1)]

    a_hat = scan(np.broadcast_to(grid, (g, grid.size)))
    fine = a_hat[:, None] + np.linspace(-delta, delta, 20)[None, :]
    return np.exp(scan(fine))


def has_linear_mu(x: np.ndarray) -> bool:
    """Whether the design has as many distinct rows as columns (DESeq2 then uses ``linearMu``).

    Parameters
    ----------
    x
        ``(n, p)`` design.

    Returns
    -------
    bool
        True when the fitted means are group means.

    """
    return np.unique(x, axis=0).shape[0] == x.shape[1]


@dataclass
class GenewiseResult:
    """Gene-wise dispersion estimates and the means used for them."""

    disp: np.ndarray
    mu: np.ndarray
    iterations: np.ndarray


def genewise_dispersions(
    y: np.ndarray,
    size_factors: np.ndarray,
    x: np.ndarray,
    base_mean: np.ndarray,
    base_var: np.ndarray,
    *,
    minmu: float = 0.5,
    maxit: int = 100,
    kernels: bool = False,
) -> GenewiseResult:
    """R's ``estimateDispersionsGeneEst`` (no weights, ``niter = 1``) for non-zero genes.

    Parameters
    ----------
    y
        ``(G, n)`` counts (no all-zero rows).
    size_factors
        ``(n,)`` size factors.
    x
        ``(n, p)`` design.
    base_mean, base_var
        Mean and variance of normalised counts.
    minmu
        Lower bound on fitted means.
    maxit
        Line-search iterations.
    kernels
        Use the compiled per-gene kernels (:func:`use_kernels`).

    Returns
    -------
    GenewiseResult
        Dispersions (bounded to ``[1e-8, max(10, n)]``), the means, line-search iterations.

    """
    n = y.shape[1]
    y_norm = y / size_factors
    alpha_hat = np.minimum(
        rough_dispersion(y_norm, x), moments_dispersion(base_mean, base_var, size_factors)
    )
    max_disp = max(10.0, float(n))
    alpha_init = np.minimum(np.maximum(MIN_DISP, alpha_hat), max_disp)
    if has_linear_mu(x):
        mu = linear_model_mu(y_norm, x) * size_factors
    else:
        mu = fit_nb_glm(y, size_factors, x, alpha_init, minmu=minmu, kernels=kernels).mu
    mu = np.maximum(mu, minmu)
    ls = fit_dispersion_line_search(
        y,
        x,
        mu,
        np.log(alpha_init),
        prior_mean=None,
        prior_var=1.0,
        maxit=maxit,
        kernels=kernels,
    )
    disp = np.minimum(np.exp(ls.log_alpha), max_disp)
    no_increase = ls.last_lp < ls.initial_lp + np.abs(ls.initial_lp) / 1e6
    disp = np.where(no_increase, alpha_init, disp)
    conv = (ls.iterations < maxit) & (ls.iterations != 1)
    refit = ~conv & (disp > MIN_DISP * 10)
    if refit.any():
        disp[refit] = fit_dispersion_grid(y[refit], x, mu[refit], kernels=kernels)
    disp = np.minimum(np.maximum(disp, MIN_DISP), max_disp)
    return GenewiseResult(disp, mu, ls.iterations)


def map_dispersions(
    y: np.ndarray,
    x: np.ndarray,
    mu: np.ndarray,
    disp_gene: np.ndarray,
    disp_fit: np.ndarray,
    prior_var: float,
    var_log_disp: float,
    *,
    outlier_sd: float = 2.0,
    maxit: int = 100,
    kernels: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R's ``estimateDispersionsMAP``: shrink towards the trend, keep gene-wise for outliers.

    Parameters
    ----------
    y, mu
        ``(G, n)`` counts and the gene-wise step's means.
    x
        ``(n, p)`` design.
    disp_gene, disp_fit
        Gene-wise and trend dispersions.
    prior_var
        Prior variance of ``log alpha`` (:func:`prior_variance`).
    var_log_disp
        Variance of log dispersion residuals (for the outlier rule).
    outlier_sd
        Gene-wise estimates this many SDs above the trend are kept.
    maxit
        Line-search iterations.
    kernels
        Use the compiled per-gene kernels (:func:`use_kernels`).

    Returns
    -------
    tuple of numpy.ndarray
        ``(final dispersion, MAP dispersion, outlier flag)``.

    """
    n = y.shape[1]
    init = np.where(disp_gene > 0.1 * disp_fit, disp_gene, disp_fit)
    init = np.where(np.isnan(init), disp_fit, init)
    prior_mean = np.log(disp_fit)
    ls = fit_dispersion_line_search(
        y,
        x,
        mu,
        np.log(init),
        prior_mean=prior_mean,
        prior_var=prior_var,
        maxit=maxit,
        kernels=kernels,
    )
    disp_map = np.exp(ls.log_alpha)
    refit = ~(ls.iterations < maxit)
    if refit.any():
        disp_map[refit] = fit_dispersion_grid(
            y[refit],
            x,
            mu[refit],
            prior_mean=prior_mean[refit],
            prior_var=prior_var,
            kernels=kernels,
        )
    disp_map = np.minimum(np.maximum(disp_map, MIN_DISP), max(10.0, float(n)))
    outlier = np.log(disp_gene) > np.log(disp_fit) + outlier_sd * np.sqrt(var_log_disp)
    outlier &= ~np.isnan(outlier)
    final = np.where(outlier, disp_gene, disp_map)
    return final, disp_map, outlier
