"""Render ``report.html`` from the analysed AnnData and the run summary (first, plain version)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pca_figure(adata):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pcs = np.asarray(adata.obsm["X_pca"])
    ratio = np.asarray(adata.uns["pca"]["variance_ratio"])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    y = pcs[:, 1] if pcs.shape[1] > 1 else np.zeros(len(pcs))
    ax.scatter(pcs[:, 0], y, s=30, color="#0072B2")
    for name, xx, yy in zip(adata.obs_names, pcs[:, 0], y, strict=True):
        ax.annotate(str(name), (xx, yy), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f} %)")
    if len(ratio) > 1:
        ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f} %)")
    return fig


def _corr_figure(adata):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = adata.uns["clustering"]["order"]
    idx = [list(adata.obs_names).index(s) for s in order]
    corr = np.asarray(adata.obsp["pearson"])[np.ix_(idx, idx)]
    n = len(order)
    fig, ax = plt.subplots(figsize=(min(12, 2 + 0.3 * n), min(10, 1.5 + 0.3 * n)))
    im = ax.imshow(corr, cmap="viridis")
    ax.set_xticks(range(n), order, rotation=90, fontsize=6)
    ax.set_yticks(range(n), order, fontsize=6)
    fig.colorbar(im, ax=ax, label="Pearson r (VST)")
    return fig


def render_report(adata, *, summary: dict[str, Any], run_info: dict[str, Any]) -> str:
    """Render the HTML report.

    Parameters
    ----------
    adata
        Analysed AnnData.
    summary
        Content of ``summary.json``.
    run_info
        Content of ``run_info.json``.

    Returns
    -------
    str
        A self-contained HTML document.

    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("mscseq", "report/templates"), autoescape=select_autoescape(default=True))
    tmpl = env.get_template("report.html.j2")
    return tmpl.render(
        summary=summary,
        run_info=run_info,
        pca_png=_png(_pca_figure(adata)),
        corr_png=_png(_corr_figure(adata)),
    )
