"""Gather what each report section shows from the AnnData, ``summary.json`` and ``run_info.json``.

Nothing here computes statistics: values are read from the run's outputs, formatted for display and
handed to the plot builders. Each ``*_section`` function returns a plain dictionary for the template and
registers its figures in a shared :class:`Figures` collection.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mscseq.report import plots

#: ``obs`` columns written by mscseq itself (not sheet columns).
QC_COLUMNS = ("library_size", "detected_genes", "top100_fraction", "size_factor")
#: Rows of each DE table embedded in the report (the full table is in ``tables/``).
DE_TABLE_ROWS = 500


@dataclass
class Figures:
    """The figures of one report, by element id, embedded once as JSON."""

    specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, fig_id: str, spec: dict[str, Any]) -> str:
        """Register a figure and return its id."""
        self.specs[fig_id] = spec
        return fig_id


# ---------------------------------------------------------------------------- formatting


def fmt(value: Any, *, digits: int = 3) -> str:
    """Display text for a value: thousands separators, ``digits`` significant digits, ``–`` for missing."""
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return "–"
        if v == 0:
            return "0"
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) < 1e-3 or abs(v) >= 1e6:
            return f"{v:.{max(digits - 1, 1)}e}"
        return f"{v:,.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}g}"
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(fmt(v, digits=digits) for v in value)
    return str(value)


def sort_key(value: Any) -> float | None:
    """Numeric sort key of a cell (``None`` when the cell sorts as text)."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return None


def cell(value: Any, *, text: str | None = None, cls: str = "") -> dict[str, Any]:
    """A table cell: display text, numeric sort key and CSS class."""
    return {"t": fmt(value) if text is None else text, "v": sort_key(value), "c": cls}


def humanise(key: str) -> str:
    """``n_outliers`` → ``n outliers``: a readable label for a machine key."""
    return str(key).replace("_", " ").strip()


def comparability_block(adata, summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The comparability results: from ``summary.json`` (exact JSON), else from ``adata.uns``."""
    comp = summary.get("comparability")
    if comp is None:
        comp = adata.uns.get("comparability")
    return dict(comp) if isinstance(comp, Mapping) else None


def as_records(obj: Any) -> list[dict[str, Any]]:
    """A list of dicts from JSON (list) or h5ad (``{"0": {...}, "1": {...}}``) form."""
    if obj is None:
        return []
    if isinstance(obj, Mapping):
        keys = list(obj.keys())
        if not keys:
            return []
        if all(str(k).isdigit() for k in keys):
            return [dict(obj[k]) for k in sorted(keys, key=lambda k: int(k))]
        return [dict(obj)]
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict(orient="records")
    return [dict(o) for o in obj if isinstance(o, Mapping)]


def as_list(obj: Any) -> list[Any]:
    """A plain list from a JSON list, numpy array, scalar or ``None``."""
    if obj is None:
        return []
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Iterable) and not isinstance(obj, Mapping):
        return list(obj)
    return [obj]


# ---------------------------------------------------------------------------- overview

VERDICTS = {
    "comparable": (
        "Comparable",
        "The products share a transcriptomic profile: every criterion of the decision rule was met.",
    ),
    "not_comparable": (
        "Not comparable",
        "The products do not share a transcriptomic profile: at least one criterion of the decision rule failed.",
    ),
    "inconclusive": (
        "Inconclusive",
        "The data cannot establish whether the products are comparable (for example too few products, "
        "or too much variation to demonstrate equivalence within the margin).",
    ),
}


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


def key_numbers(comp: Mapping[str, Any]) -> list[dict[str, str]]:
    """The verdict's key numbers as tiles (value and plain-words label), read from ``metrics``."""
    m = comp.get("metrics") or {}
    margin = m.get("margin")
    band = f"±{fmt(margin)} log2" if margin is not None else "the margin"
    tiles = []
    if m.get("n_products") is not None:
        tiles.append({"value": fmt(m["n_products"]), "label": "products compared"})
    if m.get("n_outliers") is not None:
        z = m.get("mad_z_threshold")
        tiles.append({"value": fmt(m["n_outliers"]), "label": "outlier products" + (f" (robust z > {fmt(z)})" if z is not None else ""),
                      "cls": "bad" if m["n_outliers"] else ""})  # fmt: skip
    for c in as_records(m.get("contrasts")):
        name = str(c.get("name", ""))
        if c.get("skipped"):
            tiles.append({"value": "–", "label": f"{name}: equivalence not tested"})
            continue
        if c.get("fraction_equivalent") is not None:
            tiles.append({"value": f"{100 * float(c['fraction_equivalent']):.1f} %",
                          "label": f"of {fmt(c.get('n_tested'))} testable genes shown equivalent within {band} ({name})"})  # fmt: skip
        if c.get("n_beyond_margin") is not None:
            tiles.append(
                {
                    "value": fmt(c["n_beyond_margin"]),
                    "label": f"genes shown to differ by more than {band} ({name})",
                }
            )
    if m.get("min_concordance") is not None and not as_records(m.get("contrasts")):
        tiles.append({"value": f"{100 * float(m['min_concordance']):.1f} %",
                      "label": f"of genes within {band} of the other products, in the least concordant product"})  # fmt: skip
    return tiles


def rule_clauses(rule: Any) -> list[str]:
    """The decision rule split into its clauses (the rule text separates them with ``; ``)."""
    if not rule:
        return []
    if isinstance(rule, list | tuple):
        return [str(r) for r in rule]
    return [c.strip() for c in str(rule).split("; ") if c.strip()]


def overview_section(
    adata, summary: Mapping[str, Any], comp: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The first screen: verdict, key numbers, rule, products at a glance, panel flags, caveats."""
    from mscseq.report.comparability import panel_flag_list

    dims = summary.get("dimensions", {})
    ov: dict[str, Any] = {
        "n_samples": dims.get("n_samples", adata.n_obs),
        "n_genes": dims.get("n_genes", adata.n_vars),
        "n_expressed": dims.get("n_genes_expressed"),
        "design": summary.get("design"),
        "de": [
            {"name": d.get("name"), "n_up": d.get("n_up"), "n_down": d.get("n_down"), "target": d.get("target"),
             "reference": d.get("reference"), "alpha": d.get("alpha")}
            for d in summary.get("de", [])
        ],
        "computed": comp is not None,
    }  # fmt: skip
    if comp is None:
        return ov
    verdict = str(comp.get("verdict", "inconclusive"))
    headline, sentence = VERDICTS.get(verdict, (humanise(verdict).capitalize(), ""))
    status = products_status(comp)
    flags = panel_flag_list(comp)
    flagged = {f["sample"] for f in flags}
    outliers = [s for s, v in status.items() if v["status"] == "outlier"]
    settings = comp.get("settings") or {}
    group = settings.get("group") or (comp.get("metrics") or {}).get("group")
    ov.update(
        {
            "verdict": verdict,
            "headline": headline,
            "sentence": sentence,
            "reasons": [str(r) for r in as_list(comp.get("reasons"))],
            "rule": rule_clauses(comp.get("rule")),
            "metrics": key_numbers(comp),
            "products": [{"sample": s, **v, "flagged": s in flagged} for s, v in status.items()],
            "n_products": len(status),
            "outliers": outliers,
            "caveats": [str(c) for c in as_list(comp.get("caveats"))],
            "panel_flags": flags,
            "group": group,
            "reference": settings.get("reference"),
        }
    )
    return ov


# ---------------------------------------------------------------------------- inputs & samples


def sheet_columns(adata) -> list[str]:
    """The sample-sheet columns of ``obs`` (without mscseq's QC columns and tool metrics)."""
    return [c for c in adata.obs.columns if c not in QC_COLUMNS and not str(c).startswith("tool_")]


def samples_section(adata, comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """Sample sheet joined with QC metrics and comparability status; QC bar charts."""
    obs = adata.obs
    sheet = sheet_columns(adata)
    tool = [c for c in obs.columns if str(c).startswith("tool_")]
    status = products_status(comp)
    header = ["sample", *sheet, "library size", "detected genes", "top-100 share", "size factor"]
    header += [humanise(str(c)[5:]) for c in tool]
    if status:
        header.append("status")
    rows = []
    for s in obs.index:
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
        rows.append(r)
    qc = obs[["library_size", "detected_genes", "top100_fraction"]]
    outliers = [s for s, v in status.items() if v["status"] == "outlier"]
    figs.add("fig-qc", plots.qc_figure(qc, highlight=outliers))
    return {
        "header": header,
        "rows": rows,
        "n_sheet": len(sheet),
        "qc_fig": "fig-qc",
        "outliers": outliers,
    }


# ---------------------------------------------------------------------------- similarity


def default_colouring(sheet: pd.DataFrame) -> str | None:
    """The sheet column to colour the PCA by first: the first with 2–8 groups that repeat."""
    n = len(sheet)
    for col in sheet.columns:
        k = sheet[col].nunique(dropna=True)
        if 2 <= k <= min(8, n - 1):
            return str(col)
    return str(sheet.columns[0]) if len(sheet.columns) else None


def similarity_section(adata, comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """PCA (colour selector over sheet columns), scree plot and correlation heatmap."""
    sheet = sheet_columns(adata)
    obs = adata.obs[sheet].copy()
    status = products_status(comp)
    colour_cols = list(sheet)
    default = default_colouring(adata.obs[sheet])
    if status:
        obs["comparability"] = [
            status.get(str(s), {}).get("status") or "not assessed" for s in obs.index
        ]
        colour_cols = ["comparability", *colour_cols]
        if any(v["status"] == "outlier" for v in status.values()):
            default = "comparability"
    pca = adata.uns["pca"]
    ratio = np.asarray(pca["variance_ratio"], dtype=float)
    fixed = {
        "comparability": {
            "outlier": plots.FLAG,
            "consistent": plots.OK,
            "not assessed": plots.NEUTRAL,
        }
    }
    spec = plots.pca_figure(
        np.asarray(adata.obsm["X_pca"]),
        ratio,
        obs,
        color_by=colour_cols,
        default=default,
        level_colors=fixed,
    )
    figs.add("fig-pca", spec)
    figs.add("fig-scree", plots.scree_figure(ratio))
    clus = adata.uns["clustering"]
    order = [str(s) for s in as_list(clus["order"])]
    link = np.asarray(clus.get("linkage")) if clus.get("linkage") is not None else None
    figs.add(
        "fig-corr",
        plots.correlation_heatmap(
            np.asarray(adata.obsp["pearson"]), list(adata.obs_names), order, linkage=link
        ),
    )
    n_top = int(pca.get("n_top", 0))
    return {
        "pca_fig": "fig-pca",
        "scree_fig": "fig-scree",
        "corr_fig": "fig-corr",
        "colorings": [{"index": i, "label": c} for i, c in enumerate(colour_cols)],
        "default": colour_cols.index(default) if default in colour_cols else 0,
        "n_top": n_top,
        "pc1": 100 * float(ratio[0]) if len(ratio) else 0.0,
        "pc2": 100 * float(ratio[1]) if len(ratio) > 1 else 0.0,
        "method": clus.get("method", "average"),
        "metric": clus.get("metric", "1 - pearson"),
        "comparability_similarity": (comp or {}).get("similarity"),
    }


# ---------------------------------------------------------------------------- DE


def de_section(adata, summary: Mapping[str, Any], figs: Figures) -> list[dict[str, Any]]:
    """Per contrast: counts of up/down genes, volcano and MA plots, the top-genes table."""
    tables = adata.uns.get("de", {}) or {}
    summaries = {str(d.get("name")): d for d in summary.get("de", [])}
    for name, d in (adata.uns.get("de_summary") or {}).items():
        summaries.setdefault(str(name), {"name": name, **dict(d)})
    out = []
    for k, (name, meta) in enumerate(summaries.items()):
        df = tables.get(name)
        if df is None:
            continue
        df = pd.DataFrame(df)
        alpha = float(meta.get("alpha", 0.1))
        target, reference = (
            str(meta.get("target", "target")),
            str(meta.get("reference", "reference")),
        )
        vid, mid = (
            figs.add(
                f"fig-volcano-{k}",
                plots.volcano_figure(df, alpha=alpha, target=target, reference=reference),
            ),
            f"fig-ma-{k}",
        )
        ma = plots.ma_figure(df, alpha=alpha, target=target, reference=reference)
        figs.add(mid, ma)
        head = df.head(DE_TABLE_ROWS)
        rows = [
            [
                cell(str(g_name) if str(g_name) else str(gid)),
                cell(str(gid)),
                cell(float(r.baseMean)),
                cell(float(r.log2FoldChange), cls="up" if r.log2FoldChange > 0 else "down"),
                cell(float(r.lfcSE)),
                cell(float(r.pvalue)),
                cell(float(r.padj)),
            ]
            for gid, g_name, r in zip(
                head.index,
                head.get("gene_name", pd.Series([""] * len(head))).fillna(""),
                head.itertuples(),
                strict=True,
            )
        ]
        out.append(
            {
                "id": f"de-{k}",
                "name": name,
                "variable": meta.get("variable"),
                "target": target,
                "reference": reference,
                "alpha": alpha,
                "n_tested": meta.get("n_tested"),
                "n_up": meta.get("n_up"),
                "n_down": meta.get("n_down"),
                "n_genes": meta.get("n_genes", len(df)),
                "volcano_fig": vid,
                "ma_fig": mid,
                "static": bool(ma["layout"].get("meta", {}).get("static")),
                "n_interactive": ma["layout"].get("meta", {}).get("n_interactive"),
                "header": ["gene", "gene ID", "mean count", "log2 FC", "lfcSE", "p-value", "padj"],
                "rows": rows,
                "n_rows": len(rows),
                "file": f"tables/de_{name}.tsv",
            }
        )
    return out


# ---------------------------------------------------------------------------- provenance


def provenance_section(run_info: Mapping[str, Any]) -> dict[str, Any]:
    """Command, parameters, software versions and input files with checksums."""
    params = run_info.get("parameters", {}) or {}
    return {
        "command": " ".join(str(a) for a in as_list(run_info.get("command"))),
        "parameters": [
            {"key": k, "value": fmt(v) if not isinstance(v, str) else v} for k, v in params.items()
        ],
        "versions": [
            {"name": k, "version": str(v)} for k, v in (run_info.get("versions") or {}).items()
        ],
        "inputs": [
            {
                "path": str(f.get("path", "")),
                "sha256": str(f.get("sha256", "")),
                "bytes": fmt(f.get("bytes")),
            }
            for f in as_records(run_info.get("inputs"))
        ],
        "started": run_info.get("started"),
        "finished": run_info.get("finished"),
        "elapsed": run_info.get("elapsed_seconds"),
    }
