"""The report's figures for interactive use (Jupyter): read an analysed AnnData, return plotly figures.

Each function is a thin adapter from the AnnData keys documented in ``docs/architecture.md`` to the
report's plot builders (:mod:`mscseq.report.plots`), so a notebook shows exactly the figures of
``report.html``. They compute nothing: run :func:`mscseq.explore`, :func:`mscseq.run_de`, ... first.

Examples
--------
>>> import mscseq
>>> fig = mscseq.figures.pca(adata, color_by="cohort")  # doctest: +SKIP
>>> fig.show()  # doctest: +SKIP

"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError

if TYPE_CHECKING:
    import anndata
    import plotly.graph_objects as go


def _figure(spec: dict[str, Any]) -> go.Figure:
    import plotly.graph_objects as go

    layout = dict(spec.get("layout", {}))
    layout.pop("meta", None)  # report-page metadata (colour selector, static layers); unused here
    for key, value in layout.items():
        # plotly.js tolerates float round-off in axis domains (e.g. -5e-17); plotly.py's validator does not
        if isinstance(value, dict) and isinstance(value.get("domain"), list | tuple):
            layout[key] = {
                **value,
                "domain": [min(max(float(x), 0.0), 1.0) for x in value["domain"]],
            }
    return go.Figure(data=spec.get("data", []), layout=layout)


def _need(adata: anndata.AnnData, where: str, key: str, step: str) -> None:
    store = getattr(adata, where)
    if key not in store:
        msg = f"adata.{where}[{key!r}] is missing; run {step} first"
        raise MscseqError(msg)


def _outliers(adata: anndata.AnnData) -> list[str]:
    comp = adata.uns.get("comparability") or {}
    return [str(p.get("sample")) for p in comp.get("products", []) if p.get("status") == "outlier"]


def qc(adata: anndata.AnnData) -> go.Figure:
    """Library size, detected genes and top-100 share per sample (comparability outliers highlighted).

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.compute_qc`.

    Returns
    -------
    plotly.graph_objects.Figure
        Three stacked bar charts.

    """
    from mscseq.report import plots

    _need(adata, "obs", "library_size", "mscseq.compute_qc(adata)")
    cols = [c for c in ("library_size", "detected_genes", "top100_fraction") if c in adata.obs]
    return _figure(plots.qc_figure(adata.obs[cols], highlight=_outliers(adata)))


def pca(adata: anndata.AnnData, *, color_by: str | None = None) -> go.Figure:
    """PC1 × PC2 of the top variable VST genes, coloured by a sample-sheet column.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.explore`.
    color_by
        Sheet column to colour by (default: as the report chooses; ``"comparability"`` colours by
        product status when the comparability analysis ran).

    Returns
    -------
    plotly.graph_objects.Figure
        The PCA scatter.

    """
    from mscseq.report import plots, sections

    _need(adata, "obsm", "X_pca", "mscseq.explore(adata)")
    sheet = sections.sheet_columns(adata)
    obs = adata.obs[sheet].copy()
    status = {
        str(p.get("sample")): p.get("status")
        for p in (adata.uns.get("comparability") or {}).get("products", [])
    }
    if status:
        obs["comparability"] = [status.get(str(s)) or "not assessed" for s in obs.index]
    if color_by is None:
        color_by = "comparability" if status else sections.default_colouring(adata.obs[sheet])
    if color_by is not None and color_by not in obs.columns:
        msg = f"color_by={color_by!r}: not a sample-sheet column; choose from {', '.join(map(str, obs.columns))}"
        raise MscseqError(msg)
    cols = [color_by] if color_by is not None else []
    ratio = np.asarray(adata.uns["pca"]["variance_ratio"], dtype=float)
    spec = plots.pca_figure(
        np.asarray(adata.obsm["X_pca"]), ratio, obs, color_by=cols or None, default=color_by
    )
    return _figure(spec)


def correlation(adata: anndata.AnnData, *, method: str = "pearson") -> go.Figure:
    """Sample × sample correlation of VST values in clustering order, with the dendrogram.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.explore`.
    method
        ``"pearson"`` (the clustering's metric) or ``"spearman"``.

    Returns
    -------
    plotly.graph_objects.Figure
        The heatmap.

    """
    from mscseq.report import plots

    if method not in ("pearson", "spearman"):
        msg = f"method={method!r}: choose 'pearson' or 'spearman'"
        raise MscseqError(msg)
    _need(adata, "obsp", method, "mscseq.explore(adata)")
    clus = adata.uns["clustering"]
    order = [str(s) for s in clus["order"]]
    link = (
        np.asarray(clus["linkage"])
        if method == "pearson" and clus.get("linkage") is not None
        else None
    )
    spec = plots.correlation_heatmap(
        np.asarray(adata.obsp[method]),
        [str(s) for s in adata.obs_names],
        order,
        linkage=link,
        label=f"{method.capitalize()} r",
    )
    return _figure(spec)


def volcano(adata: anndata.AnnData, contrast: str | None = None) -> go.Figure:
    """Volcano plot of one contrast's DESeq2 results.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_de`.
    contrast
        Contrast name (``<VAR>_<TARGET>_vs_<REFERENCE>``; default: the first one).

    Returns
    -------
    plotly.graph_objects.Figure
        The volcano plot (genes with ``padj < alpha`` coloured by direction).

    """
    from mscseq.report import plots

    tables = adata.uns.get("de") or {}
    if not tables:
        msg = (
            "adata.uns['de'] is empty; run mscseq.run_de(adata, design=..., contrasts=[...]) first"
        )
        raise MscseqError(msg)
    name = contrast if contrast is not None else next(iter(tables))
    if name not in tables:
        msg = f"contrast {name!r} not found; available: {', '.join(tables)}"
        raise MscseqError(msg)
    meta = (adata.uns.get("de_summary") or {}).get(name, {})
    spec = plots.volcano_figure(
        pd.DataFrame(tables[name]),
        alpha=float(meta.get("alpha", 0.1)),
        target=str(meta.get("target", "target")),
        reference=str(meta.get("reference", "reference")),
    )
    return _figure(spec)


def panel_scores(adata: anndata.AnnData) -> go.Figure:
    """MSC gene-panel scores per product (rows) and panel (columns), as a heatmap.

    A score is, in log2 units, how far the product's VST of the panel's genes lies from the median
    product (negative markers counted with the opposite sign): 0 is typical of this batch, positive
    means more of what the panel measures (see :func:`mscseq.comparability.panels.panel_scores`).
    Outliers of the comparability analysis are marked with ``*``.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_comparability`.

    Returns
    -------
    plotly.graph_objects.Figure
        The heatmap, products in clustering order.

    """
    import plotly.graph_objects as go

    from mscseq.report.plots import FONT, esc

    comp = adata.uns.get("comparability") or {}
    scores = (comp.get("panels") or {}).get("scores")
    if not scores:
        msg = "no panel scores in adata.uns['comparability']; run mscseq.run_comparability(adata) first"
        raise MscseqError(msg)
    table = pd.DataFrame.from_dict(scores, orient="index")
    order = [str(s) for s in adata.uns.get("clustering", {}).get("order", table.index)]
    table = table.loc[[s for s in order if s in table.index]]
    outliers = set(_outliers(adata))
    labels = [esc(f"{s} *" if s in outliers else s) for s in table.index]
    z = table.to_numpy(dtype=float)
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    heat = go.Heatmap(
        z=z,
        x=[esc(c.replace("_", " ")) for c in table.columns],
        y=labels,
        zmin=-lim,
        zmax=lim,
        colorscale="RdBu",
        reversescale=True,
        colorbar={"title": {"text": "score (log2)"}},
        hovertemplate="%{y}<br>%{x}: %{z:.2f}<extra></extra>",
    )
    height = max(300, 22 * len(labels) + 120)
    layout = {
        "font": {"family": FONT},
        "height": height,
        "yaxis": {"autorange": "reversed", "title": {"text": "product (* = outlier)"}},
        "margin": {"l": 110, "r": 20, "t": 30, "b": 80},
    }
    return go.Figure(data=[heat], layout=layout)
