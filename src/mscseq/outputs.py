"""Writing the output folder atomically: tables, summary.json, run_info.json, mscseq.h5ad."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError

log = logging.getLogger(__name__)

SUMMARY_SCHEMA = "mscseq.summary/1"
RUN_INFO_SCHEMA = "mscseq.run_info/1"
TMP_TAG = ".mscseq-tmp-"
OLD_TAG = ".mscseq-old-"


def check_outdir(outdir: str | Path, *, force: bool) -> Path:
    """Refuse an existing non-empty output folder unless ``force``.

    Parameters
    ----------
    outdir
        The requested output folder.
    force
        Allow replacing an existing folder.

    Returns
    -------
    pathlib.Path
        The folder path.

    """
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        msg = f"{out}: exists and is not a folder; choose another --outdir"
        raise MscseqError(msg)
    if out.is_dir() and any(out.iterdir()) and not force:
        msg = f"{out}: the output folder exists and is not empty; choose another --outdir or pass --force to replace it"
        raise MscseqError(msg)
    check_can_create(out, option="--outdir")
    return out


def check_can_create(path: Path, *, option: str) -> None:
    """Refuse a path that cannot be created because one of its parents is a file.

    Missing parent folders are fine: they are made when the output is written (like ``mkdir -p``).

    Parameters
    ----------
    path
        The output file or folder.
    option
        The option that named it, for the message.

    """
    ancestor = next(p for p in path.absolute().parents if p.exists())
    if not ancestor.is_dir():
        msg = f"{ancestor}: is a file, so {option} {path} cannot be written under it"
        raise MscseqError(msg)


@contextlib.contextmanager
def atomic_folder(outdir: str | Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary folder beside ``outdir``; move it into place only if the block succeeds.

    On any exception (including ``KeyboardInterrupt``) the temporary folder is deleted and ``outdir``
    is left as it was. With ``force``, an existing ``outdir`` is replaced only after the new one is
    complete.

    Parameters
    ----------
    outdir
        Final folder.
    force
        Replace an existing folder.

    Yields
    ------
    pathlib.Path
        The temporary folder to write into.

    """
    out = check_outdir(outdir, force=force).resolve()
    recover_stale(out)
    out = check_outdir(out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)  # like mkdir -p: missing parents are made
    tmp = out.parent / f".{out.name}{TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        yield tmp
        check_outdir(out, force=force)
        if out.exists():
            old = out.parent / f".{out.name}{OLD_TAG}{os.getpid()}-{secrets.token_hex(4)}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_stale(out: Path) -> list[Path]:
    """Clean up after an earlier run of this folder that was killed (SIGKILL, power loss).

    Siblings ``.<DIR>.mscseq-tmp-<pid>-*`` of a process that no longer runs are deleted. A
    ``.<DIR>.mscseq-old-<pid>-*`` sibling means the run died between moving the previous results aside
    and moving the new ones in: when ``DIR`` is missing the previous results are put back.

    Parameters
    ----------
    out
        The output folder.

    Returns
    -------
    list of pathlib.Path
        What was removed or restored.

    """
    done = []
    for tag in (OLD_TAG, TMP_TAG):
        for p in sorted(out.parent.glob(f".{out.name}{tag}*")):
            pid_text = p.name[len(f".{out.name}{tag}") :].split("-", 1)[0]
            if not pid_text.isdigit() or _pid_alive(int(pid_text)):
                continue
            if tag == OLD_TAG and not out.exists():
                p.rename(out)
                log.warning(
                    "%s: restored the previous results left aside by an interrupted run", out
                )
            else:
                shutil.rmtree(p, ignore_errors=True)
                log.warning("%s: removed %s left by an interrupted run", out, p.name)
            done.append(p)
    return done


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}{TMP_TAG}{secrets.token_hex(4)}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _column_text(values: pd.Series | pd.Index) -> list[str]:
    """One column as text: shortest round-trip floats (``repr``), ``NA`` for missing values."""
    if values.dtype.kind == "f":
        return ["NA" if x != x else repr(x) for x in values.tolist()]
    if values.dtype.kind in "iub":
        return [str(x) for x in values.tolist()]
    return [
        "NA" if x is None or (isinstance(x, float) and x != x) else str(x) for x in values.tolist()
    ]


def tsv_text(df: pd.DataFrame, *, index_label: str | None = None) -> str:
    """A table as TSV text, byte-identical to pandas' ``to_csv(sep="\\t", na_rep="NA")`` but about twice as fast.

    Parameters
    ----------
    df
        The table (no tabs or newlines inside values).
    index_label
        Name of the index column; ``None`` leaves the index out.

    Returns
    -------
    str
        Header line and one line per row, each ending in ``\\n``.

    """
    header = [str(c) for c in df.columns]
    columns = [_column_text(df[c]) for c in df.columns]
    if index_label is not None:
        header.insert(0, index_label)
        columns.insert(0, _column_text(df.index))
    lines = ["\t".join(header), *("\t".join(row) for row in zip(*columns, strict=True))]
    return "\n".join(lines) + "\n"


def write_tsv(df: pd.DataFrame, path: Path, *, index_label: str | None = None) -> None:
    """Write a table as TSV with full float precision and ``NA`` for missing values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tsv_text(df, index_label=index_label), encoding="utf-8")


def sha256sum(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/pandas values to plain JSON types (NaN and inf become ``None``)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, pd.DataFrame):
        return to_jsonable(obj.to_dict(orient="records"))
    if obj is None or isinstance(obj, str | int):
        return obj
    return str(obj)


def dump_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys kept in insertion order, two-space indent)."""
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_tables(adata, tables: Path) -> list[str]:
    """Write every table of the output contract into ``tables``; returns the file names."""
    tables.mkdir(parents=True, exist_ok=True)
    samples = pd.Index(adata.obs_names, name="sample")
    genes = pd.Index(adata.var_names, name="gene_id")
    written = []

    def put(name: str, df: pd.DataFrame, index_label: str | None) -> None:
        write_tsv(df, tables / name, index_label=index_label)
        written.append(name)

    put(
        "size_factors.tsv",
        pd.DataFrame({"size_factor": adata.obs["size_factor"].to_numpy()}, index=samples),
        "sample",
    )
    put(
        "normalized_counts.tsv",
        pd.DataFrame(np.asarray(adata.layers["normalized"]).T, index=genes, columns=samples),
        "gene_id",
    )
    put(
        "vst.tsv",
        pd.DataFrame(np.asarray(adata.layers["vst"]).T, index=genes, columns=samples),
        "gene_id",
    )
    qc_cols = [
        c
        for c in ("library_size", "detected_genes", "top100_fraction", "size_factor")
        if c in adata.obs
    ]
    qc_cols += [c for c in adata.obs.columns if c.startswith("tool_")]
    put("qc.tsv", adata.obs[qc_cols].set_axis(samples, axis=0), "sample")
    pcs = np.asarray(adata.obsm["X_pca"])
    pc_names = [f"PC{i + 1}" for i in range(pcs.shape[1])]
    put("pca.tsv", pd.DataFrame(pcs, index=samples, columns=pc_names), "sample")
    pv = adata.uns["pca"]
    put(
        "pca_variance.tsv",
        pd.DataFrame(
            {
                "variance": np.asarray(pv["variance"]),
                "variance_ratio": np.asarray(pv["variance_ratio"]),
            },
            index=pd.Index(pc_names, name="pc"),
        ),
        "pc",
    )
    corr = pd.DataFrame(np.asarray(adata.obsp["pearson"]), index=samples, columns=samples)
    put("sample_correlation.tsv", corr, "sample")
    put(
        "sample_correlation_spearman.tsv",
        pd.DataFrame(np.asarray(adata.obsp["spearman"]), index=samples, columns=samples),
        "sample",
    )
    for name, res in adata.uns.get("de", {}).items():
        put(f"de_{name}.tsv", res, "gene_id")
    comp = adata.uns.get("comparability_tables", {})
    for key in ("products", "panel_scores"):
        if key in comp:
            put(f"{key}.tsv", comp[key], "sample")
    for name, res in comp.get("equivalence", {}).items():
        put(f"equivalence_{name}.tsv", res, "gene_id")
    if "variance_partition" in comp:
        put("variance_partition.tsv", comp["variance_partition"], "gene_id")
    return written


def build_summary(adata) -> dict[str, Any]:
    """The machine-readable summary of a run (``summary.json``)."""
    from mscseq import __version__

    x = np.asarray(adata.X)
    obs = adata.obs
    qc = [
        {
            "sample": str(s),
            "library_size": int(obs.at[s, "library_size"]),
            "detected_genes": int(obs.at[s, "detected_genes"]),
            "top100_fraction": float(obs.at[s, "top100_fraction"]),
            "size_factor": float(obs.at[s, "size_factor"]),
        }
        for s in adata.obs_names
    ]
    pv = adata.uns["pca"]
    summary: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "mscseq_version": __version__,
        "dimensions": {
            "n_samples": int(adata.n_obs),
            "n_genes": int(adata.n_vars),
            "n_genes_expressed": int((x.sum(axis=0) > 0).sum()),
        },
        "design": adata.uns.get("mscseq", {}).get("params", {}).get("design", "~ 1"),
        "qc": qc,
        "pca": {
            "n_top_genes": int(pv["n_top"]),
            "variance_ratio": [float(v) for v in np.asarray(pv["variance_ratio"])[:10]],
        },
        "clustering_order": list(adata.uns["clustering"]["order"]),
        "de": [{"name": k, **v} for k, v in adata.uns.get("de_summary", {}).items()],
    }
    if "comparability" in adata.uns:
        summary["comparability"] = adata.uns["comparability"]
    return summary


def write_h5ad(adata, path: Path) -> None:
    """Write the AnnData, with DE tables stored as data frames in ``uns["de"]``."""
    out = adata.copy()
    out.uns = _h5ad_safe(dict(out.uns))
    out.write_h5ad(path, compression="gzip")


def _h5ad_safe(obj: Any) -> Any:
    """Make ``uns`` writable by h5ad: empty lists and ``None`` are dropped, tuples become lists."""
    if isinstance(obj, dict):
        return {
            str(k): _h5ad_safe(v)
            for k, v in obj.items()
            if v is not None and not (isinstance(v, list | tuple) and len(v) == 0)
        }
    if isinstance(obj, list | tuple):
        items = [_h5ad_safe(v) for v in obj]
        if items and all(isinstance(v, str) for v in items):
            return np.asarray(items, dtype=object)
        if items and all(isinstance(v, dict) for v in items):
            return {str(i): v for i, v in enumerate(items)}
        return np.asarray(items)
    return obj
