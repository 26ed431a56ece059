"""Static figures (PDF and PNG) for papers and QC records, drawn from the report's figure data.

Each drawing function takes what :mod:`mscseq.report.figdata` gives the report — a plotly specification
(PCA, panel-score heatmap) or the arranged data behind one (correlation with its clustering, the genes of a
volcano or MA plot) — and returns a :class:`matplotlib.figure.Figure` with the same data, colours and labels.
They do no I/O; :func:`save_figures` is the one function that writes files. Figures are drawn on the Agg
canvas (no GUI); the seaborn clustermap is created through pyplot and closed there once drawn.

PDF (vector, for papers and batch records; dense point clouds rasterised inside it) and PNG at 150 dpi
(for documents that take images; a 6.5-inch figure is ~1000 pixels wide) are written for every figure.
"""

from __future__ import annotations

import functools
import html
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

import numpy as np
import pandas as pd

from mscseq.background import Job, start
from mscseq.report import figdata, plots
from mscseq.report.records import comparability_block, de_contrasts

if TYPE_CHECKING:
    from matplotlib.figure import Figure

P = ParamSpec("P")

#: File formats written for every figure.
FORMATS = ("pdf", "png")
#: Resolution of the PNG files and of the rasterised point clouds in the PDFs (150: readable in a
#: document, and a quarter of the pixels of 300 dpi to draw and compress).
DPI = 150
#: Above this many points a scatter's points are rasterised inside the PDF (the axes and text stay vector).
RASTER_ABOVE = 2000

#: plotly marker symbols (:data:`mscseq.report.plots.SYMBOLS`) as matplotlib markers.
MARKERS = {
    "circle": "o",
    "square": "s",
    "diamond": "D",
    "triangle-up": "^",
    "cross": "P",
    "x": "X",
    "star": "*",
    "hexagon": "h",
}


def _literal_text(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Create the figure's texts with math parsing off: a ``$`` in a name is shown as is.

    matplotlib would otherwise read ``$...$`` in a sample or gene name as TeX and fail on invalid TeX.
    """

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return wrapper


def _text(value: Any) -> str:
    """Plot text as shown: the report's labels are HTML-escaped for plotly."""
    return html.unescape(str(value))


def _figure(width: float, height: float, *, layout: str | None = "constrained") -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _style(ax) -> None:
    ax.grid(True, color=plots.GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#888")


def _values(values: Any) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def _colormap(scale: Any):
    """A matplotlib colour map from a plotly colour scale (name or ``[[stop, colour], ...]``)."""
    from matplotlib.colors import LinearSegmentedColormap

    if isinstance(scale, str):
        return scale.lower()
    return LinearSegmentedColormap.from_list("mscseq", [(float(s), c) for s, c in scale])


# ---------------------------------------------------------------------------- drawing


@_literal_text
def pca(spec: Mapping[str, Any], *, title: str = "PCA") -> Figure:
    """The report's PCA scatter (its visible colouring) as a static figure.

    Parameters
    ----------
    spec
        The figure of :func:`mscseq.report.figdata.pca`.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: a point collection per level (or one on a colour scale) and the sample names.

    """
    layout = spec["layout"]
    fig = _figure(6.5, 5.0)
    ax = fig.add_subplot()
    _style(ax)
    legend = False
    for tr in spec["data"]:
        if not tr.get("visible", True):
            continue
        x, y = _values(tr["x"]), _values(tr["y"])
        if tr.get("mode") == "text":
            font = tr.get("textfont", {})
            for xi, yi, t in zip(x, y, tr["text"], strict=True):
                ax.annotate(
                    _text(t),
                    (xi, yi),
                    xytext=(0, 6),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                    color=font.get("color", "#444"),
                )
            continue
        marker = tr["marker"]
        if isinstance(marker["color"], list):  # a numeric column on a colour scale
            pts = ax.scatter(
                x,
                y,
                c=_values(marker["color"]),
                cmap=_colormap(marker.get("colorscale", "Viridis")),
                s=60,
                edgecolors="white",
                linewidths=0.6,
            )
            cbar = fig.colorbar(pts, ax=ax)
            cbar.set_label(_text(marker["colorbar"]["title"]["text"]))
            continue
        ax.scatter(
            x,
            y,
            color=marker["color"],
            marker=MARKERS.get(marker.get("symbol", "circle"), "o"),
            s=60,
            edgecolors="white",
            linewidths=0.6,
            label=_text(tr["name"]),
        )
        legend = True
    ax.set_xlabel(_text(layout["xaxis"]["title"]["text"]))
    ax.set_ylabel(_text(layout["yaxis"]["title"]["text"]))
    if legend:
        ax.legend(
            title=_text(layout.get("legend", {}).get("title", {}).get("text", "")),
            fontsize=8,
            title_fontsize=8,
            loc="best",
            framealpha=0.8,
        )
    ax.set_title(title, loc="left", fontsize=11)
    return fig


@_literal_text
def correlation_clustermap(
    corr: pd.DataFrame, order: list[str], linkage: np.ndarray | None, *, label: str = "Pearson r"
) -> Figure:
    """Sample × sample correlation as a seaborn clustermap with the report's clustering.

    Parameters
    ----------
    corr
        Correlation matrix, rows and columns in sample order (:func:`mscseq.report.figdata.correlation_data`).
    order
        The clustering's leaf order (used when there is no linkage to draw).
    linkage
        The clustering's SciPy linkage on ``corr``'s samples; its leaf order is ``order``.
    label
        Colour-bar title.

    Returns
    -------
    matplotlib.figure.Figure
        The clustermap's figure (its ``dendrogram_col.reordered_ind`` is the report's order).

    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    n = len(corr)
    values = corr.to_numpy(dtype=float)
    off = values[~np.eye(n, dtype=bool)] if n > 1 else np.array([1.0])
    vmin = float(np.nanmin(off)) if np.isfinite(off).any() else 0.0
    tree = linkage is not None and n > 1 and np.asarray(linkage).shape[0] == n - 1
    data = corr if tree else corr.loc[order, order]
    side = float(min(14.0, max(5.0, 2.5 + 0.16 * n)))
    ticks = n <= 80
    grid = sns.clustermap(
        data,
        row_linkage=linkage if tree else None,
        col_linkage=linkage if tree else None,
        row_cluster=tree,
        col_cluster=tree,
        cmap="viridis",
        vmin=vmin,
        vmax=1.0,
        xticklabels=ticks,
        yticklabels=ticks,
        figsize=(side, side),
        dendrogram_ratio=0.12,
        cbar_pos=(0.03, 0.82, 0.025, 0.12),
    )
    size = 8 if n <= 40 else 6
    grid.ax_heatmap.tick_params(labelsize=size)
    grid.ax_heatmap.set_xlabel("")
    grid.ax_heatmap.set_ylabel("")
    grid.ax_cbar.set_title(label, fontsize=8, loc="left")
    grid.ax_cbar.tick_params(labelsize=7)
    fig = grid.figure
    fig.suptitle(f"Sample correlation ({label}), clustered", y=1.03, fontsize=11)
    plt.close(fig)  # pyplot made it; the caller owns it from here
    return fig


@_literal_text
def heatmap(spec: Mapping[str, Any], *, title: str) -> Figure:
    """A report heatmap (e.g. :func:`mscseq.report.figdata.panel_scores`) on its diverging scale.

    Parameters
    ----------
    spec
        Figure of :func:`mscseq.report.plots.diverging_heatmap`.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The heatmap, first row on top, values printed when the report prints them.

    """
    tr = spec["data"][0]
    z = np.asarray([_values(row) for row in tr["z"]], dtype=float)
    rows, cols = [_text(r) for r in tr["y"]], [_text(c) for c in tr["x"]]
    fig = _figure(max(5.0, 2.5 + 0.28 * len(cols)), max(2.5, 1.4 + 0.32 * len(rows)))
    ax = fig.add_subplot()
    im = ax.imshow(
        np.ma.masked_invalid(z),
        cmap=_colormap(tr["colorscale"]),
        vmin=tr["zmin"],
        vmax=tr["zmax"],
        aspect="auto",
        interpolation="nearest",
    )
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if "texttemplate" in tr:
        for (i, j), v in np.ndenumerate(z):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5, color="#222")
    cbar = fig.colorbar(im, ax=ax, shrink=0.9)
    cbar.set_label(_text(tr["colorbar"]["title"]["text"]))
    ax.set_title(title, loc="left", fontsize=11)
    return fig


@_literal_text
def de_scatter(pts: plots.DEPoints, *, title: str) -> Figure:
    """A volcano or MA plot with every gene: the report's classes, colours, legend and labels.

    Parameters
    ----------
    pts
        The genes (:func:`mscseq.report.figdata.volcano_points` or :func:`~mscseq.report.figdata.ma_points`).
    title
        Figure title (the contrast).

    Returns
    -------
    matplotlib.figure.Figure
        One collection per class (not significant, down, up) and the top genes labelled.

    """
    fig = _figure(6.5, 4.8)
    ax = fig.add_subplot()
    _style(ax)
    for key, name, colour, size in pts.groups:
        sel = pts.cls == key
        ax.scatter(
            pts.x[sel],
            pts.y[sel],
            s=size * 1.4,
            color=colour,
            alpha=0.6 if key == "ns" else 0.8,
            linewidths=0,
            label=name,
            rasterized=bool(sel.sum() > RASTER_ABOVE),
        )
    for i in pts.top:
        ax.annotate(
            str(pts.labels[i]),
            (pts.x[i], pts.y[i]),
            xytext=(12, 12),
            textcoords="offset points",
            fontsize=7,
            arrowprops={"arrowstyle": "-", "color": "#666", "linewidth": 0.6},
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
        )
    ax.set_xlim(*pts.xrange)
    ax.set_ylim(*pts.yrange)
    ax.set_xlabel(pts.xtitle)
    ax.set_ylabel(pts.ytitle)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, fontsize=7, frameon=False)
    ax.set_title(title, loc="right", fontsize=9, color="#444")
    return fig


# ---------------------------------------------------------------------------- from a run


def run_figures(adata, summary: Mapping[str, Any] | None = None) -> Iterator[tuple[str, Figure]]:
    """Every static figure a run's outputs support, one at a time: ``(file stem, figure)``.

    The correlation clustermap and the PCA always; the panel-score heatmap when the comparability analysis
    scored panels; a volcano and an MA plot per contrast (stems ``volcano_<contrast>``, ``ma_<contrast>``,
    as the tables' ``de_<contrast>.tsv``).
    """
    for stem, draw in figure_plan(adata, summary):
        yield stem, draw()


def figure_plan(
    adata, summary: Mapping[str, Any] | None = None
) -> list[tuple[str, Callable[[], Figure]]]:
    """The figures of :func:`run_figures` in order, not drawn yet: ``(file stem, drawing function)``."""
    comp = comparability_block(adata, summary)
    corr, order, tree = figdata.correlation_data(adata)
    plan: list[tuple[str, Callable[[], Figure]]] = [
        ("correlation_clustermap", functools.partial(correlation_clustermap, corr, order, tree)),
        ("pca", lambda: pca(figdata.pca(adata, comp))),
    ]
    scores = figdata.panel_scores(adata, comp)
    if scores is not None and np.size(scores["data"][0]["z"]):  # no panel gene measured: no scores
        plan.append(
            (
                "panel_scores",
                functools.partial(heatmap, scores, title="MSC panel scores per product"),
            )
        )
    for name, table, meta in de_contrasts(adata, summary):
        for kind, points in (("volcano", figdata.volcano_points), ("ma", figdata.ma_points)):
            draw = functools.partial(_de_figure, points, table, meta, name)
            plan.append((f"{kind}_{name}", draw))
    return plan


#: Relative drawing cost of a figure by stem prefix (the rest: 1), to share the figures among processes
#: (CPU of each, PNG and PDF, on a 20-product × 61,533-gene study relative to the PCA's 0.19 s; the
#: clustermap's 0.70 s includes importing seaborn, ~0.4 s, which only its process does).
COSTS = {"correlation_clustermap": 3.7, "panel_scores": 1.4, "volcano_": 1.3, "ma_": 1.5}


def figure_shares(stems: list[str], n: int) -> list[list[int]]:
    """Positions of the figures each of ``n`` processes draws, their costs (:data:`COSTS`) balanced.

    Greedy: the costliest figure first, each to the process with the least so far (ties: the first);
    every share in plan order.
    """

    def cost(stem: str) -> float:
        return next((c for key, c in COSTS.items() if stem.startswith(key)), 1.0)

    shares: list[list[int]] = [[] for _ in range(max(1, n))]
    load = [0.0] * len(shares)
    for i in sorted(range(len(stems)), key=lambda i: -cost(stems[i])):  # stable: plan order on ties
        k = load.index(min(load))
        shares[k].append(i)
        load[k] += cost(stems[i])
    return [sorted(share) for share in shares]


def _de_figure(points: Callable[..., plots.DEPoints], table, meta, name: str) -> Figure:
    return de_scatter(points(table, meta), title=name)


def _file_backend() -> None:
    """Draw with Agg (no GUI) when nothing chose a backend yet (no pyplot imported, no ``MPLBACKEND``)."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        import matplotlib

        matplotlib.use("Agg")


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write one figure as ``stem.pdf`` and ``stem.png`` (no timestamps inside, so reruns are identical).

    The figure is drawn once on the Agg canvas at the PNG's resolution: that draw runs the layout
    (constrained layout, text extents) and gives the tight bounding box; the PNG is that picture cut
    to the box (the padding beyond the figure's edge in its background colour), and the PDF is drawn
    once more, cut to the same box (``bbox_inches="tight"`` would lay out and draw each file twice).
    When something is drawn beyond the figure (a title above it), the PNG is drawn again on a canvas
    of the box's size.
    """
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):  # a closed pyplot figure has a bare canvas
        FigureCanvasAgg(fig)
    fig.set_dpi(DPI)
    fig.canvas.draw()  # the layout engine runs here, once, and the PNG's pixels are drawn
    tight = fig.get_tightbbox(fig.canvas.get_renderer())
    box = tight.padded(rcParams["savefig.pad_inches"])
    fig.set_layout_engine("none")  # positions are final
    out = []
    for ext in FORMATS:
        path = stem.with_name(f"{stem.name}.{ext}")
        meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
        if ext != "png" or not _write_drawn_png(fig, tight, box, path, meta):
            fig.savefig(path, format=ext, dpi=DPI, metadata=meta, bbox_inches=box)
        out.append(path)
    return out


def _write_drawn_png(fig: Figure, tight, box, path: Path, meta: Mapping[str, Any]) -> bool:
    """Write the canvas as drawn, cut to ``box`` (inches), as a PNG.

    Returns False (nothing written) when something was drawn beyond the figure (``tight`` leaves it).
    """
    from matplotlib.colors import to_rgba
    from matplotlib.image import imsave

    height, width = fig.canvas.get_width_height()[::-1]
    if tight.x0 < 0 or tight.y0 < 0 or tight.x1 * DPI > width or tight.y1 * DPI > height:
        return False
    # the size and bottom-left anchor matplotlib gives a figure saved with ``bbox_inches=box``
    x0, bottom = round(box.x0 * DPI), height - round(box.y0 * DPI)
    x1, top = x0 + int(box.width * DPI), bottom - int(box.height * DPI)
    drawn = np.asarray(fig.canvas.buffer_rgba())
    background = np.round(np.asarray(to_rgba(fig.get_facecolor())) * 255).astype(np.uint8)
    pixels = np.empty((bottom - top, x1 - x0, 4), dtype=np.uint8)
    pixels[:] = background  # the padding beyond the figure's edge
    r0, c0 = max(top, 0), max(x0, 0)
    r1, c1 = min(bottom, height), min(x1, width)
    pixels[r0 - top : r1 - top, c0 - x0 : c1 - x0] = drawn[r0:r1, c0:c1]
    imsave(path, pixels, format="png", dpi=DPI, metadata=dict(meta))
    return True


def save_figures(
    adata,
    folder: str | Path,
    *,
    summary: Mapping[str, Any] | None = None,
    part: tuple[int, int] = (0, 1),
) -> list[Path]:
    """Write every static figure of a run into ``folder`` (created) as PDF and PNG.

    Parameters
    ----------
    adata
        Analysed AnnData.
    folder
        Output folder (``figures/`` of a run's output folder).
    summary
        Content of ``summary.json`` (default: read what is needed from ``adata``).
    part
        ``(k, n)``: only the k-th of n shares of the figures (:func:`figure_shares`, for one of n
        processes); default all.

    Returns
    -------
    list of pathlib.Path
        The files written.

    """
    _file_backend()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    plan = figure_plan(adata, summary)
    k, n = part
    for i in figure_shares([stem for stem, _ in plan], n)[k]:
        stem, draw = plan[i]
        fig = draw()
        written += save_figure(fig, folder / stem)
        fig.clear()
    return written


class FigureJob:
    """Static figures being written by child processes (:func:`start_figures`).

    Use it as a context manager around the other writing: leaving the block normally waits for the
    figures (:meth:`wait`, which raises if a child failed); an exception stops the children.
    """

    def __init__(self, children: list[Job], written: list[Path] | None = None):
        self._children, self._written = children, written

    def __enter__(self) -> FigureJob:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:
            self.cancel()
        else:
            self.wait()

    def wait(self) -> list[Path]:
        """Wait for the figures; the files written (in :func:`figure_plan` order).

        Raises
        ------
        OSError
            When writing failed in a child (same errno, message and file name).
        RuntimeError
            When drawing failed in a child (its error's type and message).

        """
        if not self._children:
            return list(self._written or [])
        outcomes: list[Any] = []
        for child in self._children:  # every child is reaped before an error is raised
            try:
                outcomes.append(child.result())
            except Exception as exc:
                outcomes.append(exc)
        self._children = []
        for outcome in outcomes:
            if isinstance(outcome, OSError):  # e.g. a full disk: the same error as in the parent
                raise outcome
            if isinstance(outcome, Exception):
                raise RuntimeError(
                    f"static figures: {type(outcome).__name__}: {outcome}"
                ) from outcome
        records = outcomes
        # each child wrote its share of the figures: their files back into the plan's order
        by_figure: dict[int, list[str]] = {}
        for r in records:
            files = r["files"]
            for j, i in enumerate(r["share"]):
                by_figure[i] = files[j * len(FORMATS) : (j + 1) * len(FORMATS)]
        written = [Path(p) for i in sorted(by_figure) for p in by_figure[i]]
        self._written = written
        return list(written)

    def cancel(self) -> None:
        """Stop the children (if still running) and reap them; nothing is raised."""
        for child in self._children:
            child.cancel()
        self._children = []


def start_figures(
    adata,
    folder: str | Path,
    *,
    summary: Mapping[str, Any] | None = None,
    background: bool = True,
    processes: int | None = None,
) -> FigureJob:
    """Start writing every static figure of a run (:func:`save_figures`), in child processes.

    The figures take ~2 s of CPU on a 60,000-gene study, mostly matplotlib's drawing; forked children
    draw them while the parent writes the tables, ``mscseq.h5ad`` and the report, so on a machine with
    free cores they cost little wall time. The children see the parent's data as it was at the fork
    (nothing is pickled) and end with ``os._exit``, so they never run the parent's clean-up code.
    Without ``os.fork`` (Windows) or with ``background=False`` the figures are written before returning.

    Parameters
    ----------
    adata
        Analysed AnnData (not changed afterwards by the caller while the job runs).
    folder
        Output folder (``figures/`` of a run's output folder).
    summary
        Content of ``summary.json`` (default: read what is needed from ``adata``).
    background
        Draw in child processes (default) or right here.
    processes
        Child processes sharing the figures (default: 2 on a machine with at least 2 CPUs, else 1).

    Returns
    -------
    FigureJob
        Wait for it (:meth:`FigureJob.wait`, or leave its ``with`` block) before the folder is complete.

    """
    if not background or not hasattr(os, "fork"):
        return FigureJob([], save_figures(adata, folder, summary=summary))
    n = processes or (2 if (os.cpu_count() or 1) >= 2 else 1)
    if n > 1:
        warm_up()  # once here rather than in every child (a no-op when done already)
    job = FigureJob([])
    try:
        for k in range(n):
            job._children.append(start(_figure_part, adata, folder, summary, (k, n)))
    except BaseException:
        job.cancel()
        raise
    return job


def warm_up() -> None:
    """Import what every figure process needs (matplotlib, its Agg and PDF backends) and load the font."""
    from matplotlib import font_manager
    from matplotlib.backends import backend_agg, backend_pdf  # noqa: F401

    font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))


def _figure_part(
    adata, folder: str | Path, summary: Mapping[str, Any] | None, part: tuple[int, int]
) -> dict[str, Any]:
    """Write ``part`` of the figures (run in a child by :func:`start_figures`): the files and their figures."""
    written = save_figures(adata, folder, summary=summary, part=part)
    stems = [stem for stem, _ in figure_plan(adata, summary)]
    return {"files": [str(p) for p in written], "share": figure_shares(stems, part[1])[part[0]]}
