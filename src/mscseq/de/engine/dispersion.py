"""Gene-wise and MAP dispersion estimates, batched over genes, following R DESeq2 1.38.

The estimator is DESeq2's: the Cox–Reid adjusted NB profile log-likelihood (plus, for MAP, a
normal prior on ``log alpha``) is maximised over ``log alpha`` by the same Armijo line search as
DESeq2's C++ ``fitDisp`` (step ``kappa`` on the gradient, ``epsilon = 1e-4``, ``kappa *= 1.1`` after
an accepted step, halved every fifth accepted step and after every rejected one, bounds
``[-30, 10]``, stop when the gain is below ``tol``); genes the line search does not settle are
refitted on DESeq2's two-stage 20-point grid. The objective is :func:`.likelihood.log_posterior`;
the search and the grid run in the chosen backend (:mod:`.backends`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends import EngineBackend, LineSearchResult, NumpyBackend
from .glm import fit_nb_glm
from .likelihood import MIN_DISP


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
    backend: EngineBackend | None = None,
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
    backend
        How the per-gene loops run (:mod:`.backends`; default numpy).

    Returns
    -------
    LineSearchResult
        Estimates, iteration counts, initial and last log posterior.

    """
    backend = backend or NumpyBackend()
    return backend.line_search(
        y,
        x,
        mu,
        log_alpha0,
        prior_mean,
        prior_var,
        min_log_alpha=min_log_alpha,
        kappa0=kappa0,
        tol=tol,
        maxit=maxit,
    )


def fit_dispersion_grid(
    y: np.ndarray,
    x: np.ndarray,
    mu: np.ndarray,
    *,
    prior_mean: np.ndarray | None = None,
    prior_var: float = 1.0,
    backend: EngineBackend | None = None,
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
    backend
        How the per-gene loops run (:mod:`.backends`; default numpy).

    Returns
    -------
    numpy.ndarray
        ``(G,)`` dispersion estimates (not log).

    """
    n = y.shape[1]
    grid = np.linspace(np.log(1e-8), np.log(max(10.0, n)), 20)
    backend = backend or NumpyBackend()
    return np.exp(backend.grid_search(y, x, mu, grid, prior_mean, prior_var))


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
    backend: EngineBackend | None = None,
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
    backend
        How the per-gene loops run (:mod:`.backends`; default numpy).

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
        mu = fit_nb_glm(y, size_factors, x, alpha_init, minmu=minmu, backend=backend).mu
    mu = np.maximum(mu, minmu)
    ls = fit_dispersion_line_search(
        y,
        x,
        mu,
        np.log(alpha_init),
        prior_mean=None,
        prior_var=1.0,
        maxit=maxit,
        backend=backend,
    )
    disp = np.minimum(np.exp(ls.log_alpha), max_disp)
    no_increase = ls.last_lp < ls.initial_lp + np.abs(ls.initial_lp) / 1e6
    disp = np.where(no_increase, alpha_init, disp)
    conv = (ls.iterations < maxit) & (ls.iterations != 1)
    refit = ~conv & (disp > MIN_DISP * 10)
    if refit.any():
        disp[refit] = fit_dispersion_grid(y[refit], x, mu[refit], backend=backend)
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
    backend: EngineBackend | None = None,
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
    backend
        How the per-gene loops run (:mod:`.backends`; default numpy).

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
        backend=backend,
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
            backend=backend,
        )
    disp_map = np.minimum(np.maximum(disp_map, MIN_DISP), max(10.0, float(n)))
    outlier = np.log(disp_gene) > np.log(disp_fit) + outlier_sd * np.sqrt(var_log_disp)
    outlier &= ~np.isnan(outlier)
    final = np.where(outlier, disp_gene, disp_map)
    return final, disp_map, outlier
