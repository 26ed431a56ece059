"""Differential expression (``de.html.j2``): per contrast, up/down counts, volcano and MA plots, top genes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from mscseq.report import figdata
from mscseq.report.fmt import cell
from mscseq.report.records import de_contrasts
from mscseq.report.sections import Figures

#: Rows of each DE table embedded in the report (the full table is in ``tables/``).
DE_TABLE_ROWS = 500
#: Rows embedded over all contrasts: with many contrasts each table shows fewer rows, at least
#: :data:`DE_TABLE_MIN_ROWS` (the report stays within its size budget).
DE_TABLE_TOTAL_ROWS = 2000
DE_TABLE_MIN_ROWS = 100


def table_rows(n_contrasts: int) -> int:
    """Rows of each contrast's top-genes table: 500 for up to 4 contrasts, fewer beyond, at least 100."""
    return max(DE_TABLE_MIN_ROWS, min(DE_TABLE_ROWS, DE_TABLE_TOTAL_ROWS // max(n_contrasts, 1)))


HEADER = ["gene", "gene ID", "mean count", "log2 FC", "lfcSE", "p-value", "padj"]


#: Column added after "log2 FC" when the run shrank fold changes (``--shrink``).
SHRUNK_HEADER = "shrunken log2 FC"


def _header(df: pd.DataFrame) -> list[str]:
    """The top-genes table's columns: the shrunken fold change after the test's own when present."""
    if "log2FoldChange_shrunk" not in df:
        return HEADER
    i = HEADER.index("log2 FC") + 1
    return [*HEADER[:i], SHRUNK_HEADER, *HEADER[i:]]


def _top_rows(df: pd.DataFrame, n: int) -> list[list[dict[str, Any]]]:
    """The first ``n`` genes of a results table (sorted by padj) as table cells (see :func:`_header`)."""
    head = df.head(n)
    names = head.get("gene_name", pd.Series([""] * len(head))).fillna("")
    shrunk = head["log2FoldChange_shrunk"] if "log2FoldChange_shrunk" in head else None
    rows = []
    for k, (gid, g_name, r) in enumerate(zip(head.index, names, head.itertuples(), strict=True)):
        row = [
            cell(str(g_name) if str(g_name) else str(gid)),
            cell(str(gid)),
            cell(float(r.baseMean)),
            cell(float(r.log2FoldChange), cls="up" if r.log2FoldChange > 0 else "down"),
            cell(float(r.lfcSE)),
            cell(float(r.pvalue)),
            cell(float(r.padj)),
        ]
        if shrunk is not None:
            row.insert(4, cell(float(shrunk.iloc[k])))
        rows.append(row)
    return rows


def _n_static(fig: dict[str, Any]) -> int:
    """Genes of a DE plot drawn only in its static image layer."""
    meta = fig["layout"].get("meta", {})
    return int(meta.get("n_points", 0)) - int(meta.get("n_interactive", 0))


def section(adata, summary: Mapping[str, Any], figs: Figures) -> list[dict[str, Any]]:
    """Per contrast: counts of up/down genes, volcano and MA plots, the top-genes table."""
    out = []
    contrasts = de_contrasts(adata, summary)
    n_rows = table_rows(len(contrasts))
    for k, (name, df, meta) in enumerate(contrasts):
        vid = figs.add(f"fig-volcano-{k}", figdata.volcano(df, meta))
        ma = figdata.ma(df, meta)
        mid = figs.add(f"fig-ma-{k}", ma)
        rows = _top_rows(df, n_rows)
        out.append(
            {
                "id": f"de-{k}",
                "name": name,
                "variable": meta.get("variable"),
                "target": str(meta.get("target", "target")),
                "reference": str(meta.get("reference", "reference")),
                "alpha": float(meta.get("alpha", 0.1)),
                "n_tested": meta.get("n_tested"),
                "n_up": meta.get("n_up"),
                "n_down": meta.get("n_down"),
                "n_genes": meta.get("n_genes", len(df)),
                "volcano_fig": vid,
                "ma_fig": mid,
                "static": bool(ma["layout"].get("meta", {}).get("static")),
                "n_interactive": ma["layout"].get("meta", {}).get("n_interactive"),
                "n_static": _n_static(ma),
                "header": _header(df),
                "rows": rows,
                "n_rows": len(rows),
                "file": f"tables/de_{name}.tsv",
            }
        )
    return out
