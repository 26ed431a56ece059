"""Read what a run recorded, in the shape the report and the notebook figures need.

The comparability block is read from ``summary.json`` (exact JSON) or, without it, from ``adata.uns``
(h5ad form); both give the same answers here. Nothing is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from mscseq.report.fmt import as_list, as_records

#: ``obs`` columns written by mscseq itself (not sheet columns).
QC_COLUMNS = ("library_size", "detected_genes", "top100_fraction", "size_factor")


def comparability_block(adata, summary: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The comparability results: from ``summary.json`` (exact JSON), else from ``adata.uns``."""
    comp = (summary or {}).get("comparability")
    if comp is None:
        comp = adata.uns.get("comparability")
    return dict(comp) if isinstance(comp, Mapping) else None


def products_status(comp: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per-sample comparability status and reasons, by sample name."""
    out: dict[str, dict[str, Any]] = {}
    for p in as_records((comp or {}).get("products")):
        name = str(p.get("sample", ""))
        out[name] = {
            "status": str(p.get("status", "")),
            "reasons": [str(r) for r in as_list(p.get("reasons"))],
            "group": None if p.get("group") is None else str(p.get("group")),
        }
    return out


def outliers(comp: Mapping[str, Any] | None) -> list[str]:
    """Names of the products the comparability analysis called outliers."""
    return [s for s, v in products_status(comp).items() if v["status"] == "outlier"]


def panel_flag_list(comp: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Panel flags as ``[{"sample", "message"}]`` from ``{sample: [messages]}`` or a list of records."""
    panels = (comp or {}).get("panels")
    raw = panels.get("flags") if isinstance(panels, Mapping) else None
    out: list[dict[str, str]] = []
    if isinstance(raw, Mapping) and not all(str(k).isdigit() for k in raw):
        for sample, msgs in raw.items():
            out += [{"sample": str(sample), "message": str(m)} for m in as_list(msgs)]
        return out
    for f in as_records(raw):
        msg = f.get("message") or f.get("reason") or f.get("explanation") or ""
        out.append({"sample": str(f.get("sample", "")), "message": str(msg)})
    return out


def sheet_columns(adata) -> list[str]:
    """The sample-sheet columns of ``obs`` (without mscseq's QC columns and tool metrics)."""
    return [c for c in adata.obs.columns if c not in QC_COLUMNS and not str(c).startswith("tool_")]


def de_contrasts(
    adata, summary: Mapping[str, Any] | None = None
) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    """Each contrast with a results table: ``(name, table, settings)``, in the run's order.

    Settings come from ``summary.json``'s ``de`` list, completed by ``adata.uns["de_summary"]``.
    """
    tables = adata.uns.get("de", {}) or {}
    summaries = {str(d.get("name")): d for d in (summary or {}).get("de", [])}
    for name, d in (adata.uns.get("de_summary") or {}).items():
        summaries.setdefault(str(name), {"name": name, **dict(d)})
    return [
        (name, pd.DataFrame(tables[name]), dict(meta))
        for name, meta in summaries.items()
        if tables.get(name) is not None
    ]
