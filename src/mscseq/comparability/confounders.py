"""What confounds a group comparison: sequencing batch, sequencing depth and donor sex, per group level.

Each function takes per-product arrays (products in the order of the analysis) and returns a plain JSON-able
dict with a one-line ``note``; the comparability rule decides what to do with it (an aliased batch allows no
``comparable``; unequal depth and sex imbalance are reported as caveats).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

#: Depth is ``unequal`` when the largest median library size of a level exceeds the smallest by this factor.
DEPTH_RATIO = 2.0
#: Sex is ``imbalanced`` when the female fractions of two levels differ by at least this.
SEX_FRACTION = 0.5
#: The level given to every product when there is no ``--group`` (the single-group question).
ALL = "all"
#: Table key for products without a batch value (never bridges anything).
MISSING = "(missing)"


def _levels(labels: Sequence[object] | np.ndarray | None, n: int) -> np.ndarray:
    if labels is None:
        return np.full(n, ALL, dtype=object)
    out = np.asarray(labels, dtype=object).astype(str)
    if out.shape != (n,):
        msg = f"labels has {out.size} values for {n} products"
        raise ValueError(msg)
    return out


def _order(values: np.ndarray) -> list[str]:
    """Levels in order of first appearance (stable, so the tables read as the sheet does)."""
    return list(dict.fromkeys(values.tolist()))


def batch_status(
    labels: Sequence[object] | np.ndarray | None,
    batch: Sequence[object] | np.ndarray | None,
    *,
    column: str | None = None,
    target: str | None = None,
    reference: str | None = None,
) -> dict[str, object]:
    """Is the sequencing batch aliased with the group?

    Parameters
    ----------
    labels
        Group level of each product; ``None`` for the single-group question (nothing to alias).
    batch
        Batch of each product (``--batch``), or ``None`` when not given.
    column
        Name of the ``--batch`` column, echoed in the result.
    target, reference
        When both are given, only these two levels are considered (one comparison).

    Returns
    -------
    dict
        ``column``; ``status``: ``none`` (no batch given, or no group), ``aliased`` (for some pair of levels no
        batch holds both), ``bridged`` (every pair of levels shares at least one batch); ``aliased_pairs``:
        the ``[level, level]`` pairs that share no batch; ``table``: ``{level: {batch: products}}``; ``note``.

    """
    if batch is None:
        return {
            "column": column,
            "status": "none",
            "aliased_pairs": [],
            "table": None,
            "note": "no --batch column: batch effects cannot be checked",
        }
    b = np.asarray(batch, dtype=object)
    b = np.array(
        [MISSING if v is None or v != v or str(v) == "" else str(v) for v in b], dtype=object
    )
    lv = _levels(labels, b.size)
    if target is not None and reference is not None:
        keep = (lv == str(target)) | (lv == str(reference))
        lv, b = lv[keep], b[keep]
    table = {
        str(g): {str(k): int(v) for k, v in sorted(pd.Series(b[lv == g]).value_counts().items())}
        for g in _order(lv)
    }
    levels = list(table)
    batches = {g: {k for k in table[g] if k != MISSING} for g in levels}
    n_batches = len(set().union(*batches.values())) if batches else 0
    name = f"batch column '{column}'" if column else "batch"
    if labels is None:
        status, pairs = "none", []
        note = f"{name}: {n_batches} batch(es); no group to be aliased with"
    else:
        pairs = [[a, c] for a, c in combinations(levels, 2) if not batches[a] & batches[c]]
        status = "aliased" if pairs else "bridged"
        if pairs:
            a, c = pairs[0]
            note = (
                f"{name} aliased with group: no batch holds both {a} and {c}, so a batch effect cannot be "
                "told from a group difference; sequence bridging products in both runs"
            )
        else:
            note = f"{name} bridged: every pair of group levels shares a batch ({n_batches} batches); adjusted for"
    return {
        "column": column,
        "status": status,
        "aliased_pairs": pairs,
        "table": table,
        "note": note,
    }


def depth_balance(
    library_sizes: Sequence[float] | np.ndarray, labels: Sequence[object] | np.ndarray | None
) -> dict[str, object]:
    """Median library size per group level and the ratio of the largest to the smallest.

    Parameters
    ----------
    library_sizes
        Total raw counts of each product (summed over its libraries).
    labels
        Group level of each product, or ``None`` (one level, ``all``).

    Returns
    -------
    dict
        ``median``: ``{level: median library size}``; ``ratio``: max/min of the medians (``None`` when a
        median is 0); ``threshold``: :data:`DEPTH_RATIO`; ``unequal``: ``ratio > threshold``; ``note``.

    """
    sizes = np.asarray(library_sizes, dtype=float)
    lv = _levels(labels, sizes.size)
    median = {g: float(np.median(sizes[lv == g])) for g in _order(lv)}
    lo, hi = min(median.values()), max(median.values())
    ratio = hi / lo if lo > 0 else None
    unequal = ratio is None or ratio > DEPTH_RATIO
    top = max(median, key=median.__getitem__)
    low = min(median, key=median.__getitem__)
    if len(median) < 2:
        note = f"median depth {hi:,.0f} reads per product (one level)"
        unequal = False
    elif ratio is None:
        note = f"level {low} has median depth 0: depth cannot be compared"
    elif unequal:
        note = (
            f"unequal depth: median {hi:,.0f} reads in {top} vs {lo:,.0f} in {low} "
            f"({ratio:.1f}-fold, above {DEPTH_RATIO:g}); low-depth genes are less precise in {low}"
        )
    else:
        note = f"depth balanced: median depths within {ratio:.2f}-fold across levels"
    return {
        "median": median,
        "ratio": ratio,
        "threshold": DEPTH_RATIO,
        "unequal": bool(unequal),
        "note": note,
    }


def sex_balance(sex: pd.Series, labels: Sequence[object] | np.ndarray | None) -> dict[str, object]:
    """Inferred donor sex per group level, and whether the levels are imbalanced.

    Parameters
    ----------
    sex
        ``female``/``male``/``unknown`` per product, in product order (the ``sex`` column of
        :func:`mscseq.comparability.sex.infer_sex`; matched by position, not by index).
    labels
        Group level of each product, or ``None`` (one level, ``all``).

    Returns
    -------
    dict
        ``counts``: ``{level: {"female", "male", "unknown"}}``; ``female_fraction``: ``{level: fraction of
        female among products of known sex or None}``; ``imbalanced``: the female fractions of two levels differ
        by at least :data:`SEX_FRACTION`, or one level is single-sex and another is not; ``note``.

    """
    values = np.array([str(v).strip().lower() for v in np.asarray(sex, dtype=object)], dtype=object)
    values = np.where(np.isin(values, ["female", "male"]), values, "unknown")
    lv = _levels(labels, values.size)
    counts = {
        g: {k: int(np.sum(values[lv == g] == k)) for k in ("female", "male", "unknown")}
        for g in _order(lv)
    }
    frac = {
        g: (c["female"] / (c["female"] + c["male"]) if c["female"] + c["male"] else None)
        for g, c in counts.items()
    }
    known = {g: f for g, f in frac.items() if f is not None}
    imbalanced = False
    why = ""
    if len(known) >= 2:
        spread = max(known.values()) - min(known.values())
        single = [g for g, f in known.items() if f in (0.0, 1.0)]
        if spread >= SEX_FRACTION:
            imbalanced = True
            why = f"female fraction {max(known.values()):.0%} vs {min(known.values()):.0%}"
        elif single and len(single) < len(known):
            imbalanced = True
            mixed = next(g for g in known if g not in single)
            why = f"{single[0]} is all {'female' if known[single[0]] == 1.0 else 'male'}, {mixed} is mixed"
    text = "; ".join(f"{g}: {c['female']} F, {c['male']} M" + (f", {c['unknown']} unknown" if c["unknown"] else "")
                     for g, c in counts.items())  # fmt: skip
    if imbalanced:
        note = f"sex imbalanced between levels ({why}; {text}); sex-linked genes are excluded from the tiers"
    elif len(known) < 2 and len(counts) >= 2:
        note = f"sex could not be compared between levels ({text})"
    else:
        note = f"sex balanced ({text})"
    return {"counts": counts, "female_fraction": frac, "imbalanced": imbalanced, "note": note}
