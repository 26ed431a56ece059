"""Tell what a count file is: format, level, features, samples, library sizes and tool QC lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError
from mscseq.io.detect import PER_SAMPLE_FORMATS, Detected, check_declared, detect_format
from mscseq.io.featurecounts import read_featurecounts, read_featurecounts_summary
from mscseq.io.h5ad import read_h5ad
from mscseq.io.htseq import read_htseq
from mscseq.io.limits import check_count_range
from mscseq.io.matrix import read_matrix
from mscseq.io.names import sample_name_from_file
from mscseq.io.parsing import read_fixed_table
from mscseq.io.star import attach_star_log, read_star, read_star_log
from mscseq.io.table import CountTable
from mscseq.io.textfile import check_file, compression_of
from mscseq.io.tximport import read_quant, read_tx2gene, summarize_to_gene


def _plain(value: Any) -> Any:
    """Make numpy scalars JSON-friendly (integers stay integers)."""
    if isinstance(value, (np.floating, float)):
        f = float(value)
        if not np.isfinite(f):
            return None  # JSON has no NaN/inf
        return int(f) if f.is_integer() and abs(f) < 2**53 else f
    if isinstance(value, np.integer):
        return int(value)
    return value


def _qc_dict(qc: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    if qc is None:
        return {}
    return {str(s): {str(k): _plain(v) for k, v in row.items()} for s, row in qc.iterrows()}


def _from_table(
    info: dict[str, Any], table: CountTable, *, raw_integer: bool | None = None
) -> None:
    check_count_range(table)
    counts = table.counts
    values = counts.to_numpy()
    info["level"] = table.level if info.get("level") != "exon" else "exon"
    info["n_features"] = int(counts.shape[0])
    info["n_samples"] = int(counts.shape[1])
    info["samples"] = [str(c) for c in counts.columns]
    info["library_sizes"] = {
        str(c): _plain(v) for c, v in zip(counts.columns, values.sum(axis=0), strict=True)
    }
    info["integer_counts"] = (
        bool(np.all(values == np.round(values))) if raw_integer is None else raw_integer
    )
    info["gene_names"] = table.gene_names is not None
    info["qc"] = _qc_dict(table.qc)
    info["qc_lines"] = sorted({k for row in info["qc"].values() for k in row})
    info["notes"] = list(table.notes)


def inspect_file(
    path: str | Path,
    *,
    format: str | None = None,
    tx2gene: str | Path | None = None,
    strandedness: str | None = None,
    layer: str | None = None,
) -> dict[str, Any]:
    """Describe a count (or tool QC) file without analysing it.

    Parameters
    ----------
    path
        The file.
    format
        Declared format (checked against the content); ``None`` detects it.
    tx2gene
        For transcript-level files: report gene-level figures with this map (otherwise transcripts).
    strandedness
        STAR: the column to report (``None`` infers it).
    layer
        ``.h5ad``: the layer to report.

    Returns
    -------
    dict
        ``path``, ``format``, ``level`` (gene/transcript/exon/qc), ``detected_by``, ``compression``,
        ``n_features``, ``n_samples``, ``samples``, ``library_sizes`` (sample → total), ``integer_counts``,
        ``gene_names`` (symbols present), ``qc_lines`` (tool QC rows found, e.g. ``htseq__no_feature``),
        ``qc`` (sample → metric → value) and ``notes``.

    """
    p = check_file(path)
    det = detect_format(p)
    if format not in (None, "auto"):
        check_declared(p, format, det)
        det = Detected(format, det.level, "--format")
    info: dict[str, Any] = {
        "path": str(p),
        "format": det.format,
        "level": det.level,
        "detected_by": det.why,
        "compression": compression_of(p) or "none",
    }
    fmt = det.format
    if fmt in ("matrix", "nfcore"):
        table = read_matrix(p, nfcore=fmt == "nfcore", as_is=True)
        _from_table(info, table)
        if fmt == "nfcore":
            info["notes"].append("nf-core merged table: estimated counts are rounded when analysed")
    elif fmt == "featurecounts":
        _from_table(info, read_featurecounts(p))
    elif fmt == "htseq":
        _from_table(info, read_htseq(p, sample=sample_name_from_file(p)))
    elif fmt == "star":
        table = read_star(p, sample=sample_name_from_file(p), strandedness=strandedness)
        attach_star_log(table)
        _from_table(info, table)
    elif fmt in ("salmon", "kallisto", "rsem"):
        quant = read_quant(p, sample=sample_name_from_file(p), fmt=fmt, level=det.level)
        if tx2gene is not None or det.level == "gene" or quant.genes is not None:
            tx = read_tx2gene(check_file(tx2gene)) if tx2gene is not None else None
            table = summarize_to_gene([quant], tx2gene=tx, tx2gene_path=tx2gene)
            raw_integer = bool(np.all(quant.counts == np.round(quant.counts)))
            _from_table(info, table, raw_integer=raw_integer)
            info["n_transcripts"] = len(quant.ids) if det.level == "transcript" else None
        else:
            counts = pd.DataFrame({quant.sample: quant.counts}, index=quant.ids)
            _from_table(info, CountTable(counts=counts, source=p, format=fmt, level="transcript"))
            info["notes"].append(
                "transcript level: pass --tx2gene (table or GTF) to summarise to genes"
            )
    elif fmt == "h5ad":
        _from_table(info, read_h5ad(p, layer=layer))
    elif fmt == "dexseq":
        sample = sample_name_from_file(p)
        text, values = read_fixed_table(
            p,
            columns=["exon_bin", sample],
            numeric=[1],
            integer=[1],
            header=False,
            what="a dexseq_count.py file",
        )
        ids = text["exon_bin"].to_numpy()
        special = pd.Series(ids).str.startswith("_").to_numpy()
        counts = pd.DataFrame(values[~special], index=ids[~special], columns=[sample])
        qc = pd.DataFrame(
            [values[special, 0]], index=[sample], columns=[f"dexseq{x}" for x in ids[special]]
        )
        _from_table(info, CountTable(counts=counts, source=p, format="dexseq", level="exon", qc=qc))
        info["notes"].append("exon-bin counts (DEXSeq): not usable as gene counts by mscseq")
    elif fmt == "featurecounts_summary":
        qc = read_featurecounts_summary(p)
        info.update(n_features=0, n_samples=len(qc), samples=[str(s) for s in qc.index])
        info["library_sizes"] = {}
        info["qc"] = _qc_dict(qc)
        info["qc_lines"] = list(qc.columns)
        info["notes"] = [
            "featureCounts summary: QC only; it is read automatically beside its counts file"
        ]
    elif fmt == "star_log":
        metrics = read_star_log(p)
        sample = sample_name_from_file(p)
        info.update(n_features=0, n_samples=1, samples=[sample], library_sizes={})
        info["qc"] = {sample: {k: _plain(v) for k, v in metrics.items()}}
        info["qc_lines"] = list(metrics)
        info["notes"] = ["STAR Log.final.out: mapping QC only"]
    else:  # pragma: no cover - every detected format is handled above
        msg = f"{p}: cannot inspect format '{fmt}'"
        raise MscseqError(msg)
    info["per_sample_file"] = fmt in PER_SAMPLE_FORMATS
    return info


def format_report(info: dict[str, Any]) -> str:
    """Render one :func:`inspect_file` result as a few human-readable lines."""
    lines = [
        f"{info['path']}",
        f"  format: {info['format']} ({info['level']} level; detected by {info['detected_by']}; "
        f"compression {info['compression']})",
        f"  features: {info['n_features']}   samples: {info['n_samples']}",
    ]
    if info.get("samples"):
        shown = ", ".join(info["samples"][:10]) + (" ..." if len(info["samples"]) > 10 else "")
        lines.append(f"  sample names: {shown}")
    if info.get("library_sizes"):
        sizes = list(info["library_sizes"].items())
        shown = ", ".join(f"{s}={v:,.0f}" for s, v in sizes[:10]) + (
            " ..." if len(sizes) > 10 else ""
        )
        lines.append(f"  library sizes: {shown}")
    if "integer_counts" in info:
        lines.append(f"  integer counts: {'yes' if info['integer_counts'] else 'no'}")
    if info.get("qc_lines"):
        lines.append(f"  QC lines: {', '.join(info['qc_lines'])}")
    lines.extend(f"  note: {n}" for n in info.get("notes", []))
    return "\n".join(lines)
