"""The negative-binomial likelihoods that the engine's steps maximise, batched over genes.

The NB log-likelihood of a GLM fit, its sandwich covariance and the Cox–Reid adjusted profile
log-likelihood of ``log alpha`` (with an optional normal prior) and its derivative, as R DESeq2
1.38 defines them. The backends (:mod:`.backends`) optimise these objectives; this module only
evaluates them.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from ._batched import inv_spd, logdet_spd

#: R DESeq2's lower bound on dispersion estimates (``minDisp``).
MIN_DISP = 1e-8
#: Armijo constant of DESeq2's dispersion line search.
EPSILON = 1e-4
#: DESeq2's bound on ``|beta|`` (natural log scale) before a fit counts as diverged.
LARGE = 30.0
LN2 = float(np.log(2.0))
LOG2E = 1.0 / LN2


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
        Row outer products of the design (:func:`outer_rows`).
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
