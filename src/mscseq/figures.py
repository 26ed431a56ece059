"""The report's figures for interactive use (Jupyter): read an analysed AnnData, return plotly figures.

Each function converts the figure that :mod:`mscseq.report.figdata` builds for ``report.html`` into a
:class:`plotly.graph_objects.Figure`: the same builder with the same data (the AnnData keys documented in
``docs/architecture.md``), so a notebook shows exactly the figures of the report. They compute nothing:
run :func:`mscseq.explore`, :func:`mscseq.run_de`, ... first.

Examples
--------
>>> import mscseq
>>> fig = mscseq.figures.pca(adata, color_by="cohort")  # doctest: +SKIP
>>> fig.show()  # doctest: +SKIP

"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mscseq.errors import MscseqError

if TYPE_CHECKING:
    import anndata
    import plotly.graph_objects as go

__all__ = [
    "correlation",
    "equivalence",
    "ma",
    "outliers",
    "panel_genes",
    "panel_scores",
    "pca",
    "qc",
    "scree",
    "variance_partition",
    "volcano",
]

_RUN_COMPARABILITY = "mscseq.run_comparability(adata)"


def to_figure(spec: dict[str, Any]) -> go.Figure:
    """A plotly figure from a report figure specification (the page-only ``layout.meta`` left out).

    Parameters
    ----------
    spec
        ``{"data", "layout"}`` as built by :mod:`mscseq.report.figdata`.

    Returns
    -------
    plotly.graph_objects.Figure
        The figure.

    """
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


def _comparability(adata: anndata.AnnData) -> dict[str, Any] | None:
    from mscseq.report.records import comparability_block

    return comparability_block(adata)


def _present(spec: dict[str, Any] | None, what: str) -> go.Figure:
    if spec is None:
        msg = f"no {what} in adata.uns['comparability']; run {_RUN_COMPARABILITY} first"
        raise MscseqError(msg)
    return to_figure(spec)


def qc(adata: anndata.AnnData) -> go.Figure:
    """Library size, detected genes and top-100 share per sample (comparability outliers highlighted).

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.compute_qc` and :func:`mscseq.normalize`.

    Returns
    -------
    plotly.graph_objects.Figure
        Three stacked bar charts.

    """
    from mscseq.report import figdata

    _need(adata, "obs", "library_size", "mscseq.compute_qc(adata)")
    return to_figure(figdata.qc(adata, _comparability(adata)))


def pca(adata: anndata.AnnData, *, color_by: str | None = None) -> go.Figure:
    """PC1 × PC2 of the top variable VST genes, coloured by a sample-sheet column.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.explore`.
    color_by
        Column whose colouring is shown (default: as the report chooses; ``"comparability"`` colours by
        product status when the comparability analysis ran). The other colourings are in the figure as
        hidden traces, as in the report.

    Returns
    -------
    plotly.graph_objects.Figure
        The PCA scatter.

    """
    from mscseq.report import figdata

    _need(adata, "obsm", "X_pca", "mscseq.explore(adata)")
    comp = _comparability(adata)
    _, columns, _ = figdata.pca_colourings(adata, comp)
    if color_by is not None and color_by not in columns:
        msg = f"color_by={color_by!r}: not a sample-sheet column; choose from {', '.join(map(str, columns))}"
        raise MscseqError(msg)
    return to_figure(figdata.pca(adata, comp, color_by=color_by))


def scree(adata: anndata.AnnData) -> go.Figure:
    """Share of variance explained by each principal component.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.explore`.

    Returns
    -------
    plotly.graph_objects.Figure
        The bar chart.

    """
    from mscseq.report import figdata

    _need(adata, "uns", "pca", "mscseq.explore(adata)")
    return to_figure(figdata.scree(adata))


def correlation(adata: anndata.AnnData, *, method: str = "pearson") -> go.Figure:
    """Sample × sample correlation of VST values in clustering order, with the dendrogram.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.explore`.
    method
        ``"pearson"`` (the clustering's metric; the report's figure) or ``"spearman"`` (no dendrogram).

    Returns
    -------
    plotly.graph_objects.Figure
        The heatmap.

    """
    from mscseq.report import figdata

    if method not in ("pearson", "spearman"):
        msg = f"method={method!r}: choose 'pearson' or 'spearman'"
        raise MscseqError(msg)
    _need(adata, "obsp", method, "mscseq.explore(adata)")
    return to_figure(figdata.correlation(adata, method))


def _contrast(adata: anndata.AnnData, contrast: str | None):
    from mscseq.report.records import de_contrasts

    found = {name: (table, meta) for name, table, meta in de_contrasts(adata)}
    if not found:
        msg = (
            "adata.uns['de'] is empty; run mscseq.run_de(adata, design=..., contrasts=[...]) first"
        )
        raise MscseqError(msg)
    name = contrast if contrast is not None else next(iter(found))
    if name not in found:
        msg = f"contrast {name!r} not found; available: {', '.join(found)}"
        raise MscseqError(msg)
    return found[name]


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
    from mscseq.report import figdata

    return to_figure(figdata.volcano(*_contrast(adata, contrast)))


def ma(adata: anndata.AnnData, contrast: str | None = None) -> go.Figure:
    """MA plot (mean count × log2 fold change) of one contrast's DESeq2 results.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_de`.
    contrast
        Contrast name (default: the first one).

    Returns
    -------
    plotly.graph_objects.Figure
        The MA plot.

    """
    from mscseq.report import figdata

    return to_figure(figdata.ma(*_contrast(adata, contrast)))


def panel_scores(adata: anndata.AnnData) -> go.Figure:
    """MSC gene-panel scores, panels × products, as a heatmap centred on 0.

    A score is, in log2 units, how far the product's VST of the panel's genes lies from the median
    product (negative markers counted with the opposite sign): 0 is typical of this batch, positive
    means more of what the panel measures (see :func:`mscseq.comparability.panels.panel_scores`).

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_comparability`.

    Returns
    -------
    plotly.graph_objects.Figure
        The heatmap, products in sample order.

    """
    from mscseq.report import figdata

    return _present(figdata.panel_scores(adata, _comparability(adata)), "panel scores")


def panel_genes(adata: anndata.AnnData) -> go.Figure:
    """Each panel gene's VST minus its median over the products, genes × products.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_comparability`.

    Returns
    -------
    plotly.graph_objects.Figure
        The heatmap.

    """
    from mscseq.report import figdata

    return _present(figdata.panel_genes(adata, _comparability(adata)), "panel genes")


def outliers(adata: anndata.AnnData) -> go.Figure:
    """Robust z-scores of each product's correlation and distance against the outlier threshold.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_comparability`.

    Returns
    -------
    plotly.graph_objects.Figure
        The outlier screening plot.

    """
    from mscseq.report import figdata

    return _present(figdata.outlier_scores(_comparability(adata)), "outlier scores")


def equivalence(adata: anndata.AnnData) -> go.Figure:
    """Per group against the reference: shares of genes shown equivalent, beyond the margin, or neither.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_comparability` with ``group``.

    Returns
    -------
    plotly.graph_objects.Figure
        The stacked bars.

    """
    from mscseq.report import figdata

    return _present(figdata.equivalence(_comparability(adata)), "equivalence results")


def variance_partition(adata: anndata.AnnData) -> go.Figure:
    """Median share of each gene's variance due to the donor and the other sheet variables.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_comparability` (donors with replicates).

    Returns
    -------
    plotly.graph_objects.Figure
        The bar chart with interquartile ranges.

    """
    from mscseq.report import figdata

    return _present(figdata.variance_partition(_comparability(adata)), "variance partition")
