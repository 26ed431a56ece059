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


#: Product statuses that mark a product as standing out: the tiered rule's and the previous rule's.
FLAGGED = ("deviating", "outlier")
#: Keys of the tiered (``mscseq.summary/2``) block's ``descriptive`` part, lifted to the block's top level
#: by :func:`comparability_block` so figures read them where the previous block had them.
DESCRIPTIVE = ("permanova", "permdisp", "variance_partition", "similarity")


def is_tiered(comp: Mapping[str, Any] | None) -> bool:
    """Whether the block is the tiered rule's (``mscseq.summary/2``: it has a ``question``)."""
    return isinstance(comp, Mapping) and "question" in comp


def comparability_block(adata, summary: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The comparability results: from ``summary.json`` (exact JSON), else from ``adata.uns``.

    In a tiered block (``mscseq.summary/2``) the descriptive analyses (PERMANOVA, PERMDISP, variance
    partition, similarity) sit under ``descriptive``; they are also given at the top level, where the
    figures read them (the report labels them as outside the rule).
    """
    comp = (summary or {}).get("comparability")
    if comp is None:
        comp = adata.uns.get("comparability")
    if not isinstance(comp, Mapping):
        return None
    out = dict(comp)
    desc = out.get("descriptive")
    if is_tiered(out) and isinstance(desc, Mapping):
        for key in DESCRIPTIVE:
            if key in desc and key not in out:
                out[key] = desc[key]
    return out


def _names(value: Any) -> list[str]:
    """A list of names (genes, panels) from a list or a ``, ``/``; ``-separated text."""
    if isinstance(value, str):
        return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    return [str(v) for v in as_list(value)]


def products_status(comp: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per-product comparability status, reasons and (tiered block) p-values and drivers, by name.

    Reads products keyed by ``product`` (``mscseq.summary/2``) or ``sample`` (``/1``); keys a block
    does not have are ``None`` or empty.
    """
    out: dict[str, dict[str, Any]] = {}
    for p in as_records((comp or {}).get("products")):
        name = str(p.get("product", p.get("sample", "")))
        out[name] = {
            "status": str(p.get("status", "")),
            "reasons": [str(r) for r in as_list(p.get("reasons"))],
            "group": None if p.get("group") is None else str(p.get("group")),
            "p_value": p.get("p_value"),
            "p_adjusted": p.get("p_adjusted"),
            "n_peers": p.get("n_peers"),
            "peers": p.get("peers"),
            "drivers": _names(p.get("drivers")),
            "panel_drivers": _names(p.get("panel_drivers")),
            "sex": p.get("sex"),
        }
    return out


def outliers(comp: Mapping[str, Any] | None) -> list[str]:
    """Names of the products that stand out: deviating (tiered rule) or outliers (previous rule)."""
    return [s for s, v in products_status(comp).items() if v["status"] in FLAGGED]


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
