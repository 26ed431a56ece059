"""Tier 1 of the comparability rule: the critical quality attributes (panel scores), each tested for equivalence.

A panel's score is the mean VST (log2-like) over its genes that rise with the property (``direction``
``positive``), are expressed in resting MSC (``at_rest`` not ``no``) and are expressed in the data (pooled
mean normalised count over *all* products at least ``min_mean``, fixed without the group labels). Each score is
compared between a target and a reference level by two one-sided tests (TOST) against its margin ``m`` (log2):

* no ``pair`` and no usable ``batch``: Welch's two-sample t (unequal variances, Welch–Satterthwaite df);
* ``pair``: a paired t on the within-pair differences over pairs with one product in each level;
* ``batch`` bridged (some batch holds both levels): ordinary least squares with group + batch;
* ``batch`` aliased with group (no batch holds both levels), fewer than 2 products in a level (2 pairs when
  paired) or no residual degrees of freedom: ``not_estimable``.

An attribute is ``equivalent`` when the (1 − 2α) confidence interval of ``target − reference`` lies inside
(−m, m), ``different`` when it lies entirely outside [−m, m], else ``inconclusive``. The tier is an
intersection–union test: any ``different`` attribute fails it, and it passes only when every attribute is
``equivalent``. ``n_needed`` (for inconclusive attributes; ``None`` otherwise) is the smallest number of products per group (pairs when paired) giving at least
``power`` probability that the TOST passes when the true difference is 0 and the SD is the fitted one. It is
computed from the exact TOST power (Owen's integral: the estimate is normal and independent of its standard
error, whose square is a scaled χ²; the integral over the χ² law is taken by a 64-point quadrature on its
quantiles). For Welch the χ² law of the standard error is the Satterthwaite approximation.

Everything is vectorised over panels: :func:`tier1` builds the design once and tests all scores together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

#: A panel with fewer genes (expressed, at rest, positive) than this is not scored.
MIN_GENES = 3
#: ``n_needed`` is reported as ``None`` beyond this many products per group.
MAX_N = 200
#: Quadrature points (mid-quantiles of the χ² law of the variance estimate) for the TOST power.
_QUAD = 64
_U = (np.arange(_QUAD) + 0.5) / _QUAD
NOT_ASSESSABLE = f"not assessable: fewer than {MIN_GENES} panel genes expressed at rest"


def score_genes(
    matched: pd.DataFrame, norm: np.ndarray, *, min_mean: float
) -> dict[str, np.ndarray]:
    """The genes that make each panel's Tier-1 score.

    Parameters
    ----------
    matched
        Output of :func:`mscseq.comparability.panels.match_genes` (``index`` −1 for genes not in the data).
        An ``at_rest`` column is optional; absent, every gene counts as expressed at rest.
    norm
        Products × genes DESeq2 normalised counts.
    min_mean
        A gene is used when its mean normalised count over all products (no labels) is at least this.

    Returns
    -------
    dict of str to numpy.ndarray
        Panel name → sorted unique gene indices (positive direction, ``at_rest`` not ``no``, expressed).
        Panels with fewer than :data:`MIN_GENES` such genes are absent.

    """
    keep = (matched["index"].to_numpy() >= 0) & (matched["direction"].to_numpy() == "positive")
    if "at_rest" in matched.columns:
        at_rest = matched["at_rest"].astype(str).str.strip().str.lower().to_numpy()
        keep &= at_rest != "no"
    found = matched[keep]
    if found.empty:
        return {}
    norm = np.asarray(norm)
    candidates = np.unique(found["index"].to_numpy().astype(int))
    pooled = dict(zip(candidates.tolist(), norm[:, candidates].mean(axis=0).tolist(), strict=True))
    out: dict[str, np.ndarray] = {}
    for name, rows in found.groupby("panel", sort=False):
        idx = np.unique(rows["index"].to_numpy().astype(int))
        idx = np.array([i for i in idx.tolist() if pooled[i] >= min_mean], dtype=int)
        if idx.size >= MIN_GENES:
            out[str(name)] = idx
    return out


def scores(vst: np.ndarray, genes: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Per-product panel scores: the mean VST of each panel's genes.

    Parameters
    ----------
    vst
        Products × genes VST.
    genes
        Output of :func:`score_genes`.

    Returns
    -------
    pandas.DataFrame
        Products (positional) × panels, in log2 units; ``attrs["n_genes"]`` maps panel → number of genes.

    """
    vst = np.asarray(vst, dtype=float)
    df = pd.DataFrame(
        {name: vst[:, idx].mean(axis=1) for name, idx in genes.items()},
        index=pd.RangeIndex(vst.shape[0]),
    )
    df.attrs["n_genes"] = {name: len(idx) for name, idx in genes.items()}
    return df


# --------------------------------------------------------------------------------------------------
# The design (built once per comparison, applied to every score)


@dataclass(frozen=True)
class _Design:
    """How ``target − reference`` is estimated; ``kind`` is ``welch``, ``paired``, ``ols`` or ``none``."""

    kind: str
    method: str
    it: np.ndarray  # target rows (welch), target row of each pair (paired), rows used (ols)
    ir: np.ndarray  # reference rows (welch), reference row of each pair (paired)
    x: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0))
    )  # OLS design: target indicator then one dummy per batch
    c: float = np.nan  # OLS: [(X'X)^-1] of the group coefficient
    inflation: float = 1.0  # OLS: c / (1/n_t + 1/n_r), the variance cost of the batch adjustment


def _valid(values: np.ndarray) -> np.ndarray:
    """Mask of usable key values (pair or batch): not None, not NaN, not empty."""
    return np.array(
        [v is not None and not (isinstance(v, float) and v != v) and str(v) != "" for v in values],
        dtype=bool,
    )


def _design(
    labels: np.ndarray,
    target: str,
    reference: str,
    pair: np.ndarray | None,
    batch: np.ndarray | None,
) -> _Design:
    labels = np.asarray(labels).astype(str)
    is_t, is_r = labels == str(target), labels == str(reference)
    empty = np.zeros(0, dtype=int)

    def none(why: str) -> _Design:
        return _Design("none", f"not estimable: {why}", empty, empty)

    if batch is not None:
        b = np.asarray(batch, dtype=object)
        ok = _valid(b)
        bt = {str(v) for v in b[is_t & ok]}
        br = {str(v) for v in b[is_r & ok]}
        if bt and br and not bt & br:
            return none(f"batch aliased with group (no batch holds both {target} and {reference})")
    if pair is not None:
        p = np.asarray(pair, dtype=object)
        ok = _valid(p)
        keys = np.array([str(v) for v in p], dtype=object)
        rows_t: dict[str, list[int]] = {}
        rows_r: dict[str, list[int]] = {}
        for i in np.flatnonzero(is_t & ok):
            rows_t.setdefault(keys[i], []).append(int(i))
        for i in np.flatnonzero(is_r & ok):
            rows_r.setdefault(keys[i], []).append(int(i))
        kept = sorted(k for k in rows_t if len(rows_t[k]) == 1 and len(rows_r.get(k, ())) == 1)
        n_dropped = int((is_t | is_r).sum()) - 2 * len(kept)
        dropped = (
            f" ({n_dropped} product{'s' if n_dropped != 1 else ''} without exactly one partner dropped)"
            if n_dropped
            else ""
        )
        if len(kept) < 2:
            return none(
                f"fewer than 2 pairs with one product in each of {target} and {reference}{dropped}"
            )
        it = np.array([rows_t[k][0] for k in kept], dtype=int)
        ir = np.array([rows_r[k][0] for k in kept], dtype=int)
        method = f"paired t TOST over {len(kept)} pairs{dropped}"
        if batch is not None:
            b = np.array([str(v) for v in np.asarray(batch, dtype=object)], dtype=object)
            n_split = int((b[it] != b[ir]).sum())
            if n_split:
                method += f"; {n_split} pair(s) split across batches carry the batch effect (not modelled)"
        return _Design("paired", method, it, ir)
    it, ir = np.flatnonzero(is_t), np.flatnonzero(is_r)
    if it.size < 2 or ir.size < 2:
        return none(f"fewer than 2 products in {target if it.size < 2 else reference}")
    if batch is not None:
        rows = np.concatenate([it, ir])
        b = np.asarray(batch, dtype=object)[rows]
        keys = np.where(_valid(b), np.array([str(v) for v in b], dtype=object), "")
        levels = sorted(set(keys.tolist()))
        if len(levels) > 1:
            dummies = (keys[:, None] == np.array(levels, dtype=object)[None, :]).astype(float)
            x = np.column_stack([np.r_[np.ones(it.size), np.zeros(ir.size)], dummies])
            xtx = x.T @ x
            if np.linalg.matrix_rank(xtx) < x.shape[1]:
                return none("group aliased with batch in the design")
            if rows.size - x.shape[1] < 1:
                return none("no residual degrees of freedom after the batch adjustment")
            c = float(np.linalg.inv(xtx)[0, 0])
            inflation = c / (1.0 / it.size + 1.0 / ir.size)
            method = f"OLS TOST with group + batch ({len(levels)} batches)"
            return _Design("ols", method, rows, ir, x=x, c=c, inflation=inflation)
    return _Design("welch", "Welch two-sample TOST (unequal variances)", it, ir)


# --------------------------------------------------------------------------------------------------
# Estimates, TOST and power, vectorised over the columns of Y (one column per attribute)


def _fit(
    y: np.ndarray, d: _Design
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Estimate, SE and df per column, and the per-column terms of the power model."""
    if d.kind == "welch":
        yt, yr = y[d.it], y[d.ir]
        nt, nr = d.it.size, d.ir.size
        vt, vr = yt.var(axis=0, ddof=1), yr.var(axis=0, ddof=1)
        a, b = vt / nt, vr / nr
        est = yt.mean(axis=0) - yr.mean(axis=0)
        se = np.sqrt(a + b)
        with np.errstate(invalid="ignore", divide="ignore"):
            df = np.where(
                a + b > 0, (a + b) ** 2 / (a**2 / (nt - 1) + b**2 / (nr - 1)), nt + nr - 2.0
            )
        return est, se, df, {"vt": vt, "vr": vr}
    if d.kind == "paired":
        diff = y[d.it] - y[d.ir]
        n = diff.shape[0]
        sd = diff.std(axis=0, ddof=1)
        return diff.mean(axis=0), sd / np.sqrt(n), np.full(y.shape[1], n - 1.0), {"sd": sd}
    x = d.x
    yy = y[d.it]
    beta, *_ = np.linalg.lstsq(x, yy, rcond=None)
    resid = yy - x @ beta
    dfr = float(x.shape[0] - x.shape[1])
    s2 = (resid**2).sum(axis=0) / dfr
    return beta[0], np.sqrt(s2 * d.c), np.full(y.shape[1], dfr), {"sd": np.sqrt(s2)}


def _se_df_at(
    n: np.ndarray, d: _Design, terms: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Model SE and df with ``n`` products per group (pairs when paired), at the fitted SD."""
    n = np.asarray(n, dtype=float)
    if d.kind == "welch":
        vt, vr = terms["vt"], terms["vr"]
        tot = vt + vr
        with np.errstate(invalid="ignore", divide="ignore"):
            df = np.where(tot > 0, (n - 1) * tot**2 / (vt**2 + vr**2), 2 * n - 2)
        return np.sqrt(tot / n), df
    if d.kind == "paired":
        return terms["sd"] / np.sqrt(n), n - 1
    return terms["sd"] * np.sqrt(d.inflation * 2.0 / n), 2 * n - d.x.shape[1]


def tost_power(se: np.ndarray, df: np.ndarray, margin: np.ndarray, alpha: float) -> np.ndarray:
    """Probability that the TOST passes when the true difference is 0.

    Parameters
    ----------
    se
        True standard error of the estimate.
    df
        Degrees of freedom of its estimate (the squared estimated SE is ``se² · χ²_df / df``).
    margin
        Equivalence margin (same shape, or broadcastable).
    alpha
        One-sided level of each test.

    Returns
    -------
    numpy.ndarray
        Power, by Owen's integral over the χ² law (64 mid-quantile points; within 0.002 of Monte Carlo).

    """
    se, df, margin = np.broadcast_arrays(
        np.asarray(se, float), np.asarray(df, float), np.asarray(margin, float)
    )
    out = np.zeros(se.shape)
    ok = (df >= 1) & np.isfinite(se)
    if not ok.any():
        return out
    s, v, m = se[ok], df[ok], margin[ok]
    tc = special.stdtrit(v, 1 - alpha)
    x = special.chdtri(v[:, None], 1 - _U[None, :])  # quantiles of χ²_v
    half = m[:, None] - (tc * s)[:, None] * np.sqrt(x / v[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s[:, None] > 0, half / s[:, None], np.where(half > 0, np.inf, -np.inf))
    out[ok] = np.clip(2 * special.ndtr(z) - 1, 0, None).mean(axis=1)
    return out


def _n_needed(
    d: _Design, terms: Mapping[str, np.ndarray], margin: np.ndarray, alpha: float, power: float
) -> np.ndarray:
    """Smallest n per group (pairs when paired) with TOST power ≥ ``power``; −1 when > :data:`MAX_N`."""
    k = margin.size
    n_min = max(2, (d.x.shape[1] + 2) // 2) if d.kind == "ols" else 2
    lo = np.full(k, n_min)
    hi = np.full(k, MAX_N)

    def pw(n: np.ndarray) -> np.ndarray:
        se, df = _se_df_at(n, d, terms)
        return tost_power(se, df, margin, alpha)

    at_min = pw(lo) >= power
    at_max = pw(hi) >= power
    todo = at_max & ~at_min
    while np.any(todo & (hi - lo > 1)):
        mid = (lo + hi) // 2
        good = pw(mid) >= power
        step = todo & (hi - lo > 1)
        hi = np.where(step & good, mid, hi)
        lo = np.where(step & ~good, mid, lo)
    return np.where(at_min, n_min, np.where(at_max, hi, -1))


def _tests(
    y: np.ndarray, d: _Design, margin: np.ndarray, alpha: float, power: float
) -> list[dict[str, object]]:
    """Attribute-test dicts for each column of ``y`` (products × attributes)."""
    k = y.shape[1]
    if d.kind == "none":
        return [_empty(d.method) for _ in range(k)]
    est, se, df, terms = _fit(y, d)
    tc = special.stdtrit(df, 1 - alpha)
    lo, hi = est - tc * se, est + tc * se
    with np.errstate(divide="ignore", invalid="ignore"):
        t_low = np.where(se > 0, (est + margin) / se, np.where(est + margin > 0, np.inf, -np.inf))
        t_up = np.where(se > 0, (est - margin) / se, np.where(est - margin < 0, -np.inf, np.inf))
    p_eq = np.maximum(special.stdtr(df, -t_low), special.stdtr(df, t_up))
    inconclusive = (lo <= margin) & (hi >= -margin) & ~((lo > -margin) & (hi < margin))
    n_needed = np.full(k, -1)
    if inconclusive.any():
        sub = {key: val[inconclusive] for key, val in terms.items()}
        n_needed[inconclusive] = _n_needed(d, sub, margin[inconclusive], alpha, power)
    ci_text = f"{100 * (1 - 2 * alpha):g} % CI; n_needed from the exact TOST power"
    out: list[dict[str, object]] = []
    for j in range(k):
        if not (np.isfinite(est[j]) and np.isfinite(se[j])):
            out.append(_empty(f"not estimable: missing or non-finite values ({d.method})"))
            continue
        if lo[j] > -margin[j] and hi[j] < margin[j]:
            result = "equivalent"
        elif lo[j] > margin[j] or hi[j] < -margin[j]:
            result = "different"
        else:
            result = "inconclusive"
        out.append(
            {
                "estimate": float(est[j]),
                "se": float(se[j]),
                "df": float(df[j]),
                "ci_low": float(lo[j]),
                "ci_high": float(hi[j]),
                "p_equivalence": float(p_eq[j]),
                "result": result,
                "n_needed": int(n_needed[j]) if n_needed[j] > 0 else None,
                "method": f"{d.method}, {ci_text}",
            }
        )
    return out


def _empty(method: str) -> dict[str, object]:
    return {
        "estimate": None,
        "se": None,
        "df": None,
        "ci_low": None,
        "ci_high": None,
        "p_equivalence": None,
        "result": "not_estimable",
        "n_needed": None,
        "method": method,
    }


def attribute_test(
    y: np.ndarray,
    labels: np.ndarray,
    target: str,
    reference: str,
    *,
    margin: float,
    alpha: float,
    pair: np.ndarray | None = None,
    batch: np.ndarray | None = None,
    power: float = 0.8,
) -> dict[str, object]:
    """Equivalence test (TOST) of one attribute's group difference ``target − reference``.

    Parameters
    ----------
    y
        One value per product (a panel score, log2 units).
    labels
        Group level of each product; products in other levels are ignored.
    target, reference
        The two levels compared.
    margin
        Equivalence margin (log2), > 0.
    alpha
        One-sided level of each test; the interval is the (1 − 2α) CI.
    pair
        Pair (donor) of each product: paired t over pairs with exactly one product in each level.
    batch
        Sequencing batch of each product: aliased with group → ``not_estimable``; bridged → OLS with group +
        batch.
    power
        Target power for ``n_needed``.

    Returns
    -------
    dict
        ``estimate``, ``se``, ``df``, ``ci_low``, ``ci_high``, ``p_equivalence`` (max of the two one-sided
        p-values), ``result`` (``equivalent``/``different``/``inconclusive``/``not_estimable``), ``n_needed``
        (products per group, pairs when paired, for 80 % power by default; given for ``inconclusive`` only,
        ``None`` when > :data:`MAX_N`), ``method``.

    """
    d = _design(np.asarray(labels), target, reference, pair, batch)
    y2 = np.asarray(y, dtype=float).reshape(-1, 1)
    return _tests(y2, d, np.array([float(margin)]), alpha, power)[0]


def tier1(
    scores: pd.DataFrame,
    labels: np.ndarray,
    target: str,
    reference: str,
    *,
    margins: Mapping[str, float],
    alpha: float,
    pair: np.ndarray | None = None,
    batch: np.ndarray | None = None,
    required: Sequence[str] = (),
    power: float = 0.8,
    n_genes: Mapping[str, int] | None = None,
) -> dict[str, object]:
    """Tier 1: every critical quality attribute tested for equivalence; intersection–union.

    Parameters
    ----------
    scores
        Products (rows, positional) × panels, from :func:`scores`. A panel of ``margins`` that is not a column
        was not scored (too few genes) and is reported as not assessable.
    labels, target, reference, alpha, pair, batch, power
        As in :func:`attribute_test`.
    margins
        Panel → margin (log2); the panels tested, in this order.
    required
        Panels that must be assessable: one that is not makes the tier ``inconclusive`` (unless it fails).
    n_genes
        Panel → number of genes in the score; default ``scores.attrs["n_genes"]``.

    Returns
    -------
    dict
        ``result``: ``fail`` when any attribute is ``different``; ``pass`` when every tested attribute is
        ``equivalent`` and every required panel was scored; ``not_estimable`` when the design allows no test
        or no panel was scored; else ``inconclusive``. ``attributes``: one dict per panel of ``margins``
        (``panel``, ``n_genes``, ``margin`` and the keys of :func:`attribute_test`). ``n_needed``: the largest
        ``n_needed`` over the inconclusive attributes (``None`` when none is inconclusive or one needs more
        than :data:`MAX_N`).

    Raises
    ------
    ValueError
        A required panel without a margin.

    """
    missing_margin = [p for p in required if p not in margins]
    if missing_margin:
        msg = f"required Tier-1 panel(s) without a margin: {', '.join(missing_margin)}"
        raise ValueError(msg)
    counts = dict(n_genes if n_genes is not None else scores.attrs.get("n_genes", {}))
    panels = [str(p) for p in margins]
    scored = [p for p in panels if p in scores.columns]
    d = _design(np.asarray(labels), target, reference, pair, batch)
    m = np.array([float(margins[p]) for p in scored])
    results = dict(
        zip(scored, _tests(scores[scored].to_numpy(dtype=float), d, m, alpha, power), strict=True)
    )
    attributes = []
    for p in panels:
        res = results.get(p) or _empty(NOT_ASSESSABLE)
        n = counts.get(p, 0 if p not in results else None)
        attributes.append({"panel": p, "n_genes": n, "margin": float(margins[p]), **res})
    words = [results[p]["result"] for p in scored]
    inconclusive = [results[p] for p in scored if results[p]["result"] == "inconclusive"]
    if "different" in words:
        result = "fail"
    elif d.kind == "none":
        result = "not_estimable"
    elif any(p not in results for p in required):
        result = "inconclusive"
    elif not scored:
        result = "not_estimable"
    elif any(w != "equivalent" for w in words):
        result = "inconclusive"
    else:
        result = "pass"
    needs = [a["n_needed"] for a in inconclusive]
    n_needed = None if not needs or any(v is None for v in needs) else max(needs)  # type: ignore[type-var]
    return {"result": result, "attributes": attributes, "n_needed": n_needed}
