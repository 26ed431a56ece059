"""Seeded runs of the cells in parallel processes, tallies with Clopper–Pearson intervals, tables."""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simstudy.rules import DIAGNOSTICS
from simstudy.scenarios import Cell

VERDICTS = ("comparable", "inconclusive", "not_comparable")
#: Columns of the runs table: the run, its verdict and product tallies, its cost, then the rule's
#: diagnostics (:data:`simstudy.rules.DIAGNOSTICS`; empty when the rule gives none).
BASE_COLUMNS = (
    "cell",
    "scenario",
    "n",
    "donor_sd",
    "expected",
    "run",
    "seed",
    "verdict",
    "n_clean",
    "clean_deviating",
    "clean_not_assessable",
    "contaminant_flagged",
    "replicate_caveat",
    "seconds",
    "cpu_seconds",
    "error",
)
COLUMNS = (*BASE_COLUMNS, *DIAGNOSTICS)
TEXT_COLUMNS = {"cell", "scenario", "expected", "verdict", "error"}
_STATE: dict[str, Any] = {}


def run_seed(cell: Cell, run: int) -> int:
    """The seed of run ``run`` of ``cell`` (stable across grids, processes and Python versions).

    Derived from :attr:`Cell.seeds_from`: a paired cell shares its base cell's seeds.
    """
    return zlib.crc32(cell.seeds_from.encode()) * 10_000 + run


def _init(
    n_genes: int, rule_spec: str | Callable, permutations: int, single_thread: bool = False
) -> None:
    warnings.simplefilter("ignore")
    if single_thread:  # one BLAS thread per worker process: the workers are the parallelism
        from threadpoolctl import threadpool_limits

        _STATE["threads"] = threadpool_limits(limits=1)
    import importlib
    import logging

    logging.disable(logging.WARNING)
    from simstudy.profile import default_profile
    from simstudy.rules import load_rule

    _STATE["profile"] = default_profile(n_genes)
    for module in (
        "mscseq.io.dataset",
        "mscseq.qc",
        "mscseq.normalize",
        "mscseq.products",
        "mscseq.comparability",
    ):  # imported once here, not in the first run's time
        importlib.import_module(module)
    _STATE["rule"] = load_rule(rule_spec) if isinstance(rule_spec, str) else rule_spec
    _STATE["permutations"] = permutations
    if single_thread:
        _warm_up()


def _warm_up() -> None:
    """Judge one small study in a new worker so that lazy imports and caches are not timed in its
    first recorded run (its result is discarded)."""
    from simstudy.generator import simulate, to_anndata
    from simstudy.rules import current_rule
    from simstudy.scenarios import cell

    c = cell("equivalent", 3, 0.35)
    rule = _STATE["rule"]
    kwargs = {"permutations": _STATE["permutations"]} if rule is current_rule else {}
    try:
        rule(to_anndata(simulate(c.spec, _STATE["profile"], 0)), c, 0, **kwargs)
    except Exception:  # a failing rule fails in the recorded runs, with its message
        pass


def run_one(task: tuple[Cell, int]) -> dict[str, Any]:
    """Simulate one study of a cell and judge it with the process's rule (one row of the runs table)."""
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
    statuses = {p: str(v).replace("_", " ") for p, v in out.get("products", {}).items()}
    clean = [p for p in truth.index if p not in bad]
    diagnostics = out.get("diagnostics") or {}
    row = {
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
    return row | {k: diagnostics.get(k) for k in DIAGNOSTICS}


def tasks_of(
    cells: Sequence[Cell], runs: int, *, done: set[tuple[str, int]] = frozenset(), chunk: int = 25
) -> list[tuple[Cell, int]]:
    """The runs still to do, interleaved in chunks: runs ``0..chunk-1`` of every cell, then the next
    ``chunk`` runs of every cell, …, so that a study stopped early has about as many runs in every cell."""
    chunk = max(int(chunk), 1)
    order = sorted(
        ((r // chunk, i, r) for i in range(len(cells)) for r in range(runs)),
    )
    return [(cells[i], r) for _, i, r in order if (cells[i].key, r) not in done]


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _line(row: dict[str, Any]) -> str:
    return "\t".join(_cell(row.get(c)) for c in COLUMNS) + "\n"


def _repair(path: Path) -> None:
    """Cut a half-written last line (a run killed mid-write) so that appending continues cleanly."""
    with path.open("rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def read_runs(path: str | Path) -> pd.DataFrame:
    """A runs table written by :func:`run_cells` (types restored: booleans, numbers, empty = missing)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
    df = df.drop_duplicates(["cell", "run"], keep="last").reset_index(drop=True)
    for c in df.columns:
        if c in {"replicate_caveat", "contaminant_flagged"}:
            df[c] = df[c].map({"True": True, "False": False, "": None})
        elif c not in TEXT_COLUMNS:
            values = df[c].replace("", np.nan)
            number = pd.to_numeric(values, errors="coerce")
            if number.notna().sum() == values.notna().sum():  # a text diagnostic stays text
                df[c] = number
            else:
                df[c] = df[c].replace("", None)
    for c in ("n", "run", "seed", "n_clean", "clean_deviating", "clean_not_assessable"):
        if c in df:
            df[c] = df[c].astype("int64")
    return df


def run_cells(
    cells: Sequence[Cell],
    runs: int,
    *,
    jobs: int = 2,
    rule: str | Callable = "current",
    n_genes: int = 20000,
    permutations: int = 99,
    progress: Callable[[int, int], None] | None = None,
    out: str | Path | None = None,
    chunk: int = 25,
) -> pd.DataFrame:
    """Every run of every cell, one row per run (parallel processes, seeded per cell and run).

    Parameters
    ----------
    cells, runs
        The cells and the runs per cell (runs ``0 .. runs-1``; seeds from :func:`run_seed`).
    jobs
        Worker processes (1: in this process).
    rule
        ``module:function``, ``"current"`` or the callable itself (a module-level function when
        ``jobs > 1``, so that it can be sent to the worker processes).
    n_genes
        Genes per simulated study.
    permutations
        PERMANOVA permutations of the current rule.
    progress
        Called with (done, to do) after every run.
    out
        The runs TSV: each finished run is appended at once, and runs already in it are skipped, so a
        stopped study resumes where it stopped (same seeds, same rows).
    chunk
        Runs per cell per round (:func:`tasks_of`).

    Returns
    -------
    pandas.DataFrame
        The runs of ``cells`` (with ``out``: read back from it, including earlier sessions' runs), in
        the order of ``cells`` then run.

    """
    path = Path(out) if out is not None else None
    done: set[tuple[str, int]] = set()
    if path is not None and path.exists() and path.stat().st_size:
        _repair(path)
        old = read_runs(path)
        missing = [c for c in COLUMNS if c not in old.columns]
        if missing:
            msg = f"{path}: not a runs table of this runner (no column {missing[0]!r})"
            raise ValueError(msg)
        done = set(zip(old["cell"], old["run"].astype(int), strict=True))
    tasks = tasks_of(cells, runs, done=done, chunk=chunk)
    rows: list[dict[str, Any]] = []
    fh = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        fh = path.open("a", encoding="utf-8")
        if new:
            fh.write("\t".join(COLUMNS) + "\n")
            fh.flush()

    def keep(i: int, row: dict[str, Any]) -> None:
        if fh is not None:
            fh.write(_line(row))
            fh.flush()
        else:
            rows.append(row)
        if progress:
            progress(i + 1, len(tasks))

    try:
        if jobs <= 1:
            _init(n_genes, rule, permutations)
            for i, t in enumerate(tasks):
                keep(i, run_one(t))
        elif tasks:
            with ProcessPoolExecutor(
                max_workers=jobs,
                initializer=_init,
                initargs=(n_genes, rule, permutations, True),
            ) as pool:
                for i, row in enumerate(pool.map(run_one, tasks, chunksize=1)):
                    keep(i, row)
    finally:
        if fh is not None:
            fh.close()
    if path is None:
        return pd.DataFrame(rows, columns=list(COLUMNS))
    return select(read_runs(path), cells, runs)


def select(df: pd.DataFrame, cells: Sequence[Cell], runs: int | None = None) -> pd.DataFrame:
    """The rows of ``cells`` (and runs below ``runs``), ordered by cell then run."""
    order = {c.key: i for i, c in enumerate(cells)}
    df = df[df["cell"].isin(order)]
    if runs is not None:
        df = df[df["run"].astype(int) < runs]
    key = df["cell"].map(order) * 1_000_000 + df["run"].astype(int)
    return df.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


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
        k = int((df["clean_deviating"] > 0).sum())
        lo, hi = clopper_pearson(k, len(df))
        row |= {"runs_false_deviating": k / len(df), "runs_false_deviating_hi": hi}
        row["not_assessable"] = df["clean_not_assessable"].sum() / m if m else np.nan
        flagged = df["contaminant_flagged"].dropna()
        row["contaminant_flagged"] = float(flagged.mean()) if len(flagged) else np.nan
        k = int(df["replicate_caveat"].astype(bool).sum())
        lo, hi = clopper_pearson(k, len(df))
        row |= {"replicate_caveat": k / len(df), "replicate_caveat_lo": lo}
        inconclusive = df[df["verdict"] == "inconclusive"]
        if "n_needed" in df.columns and len(inconclusive):
            settled = pd.to_numeric(inconclusive["n_needed"], errors="coerce").notna()
            row["inconclusive_with_n_needed"] = float(settled.mean())
        else:
            row["inconclusive_with_n_needed"] = np.nan
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
