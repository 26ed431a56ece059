"""Many runs at once: collect the ``summary.json`` of several output folders into one table.

The Snakemake workflow (``workflows/``) calls this through ``mscseq collect``; it is equally usable on
folders written by hand-run ``mscseq compare`` commands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mscseq.errors import MscseqError

#: Columns always present in the collected table, in order (DE columns follow, then ``report``).
BASE_COLUMNS = ["dataset", "verdict", "n_samples", "n_products", "n_outliers", "outliers"]


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """Read and minimally check the ``summary.json`` of one output folder.

    Parameters
    ----------
    run_dir
        An ``mscseq compare`` output folder, or the path of its ``summary.json``.

    Returns
    -------
    dict
        The parsed summary.

    Raises
    ------
    MscseqError
        If the file is missing, is not JSON, or is not an mscseq summary.

    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / "summary.json"
    if not path.is_file():
        msg = f"{path}: no summary.json here; is this an 'mscseq compare' output folder?"
        raise MscseqError(msg)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid JSON ({exc})"
        raise MscseqError(msg) from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("mscseq.summary/"):
        msg = f"{path}: not an mscseq summary (no 'schema': 'mscseq.summary/...' field)"
        raise MscseqError(msg)
    return data


def summary_row(summary: dict[str, Any], *, dataset: str) -> dict[str, Any]:
    """One row of the collected table from one run's summary.

    Parameters
    ----------
    summary
        A parsed ``summary.json``.
    dataset
        Name of the run (the output folder's name in the workflow).

    Returns
    -------
    dict
        ``dataset``, ``verdict``, ``n_samples``, ``n_products``, ``n_outliers``, ``outliers`` and
        ``de_<contrast>_up`` / ``de_<contrast>_down`` for each contrast. Comparability fields are
        ``None`` when the run has no ``comparability`` block.

    """
    row: dict[str, Any] = dict.fromkeys(BASE_COLUMNS)
    row["dataset"] = dataset
    row["n_samples"] = summary.get("dimensions", {}).get("n_samples")
    comp = summary.get("comparability")
    if isinstance(comp, dict):
        row["verdict"] = comp.get("verdict")
        products = comp.get("products")
        if isinstance(products, list):
            outliers = [
                str(p.get("sample"))
                for p in products
                if isinstance(p, dict) and p.get("status") == "outlier"
            ]
            row["n_products"] = len(products)
            row["n_outliers"] = len(outliers)
            row["outliers"] = ",".join(outliers)
    for de in summary.get("de", []):
        name = de.get("name")
        if name:
            row[f"de_{name}_up"] = de.get("n_up")
            row[f"de_{name}_down"] = de.get("n_down")
    return row


def collect_summaries(
    run_dirs: Sequence[str | Path],
    *,
    names: Sequence[str] | None = None,
    relative_to: str | Path | None = None,
) -> pd.DataFrame:
    """Collect several runs' ``summary.json`` into one table, one row per run.

    Parameters
    ----------
    run_dirs
        ``mscseq compare`` output folders.
    names
        Run names (default: each folder's name).
    relative_to
        Folder the ``report`` paths are written relative to (default: absolute paths).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`BASE_COLUMNS`, then ``de_<contrast>_up`` / ``de_<contrast>_down`` for every
        contrast of any run (in order of first appearance; empty where a run lacks it), then
        ``report`` (path of ``report.html``, empty when the run wrote none). Integer columns use
        pandas' nullable ``Int64``.

    Raises
    ------
    MscseqError
        If a folder has no readable summary, or names are duplicated.

    """
    dirs = [Path(d) for d in run_dirs]
    if names is None:
        names = [(d.parent if d.name == "summary.json" else d).resolve().name for d in dirs]
    if len(names) != len(dirs):
        msg = f"{len(names)} names for {len(dirs)} run folders"
        raise MscseqError(msg)
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        msg = f"duplicated run names: {', '.join(dupes)}; give each run folder a distinct name"
        raise MscseqError(msg)
    rows = []
    for d, name in zip(dirs, names, strict=True):
        folder = d.parent if d.name == "summary.json" else d
        row = summary_row(read_summary(d), dataset=name)
        report = folder / "report.html"
        if report.is_file():
            row["report"] = (
                os.path.relpath(report, relative_to)
                if relative_to is not None
                else str(report.resolve())
            )
        rows.append(row)
    de_cols: list[str] = []
    for row in rows:
        de_cols += [c for c in row if c.startswith("de_") and c not in de_cols]
    table = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *de_cols, "report"])
    for col in ["n_samples", "n_products", "n_outliers", *de_cols]:
        table[col] = pd.array(table[col].tolist(), dtype="Int64")
    return table


def write_collected(table: pd.DataFrame, out: str | Path) -> None:
    """Write a collected table as TSV (empty cells for missing values); ``"-"`` writes to stdout.

    Text a spreadsheet would read as a formula gets a leading ``'`` (see
    :func:`mscseq.outputs.spreadsheet_safe`).

    Parameters
    ----------
    table
        The output of :func:`collect_summaries`.
    out
        Destination file, or ``"-"``.

    """
    from mscseq.outputs import spreadsheet_safe

    safe = table.rename(columns=lambda c: spreadsheet_safe(str(c)))
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = [spreadsheet_safe(v) if isinstance(v, str) else v for v in safe[col]]
    text = safe.to_csv(sep="\t", index=False, na_rep="", lineterminator="\n")
    if str(out) == "-":
        import sys

        sys.stdout.write(text)
        return
    from mscseq.outputs import atomic_write_text

    atomic_write_text(out, text)
