"""Inputs & samples (``samples.html.j2``): the sheet joined with QC metrics and product status; QC bars."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from mscseq.report import figdata
from mscseq.report.fmt import cell, humanise
from mscseq.report.records import outliers, products_status, sheet_columns
from mscseq.report.sections import Figures


def _row(obs: pd.DataFrame, s: Any, sheet: list[str], tool: list[str], status: dict) -> list[dict]:
    r = [cell(str(s))]
    r += [cell(None if pd.isna(obs.at[s, c]) else obs.at[s, c]) for c in sheet]
    lib = float(obs.at[s, "library_size"])
    r.append(cell(lib, text=f"{lib / 1e6:.2f} M"))
    r.append(cell(int(obs.at[s, "detected_genes"])))
    top = float(obs.at[s, "top100_fraction"])
    r.append(cell(top, text=f"{100 * top:.1f} %" if math.isfinite(top) else "–"))
    r.append(cell(float(obs.at[s, "size_factor"])))
    r += [cell(obs.at[s, c]) for c in tool]
    if status:
        st = status.get(str(s), {"status": "", "reasons": []})
        label = st["status"] or "–"
        if st["reasons"]:
            label += ": " + "; ".join(st["reasons"])
        r.append(cell(label, cls=f"status-{st['status']}"))
    return r


def section(adata, comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """Sample sheet joined with QC metrics and comparability status; QC bar charts."""
    obs = adata.obs
    sheet = sheet_columns(adata)
    tool = [c for c in obs.columns if str(c).startswith("tool_")]
    status = products_status(comp)
    header = ["sample", *sheet, "library size", "detected genes", "top-100 share", "size factor"]
    header += [humanise(str(c)[5:]) for c in tool]
    if status:
        header.append("status")
    rows = [_row(obs, s, sheet, tool, status) for s in obs.index]
    figs.add("fig-qc", figdata.qc(adata, comp))
    return {
        "header": header,
        "rows": rows,
        "n_sheet": len(sheet),
        "qc_fig": "fig-qc",
        "outliers": outliers(comp),
    }
