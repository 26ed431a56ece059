"""Tell what a count file is: format, level, features, samples, library sizes and tool QC lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError
from mscseq.io.detect import Detected, check_declared, detect_format
from mscseq.io.formats import FORMATS, PER_SAMPLE_FORMATS, ReadOptions, ReadRequest
from mscseq.io.limits import check_count_range
from mscseq.io.names import sample_name_from_file
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
        ``qc`` (sample → metric → value), ``notes`` and ``per_sample_file``.

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
    spec = FORMATS[det.format]
    options = ReadOptions(format=format, layer=layer, strandedness=strandedness, tx2gene=tx2gene)
    sample = sample_name_from_file(p) if spec.per_sample else None
    if spec.quantifier:
        _describe_quant(info, p, det, options)
    elif spec.read is not None:
        _from_table(info, spec.read(p, ReadRequest(sample, options, as_is=True)))
    elif spec.read_qc is not None:
        _describe_qc(info, spec.read_qc(p, sample or sample_name_from_file(p)))
    else:  # pragma: no cover - every registered format has a reader
        msg = f"{p}: cannot inspect format '{det.format}'"
        raise MscseqError(msg)
    if spec.note:
        info["notes"].append(spec.note)
    info["per_sample_file"] = det.format in PER_SAMPLE_FORMATS
    return info


def _describe_quant(info: dict[str, Any], path: Path, det: Detected, options: ReadOptions) -> None:
    """Salmon/kallisto/RSEM: gene-level figures when genes are known (or ``--tx2gene``), else transcripts."""
    quant = read_quant(path, sample=sample_name_from_file(path), fmt=det.format, level=det.level)
    tx2gene = options.tx2gene
    if tx2gene is not None or det.level == "gene" or quant.genes is not None:
        tx = read_tx2gene(check_file(tx2gene)) if tx2gene is not None else None
        table = summarize_to_gene([quant], tx2gene=tx, tx2gene_path=tx2gene)
        raw_integer = bool(np.all(quant.counts == np.round(quant.counts)))
        _from_table(info, table, raw_integer=raw_integer)
        info["n_transcripts"] = len(quant.ids) if det.level == "transcript" else None
        return
    counts = pd.DataFrame({quant.sample: quant.counts}, index=quant.ids)
    _from_table(info, CountTable(counts=counts, source=path, format=det.format, level="transcript"))
    info["notes"].append("transcript level: pass --tx2gene (table or GTF) to summarise to genes")


def _describe_qc(info: dict[str, Any], qc: pd.DataFrame) -> None:
    """A QC-only file (featureCounts .summary, STAR Log.final.out): its metrics per sample, no counts."""
    info.update(n_features=0, n_samples=len(qc), samples=[str(s) for s in qc.index])
    info["library_sizes"] = {}
    info["qc"] = _qc_dict(qc)
    info["qc_lines"] = [str(c) for c in qc.columns]
    info["notes"] = []


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
