"""MultiQC custom-content files, so mscseq's QC and verdict appear in a facility's MultiQC report.

Written into ``OUTDIR/multiqc/`` by every ``mscseq compare`` run:

``mscseq_qc_mqc.tsv``
    General-statistics columns per sample: library size, detected genes, top-100 share, size factor
    and, when the comparability analysis ran, the product's status.
``mscseq_verdict_mqc.json``
    A table section: the verdict, its reasons and rule in the description, one row per product
    (status, reasons, panel flags). Written only when the comparability analysis ran.
``mscseq_de_mqc.tsv``
    A table section: genes up and down per contrast. Written only when DE ran.

MultiQC finds them by their ``_mqc`` suffix: ``multiqc OUTDIR`` (or a folder of many runs).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from mscseq.outputs import spreadsheet_safe

QC_FILE = "mscseq_qc_mqc.tsv"
VERDICT_FILE = "mscseq_verdict_mqc.json"
DE_FILE = "mscseq_de_mqc.tsv"

_QC_HEADERS: dict[str, dict[str, Any]] = {
    "library_size": {
        "title": "Counts (M)",
        "description": "mscseq: total raw counts (millions)",
        "scale": "Blues",
        "format": "{:,.2f}",
    },
    "detected_genes": {
        "title": "Genes detected",
        "description": "mscseq: genes with a count > 0",
        "scale": "Greens",
        "format": "{:,.0f}",
    },
    "top100_fraction": {
        "title": "Top-100 share",
        "description": "mscseq: share of counts in the sample's 100 most counted genes (%)",
        "max": 100,
        "min": 0,
        "suffix": "%",
        "scale": "OrRd",
        "format": "{:,.1f}",
    },
    "size_factor": {
        "title": "Size factor",
        "description": "mscseq: DESeq2 median-of-ratios size factor",
        "scale": "Purples",
        "format": "{:,.3f}",
    },
    "comparability": {
        "title": "Product status",
        "description": "mscseq comparability: consistent or outlier (see the mscseq verdict section)",
    },
}
#: Factors applied to the values so they read as the headers say (MultiQC's own 'modify' needs code).
_FACTORS = {"library_size": 1e-6, "top100_fraction": 100.0}


def _yaml_comment(config: dict[str, Any]) -> str:
    """A MultiQC header block: the configuration as YAML (JSON is YAML) after ``#``."""
    lines = [f"# {key}: {json.dumps(value, ensure_ascii=False)}" for key, value in config.items()]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    """One TSV cell: whitespace collapsed, formula-like text neutralised (``spreadsheet_safe``)."""
    if value is None:
        return ""
    text = str(value)
    return spreadsheet_safe(" ".join(text.replace("\t", " ").split()))


def qc_table(summary: dict[str, Any]) -> str:
    """Text of ``mscseq_qc_mqc.tsv`` (MultiQC general statistics) from a ``summary.json`` dict.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary`.

    Returns
    -------
    str
        TSV with a YAML header in ``#`` comments.

    """
    status = {
        p.get("sample"): p.get("status")
        for p in (summary.get("comparability") or {}).get("products", [])
    }
    cols = ["library_size", "detected_genes", "top100_fraction", "size_factor"] + (
        ["comparability"] if status else []
    )
    rows = []
    for q in summary.get("qc", []):
        vals = []
        for c in cols:
            v = status.get(q["sample"]) if c == "comparability" else q.get(c)
            if c in _FACTORS and v is not None:
                v = v * _FACTORS[c]
            vals.append(_cell(v))
        rows.append("\t".join([_cell(q["sample"]), *vals]))
    config = {
        "id": "mscseq_qc",
        "section_name": "mscseq QC",
        "plot_type": "generalstats",
        "pconfig": [{c: _QC_HEADERS[c]} for c in cols],
    }
    return _yaml_comment(config) + "\t".join(["Sample", *cols]) + "\n" + "\n".join(rows) + "\n"


def verdict_section(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Content of ``mscseq_verdict_mqc.json`` (a MultiQC table section), or ``None`` without comparability.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary`.

    Returns
    -------
    dict or None
        MultiQC custom-content dictionary.

    """
    comp = summary.get("comparability")
    if not isinstance(comp, dict):
        return None
    verdict = str(comp.get("verdict", ""))
    reasons = [str(r) for r in comp.get("reasons", [])]
    caveats = [str(c) for c in comp.get("caveats", [])]
    desc = f"<p><strong>Verdict: {html.escape(verdict.replace('_', ' '))}</strong>"
    if reasons:
        desc += " — " + html.escape("; ".join(reasons))
    desc += "</p>"
    if comp.get("rule"):
        desc += f"<p><em>Rule:</em> {html.escape(str(comp['rule']))}</p>"
    if caveats:
        desc += "<p><em>Caveats:</em> " + html.escape("; ".join(caveats)) + "</p>"
    data = {}
    for p in comp.get("products", []):
        flags = p.get("flags") or []
        data[str(p.get("sample"))] = {
            "status": str(p.get("status", "")),
            "reasons": "; ".join(map(str, p.get("reasons") or [])),
            "flags": "; ".join(map(str, flags)) if isinstance(flags, list) else str(flags),
        }
    return {
        "id": "mscseq_verdict",
        "section_name": "mscseq comparability verdict",
        "description": desc,
        "plot_type": "table",
        "pconfig": {
            "id": "mscseq_verdict_table",
            "title": "mscseq: products",
            "col1_header": "Product",
        },
        "headers": {
            "status": {"title": "Status", "description": "consistent or outlier"},
            "reasons": {"title": "Reasons", "description": "why a product is an outlier"},
            "flags": {"title": "Panel flags", "description": "MSC gene-panel flags"},
        },
        "data": data,
    }


def de_table(summary: dict[str, Any]) -> str | None:
    """Text of ``mscseq_de_mqc.tsv`` (genes up/down per contrast), or ``None`` without DE.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary`.

    Returns
    -------
    str or None
        TSV with a YAML header in ``#`` comments.

    """
    de = summary.get("de") or []
    if not de:
        return None
    config = {
        "id": "mscseq_de",
        "section_name": "mscseq differential expression",
        "description": "Genes with adjusted p-value below alpha, per contrast (DESeq2).",
        "plot_type": "table",
        "pconfig": {
            "id": "mscseq_de_table",
            "title": "mscseq: DE genes",
            "col1_header": "Contrast",
        },
    }
    rows = [
        "\t".join(
            _cell(v)
            for v in (
                d.get("name"),
                d.get("n_up"),
                d.get("n_down"),
                d.get("n_tested"),
                d.get("alpha"),
            )
        )
        for d in de
    ]
    return _yaml_comment(config) + "Contrast\tup\tdown\ttested\talpha\n" + "\n".join(rows) + "\n"


def write_multiqc(summary: dict[str, Any], folder: str | Path) -> list[str]:
    """Write the MultiQC custom-content files of one run into ``folder``.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary`.
    folder
        Destination (created), normally ``OUTDIR/multiqc``.

    Returns
    -------
    list of str
        Names of the files written.

    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / QC_FILE).write_text(qc_table(summary), encoding="utf-8")
    written = [QC_FILE]
    section = verdict_section(summary)
    if section is not None:
        (out / VERDICT_FILE).write_text(
            json.dumps(section, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        written.append(VERDICT_FILE)
    de = de_table(summary)
    if de is not None:
        (out / DE_FILE).write_text(de, encoding="utf-8")
        written.append(DE_FILE)
    return written
