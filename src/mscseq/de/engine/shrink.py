"""Log fold-change shrinkage with PyDESeq2's apeGLM-like prior, batched over genes.

This is what PyDESeq2 0.5.4's ``DeseqStats.lfc_shrink`` computes (not R's ``apeglm`` and not
R's ``type = "normal"``): for the coefficient being shrunk a Cauchy prior with scale
``min(sqrt(v), 1)`` where ``v`` is the empirical-Bayes variance of the MLE fold changes, normal
priors with SD 15 on the other coefficients, and the NB likelihood at the final dispersions;
the MAP is found for all genes at once by damped Newton steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError

from ._batched import inv_spd, solve_spd
from .likelihood import LN2, outer_rows

PRIOR_NO_SHRINK_SCALE = 15.0


def prior_scale_from_mle(
    lfc: np.ndarray, se: np.ndarray, min_var: float = 1e-6, max_var: float = 400.0
) -> float:
    """PyDESeq2's ``_fit_prior_var`` (natural-log scale), turned into the Cauchy scale.

    Parameters
    ----------
    lfc, se
        MLE coefficients and standard errors (natural log), NaN ignored.
    min_var, max_var
        Bracket for the prior variance.

    Returns
    -------
    float
        ``min(sqrt(prior variance), 1)``.

    """
    ok = ~np.isnan(lfc) & ~np.isnan(se)
    s, d = lfc[ok] ** 2, se[ok] ** 2

    def objective(a: float) -> float:
        c = 1.0 / (2.0 * (a + d) ** 2)
        return float(((s - d) * c).sum() / c.sum() - a)

    from scipy.optimize import brentq  # imported here: scipy.optimize costs ~0.1 s

    var = min_var if objective(min_var) < 0 else brentq(objective, min_var, max_var)
    return float(min(np.sqrt(var), 1.0))


def nbinom_map_apeglm(
    x: np.ndarray,
    y: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    prior_no_shrink_scale: float,
    prior_scale: float,
    shrink_index: int,
    beta0: np.ndarray | None = None,
    *,
    tol: float = 1e-10,
    maxit: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MAP coefficients of NB GLMs with PyDESeq2's apeGLM-like prior, all genes at once.

    Parameters
    ----------
    x
        ``(n, p)`` design.
    y
        ``(G, n)`` counts.
    size
        ``(G,)`` NB size (1 / dispersion).
    offset
        ``(n,)`` log size factors.
    prior_no_shrink_scale, prior_scale
        Normal SD of unshrunk coefficients and Cauchy scale of the shrunk one.
    shrink_index
        Column to shrink.
    beta0
        ``(G, p)`` start (natural log); zeros with a log-mean intercept when None.
    tol, maxit
        Convergence on the objective decrease and iteration cap.

    Returns
    -------
    tuple of numpy.ndarray
        ``(beta (G, p), inverse Hessian (G, p, p), converged (G,))``.

    """
    g, _n = y.shape
    p = x.shape[1]
    xx = outer_rows(x)
    mask = np.zeros(p, dtype=bool)
    mask[shrink_index] = True
    if beta0 is None:
        beta = np.zeros((g, p))
        beta[:, 0] = np.log(np.maximum(y.mean(axis=1), 0.1) / np.exp(offset).mean())
    else:
        beta = np.where(np.isfinite(beta0), beta0, 0.0).astype(float)
    r = size[:, None]

    def obj(b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        eta = b @ x.T
        rr = r[idx]
        nll = (-(y[idx] * eta) + (y[idx] + rr) * np.logaddexp(eta + offset, np.log(rr))).sum(1)
        pr = (b[:, ~mask] ** 2).sum(1) / (2 * prior_no_shrink_scale**2) + np.log1p(
            (b[:, shrink_index] / prior_scale) ** 2
        )
        return nll + pr

    def grad_hess(b: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        eta = b @ x.T
        mu = np.exp(eta + offset)
        rr = r[idx]
        dd = -y[idx] + (y[idx] + rr) * mu / (mu + rr)
        w = (y[idx] + rr) * mu * rr / (mu + rr) ** 2
        grad = dd @ x + np.where(mask, 0.0, b / prior_no_shrink_scale**2)
        bs = b[:, shrink_index]
        s2 = prior_scale**2
        grad[:, shrink_index] += 2 * bs / (s2 + bs**2)
        h = (w @ xx).reshape(-1, p, p)
        diag = np.where(mask, 0.0, 1.0 / prior_no_shrink_scale**2)
        h += np.diag(diag)
        h[:, shrink_index, shrink_index] += 2 * (s2 - bs**2) / (s2 + bs**2) ** 2
        return grad, h

    conv = np.zeros(g, dtype=bool)
    active = np.arange(g)
    f = obj(beta, active)
    for _ in range(maxit):
        if active.size == 0:
            break
        b = beta[active]
        grad, h = grad_hess(b, active)
        # keep the Newton matrix positive definite (the Cauchy term is not convex)
        hpd = h.copy()
        bs = b[:, shrink_index]
        s2 = prior_scale**2
        hpd[:, shrink_index, shrink_index] -= np.minimum(2 * (s2 - bs**2) / (s2 + bs**2) ** 2, 0.0)
        step = solve_spd(hpd, grad)
        step = np.where(np.isfinite(step), step, 0.0)
        t = np.ones(active.size)
        fa = f[active]
        new_b = b - step
        new_f = obj(new_b, active)
        for _ in range(30):
            bad = ~(new_f <= fa) & (t > 1e-8)
            if not bad.any():
                break
            t[bad] /= 2
            new_b[bad] = b[bad] - t[bad, None] * step[bad]
            new_f[bad] = obj(new_b[bad], active[bad])
        improved = new_f <= fa
        beta[active[improved]] = new_b[improved]
        f[active[improved]] = new_f[improved]
        done = ~improved | (np.abs(fa - new_f) < tol * (np.abs(fa) + tol))
        conv[active[done & improved]] = True
        conv[active[~improved & (np.abs(step).max(axis=1) < 1e-6)]] = True
        active = active[~done]
    _, h = grad_hess(beta, np.arange(g))
    return beta, inv_spd(h), conv


def lfc_shrink(fit: object, coef: str | int) -> pd.DataFrame:
    """Shrunken log2 fold changes of one design coefficient (PyDESeq2's ``lfc_shrink``).

    Parameters
    ----------
    fit
        A :class:`~mscseq.de.engine.fit.DESeq2Fit`.
    coef
        Design column name or index (not the intercept).

    Returns
    -------
    pandas.DataFrame
        ``baseMean, log2FoldChange, lfcSE, dispersion`` (shrunken LFC and its posterior SD).

    Raises
    ------
    MscseqError
        When ``coef`` is not a design column.

    """
    names = fit.coef_names
    if isinstance(coef, str):
        if coef not in names:
            msg = f"coef {coef!r} is not a design column; columns: {names}"
            raise MscseqError(msg)
        j = names.index(coef)
    else:
        j = int(coef)
    x = fit.design.to_numpy(dtype=float)
    nz = ~np.isnan(fit.dispersion) & ~np.isnan(fit.beta).any(axis=1)
    scale = prior_scale_from_mle(fit.beta[nz, j], np.sqrt(fit.beta_var[nz, j]))
    beta, inv_h, _ = nbinom_map_apeglm(
        x,
        fit.counts_fit[nz],
        1.0 / fit.dispersion[nz],
        np.log(fit.size_factors),
        PRIOR_NO_SHRINK_SCALE,
        scale,
        j,
        fit.beta[nz],
    )
    lfc = np.full(fit.base_mean.size, np.nan)
    se = np.full(fit.base_mean.size, np.nan)
    lfc[nz] = beta[:, j] / LN2
    se[nz] = np.sqrt(np.maximum(inv_h[:, j, j], 0.0)) / LN2
    out = pd.DataFrame(
        {
            "baseMean": fit.base_mean,
            "log2FoldChange": lfc,
            "lfcSE": se,
            "dispersion": fit.dispersion,
        }
    )
    out.attrs["prior_scale"] = scale
    return out
