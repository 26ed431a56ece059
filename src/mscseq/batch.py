"""Many runs at once: collect the ``summary.json`` of several output folders into one table.

The Snakemake workflow (``workflows/``) calls this through ``mscseq collect``; it is equally usable on
folders written by hand-run ``mscseq compare`` commands.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mscseq.errors import MscseqError
from mscseq.jsonfile import read_json

#: Columns always present in the collected table, in order (per-comparison tier columns follow, then
#: DE columns, then ``report``). ``n_outliers``/``outliers`` are read from ``mscseq.summary/1`` files,
#: ``question``, ``n_deviating``/``deviating``, ``single_group`` and ``protocol_sha256`` from
#: ``mscseq.summary/2`` files; each is empty for the other version.
BASE_COLUMNS = [
    "dataset",
    "schema",
    "verdict",
    "question",
    "n_samples",
    "n_products",
    "n_outliers",
    "outliers",
    "n_deviating",
    "deviating",
    "single_group",
    "protocol_sha256",
]
#: Prefixes of the per-comparison columns (``tier1_<name>``, ``tier2_<name>``, ``tier2_<name>_lower``,
#: ``tier2_<name>_upper``) and of the DE columns (``de_<contrast>_up``/``_down``).
TIER_PREFIXES = ("tier1_", "tier2_")


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
    data = read_json(path, what="a summary.json written by mscseq")
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("mscseq.summary/"):
        msg = f"{path}: not an mscseq summary (no 'schema': 'mscseq.summary/...' field)"
        raise MscseqError(msg)
    problem = _shape_problem(data)
    if problem is not None:
        msg = f"{path}: not a summary.json as mscseq writes it ({problem})"
        raise MscseqError(msg)
    return data


def _shape_problem(data: dict[str, Any]) -> str | None:
    """The first field :func:`summary_row` reads that has the wrong type, or ``None``."""
    if not isinstance(data.get("dimensions", {}), dict):
        return "'dimensions' is not an object"
    comp = data.get("comparability")
    if comp is not None and not isinstance(comp, dict):
        return "'comparability' is not an object"
    for key in ("products", "comparisons"):
        items = (comp or {}).get(key)
        if items is not None and not (
            isinstance(items, list) and all(isinstance(p, dict) for p in items)
        ):
            return f"'comparability.{key}' is not a list of objects"
    for c in (comp or {}).get("comparisons") or []:
        for tier in ("tier1", "tier2"):
            if c.get(tier) is not None and not isinstance(c[tier], dict):
                return f"'{tier}' of comparison {c.get('name')!r} is not an object"
    for key in ("protocol", "single_group"):
        if (comp or {}).get(key) is not None and not isinstance(comp[key], dict):
            return f"'comparability.{key}' is not an object"
    if not _is_count(data.get("dimensions", {}).get("n_samples")):
        return "'dimensions.n_samples' is not a whole number"
    de = data.get("de", [])
    if not (isinstance(de, list) and all(isinstance(d, dict) for d in de)):
        return "'de' is not a list of objects"
    for d in de:
        if not isinstance(d.get("name", ""), str):
            return "a 'de' entry's 'name' is not text"
        if not (_is_count(d.get("n_up")) and _is_count(d.get("n_down"))):
            return f"'n_up' or 'n_down' of contrast {d.get('name')!r} is not a whole number"
    return None


def _is_count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


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
        The :data:`BASE_COLUMNS`; for each comparison of a ``mscseq.summary/2`` file ``tier1_<name>``
        and ``tier2_<name>`` (the tier's result), ``tier2_<name>_lower`` / ``tier2_<name>_upper`` (the
        bounds of the fraction of genes beyond the margin); ``de_<contrast>_up`` /
        ``de_<contrast>_down`` for each contrast. Comparability fields are ``None`` when the run has
        no ``comparability`` block, and fields of the other schema version are ``None``.

    """
    row: dict[str, Any] = dict.fromkeys(BASE_COLUMNS)
    row["dataset"] = dataset
    row["schema"] = summary.get("schema")
    row["n_samples"] = summary.get("dimensions", {}).get("n_samples")
    comp = summary.get("comparability")
    if isinstance(comp, dict):
        row["verdict"] = comp.get("verdict")
        if "question" in comp:
            row.update(_v2_fields(comp))
        else:
            row.update(_v1_fields(comp))
    for de in summary.get("de", []):
        name = de.get("name")
        if name:
            row[f"de_{name}_up"] = de.get("n_up")
            row[f"de_{name}_down"] = de.get("n_down")
    return row


def _v1_fields(comp: dict[str, Any]) -> dict[str, Any]:
    """Products and outliers of a ``mscseq.summary/1`` block (products keyed by ``sample``)."""
    products = comp.get("products")
    if not isinstance(products, list):
        return {}
    outliers = [str(p.get("sample")) for p in products if p.get("status") == "outlier"]
    return {
        "n_products": len(products),
        "n_outliers": len(outliers),
        "outliers": ",".join(outliers),
    }


def _v2_fields(comp: dict[str, Any]) -> dict[str, Any]:
    """Question, deviating products, tier results and protocol of a ``mscseq.summary/2`` block."""
    out: dict[str, Any] = {"question": comp.get("question")}
    products = comp.get("products")
    if isinstance(products, list):
        deviating = [str(p.get("product")) for p in products if p.get("status") == "deviating"]
        out.update(n_products=len(products), n_deviating=len(deviating))
        out["deviating"] = ",".join(deviating)
    single = comp.get("single_group")
    if isinstance(single, dict):
        out["single_group"] = single.get("result")
    protocol = comp.get("protocol")
    if isinstance(protocol, dict):
        out["protocol_sha256"] = protocol.get("sha256")
    for c in comp.get("comparisons") or []:
        name = c.get("name") or f"{c.get('target')}_vs_{c.get('reference')}"
        tier1, tier2 = c.get("tier1") or {}, c.get("tier2") or {}
        out[f"tier1_{name}"] = tier1.get("result")
        out[f"tier2_{name}"] = tier2.get("result")
        out[f"tier2_{name}_lower"] = _number(tier2.get("lower"))
        out[f"tier2_{name}_upper"] = _number(tier2.get("upper"))
    return out


def _number(value: Any) -> float | None:
    """A JSON number as float (``None`` for anything else, e.g. ``null``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


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
        Columns :data:`BASE_COLUMNS`, then the tier columns of every comparison of any run, then
        ``de_<contrast>_up`` / ``de_<contrast>_down`` for every contrast of any run (each in order of
        first appearance; empty where a run lacks it), then ``report`` (path of ``report.html``,
        empty when the run wrote none). ``mscseq.summary/1`` and ``/2`` files mix: each row leaves the
        other version's columns empty. Integer columns use pandas' nullable ``Int64``.

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
    tier_cols: list[str] = []
    de_cols: list[str] = []
    for row in rows:
        tier_cols += [c for c in row if c.startswith(TIER_PREFIXES) and c not in tier_cols]
        de_cols += [c for c in row if c.startswith("de_") and c not in de_cols]
    table = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *tier_cols, *de_cols, "report"])
    for col in ["n_samples", "n_products", "n_outliers", "n_deviating", *de_cols]:
        table[col] = pd.array(table[col].tolist(), dtype="Int64")
    for col in tier_cols:
        if col.endswith(("_lower", "_upper")):
            table[col] = pd.array(table[col].tolist(), dtype="Float64")
    return table


def check_collect_out(out: str | Path, run_dirs: Sequence[str | Path], *, force: bool) -> None:
    """Refuse a ``collect --out`` that would overwrite a file without ``force`` or write into a run.

    Parameters
    ----------
    out
        The destination, or ``"-"`` for stdout (always fine).
    run_dirs
        The output folders (or their ``summary.json``) being collected: ``out`` must not be inside
        any of them, so a run's own files are never overwritten.
    force
        Allow overwriting an existing file (never a folder, never a run's file).

    Raises
    ------
    MscseqError
        Naming ``out`` and what is wrong.

    """
    if str(out) == "-":
        return
    path = Path(out)
    if path.is_dir():
        msg = f"--out {path}: is a folder; give the path of the table to write"
        raise MscseqError(msg)
    target = path.resolve()
    for d in map(Path, run_dirs):
        folder = (d.parent if d.name == "summary.json" and not d.is_dir() else d).resolve()
        if target == folder or target.is_relative_to(folder):
            msg = f"--out {path}: is inside the run folder {d}, whose files collect must not overwrite; write the table elsewhere"
            raise MscseqError(msg)
    if path.exists() and not force:
        msg = f"--out {path}: the file exists; choose another --out or pass --force to overwrite it"
        raise MscseqError(msg)
    from mscseq.outputs import check_can_create

    check_can_create(path, option="--out")


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
