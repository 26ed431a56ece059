"""The report's figures from a run's outputs: one place for both ``report.html`` and :mod:`mscseq.figures`.

Each function extracts the plot data from the AnnData and the comparability block and hands it to a plot
builder of :mod:`mscseq.report.plots`, returning a plotly figure specification (a plain dict). The report's
section modules and the notebook functions call these same functions with the same data, so a notebook
shows exactly the figures of ``report.html``. Nothing is computed beyond arranging recorded values; a
function returns ``None`` when the run did not record what its figure shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError
from mscseq.report import plots
from mscseq.report.fmt import as_list, as_records, humanise
from mscseq.report.records import FLAGGED, outliers, products_status, sheet_columns

Figure = dict[str, Any]
Comp = Mapping[str, Any] | None

#: Fixed colours of the PCA's comparability colouring.
STATUS_COLOURS = {
    "comparability": {
        "outlier": plots.FLAG,
        "consistent": plots.OK,
        "deviating": plots.FLAG,
        "conforming": plots.OK,
        "not_assessable": plots.NEUTRAL,
        "not assessed": plots.NEUTRAL,
    }
}


def qc(adata, comp: Comp) -> Figure:
    """Library size, detected genes and top-100 share per sample, outliers highlighted."""
    table = adata.obs[["library_size", "detected_genes", "top100_fraction"]]
    return plots.qc_figure(table, highlight=outliers(comp))


# ---------------------------------------------------------------------------- PCA


def default_colouring(sheet: pd.DataFrame) -> str | None:
    """The sheet column to colour the PCA by first: the first with 2–8 groups that repeat."""
    n = len(sheet)
    for col in sheet.columns:
        k = sheet[col].nunique(dropna=True)
        if 2 <= k <= min(8, n - 1):
            return str(col)
    return str(sheet.columns[0]) if len(sheet.columns) else None


def pca_colourings(adata, comp: Comp) -> tuple[pd.DataFrame, list[str], str | None]:
    """The PCA's sample annotations, the columns it can be coloured by, and the one shown first.

    With comparability results, a ``comparability`` column (product status) comes first and is shown first
    when a product stands out (deviating, or an outlier of the previous rule).
    """
    sheet = sheet_columns(adata)
    obs = adata.obs[sheet].copy()
    status = products_status(comp)
    columns = list(sheet)
    default = default_colouring(adata.obs[sheet])
    if status:
        obs["comparability"] = [
            status.get(str(s), {}).get("status") or "not assessed" for s in obs.index
        ]
        columns = ["comparability", *columns]
        if any(v["status"] in FLAGGED for v in status.values()):
            default = "comparability"
    return obs, columns, default


def pca(adata, comp: Comp, *, color_by: str | None = None) -> Figure:
    """PC1 × PC2 with a colouring per sheet column (``color_by``: the one shown first)."""
    obs, columns, default = pca_colourings(adata, comp)
    return plots.pca_figure(
        np.asarray(adata.obsm["X_pca"]),
        np.asarray(adata.uns["pca"]["variance_ratio"], dtype=float),
        obs,
        color_by=columns,
        default=default if color_by is None else color_by,
        level_colors=STATUS_COLOURS,
    )


def scree(adata) -> Figure:
    """Share of variance per principal component."""
    return plots.scree_figure(np.asarray(adata.uns["pca"]["variance_ratio"], dtype=float))


def correlation_data(
    adata, method: str = "pearson"
) -> tuple[pd.DataFrame, list[str], np.ndarray | None]:
    """Sample × sample correlation (sample order), the clustering's leaf order and its linkage.

    The linkage is that of the clustering (on Pearson correlation); ``None`` for another ``method``.
    """
    clustering = adata.uns["clustering"]
    order = [str(s) for s in as_list(clustering["order"])]
    tree = clustering.get("linkage") if method == "pearson" else None
    names = [str(s) for s in adata.obs_names]
    corr = pd.DataFrame(np.asarray(adata.obsp[method]), index=names, columns=names)
    return corr, order, None if tree is None else np.asarray(tree)


def correlation(adata, method: str = "pearson") -> Figure:
    """Sample × sample correlation in clustering order; the dendrogram with the clustering's metric."""
    corr, order, tree = correlation_data(adata, method)
    return plots.correlation_heatmap(
        corr.to_numpy(),
        list(corr.index),
        order,
        linkage=tree,
        label=f"{method.capitalize()} r",
    )


# ---------------------------------------------------------------------------- DE


def _de_labels(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "alpha": float(meta.get("alpha", 0.1)),
        "target": str(meta.get("target", "target")),
        "reference": str(meta.get("reference", "reference")),
    }


def volcano(table: pd.DataFrame, meta: Mapping[str, Any]) -> Figure:
    """Volcano plot of one contrast (``meta``: its ``alpha``, ``target``, ``reference``)."""
    return plots.volcano_figure(table, **_de_labels(meta))


def ma(table: pd.DataFrame, meta: Mapping[str, Any]) -> Figure:
    """MA plot of one contrast."""
    return plots.ma_figure(table, **_de_labels(meta))


def volcano_points(table: pd.DataFrame, meta: Mapping[str, Any]) -> plots.DEPoints:
    """The genes of :func:`volcano` (all of them, for a static figure)."""
    return plots.volcano_points(table, **_de_labels(meta))


def ma_points(table: pd.DataFrame, meta: Mapping[str, Any]) -> plots.DEPoints:
    """The genes of :func:`ma` (all of them, for a static figure)."""
    return plots.ma_points(table, **_de_labels(meta))


# ---------------------------------------------------------------------------- comparability


def outlier_scores(comp: Comp) -> Figure | None:
    """Robust z-scores of correlation and distance per product against the outlier threshold."""
    sim = (comp or {}).get("similarity")
    if not isinstance(sim, Mapping):
        return None
    samples = similarity_samples(comp)
    zc = sim.get("z_correlation") or {}
    if not any(zc.get(s) is not None for s in samples):
        return None
    zd = sim.get("z_distance") or {}
    threshold = float(((comp or {}).get("metrics") or {}).get("mad_z_threshold", 3.5))
    flagged = set(outliers(comp))
    return plots.outlier_figure(
        samples,
        [zc.get(s) for s in samples],
        [zd.get(s) for s in samples],
        threshold=threshold,
        outliers=[s for s in samples if s in flagged],
    )


def similarity_samples(comp: Comp) -> list[str]:
    """Products of the similarity results, in the block's order."""
    products = as_records((comp or {}).get("products"))
    sim = (comp or {}).get("similarity") or {}
    names = [str(p.get("product", p.get("sample"))) for p in products]
    return names or list(sim.get("median_correlation", {}))


def equivalence_margin(comp: Mapping[str, Any]) -> float:
    """The equivalence margin (log2) of the assessment."""
    settings = comp.get("settings") or {}
    return float(settings.get("margin", (comp.get("metrics") or {}).get("margin", 1.0)))


def equivalence(comp: Comp) -> Figure | None:
    """Per tested group: shares of genes shown equivalent, beyond the margin, or neither."""
    tested = [c for c in as_records((comp or {}).get("equivalence")) if not c.get("skipped")]
    if not tested:
        return None
    req = (((comp or {}).get("metrics") or {}).get("thresholds") or {}).get("equivalent_fraction")
    return plots.equivalence_figure(
        tested, margin=equivalence_margin(comp or {}), required=None if req is None else float(req)
    )


def variance_partition(comp: Comp) -> Figure | None:
    """Median share of variance per source (donor, other variables, residual) with IQR bars."""
    vp = (comp or {}).get("variance_partition")
    if not isinstance(vp, Mapping) or vp.get("skipped") or not vp.get("fractions"):
        return None
    return plots.variance_partition_figure(vp["fractions"])


# ---------------------------------------------------------------------------- panels


def panel_scores(adata, comp: Comp) -> Figure | None:
    """Panels × products heatmap of the panel scores (log2 difference from the median product)."""
    panels = (comp or {}).get("panels")
    scores = panels.get("scores") if isinstance(panels, Mapping) else None
    if not isinstance(scores, Mapping) or not scores:
        return None
    samples = [str(s) for s in adata.obs_names]
    names = [s for s in samples if s in scores] or list(scores)
    keys: list[str] = []
    for s in names:
        keys += [k for k in scores[s] if k not in keys]
    # the panels' own order (h5ad stores the score dictionaries with sorted keys)
    order = [str(p.get("panel")) for p in as_records(panels.get("panels"))]
    keys.sort(key=lambda k: order.index(k) if k in order else len(order))
    m = np.array(
        [[np.nan if scores[s].get(k) is None else float(scores[s][k]) for s in names] for k in keys]
    )
    return plots.diverging_heatmap(
        m,
        [humanise(k) for k in keys],
        names,
        label="score (log2)",
        show_values=len(names) <= 24,
        height=140 + 46 * len(keys),
    )


def _panel_gene_matrix(
    adata, comp: Mapping[str, Any]
) -> tuple[np.ndarray, list[str], list[str]] | None:
    """Panel genes × products: VST minus the gene's median over products (log2), for display."""
    from mscseq.comparability.panels import (
        load_panels,
        match_genes,
    )  # the panel files and gene matching

    user = [
        p for p in as_list((comp.get("settings") or {}).get("panels")) if Path(str(p)).is_file()
    ]
    try:
        panels = load_panels(user)
    except MscseqError:
        return None
    names = (
        adata.var["gene_name"].astype(str).tolist()
        if "gene_name" in adata.var
        else [""] * adata.n_vars
    )
    matched = match_genes(panels, [str(g) for g in adata.var_names], names)
    matched = matched[matched["index"] >= 0]
    if matched.empty or "vst" not in adata.layers:
        return None
    vst = np.asarray(adata.layers["vst"])[:, matched["index"].to_numpy()]
    centred = (vst - np.median(vst, axis=0)).T
    sign = np.where(matched["direction"].to_numpy() == "negative", "−", "+")
    sym = [s or g for s, g in zip(matched["symbol"], matched["gene_id"], strict=True)]
    rows = [
        f"{humanise(p)} · {s} ({d})" for p, s, d in zip(matched["panel"], sym, sign, strict=True)
    ]
    hover = [f"{r}: {n}" if n else r for r, n in zip(rows, matched["note"], strict=True)]
    return centred, rows, hover


def panel_genes(adata, comp: Comp) -> Figure | None:
    """Panel genes × products heatmap: each gene's VST minus its median over the products."""
    if not isinstance((comp or {}).get("panels"), Mapping):
        return None
    genes = _panel_gene_matrix(adata, comp or {})
    if genes is None:
        return None
    mat, rows, hover = genes
    return plots.diverging_heatmap(
        mat, rows, [str(s) for s in adata.obs_names], label="log2 vs median", hover_rows=hover
    )
