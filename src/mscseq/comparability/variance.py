"""Variance partition: the share of each gene's VST variance explained by donor, design variables, residual.

Used when donors contribute several samples (technical or biological replicates).

Per gene the linear mixed model

    y = X β + Z b + ε,   b ~ N(0, σ²_donor I),   ε ~ N(0, σ²_resid I)

is fitted by REML, with the design variables (condition, group, …) as fixed effects ``X`` and a random
intercept per donor ``Z``. With one variance ratio the REML likelihood is profiled over ``h =
σ²_donor / (σ²_donor + σ²_resid)`` using one eigen-decomposition shared by all genes (the "spectral" trick
of GEMMA / FaST-LMM), so every gene is fitted at once: a grid over ``h`` then golden-section refinement.
The fixed-effect variance of a variable is the sample variance of its fitted part ``X_j β̂_j``
(variancePartition's convention); fractions are each component over their sum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError

#: Sheet columns recognised as the donor (case-insensitive), in order of preference.
DONOR_COLUMNS = (
    "donor",
    "donor_id",
    "donorid",
    "patient",
    "patient_id",
    "subject",
    "subject_id",
    "individual",
)
_H_MAX = 1.0 - 1e-9


def find_donor_column(columns: Sequence[str]) -> str | None:
    """The donor column of a sheet, by name (see :data:`DONOR_COLUMNS`), or ``None``."""
    lower = {str(c).lower(): str(c) for c in columns}
    for name in DONOR_COLUMNS:
        if name in lower:
            return lower[name]
    return None


def _profile_loglik(h: np.ndarray, u2: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Profiled REML log-likelihood (up to a constant) at ``h`` (G,), ``u2`` (m, G), eigenvalues ``d`` (m,)."""
    m = u2.shape[0]
    s = (1.0 - h)[None, :] + h[None, :] * d[:, None]
    sigma2 = (u2 / s).sum(axis=0) / m
    return -0.5 * (m * np.log(np.maximum(sigma2, 1e-300)) + np.log(s).sum(axis=0))


def reml_one_random(
    y: np.ndarray, x: np.ndarray, z: np.ndarray, *, grid: int = 101, iters: int = 60
) -> dict[str, np.ndarray]:
    """REML fit of ``y = Xβ + Zb + ε`` for many genes at once (one random intercept).

    Parameters
    ----------
    y
        Samples × genes responses.
    x
        Samples × p fixed-effect design (full column rank).
    z
        Samples × q random-effect indicator matrix.
    grid
        Grid points over ``h`` in [0, 1) before golden-section refinement.
    iters
        Golden-section iterations.

    Returns
    -------
    dict
        ``sigma2_random``, ``sigma2_resid``, ``h`` (G,) and ``beta`` (G, p).

    """
    n, p = x.shape
    qx, _ = np.linalg.qr(x, mode="complete")
    q = qx[:, p:]  # basis of the residual space (n × (n − p))
    k = z @ z.T
    d, u = np.linalg.eigh(q.T @ k @ q)
    d = np.clip(d, 0.0, None)
    r = u.T @ (q.T @ y)
    u2 = r**2
    g = y.shape[1]
    hs = np.linspace(0.0, _H_MAX, grid)
    ll = np.stack([_profile_loglik(np.full(g, h), u2, d) for h in hs])
    best = ll.argmax(axis=0)
    step = hs[1] - hs[0]
    a = np.clip(hs[best] - step, 0.0, _H_MAX)
    b = np.clip(hs[best] + step, 0.0, _H_MAX)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    c = b - ratio * (b - a)
    e = a + ratio * (b - a)
    fc, fe = _profile_loglik(c, u2, d), _profile_loglik(e, u2, d)
    for _ in range(iters):
        left = fc > fe
        a = np.where(left, a, c)
        b = np.where(left, e, b)
        new = np.where(left, b - ratio * (b - a), a + ratio * (b - a))
        fnew = _profile_loglik(new, u2, d)
        c, e = np.where(left, new, e), np.where(left, c, new)
        fc, fe = np.where(left, fnew, fe), np.where(left, fc, fnew)
    h = (a + b) / 2.0
    # The boundary h = 0 is a candidate the bracket may straddle: keep it when it is at least as good.
    at0 = _profile_loglik(np.zeros(g), u2, d)
    h = np.where(at0 >= _profile_loglik(h, u2, d), 0.0, h)
    s = (1.0 - h)[None, :] + h[None, :] * d[:, None]
    total = (u2 / s).sum(axis=0) / (n - p)
    # GLS fixed effects through the eigen-decomposition of K.
    ek, w = np.linalg.eigh(k)
    ek = np.clip(ek, 0.0, None)
    xt = w.T @ x
    yt = w.T @ y
    wts = 1.0 / ((1.0 - h)[None, :] + h[None, :] * ek[:, None])  # n × G
    xtx = np.einsum("ig,ip,iq->gpq", wts, xt, xt, optimize=True)
    xty = np.einsum("ig,ip,ig->gp", wts, xt, yt, optimize=True)
    beta = np.linalg.solve(xtx, xty[..., None])[..., 0]
    return {"sigma2_random": h * total, "sigma2_resid": (1.0 - h) * total, "h": h, "beta": beta}


def variance_partition(
    vst: np.ndarray,
    obs: pd.DataFrame,
    *,
    donor: str,
    fixed: Sequence[str],
) -> pd.DataFrame:
    """Per-gene fractions of VST variance explained by donor, each fixed variable and the residual.

    Parameters
    ----------
    vst
        Samples × genes VST (informative genes).
    obs
        Sample sheet (same order).
    donor
        Donor column (random intercept).
    fixed
        Other design variables (fixed effects; may be empty).

    Returns
    -------
    pandas.DataFrame
        One row per gene: a column per fixed variable, ``donor`` (named after the column), ``residual``
        (fractions summing to 1) and ``total_variance``.

    Raises
    ------
    MscseqError
        When the fixed variables are confounded or leave no residual degrees of freedom.

    """
    from mscseq.de.design import build_design
    from mscseq.de.formula import quote_name

    fixed = [f for f in fixed if f != donor]
    formula = "~ " + " + ".join(quote_name(f) for f in fixed) if fixed else "~ 1"
    if fixed:
        xdf = build_design(formula, obs, source="variance partition")
        x = xdf.to_numpy(dtype=np.float64)
        cols = list(xdf.columns)
    else:
        x = np.ones((len(obs), 1))
        cols = ["Intercept"]
    donors = obs[donor].astype(str).to_numpy()
    levels = sorted(set(donors))
    z = (donors[:, None] == np.asarray(levels)[None, :]).astype(np.float64)
    if len(obs) - x.shape[1] < 2:
        msg = f"variance partition: {len(obs)} samples for {x.shape[1]} fixed coefficients leave too few degrees of freedom"
        raise MscseqError(msg)
    fit = reml_one_random(np.asarray(vst, dtype=np.float64), x, z)
    comps: dict[str, np.ndarray] = {}
    for var in fixed:
        idx = [
            j
            for j, c in enumerate(cols)
            if c == var or c.startswith(f"{var}[") or c.startswith(f"{var}:")
        ]
        part = x[:, idx] @ fit["beta"][:, idx].T  # n × G
        comps[var] = part.var(axis=0, ddof=1)
    comps[donor] = fit["sigma2_random"]
    comps["residual"] = fit["sigma2_resid"]
    total = np.sum(np.stack(list(comps.values())), axis=0)
    safe = np.where(total > 0, total, 1.0)
    out = pd.DataFrame({k: np.where(total > 0, v / safe, np.nan) for k, v in comps.items()})
    out["total_variance"] = total
    return out


def summarize_partition(fractions: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Median and quartiles over genes of each component's fraction."""
    out = {}
    for col in fractions.columns:
        if col == "total_variance":
            continue
        v = fractions[col].dropna().to_numpy()
        if len(v) == 0:
            continue
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        out[col] = {"median": float(med), "q1": float(q1), "q3": float(q3), "mean": float(v.mean())}
    return out
