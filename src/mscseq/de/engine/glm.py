"""Negative-binomial GLM fits (log link, size-factor offsets), as R DESeq2's ``fitBeta``.

:func:`fit_nb_glm` starts every gene from DESeq2's least-squares fit, runs DESeq2's IRLS in the
chosen backend (:mod:`.backends`: all genes at once in numpy, or gene by gene in numba), and
refits the genes IRLS could not fit with L-BFGS-B on the log2 scale, as DESeq2's
``fitNbinomGLMsOptim``. The iteration, convergence test, the ``|beta| > 30`` divergence guard,
the ``minmu`` clamp, the ridge ``lambda = 1e-6`` (log2 scale) and the sandwich covariance follow
DESeq2 1.38.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends import EngineBackend, NumpyBackend
from .likelihood import LARGE, LN2, LOG2E, nb_loglike

DEFAULT_LAMBDA_LOG2 = 1e-6


@dataclass
class GLMFit:
    """Result of a batched NB GLM fit (natural-log coefficients).

    Attributes
    ----------
    beta
        ``(G, p)`` coefficients, natural log scale.
    beta_var
        ``(G, p)`` sandwich variances of ``beta`` (natural log scale).
    mu
        ``(G, n)`` fitted means ``s_j exp(x_j beta)`` (not clamped).
    hat
        ``(G, n)`` diagonal of the weighted hat matrix.
    iterations
        IRLS iterations per gene.
    converged
        Whether IRLS (or the L-BFGS-B fallback) converged.
    loglike
        NB log-likelihood at ``mu``.

    """

    beta: np.ndarray
    beta_var: np.ndarray
    mu: np.ndarray
    hat: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    loglike: np.ndarray


def initial_beta(y: np.ndarray, size_factors: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Least-squares start ``log(normalized counts + 0.1) ~ X`` (DESeq2's IRLS start).

    Parameters
    ----------
    y
        ``(G, n)`` counts.
    size_factors
        ``(n,)`` size factors.
    x
        ``(n, p)`` design.

    Returns
    -------
    numpy.ndarray
        ``(G, p)`` starting coefficients.

    """
    q, r = np.linalg.qr(x)
    ly = np.log(y / size_factors + 0.1)
    return np.linalg.solve(r, q.T @ ly.T).T


def fit_nb_glm(
    y: np.ndarray,
    size_factors: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    *,
    beta0: np.ndarray | None = None,
    tol: float = 1e-8,
    maxit: int = 100,
    minmu: float = 0.5,
    lambda_log2: np.ndarray | None = None,
    use_optim: bool = True,
    backend: EngineBackend | None = None,
) -> GLMFit:
    """Fit ``y_gj ~ NB(s_j exp(x_j beta_g), alpha_g)`` for all genes (R's ``fitNbinomGLMs``).

    Parameters
    ----------
    y
        ``(G, n)`` counts.
    size_factors
        ``(n,)`` size factors.
    x
        ``(n, p)`` full-rank design.
    alpha
        ``(G,)`` dispersions.
    beta0
        Start (natural log); default DESeq2's least-squares start.
    tol
        Convergence tolerance on the relative deviance change.
    maxit
        Maximum IRLS iterations.
    minmu
        Lower bound on fitted means inside IRLS.
    lambda_log2
        Ridge on the log2 scale (default ``1e-6`` per coefficient).
    use_optim
        Refit non-converged genes with L-BFGS-B as DESeq2 does.
    backend
        How the IRLS runs (:mod:`.backends`; default numpy).

    Returns
    -------
    GLMFit
        Coefficients, variances, means, hat diagonals, convergence.

    """
    p = x.shape[1]
    lam_log2 = np.full(p, DEFAULT_LAMBDA_LOG2) if lambda_log2 is None else np.asarray(lambda_log2)
    lam = lam_log2 / LN2**2
    beta_start = initial_beta(y, size_factors, x) if beta0 is None else np.array(beta0, dtype=float)
    backend = backend or NumpyBackend()
    irls = backend.irls(
        y, size_factors, x, alpha, beta_start, lam, tol=tol, maxit=maxit, minmu=minmu
    )
    fit = GLMFit(
        beta=irls.beta,
        beta_var=irls.beta_var,
        mu=irls.mu,
        hat=irls.hat,
        iterations=irls.iterations,
        converged=irls.iterations < maxit,
        loglike=irls.loglike,
    )
    stable = ~np.isnan(fit.beta).any(axis=1)
    var_pos = (fit.beta_var > 0).all(axis=1)
    failed = ~stable | ~var_pos
    if use_optim:
        failed |= ~fit.converged
    rows = np.flatnonzero(failed)
    if rows.size:
        _optim_rows(rows, y, size_factors, x, alpha, lam_log2, beta_start, stable, minmu, fit)
    return fit


def _optim_rows(
    rows: np.ndarray,
    y: np.ndarray,
    size_factors: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    lam_log2: np.ndarray,
    beta_start: np.ndarray,
    stable: np.ndarray,
    minmu: float,
    fit: GLMFit,
) -> None:
    """DESeq2's L-BFGS-B refit on the log2 scale of ``rows`` (written into ``fit`` in place)."""
    from scipy.optimize import minimize

    lam_nat = lam_log2 / LN2**2
    sd = np.sqrt(1.0 / lam_log2)
    for i in rows:
        b_log2 = fit.beta[i] * LOG2E
        start = b_log2 if (stable[i] and np.all(np.abs(b_log2) < LARGE)) else beta_start[i] * LOG2E
        k = y[i]
        a = alpha[i]
        r = 1.0 / a

        def objective(pv: np.ndarray, k: np.ndarray = k, r: float = r) -> tuple[float, np.ndarray]:
            eta = np.clip((x @ pv) * LN2, -700, 700)
            m = size_factors * np.exp(eta)
            ll = np.sum(r * np.log(r / (r + m)) + np.where(k > 0, k * np.log(m / (r + m)), 0.0))
            lp = -0.5 * np.sum((pv / sd) ** 2)
            f = -(ll + lp)
            # d ll / d eta = (k - m) r / (r + m); chain rule to log2 scale
            grad = -(x.T @ ((k - m) * r / (r + m)) * LN2 - pv / sd**2)
            if not np.isfinite(f):
                return 1e300, np.zeros_like(pv)
            return float(f), grad

        res = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LARGE, LARGE)] * x.shape[1],
        )
        if res.success:
            fit.converged[i] = True
        fit.beta[i] = res.x * LN2
        m = size_factors * np.exp(x @ fit.beta[i])
        fit.mu[i] = m
        m_clamped = np.maximum(m, minmu)
        w = 1.0 / (1.0 / m_clamped + a)
        xtwx = x.T @ (x * w[:, None])
        inv = np.linalg.inv(xtwx + np.diag(lam_nat))
        fit.beta_var[i] = np.diagonal(inv @ xtwx @ inv)
        fit.loglike[i] = nb_loglike(k[None, :], m_clamped[None, :], np.array([a]))[0]
