"""Batched negative-binomial GLM fits (log link, size-factor offsets), as R DESeq2's ``fitBeta``.

All genes are fitted together: each IRLS step forms the ``p × p`` weighted cross-products of
every still-active gene with one matrix product (``W @ XX`` where ``XX`` holds the outer products
of the design rows) and solves the stacked ``(G, p, p)`` systems with ``numpy.linalg.solve``.
The iteration, convergence test, the ``|beta| > 30`` divergence guard, the ``minmu`` clamp, the
ridge ``lambda = 1e-6`` (log2 scale) and the sandwich covariance follow DESeq2 1.38; genes that do
not converge are refitted with L-BFGS-B on the log2 scale as DESeq2's ``fitNbinomGLMsOptim``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from ._batched import inv_spd, solve_spd

LARGE = 30.0
LN2 = float(np.log(2.0))
LOG2E = 1.0 / LN2
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


def outer_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise outer products of a design matrix, flattened to ``(n, p*p)``.

    Parameters
    ----------
    x
        Design matrix ``(n, p)``.

    Returns
    -------
    numpy.ndarray
        ``XX[j] = vec(x_j x_j^T)``, so that ``W @ XX`` gives every gene's ``X^T W X``.

    """
    n, p = x.shape
    return (x[:, :, None] * x[:, None, :]).reshape(n, p * p)


def nb_loglike(y: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Row sums of the NB log density ``dnbinom(y, mu = mu, size = 1/alpha, log = TRUE)``.

    Parameters
    ----------
    y
        ``(G, n)`` counts.
    mu
        ``(G, n)`` means.
    alpha
        ``(G,)`` dispersions.

    Returns
    -------
    numpy.ndarray
        ``(G,)`` log-likelihoods.

    """
    r = (1.0 / alpha)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = (
            gammaln(y + r)
            - gammaln(r)
            - gammaln(y + 1.0)
            + r * np.log(r / (r + mu))
            + np.where(y > 0, y * np.log(mu / (r + mu)), 0.0)
        )
    return ll.sum(axis=1)


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


def _solve(b: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    return solve_spd(b, rhs)


def sandwich(
    w: np.ndarray, xx: np.ndarray, p: int, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``X^T W X + Λ`` and sandwich covariance for stacked genes.

    Parameters
    ----------
    w
        ``(G, n)`` IRLS weights.
    xx
        Output of :func:`outer_rows`.
    p
        Number of coefficients.
    lam
        ``(p,)`` ridge on the natural-log scale.

    Returns
    -------
    tuple of numpy.ndarray
        ``(inv(X^T W X + Λ), inv(.) X^T W X inv(.))``, both ``(G, p, p)``.

    """
    b0 = (w @ xx).reshape(-1, p, p)
    b = b0 + np.diag(lam)
    binv = inv_spd(b)
    sigma = binv @ b0 @ binv
    return binv, sigma


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
    kernels: bool = False,
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
    kernels
        Run the IRLS in the compiled per-gene kernel (:mod:`._kernels`; same algorithm).

    Returns
    -------
    GLMFit
        Coefficients, variances, means, hat diagonals, convergence.

    """
    p = x.shape[1]
    lam_log2 = np.full(p, DEFAULT_LAMBDA_LOG2) if lambda_log2 is None else np.asarray(lambda_log2)
    lam = lam_log2 / LN2**2
    log_sf = np.log(size_factors)
    beta = initial_beta(y, size_factors, x) if beta0 is None else np.array(beta0, dtype=float)
    beta_start = beta.copy()
    if kernels:
        beta, beta_var, mu, hat, iters, loglike = _irls_kernel(
            y, log_sf, x, alpha, beta, lam, tol, maxit, minmu
        )
    else:
        beta, beta_var, mu, hat, iters, loglike = _irls_numpy(
            y, size_factors, log_sf, x, alpha, beta, lam, tol, maxit, minmu
        )
    return _finish(
        y,
        size_factors,
        x,
        alpha,
        lam_log2,
        beta,
        beta_start,
        beta_var,
        mu,
        hat,
        iters,
        loglike,
        maxit,
        minmu,
        use_optim,
    )


def _irls_numpy(
    y: np.ndarray,
    size_factors: np.ndarray,
    log_sf: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    lam: np.ndarray,
    tol: float,
    maxit: int,
    minmu: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched IRLS over all genes (the numpy path of :func:`fit_nb_glm`).

    Returns ``beta, beta_var, mu, hat, iters, loglike`` as :func:`_irls_kernel` does.
    """
    g = y.shape[0]
    p = x.shape[1]
    xx = outer_rows(x)
    mu_hat = np.maximum(size_factors * np.exp(beta @ x.T), minmu)
    iters = np.zeros(g, dtype=np.int64)
    dev_old = np.zeros(g)
    r_all = 1.0 / alpha
    # the parts of the NB log density that do not depend on mu (for the deviance)
    const = (gammaln(y + r_all[:, None]) - gammaln(r_all)[:, None] - gammaln(y + 1.0)).sum(1)
    active = np.arange(g)
    for t in range(maxit):
        if active.size == 0:
            break
        ya = y[active]
        mua = mu_hat[active]
        aa = alpha[active]
        w = mua / (1.0 + aa[:, None] * mua)
        z = np.log(mua) - log_sf + (ya - mua) / mua
        b = (w @ xx).reshape(-1, p, p) + np.diag(lam)
        rhs = (w * z) @ x
        with np.errstate(all="ignore"):
            bnew = _solve(b, rhs)
        iters[active] += 1
        beta[active] = bnew
        diverged = ~(np.abs(bnew) <= LARGE).all(axis=1)
        keep = ~diverged
        iters[active[diverged]] = maxit
        act = active[keep]
        bk = bnew[keep]
        mu_new = np.maximum(size_factors * np.exp(bk @ x.T), minmu)
        mu_hat[act] = mu_new
        r = r_all[act][:, None]
        yk = y[act]
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = -2.0 * (
                const[act]
                + (r * np.log(r / (r + mu_new))).sum(1)
                + np.where(yk > 0, yk * np.log(mu_new / (r + mu_new)), 0.0).sum(1)
            )
            conv = np.abs(dev - dev_old[act]) / (np.abs(dev) + 0.1)
        bad = np.isnan(conv)
        iters[act[bad]] = maxit
        done = bad | ((t > 0) & (conv < tol))
        dev_old[act] = dev
        active = act[~done]
    w = mu_hat / (1.0 + alpha[:, None] * mu_hat)
    binv, sigma = sandwich(w, xx, p, lam)
    hat = w * (binv.reshape(g, p * p) @ xx.T)
    beta_var = np.diagonal(sigma, axis1=1, axis2=2).copy()
    mu = size_factors * np.exp(beta @ x.T)
    loglike = nb_loglike(y, mu, alpha)
    return beta, beta_var, mu, hat, iters, loglike


def _irls_kernel(
    y: np.ndarray,
    log_sf: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    lam: np.ndarray,
    tol: float,
    maxit: int,
    minmu: float,
) -> tuple[np.ndarray, ...]:
    from ._kernels import design_cells, irls

    g, n = y.shape
    p = x.shape[1]
    xc, cell = design_cells(x)
    beta = np.ascontiguousarray(beta, dtype=float)
    beta_var = np.empty((g, p))
    mu = np.empty((g, n))
    hat = np.empty((g, n))
    iters = np.empty(g, dtype=np.int64)
    loglike = np.empty(g)
    irls(
        np.ascontiguousarray(y, dtype=float),
        np.ascontiguousarray(log_sf, dtype=float),
        cell,
        xc,
        np.ascontiguousarray(alpha, dtype=float),
        beta,
        np.ascontiguousarray(lam, dtype=float),
        float(tol),
        int(maxit),
        float(minmu),
        LARGE,
        beta_var,
        mu,
        hat,
        iters,
        loglike,
    )
    return beta, beta_var, mu, hat, iters, loglike


def _finish(
    y: np.ndarray,
    size_factors: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    lam_log2: np.ndarray,
    beta: np.ndarray,
    beta_start: np.ndarray,
    beta_var: np.ndarray,
    mu: np.ndarray,
    hat: np.ndarray,
    iters: np.ndarray,
    loglike: np.ndarray,
    maxit: int,
    minmu: float,
    use_optim: bool,
) -> GLMFit:
    """Convergence flags and DESeq2's L-BFGS-B refit of genes IRLS could not fit."""
    converged = iters < maxit
    stable = ~np.isnan(beta).any(axis=1)
    var_pos = (beta_var > 0).all(axis=1)
    rows = (
        np.flatnonzero(~converged | ~stable | ~var_pos)
        if use_optim
        else np.flatnonzero(~stable | ~var_pos)
    )
    if rows.size:
        _optim_rows(
            rows,
            y,
            size_factors,
            x,
            alpha,
            lam_log2,
            beta,
            beta_start,
            stable,
            beta_var,
            converged,
            mu,
            loglike,
            minmu,
        )
    return GLMFit(beta, beta_var, mu, hat, iters, converged, loglike)


def _optim_rows(
    rows: np.ndarray,
    y: np.ndarray,
    size_factors: np.ndarray,
    x: np.ndarray,
    alpha: np.ndarray,
    lam_log2: np.ndarray,
    beta: np.ndarray,
    beta_start: np.ndarray,
    stable: np.ndarray,
    beta_var: np.ndarray,
    converged: np.ndarray,
    mu: np.ndarray,
    loglike: np.ndarray,
    minmu: float,
) -> None:
    """L-BFGS-B refit on the log2 scale for genes IRLS could not fit (in place)."""
    from scipy.optimize import minimize

    lam_nat = lam_log2 / LN2**2
    sd = np.sqrt(1.0 / lam_log2)
    for i in rows:
        b_log2 = beta[i] * LOG2E
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
            converged[i] = True
        beta[i] = res.x * LN2
        m = size_factors * np.exp(x @ beta[i])
        mu[i] = m
        mc = np.maximum(m, minmu)
        wv = 1.0 / (1.0 / mc + a)
        xtwx = x.T @ (x * wv[:, None])
        inv = np.linalg.inv(xtwx + np.diag(lam_nat))
        beta_var[i] = np.diagonal(inv @ xtwx @ inv)
        loglike[i] = nb_loglike(k[None, :], mc[None, :], np.array([a]))[0]
