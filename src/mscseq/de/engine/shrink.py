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


def _weighted_upper_quantile_var(x: np.ndarray, w: np.ndarray, upper: float = 0.05) -> float:
    """DESeq2's ``matchWeightedUpperQuantileForVariance`` (Hmisc's ``wtd.quantile``, ``normwt``)."""
    from scipy.stats import norm

    keep = ~(np.isnan(w) | (w == 0)) & ~np.isnan(x)
    ax, w = np.abs(x[keep]), w[keep]
    w = w * ax.size / w.sum()
    values, inverse = np.unique(ax, return_inverse=True)
    wts = np.bincount(inverse, weights=w)
    n = wts.sum()
    order = 1 + (n - 1) * (1 - upper)
    low = max(np.floor(order), 1.0)
    high = min(low + 1, n)
    frac = order % 1
    cum = np.cumsum(wts)

    def at(v: float) -> float:  # approx(method = "constant", f = 1, rule = 2)
        return float(values[min(int(np.searchsorted(cum, v, side="left")), values.size - 1)])

    q = (1 - frac) * at(low) + frac * at(high)
    return float((q / norm.ppf(1 - upper / 2)) ** 2)


def lfc_shrink_normal(
    fit: object, contrast: np.ndarray, factors: list[tuple[str, tuple[str, ...]]]
) -> pd.DataFrame:
    """R's ``lfcShrink(dds, contrast = ..., type = "normal")`` for a design of factors only.

    As DESeq2 1.38: the prior variance of each coefficient is matched to the weighted upper 5 %
    quantile of the MLE log2 fold changes (weights ``1 / (1 / baseMean + dispFit)``, ``|LFC| < 10``),
    each factor's levels and pairwise differences averaged into one variance, the intercept's 1e6;
    then the NB GLM is refitted with the expanded model matrix (an indicator per level of each
    factor) and that normal prior as a ridge, at the final dispersions, and the contrast is taken
    on it with the sandwich covariance.

    Parameters
    ----------
    fit
        A :class:`~mscseq.de.engine.fit.DESeq2Fit` whose design is an intercept and treatment-coded
        factors (columns ``f[T.level]``).
    contrast
        Contrast over the standard design's columns, within one factor.
    factors
        ``(name, levels)`` of each factor in design order, the first level the reference.

    Returns
    -------
    pandas.DataFrame
        ``log2FoldChange`` (shrunken) and ``lfcSE``.

    """
    from .glm import fit_nb_glm

    names = list(fit.coef_names)
    g = fit.base_mean.size
    nz = ~fit.all_zero
    mle = fit.beta[nz] * LOG2E_
    weights = 1.0 / (1.0 / fit.base_mean[nz] + fit.disp_fit[nz])
    exp_cols = ["Intercept"]
    prior_exp: list[float] = [1e6]
    c_exp = [0.0]
    blocks = []
    for name, levels in factors:
        idx = [names.index(f"{name}[T.{lv}]") for lv in levels[1:]]
        cols = mle[:, idx]
        extra = [cols[:, i] - cols[:, j] for i in range(1, len(idx)) for j in range(i)]
        pooled = [*cols.T, *extra]
        variances = []
        for x in pooled:
            finite = np.abs(x) < 10
            finite &= ~np.isnan(x)
            variances.append(
                1e6
                if not finite.any()
                else _weighted_upper_quantile_var(x[finite], weights[finite])
            )
        var = float(np.mean(variances))
        cstd = contrast[idx]
        exp_cols.extend(f"{name}{lv}" for lv in levels)
        prior_exp.extend([var] * len(levels))
        c_exp.extend([-float(cstd.sum()), *cstd.tolist()])
        # the expanded indicators: the reference level where no other level is set
        ind = fit.design.to_numpy(dtype=float)[:, idx]
        blocks.append(np.column_stack([1.0 - ind.sum(axis=1), ind]))
    x = np.column_stack([np.ones(fit.design.shape[0]), *blocks])
    c = np.asarray(c_exp)
    y = fit.counts[nz]
    sf = fit.size_factors
    beta0 = np.zeros((y.shape[0], x.shape[1]))
    beta0[:, 0] = np.log(fit.base_mean[nz])
    alpha = fit.dispersion[nz]
    lam_log2 = 1.0 / np.asarray(prior_exp)
    res = fit_nb_glm(y, sf, x, alpha, beta0=beta0, lambda_log2=lam_log2)
    mu = np.maximum(res.mu, 0.5)
    w = 1.0 / (1.0 / mu + alpha[:, None])
    xtwx = (w @ outer_rows(x)).reshape(-1, x.shape[1], x.shape[1])
    inv = np.linalg.inv(xtwx + np.diag(lam_log2 / LN2**2))
    sigma = inv @ xtwx @ inv
    lfc = np.full(g, np.nan)
    se = np.full(g, np.nan)
    lfc[nz] = (res.beta @ c) * LOG2E_
    se[nz] = np.sqrt(np.einsum("i,gij,j->g", c, sigma, c)) * LOG2E_
    return pd.DataFrame({"log2FoldChange": lfc, "lfcSE": se})


LOG2E_ = 1.0 / LN2
