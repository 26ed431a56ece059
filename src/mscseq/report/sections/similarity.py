"""Similarity (``similarity.html.j2``): PCA with a colour selector, scree plot, correlation heatmap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mscseq.report import figdata
from mscseq.report.sections import Figures


def section(adata, comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """PCA (colour selector over sheet columns), scree plot and correlation heatmap."""
    _, columns, default = figdata.pca_colourings(adata, comp)
    figs.add("fig-pca", figdata.pca(adata, comp))
    figs.add("fig-scree", figdata.scree(adata))
    figs.add("fig-corr", figdata.correlation(adata))
    pca = adata.uns["pca"]
    ratio = np.asarray(pca["variance_ratio"], dtype=float)
    clustering = adata.uns["clustering"]
    return {
        "pca_fig": "fig-pca",
        "scree_fig": "fig-scree",
        "corr_fig": "fig-corr",
        "colorings": [{"index": i, "label": c} for i, c in enumerate(columns)],
        "default": columns.index(default) if default in columns else 0,
        "n_top": int(pca.get("n_top", 0)),
        "pc1": 100 * float(ratio[0]) if len(ratio) else 0.0,
        "pc2": 100 * float(ratio[1]) if len(ratio) > 1 else 0.0,
        "method": clustering.get("method", "average"),
        "metric": clustering.get("metric", "1 - pearson"),
        "comparability_similarity": (comp or {}).get("similarity"),
    }
