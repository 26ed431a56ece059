"""The report's figures for interactive use (Jupyter): read an analysed AnnData, return plotly figures.

Each function converts the figure that :mod:`mscseq.report.figdata` builds for ``report.html`` into a
:class:`plotly.graph_objects.Figure`: the same builder with the same data (the AnnData keys documented in
``docs/architecture.md``), so a notebook shows exactly the figures of the report. They compute nothing:
run :func:`mscseq.explore`, :func:`mscseq.run_de`, ... first.

The ``static_*`` functions return the same figures as :class:`matplotlib.figure.Figure` for papers and QC
records (drawn by :mod:`mscseq.report.static` from the same figure data); :func:`save_figures` writes them all
as PDF and PNG, as ``mscseq compare`` does in ``figures/``.

Examples
--------
>>> import mscseq
>>> fig = mscseq.figures.pca(adata, color_by="cohort")  # doctest: +SKIP
>>> fig.show()  # doctest: +SKIP
>>> mscseq.figures.static_pca(adata).savefig("pca.pdf")  # doctest: +SKIP

"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mscseq.errors import MscseqError

if TYPE_CHECKING:
    from pathlib import Path

    import anndata
    import plotly.graph_objects as go
    from matplotlib.figure import Figure

__all__ = [
    "correlation",
    "equivalence",
    "ma",
    "outliers",
    "panel_genes",
    "panel_scores",
    "pca",
    "qc",
    "save_figures",
    "scree",
    "static_correlation",
    "static_ma",
    "static_panel_scores",
    "static_pca",
    "static_volcano",
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


def _recorded(spec: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if spec is None:
        msg = f"no {what} in adata.uns['comparability']; run {_RUN_COMPARABILITY} first"
        raise MscseqError(msg)
    return spec


def _present(spec: dict[str, Any] | None, what: str) -> go.Figure:
    return to_figure(_recorded(spec, what))


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
    return to_figure(_pca_spec(adata, color_by=color_by))


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


# ---------------------------------------------------------------------------- static (matplotlib)


def static_pca(adata: anndata.AnnData, *, color_by: str | None = None) -> Figure:
    """The PCA of :func:`pca` as a matplotlib figure (the colouring ``color_by`` only).

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.explore`.
    color_by
        Column to colour by (default: as the report chooses).

    Returns
    -------
    matplotlib.figure.Figure
        The PCA scatter with the report's colours and labels.

    """
    from mscseq.report import static

    return static.pca(_pca_spec(adata, color_by=color_by))


def _pca_spec(adata: anndata.AnnData, *, color_by: str | None = None) -> dict[str, Any]:
    """The report's PCA figure specification (checked ``color_by``), shared by :func:`pca` and :func:`static_pca`."""
    from mscseq.report import figdata

    _need(adata, "obsm", "X_pca", "mscseq.explore(adata)")
    comp = _comparability(adata)
    _, columns, _ = figdata.pca_colourings(adata, comp)
    if color_by is not None and color_by not in columns:
        msg = f"color_by={color_by!r}: not a sample-sheet column; choose from {', '.join(map(str, columns))}"
        raise MscseqError(msg)
    return figdata.pca(adata, comp, color_by=color_by)


def static_correlation(adata: anndata.AnnData) -> Figure:
    """Sample correlation as a seaborn clustermap with the report's clustering (linkage and leaf order).

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.explore`.

    Returns
    -------
    matplotlib.figure.Figure
        The clustermap.

    """
    from mscseq.report import figdata, static

    _need(adata, "uns", "clustering", "mscseq.explore(adata)")
    corr, order, tree = figdata.correlation_data(adata)
    return static.correlation_clustermap(corr, order, tree)


def static_panel_scores(adata: anndata.AnnData) -> Figure:
    """The panel-score heatmap of :func:`panel_scores` as a matplotlib figure.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_comparability`.

    Returns
    -------
    matplotlib.figure.Figure
        The heatmap.

    """
    from mscseq.report import figdata, static

    spec = _recorded(figdata.panel_scores(adata, _comparability(adata)), "panel scores")
    return static.heatmap(spec, title="MSC panel scores per product")


def static_volcano(adata: anndata.AnnData, contrast: str | None = None) -> Figure:
    """The volcano plot of :func:`volcano` with every gene, as a matplotlib figure.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_de`.
    contrast
        Contrast name (default: the first one).

    Returns
    -------
    matplotlib.figure.Figure
        The volcano plot.

    """
    from mscseq.report import figdata, static

    table, meta = _contrast(adata, contrast)
    return static.de_scatter(figdata.volcano_points(table, meta), title=contrast or _first(adata))


def static_ma(adata: anndata.AnnData, contrast: str | None = None) -> Figure:
    """The MA plot of :func:`ma` with every gene, as a matplotlib figure.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.run_de`.
    contrast
        Contrast name (default: the first one).

    Returns
    -------
    matplotlib.figure.Figure
        The MA plot.

    """
    from mscseq.report import figdata, static

    table, meta = _contrast(adata, contrast)
    return static.de_scatter(figdata.ma_points(table, meta), title=contrast or _first(adata))


def _first(adata: anndata.AnnData) -> str:
    from mscseq.report.records import de_contrasts

    return next(name for name, _, _ in de_contrasts(adata))


def save_figures(adata: anndata.AnnData, folder: str | Path) -> list[Path]:
    """Write every static figure the analysis supports into ``folder`` as PDF and PNG.

    The correlation clustermap, the PCA, the panel-score heatmap (after the comparability analysis) and a
    volcano and an MA plot per contrast: the ``figures/`` folder of ``mscseq compare``.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.explore` (and optionally :func:`mscseq.run_de`,
        :func:`mscseq.run_comparability`).
    folder
        Folder to write into (created).

    Returns
    -------
    list of pathlib.Path
        The files written.

    """
    from mscseq.report import static

    _need(adata, "obsm", "X_pca", "mscseq.explore(adata)")
    return static.save_figures(adata, folder)
