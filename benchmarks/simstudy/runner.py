"""Seeded runs of the cells in parallel processes, tallies with Clopper–Pearson intervals, tables."""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from simstudy.scenarios import Cell

VERDICTS = ("comparable", "inconclusive", "not_comparable")
_STATE: dict[str, Any] = {}


def run_seed(cell: Cell, run: int) -> int:
    """The seed of run ``run`` of ``cell`` (stable across grids, processes and Python versions)."""
    return zlib.crc32(cell.key.encode()) * 10_000 + run


def _init(n_genes: int, rule_spec: str | Callable, permutations: int) -> None:
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.WARNING)
    from simstudy.profile import default_profile
    from simstudy.rules import load_rule

    _STATE["profile"] = default_profile(n_genes)
    _STATE["rule"] = load_rule(rule_spec) if isinstance(rule_spec, str) else rule_spec
    _STATE["permutations"] = permutations


def run_one(task: tuple[Cell, int]) -> dict[str, Any]:
    """Simulate one study of a cell and judge it with the process's rule."""
    from simstudy.generator import simulate, to_anndata
    from simstudy.rules import current_rule

    cell, run = task
    seed = run_seed(cell, run)
    start, cpu = time.perf_counter(), time.process_time()
    study = simulate(cell.spec, _STATE["profile"], seed)
    adata = to_anndata(study)
    rule = _STATE["rule"]
    kwargs = {"permutations": _STATE["permutations"]} if rule is current_rule else {}
    try:
        out = rule(adata, cell, seed, **kwargs)
        error = ""
    except Exception as exc:  # a crash is a result too: counted, never hidden
        out = {"verdict": "error", "products": {}, "replicate_caveat": False}
        error = f"{type(exc).__name__}: {exc}"[:200]
    truth = study.truth["products"]
    bad = set(truth.index[truth["contaminated"].to_numpy()])
    statuses = out.get("products", {})
    clean = [p for p in truth.index if p not in bad]
    return {
        "cell": cell.key,
        "scenario": cell.scenario,
        "n": cell.n,
        "donor_sd": cell.donor_sd,
        "expected": cell.expected,
        "run": run,
        "seed": seed,
        "verdict": out["verdict"],
        "n_clean": len(clean),
        "clean_deviating": sum(statuses.get(p) == "deviating" for p in clean),
        "clean_not_assessable": sum(statuses.get(p) == "not assessable" for p in clean),
        "contaminant_flagged": (all(statuses.get(p) == "deviating" for p in bad) if bad else None),
        "replicate_caveat": bool(out.get("replicate_caveat", False)),
        "seconds": round(time.perf_counter() - start, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "error": error,
    }


def run_cells(
    cells: Sequence[Cell],
    runs: int,
    *,
    jobs: int = 2,
    rule: str | Callable = "current",
    n_genes: int = 20000,
    permutations: int = 99,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Every run of every cell, one row per run (parallel processes, seeded per cell and run).

    ``rule`` is ``module:function``, ``"current"`` or the callable itself (a module-level function
    when ``jobs > 1``, so that it can be sent to the worker processes).
    """
    tasks = [(c, r) for c in cells for r in range(runs)]
    rows: list[dict[str, Any]] = []
    if jobs <= 1:
        _init(n_genes, rule, permutations)
        for i, t in enumerate(tasks):
            rows.append(run_one(t))
            if progress:
                progress(i + 1, len(tasks))
    else:
        with ProcessPoolExecutor(
            max_workers=jobs, initializer=_init, initargs=(n_genes, rule, permutations)
        ) as pool:
            for i, row in enumerate(pool.map(run_one, tasks, chunksize=1)):
                rows.append(row)
                if progress:
                    progress(i + 1, len(tasks))
    return pd.DataFrame(rows)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Two-sided Clopper–Pearson interval of a binomial proportion ``k / n``."""
    from scipy.stats import beta

    if n == 0:
        return (float("nan"), float("nan"))
    a = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1.0 - a, k + 1, n - k))
    return lo, hi


def tally(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: verdict counts and rates with 95 % Clopper–Pearson intervals, per-product
    false-deviating rate, contaminant detection, replicate caveat rate, seconds per run."""
    out = []
    for key, df in runs.groupby("cell", sort=False):
        row: dict[str, Any] = {
            "cell": key,
            **df.iloc[0][["scenario", "n", "donor_sd", "expected"]].to_dict(),
            "runs": len(df),
            "errors": int((df["verdict"] == "error").sum()),
        }
        for v in VERDICTS:
            k = int((df["verdict"] == v).sum())
            lo, hi = clopper_pearson(k, len(df))
            row |= {f"n_{v}": k, f"p_{v}": k / len(df), f"p_{v}_lo": lo, f"p_{v}_hi": hi}
        k, m = int(df["clean_deviating"].sum()), int(df["n_clean"].sum())
        lo, hi = clopper_pearson(k, m)
        row |= {"false_deviating": k / m if m else np.nan, "false_deviating_hi": hi}
        row["not_assessable"] = df["clean_not_assessable"].sum() / m if m else np.nan
        flagged = df["contaminant_flagged"].dropna()
        row["contaminant_flagged"] = float(flagged.mean()) if len(flagged) else np.nan
        row["replicate_caveat"] = float(df["replicate_caveat"].mean())
        row["seconds_per_run"] = float(df["seconds"].mean())
        row["cpu_seconds_per_run"] = float(df["cpu_seconds"].mean())
        out.append(row)
    return pd.DataFrame(out)


def estimate_cpu_seconds(
    runs: pd.DataFrame, known: Sequence[Cell], target: Sequence[Cell], per_cell: int
) -> float:
    """CPU seconds of ``per_cell`` runs of every ``target`` cell, from a straight-line fit of the
    measured CPU per run against the number of libraries (cells looked up in ``known``)."""
    libraries = {c.key: c.spec.n_products * c.spec.libraries for c in known}
    x = runs["cell"].map(libraries).to_numpy(dtype=float)
    y = runs["cpu_seconds"].to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.unique(x[ok]).size < 2:
        slope, intercept = 0.0, float(np.nanmean(y))
    else:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
    sizes = np.asarray([c.spec.n_products * c.spec.libraries for c in target], dtype=float)
    return float(np.maximum(intercept + slope * sizes, 0.0).sum() * per_cell)


def _rate(r: pd.Series, v: str) -> str:
    return f"{r[f'p_{v}']:.2f} [{r[f'p_{v}_lo']:.2f}, {r[f'p_{v}_hi']:.2f}]"


def markdown(table: pd.DataFrame) -> str:
    """The tally as a markdown table for ``docs/comparability.md`` (rates with 95 % CP intervals)."""
    head = (
        "| scenario | n/group | donor SD | expected | runs | comparable | not_comparable | "
        "inconclusive | false deviating / product | contaminant flagged |"
    )
    lines = [head, "|" + "---|" * 10]
    for _, r in table.iterrows():
        cont = "" if pd.isna(r["contaminant_flagged"]) else f"{r['contaminant_flagged']:.2f}"
        lines.append(
            f"| {r['scenario']} | {r['n']} | {r['donor_sd']:g} | {r['expected']} | {r['runs']} | "
            f"{_rate(r, 'comparable')} | {_rate(r, 'not_comparable')} | {r['p_inconclusive']:.2f} | "
            f"{r['false_deviating']:.3f} (≤ {r['false_deviating_hi']:.3f}) | {cont} |"
        )
    return "\n".join(lines)
