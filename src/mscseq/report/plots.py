"""Plot builders for the HTML report.

Each builder reads already computed results (arrays, data frames or the AnnData) and returns a figure:
a plotly figure specification as a plain ``{"data": [...], "layout": {...}}`` dictionary, ready to be
embedded as JSON and drawn by plotly.js in the page. Builders do no file I/O and compute no statistics;
the only matplotlib use is rasterising dense point clouds into a PNG layer (see :func:`raster_layer`).

Strings that come from the data (sample names, gene names, sheet values) are HTML-escaped before they
reach plotly, because plotly.js interprets a small subset of HTML in labels; escaped text is shown
literally and can never become markup.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

Figure = dict[str, Any]

#: Okabe–Ito palette (colour-blind safe), ordered for contrast on white; yellow last.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"]
#: Marker symbols cycled after the palette is exhausted, so that > 8 levels stay distinguishable.
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon"]
UP = "#D55E00"
DOWN = "#0072B2"
NEUTRAL = "#B8B8B8"
FLAG = "#D55E00"
OK = "#0072B2"
GRID = "#E6E6E6"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

#: Above this many points a scatter is drawn as a PNG layer with only the top points interactive.
MAX_POINTS = 5000
#: Palette size of that PNG layer (colours × transparency levels of the antialiased points).
RASTER_COLOURS = 32


def esc(value: Any) -> str:
    """Text of a data value, escaped for plotly labels (which understand a few HTML tags)."""
    return html.escape(str(value), quote=False)


def num(values: Any, digits: int = 5) -> list[float | None]:
    """Numbers as a JSON-ready list: rounded to ``digits`` significant digits, non-finite → ``None``."""
    a = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(a)
    out = np.zeros_like(a)
    if finite.any():
        f = a[finite]
        mag = np.floor(np.log10(np.abs(np.where(f == 0, 1.0, f))))
        scale = 10.0 ** (digits - 1 - mag)
        out[finite] = np.round(f * scale) / scale
    lst: list[float | None] = out.tolist()
    if not finite.all():
        for i in np.flatnonzero(~finite):
            lst[i] = None
    return lst


def base_layout(**kw: Any) -> dict[str, Any]:
    """Shared layout: white background, light grid, system fonts, compact margins."""
    layout: dict[str, Any] = {
        "font": {"family": FONT, "size": 12, "color": "#222"},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "hovermode": "closest",
        "hoverlabel": {"font": {"family": FONT}, "align": "left"},
        "legend": {"bgcolor": "rgba(255,255,255,0.8)"},
    }
    layout.update(kw)
    return layout


def axis(title: str, **kw: Any) -> dict[str, Any]:
    """An axis with a title, grid and zero line in the report's style."""
    ax: dict[str, Any] = {
        "title": {"text": title},
        "gridcolor": GRID,
        "zerolinecolor": "#BBB",
        "linecolor": "#888",
        "showline": True,
        "ticks": "outside",
        "automargin": True,
    }
    ax.update(kw)
    return ax


# ---------------------------------------------------------------------------- QC


def qc_figure(qc: pd.DataFrame, *, highlight: Sequence[str] = ()) -> Figure:
    """Per-sample library size, detected genes and top-100 share as three stacked bar charts.

    Parameters
    ----------
    qc
        Index = sample names (display order); columns ``library_size``, ``detected_genes`` and
        optionally ``top100_fraction``.
    highlight
        Samples to draw in the flag colour (e.g. comparability outliers).

    Returns
    -------
    dict
        Plotly figure specification.

    """
    names = [esc(s) for s in qc.index]
    flagged = {str(s) for s in highlight}
    colors = [FLAG if str(s) in flagged else OK for s in qc.index]
    rows: list[tuple[str, str, np.ndarray, str]] = [
        (
            "library_size",
            "Library size (million reads)",
            qc["library_size"].to_numpy(float) / 1e6,
            ".2f",
        ),
        ("detected_genes", "Detected genes", qc["detected_genes"].to_numpy(float), ",.0f"),
    ]
    if "top100_fraction" in qc:
        rows.append(
            (
                "top100_fraction",
                "Reads in top-100 genes (%)",
                100 * qc["top100_fraction"].to_numpy(float),
                ".1f",
            )
        )
    n = len(rows)
    gap = 0.07
    height = (1 - gap * (n - 1)) / n
    data: list[dict[str, Any]] = []
    layout = base_layout(
        height=170 * n + 90, showlegend=False, margin={"l": 70, "r": 20, "t": 20, "b": 90}
    )
    for i, (key, label, values, fmt) in enumerate(rows):
        suffix = "" if i == 0 else str(i + 1)
        top = 1 - i * (height + gap)
        data.append(
            {
                "type": "bar",
                "name": label,
                "x": names,
                "y": num(values),
                "marker": {"color": colors},
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "hovertemplate": f"%{{x}}<br>{label}: %{{y:{fmt}}}<extra></extra>",
                "meta": {"metric": key},
            }
        )
        layout[f"xaxis{suffix}"] = axis(
            "",
            type="category",
            anchor=f"y{suffix}",
            showticklabels=i == n - 1,
            **({"matches": "x"} if i else {}),
        )
        layout[f"yaxis{suffix}"] = axis(
            label, domain=[top - height, top], anchor=f"x{suffix}", rangemode="tozero"
        )
        layout[f"yaxis{suffix}"]["title"]["font"] = {"size": 11}
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------------------- similarity


def _is_continuous(s: pd.Series) -> bool:
    """Numeric sheet columns get a colour scale: floats always, integers with more than 8 values."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    return pd.api.types.is_float_dtype(s) or s.nunique() > 8


def _hover_text(obs: pd.DataFrame) -> list[str]:
    cols = list(obs.columns)
    out = []
    for name, row in zip(obs.index, obs.itertuples(index=False), strict=True):
        parts = [f"<b>{esc(name)}</b>"]
        parts += [f"{esc(c)}: {esc(v)}" for c, v in zip(cols, row, strict=True)]
        out.append("<br>".join(parts))
    return out


def _continuous_trace(
    col: str, s: pd.Series, x: np.ndarray, y: np.ndarray, hover: list[str], label_points: bool
) -> dict[str, Any]:
    """One trace coloured on a scale (numeric column)."""
    return {
        "type": "scatter",
        "mode": "markers+text" if label_points else "markers",
        "name": esc(col),
        "x": num(x),
        "y": num(y),
        "text": hover,
        "textposition": "top center",
        "hovertemplate": "%{text}<extra></extra>",
        "marker": {
            "size": 12,
            "color": num(s.to_numpy(float)),
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": {"text": esc(col)}, "thickness": 14},
            "line": {"color": "#fff", "width": 1},
        },
        "showlegend": False,
    }


def _level_traces(
    col: str,
    s: pd.Series,
    x: np.ndarray,
    y: np.ndarray,
    hover: list[str],
    names: list[str],
    fixed: dict[str, str],
) -> list[dict[str, Any]]:
    """One trace per level of a categorical column (``fixed``: colours of some levels)."""
    values = s.astype(str).where(s.notna(), "NA")
    traces = []
    for k, level in enumerate(pd.unique(values)):
        idx = np.flatnonzero((values == level).to_numpy())
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": esc(level),
                "legendgroup": esc(col),
                "x": num(x[idx]),
                "y": num(y[idx]),
                "text": [hover[i] for i in idx],
                "customdata": [names[i] for i in idx],
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {
                    "size": 12,
                    "color": fixed.get(level, OKABE_ITO[k % len(OKABE_ITO)]),
                    "symbol": SYMBOLS[(k // len(OKABE_ITO)) % len(SYMBOLS)],
                    "line": {"color": "#fff", "width": 1},
                },
            }
        )
    return traces


def _label_trace(x: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Sample names beside the points (always shown, whatever the colouring)."""
    return {
        "type": "scatter",
        "mode": "text",
        "x": num(x),
        "y": num(y),
        "text": names,
        "textposition": "top center",
        "textfont": {"size": 10, "color": "#444"},
        "hoverinfo": "skip",
        "showlegend": False,
        "name": "labels",
    }


def pca_figure(
    coords: np.ndarray,
    variance_ratio: Sequence[float],
    obs: pd.DataFrame,
    *,
    color_by: Sequence[str] | None = None,
    default: str | None = None,
    label_points: bool | None = None,
    level_colors: dict[str, dict[str, str]] | None = None,
) -> Figure:
    """PCA scatter (PC1 × PC2) whose colouring can be switched between sheet columns.

    One group of traces is built per colouring column; ``layout.meta.colorings`` lists for each column
    the ``visible`` flags of all traces, which the page's selector applies with ``Plotly.restyle``.

    Parameters
    ----------
    coords
        Samples × PCs coordinates (rows in ``obs`` order).
    variance_ratio
        Fraction of variance per PC.
    obs
        Sample annotations (index = sample names); every column is shown on hover.
    color_by
        Columns offered for colouring (default: all columns of ``obs``).
    default
        Colouring shown first (default: the first of ``color_by``).
    label_points
        Write sample names beside the points (default: when there are at most 24 samples).
    level_colors
        Fixed colours for some levels, by column: ``{"comparability": {"outlier": FLAG}}``.

    Returns
    -------
    dict
        Plotly figure specification with ``layout.meta.colorings``.

    """
    coords = np.asarray(coords, dtype=np.float64)
    n = coords.shape[0]
    x = coords[:, 0] if coords.shape[1] else np.zeros(n)
    y = coords[:, 1] if coords.shape[1] > 1 else np.zeros(n)
    ratio = [*list(variance_ratio), 0.0, 0.0]
    cols = list(color_by) if color_by is not None else list(obs.columns)
    if not cols:
        obs = obs.assign(sample=obs.index.astype(str))
        cols = ["sample"]
    default = default if default in cols else cols[0]
    label_points = n <= 24 if label_points is None else label_points
    hover = _hover_text(obs)
    names = [esc(s) for s in obs.index]
    traces: list[dict[str, Any]] = []
    groups: list[tuple[str, int, int]] = []
    for col in cols:
        start = len(traces)
        s = obs[col]
        if _is_continuous(s):
            traces.append(_continuous_trace(col, s, x, y, hover, label_points))
        else:
            traces += _level_traces(col, s, x, y, hover, names, (level_colors or {}).get(col, {}))
        groups.append((col, start, len(traces)))
    colorings = []
    for col, start, stop in groups:
        visible = [start <= i < stop for i in range(len(traces))]
        colorings.append({"column": esc(col), "visible": visible})
    chosen = cols.index(default)
    for i, tr in enumerate(traces):
        tr["visible"] = colorings[chosen]["visible"][i]
    if label_points:
        traces.append(_label_trace(x, y, names))
        for c in colorings:
            c["visible"].append(True)
        for tr in traces[:-1]:
            if tr["mode"] == "markers+text":
                tr["mode"] = "markers"
    layout = base_layout(
        height=480,
        xaxis=axis(f"PC1 ({100 * ratio[0]:.1f} % of variance)"),
        yaxis=axis(f"PC2 ({100 * ratio[1]:.1f} % of variance)"),
        legend={"title": {"text": esc(default)}, "bgcolor": "rgba(255,255,255,0.8)"},
        showlegend=True,
        meta={"colorings": colorings, "default": chosen},
    )
    return {"data": traces, "layout": layout}


def scree_figure(variance_ratio: Sequence[float], *, max_pcs: int = 10) -> Figure:
    """Variance explained per principal component (bars) and cumulatively (line)."""
    r = np.asarray(variance_ratio, dtype=np.float64)[:max_pcs] * 100
    pcs = [f"PC{i + 1}" for i in range(len(r))]
    data = [
        {
            "type": "bar",
            "name": "this PC",
            "x": pcs,
            "y": num(r, 4),
            "marker": {"color": OK},
            "hovertemplate": "%{x}: %{y:.1f} % of variance<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "cumulative",
            "x": pcs,
            "y": num(np.cumsum(r), 4),
            "line": {"color": OKABE_ITO[1]},
            "hovertemplate": "PC1–%{x}: %{y:.1f} %<extra></extra>",
        },
    ]
    layout = base_layout(
        height=320,
        xaxis=axis("", type="category"),
        yaxis=axis("Variance explained (%)", range=[0, 100]),
        legend={"orientation": "h", "y": 1.12, "x": 0},
    )
    return {"data": data, "layout": layout}


def _dendrogram_segments(
    linkage: np.ndarray, n: int
) -> tuple[list[float | None], list[float | None]]:
    """Line coordinates of a dendrogram whose leaves sit at x = 0 … n-1 (in leaf order)."""
    from scipy.cluster.hierarchy import dendrogram

    d = dendrogram(np.asarray(linkage, dtype=np.float64), no_plot=True)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for ic, dc in zip(d["icoord"], d["dcoord"], strict=True):
        xs += [(v - 5.0) / 10.0 for v in ic] + [None]
        ys += [float(v) for v in dc] + [None]
    return xs, ys


def correlation_heatmap(
    corr: np.ndarray,
    samples: Sequence[str],
    order: Sequence[str],
    *,
    linkage: np.ndarray | None = None,
    label: str = "Pearson r",
) -> Figure:
    """Sample × sample correlation heatmap in clustering order, with the dendrogram above it.

    Parameters
    ----------
    corr
        Correlation matrix in ``samples`` order.
    samples
        Sample names of ``corr``'s rows and columns.
    order
        Display order (the clustering's leaf order).
    linkage
        SciPy linkage matrix whose leaf order is ``order``; draws the dendrogram when given.
    label
        Name of the correlation for the colour bar and hover.

    Returns
    -------
    dict
        Plotly figure specification.

    """
    pos = {str(s): i for i, s in enumerate(samples)}
    idx = [pos[str(s)] for s in order]
    m = np.asarray(corr, dtype=np.float64)[np.ix_(idx, idx)]
    n = len(idx)
    names = [esc(s) for s in order]
    off = m[~np.eye(n, dtype=bool)] if n > 1 else np.array([1.0])
    zmin = float(np.nanmin(off)) if np.isfinite(off).any() else 0.0
    with_tree = linkage is not None and n > 1 and np.asarray(linkage).shape[0] == n - 1
    z = [num(row, 4) for row in m]
    data: list[dict[str, Any]] = [
        {
            "type": "heatmap",
            "x": names,
            "y": names,
            "z": z,
            "zmin": zmin,
            "zmax": 1.0,
            "colorscale": "Viridis",
            "colorbar": {
                "title": {"text": label},
                "thickness": 14,
                "len": 0.8 if with_tree else 1,
                "y": 0.4 if with_tree else 0.5,
            },
            "hovertemplate": f"%{{y}} vs %{{x}}<br>{label} = %{{z:.3f}}<extra></extra>",
            "xgap": 1 if n <= 40 else 0,
            "ygap": 1 if n <= 40 else 0,
        }
    ]
    side = max(360, min(900, 200 + 18 * n))
    layout = base_layout(
        height=side + (90 if with_tree else 0),
        xaxis=axis(
            "",
            type="category",
            tickangle=-60,
            showgrid=False,
            range=[-0.5, n - 0.5],
            tickfont={"size": 10 if n <= 40 else 7},
        ),
        yaxis=axis(
            "",
            type="category",
            autorange="reversed",
            showgrid=False,
            tickfont={"size": 10 if n <= 40 else 7},
        ),
        margin={"l": 90, "r": 20, "t": 10, "b": 90},
    )
    if n > 60:
        layout["xaxis"]["showticklabels"] = False
    if with_tree:
        xs, ys = _dendrogram_segments(np.asarray(linkage), n)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": num(xs, 6),
                "y": num(ys, 4),
                "xaxis": "x2",
                "yaxis": "y2",
                "line": {"color": "#555", "width": 1},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": "dendrogram",
            }
        )
        layout["yaxis"]["domain"] = [0, 0.8]
        layout["xaxis2"] = {"range": [-0.5, n - 0.5], "visible": False, "anchor": "y2"}
        layout["yaxis2"] = {
            "domain": [0.82, 1],
            "visible": False,
            "anchor": "x2",
            "rangemode": "tozero",
        }
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------------------- DE


def raster_layer(
    x: np.ndarray,
    y: np.ndarray,
    colors: Sequence[str],
    *,
    xrange: tuple[float, float],
    yrange: tuple[float, float],
    size: float = 4.0,
    width: int = 800,
    height: int = 440,
) -> dict[str, Any]:
    """Draw a dense point cloud once with matplotlib and return it as a plotly layout image.

    The PNG covers exactly ``xrange`` × ``yrange`` in data coordinates, so it sits under the
    interactive traces of the same axes.

    Returns
    -------
    dict
        A ``layout.images`` entry with the PNG as a ``data:`` URI.

    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(*xrange)
    ax.set_ylim(*yrange)
    # one collection per colour, the commonest first (rarer colours on top): matplotlib draws a
    # one-colour collection as stamped markers, several times faster than points of mixed colours
    colors = np.asarray(colors, dtype=str)
    names, counts = np.unique(colors, return_counts=True)
    for name in names[np.argsort(-counts, kind="stable")]:
        sel = colors == name
        ax.scatter(x[sel], y[sel], s=size, color=name, linewidths=0, alpha=0.75, rasterized=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, transparent=True)
    uri = "data:image/png;base64," + base64.b64encode(_palette_png(buf.getvalue())).decode("ascii")
    return {
        "source": uri,
        "xref": "x",
        "yref": "y",
        "x": xrange[0],
        "y": yrange[1],
        "sizex": xrange[1] - xrange[0],
        "sizey": yrange[1] - yrange[0],
        "sizing": "stretch",
        "xanchor": "left",
        "yanchor": "top",
        "layer": "below",
        "name": "static points",
    }


def _palette_png(png: bytes, colours: int = RASTER_COLOURS) -> bytes:
    """The PNG with its RGBA pixels reduced to a palette (a few colours and transparency levels: ~4× smaller)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    out = io.BytesIO()
    image.quantize(colors=colours, method=Image.Quantize.FASTOCTREE).save(out, "PNG", optimize=True)
    return out.getvalue()


def _de_classes(de: pd.DataFrame, alpha: float) -> np.ndarray:
    padj = de["padj"].to_numpy(float)
    lfc = de["log2FoldChange"].to_numpy(float)
    sig = np.isfinite(padj) & (padj < alpha)
    return np.where(sig & (lfc > 0), "up", np.where(sig & (lfc < 0), "down", "ns"))


def _gene_labels(de: pd.DataFrame) -> np.ndarray:
    ids = de.index.astype(str).to_numpy()
    if "gene_name" in de:
        names = de["gene_name"].fillna("").astype(str).to_numpy()
        return np.where(names != "", names, ids)
    return ids


def _pad(lo: float, hi: float, frac: float = 0.04) -> tuple[float, float]:
    if not np.isfinite(lo) or not np.isfinite(hi):
        return (-1.0, 1.0)
    if hi <= lo:
        return (lo - 1.0, hi + 1.0)
    d = (hi - lo) * frac
    return (lo - d, hi + d)


@dataclass(frozen=True)
class DEPoints:
    """The genes of one volcano or MA plot, shared by the report's figure and the static figure.

    Text is plain (not escaped): :func:`esc` it for plotly, use it as is for matplotlib.
    """

    x: np.ndarray
    y: np.ndarray
    #: ``"up"``, ``"down"`` or ``"ns"`` per gene.
    cls: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    lfc: np.ndarray
    padj: np.ndarray
    base_mean: np.ndarray
    #: Gene positions by increasing adjusted p-value.
    rank: np.ndarray
    xrange: tuple[float, float]
    yrange: tuple[float, float]
    xtitle: str
    ytitle: str
    #: ``(class, legend name, colour, marker size)``, drawn in this order.
    groups: list[tuple[str, str, str, int]]
    #: Positions of the genes labelled on the plot.
    top: list[int]


def de_points(
    de: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    *,
    alpha: float,
    target: str,
    reference: str,
    xtitle: str,
    ytitle: str,
    n_labels: int,
    xrange: tuple[float, float] | None = None,
) -> DEPoints:
    """Arrange a DE table's genes for plotting: finite points, classes, labels, ranges, legend."""
    keep = np.isfinite(x) & np.isfinite(y)
    de, x, y = de.loc[keep], x[keep], y[keep]
    cls = _de_classes(de, alpha)
    padj = de["padj"].to_numpy(float)
    rank = np.argsort(np.where(np.isfinite(padj), padj, np.inf), kind="stable")
    xr = xrange or _pad(float(x.min()) if len(x) else -1.0, float(x.max()) if len(x) else 1.0)
    yr = _pad(float(y.min()) if len(y) else 0.0, float(y.max()) if len(y) else 1.0)
    groups = [
        ("ns", f"not significant (padj ≥ {alpha:g})", NEUTRAL, 5),
        ("down", f"lower in {target} than {reference}", DOWN, 6),
        ("up", f"higher in {target} than {reference}", UP, 6),
    ]
    return DEPoints(
        x=x,
        y=y,
        cls=cls,
        labels=_gene_labels(de),
        ids=de.index.astype(str).to_numpy(),
        lfc=de["log2FoldChange"].to_numpy(float),
        padj=padj,
        base_mean=de["baseMean"].to_numpy(float),
        rank=rank,
        xrange=xr,
        yrange=yr,
        xtitle=xtitle,
        ytitle=ytitle,
        groups=groups,
        top=[int(i) for i in rank[:n_labels] if cls[i] != "ns"],
    )


def _de_scatter(pts: DEPoints, *, max_points: int, lfc_axis: str) -> Figure:
    """Plotly figure of a volcano or MA plot (``lfc_axis``: the axis, ``"x"`` or ``"y"``, showing log2 FC).

    Every significant gene is a hoverable point. With more than ``max_points`` genes, the
    non-significant genes beyond the ``2 * max_points // 5`` smallest adjusted p-values are drawn once
    as a PNG layer under the points; ``layout.meta`` records it and the page says so.
    """
    x, y, cls, rank = pts.x, pts.y, pts.cls, pts.rank
    labels, ids, padj, bm = pts.labels, pts.ids, pts.padj, pts.base_mean
    xr, yr = pts.xrange, pts.yrange
    interactive = np.ones(len(x), dtype=bool)
    layout = base_layout(
        height=460,
        xaxis=axis(esc(pts.xtitle), range=list(xr)),
        yaxis=axis(esc(pts.ytitle), range=list(yr)),
        legend={"orientation": "h", "y": 1.1, "x": 0},
        meta={"n_points": len(x), "n_interactive": len(x), "static": False},
    )
    if len(x) > max_points:
        interactive = cls != "ns"
        interactive[rank[: max_points * 2 // 5]] = True
        rest = ~interactive
        colors = np.where(cls[rest] == "up", UP, np.where(cls[rest] == "down", DOWN, NEUTRAL))
        layout["images"] = [raster_layer(x[rest], y[rest], colors.tolist(), xrange=xr, yrange=yr)]
        layout["meta"].update({"n_interactive": int(interactive.sum()), "static": True})
    data = []
    for key, name, color, size in pts.groups:
        sel = np.flatnonzero(interactive & (cls == key))
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": esc(name),
                "x": num(x[sel]),
                "y": num(y[sel]),
                "text": [esc(labels[i]) for i in sel],
                "hovertext": [esc(ids[i]) for i in sel],
                "customdata": [
                    list(r) for r in zip(num(padj[sel], 3), num(bm[sel], 4), strict=True)
                ],
                "hovertemplate": (
                    f"<b>%{{text}}</b> (%{{hovertext}})<br>log2 FC %{{{lfc_axis}:.3g}}<br>"
                    "padj %{customdata[0]:.3g}<br>mean count %{customdata[1]:,.4g}<extra></extra>"
                ),
                "marker": {"color": color, "size": size, "opacity": 0.8 if key != "ns" else 0.6},
                "showlegend": True,
                "meta": {"class": key},
            }
        )
    layout["annotations"] = [
        {
            "x": float(x[i]),
            "y": float(y[i]),
            "text": esc(labels[i]),
            "showarrow": True,
            "arrowhead": 0,
            "arrowcolor": "#666",
            "ax": 18,
            "ay": -18,
            "font": {"size": 10},
            "bgcolor": "rgba(255,255,255,0.7)",
        }
        for i in pts.top
    ]
    return {"data": data, "layout": layout}


def volcano_figure(
    de: pd.DataFrame,
    *,
    alpha: float,
    target: str = "target",
    reference: str = "reference",
    max_points: int = MAX_POINTS,
    n_labels: int = 8,
) -> Figure:
    """Volcano plot of one contrast: log2 fold change against −log10 p-value.

    Parameters
    ----------
    de
        DESeq2 results (index = gene ID; ``gene_name``, ``baseMean``, ``log2FoldChange``, ``pvalue``, ``padj``).
    alpha
        FDR level: genes with ``padj < alpha`` are coloured by direction.
    target, reference
        Contrast levels, for the legend.
    max_points
        With more genes than this, the non-significant genes outside the ``2 * max_points // 5``
        smallest adjusted p-values are drawn as a static PNG layer (the figure stays light and fast for
        60,000 genes); every significant gene stays a hoverable point.
    n_labels
        Label this many of the most significant genes.

    Returns
    -------
    dict
        Plotly figure specification; ``layout.meta`` tells whether a static layer is used.

    """
    return _de_scatter(
        volcano_points(de, alpha=alpha, target=target, reference=reference, n_labels=n_labels),
        max_points=max_points,
        lfc_axis="x",
    )


def volcano_points(
    de: pd.DataFrame, *, alpha: float, target: str, reference: str, n_labels: int = 8
) -> DEPoints:
    """The volcano plot's genes: log2 fold change against −log10 p-value, x symmetric around 0."""
    p = de["pvalue"].to_numpy(float)
    y = -np.log10(np.clip(p, 1e-300, None))
    x = de["log2FoldChange"].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    m = float(np.abs(x[ok]).max()) if ok.any() else 0.0
    return de_points(
        de, x, y, alpha=alpha, target=target, reference=reference,
        xrange=(-1.05 * m, 1.05 * m) if m > 0 else None,
        xtitle=f"log2 fold change ({target} / {reference})", ytitle="−log10 p-value",
        n_labels=n_labels,
    )  # fmt: skip


def ma_figure(
    de: pd.DataFrame,
    *,
    alpha: float,
    target: str = "target",
    reference: str = "reference",
    max_points: int = MAX_POINTS,
    n_labels: int = 8,
) -> Figure:
    """MA plot of one contrast: log2 fold change against log10 mean normalised count.

    Parameters are those of :func:`volcano_figure`.

    Returns
    -------
    dict
        Plotly figure specification.

    """
    return _de_scatter(
        ma_points(de, alpha=alpha, target=target, reference=reference, n_labels=n_labels),
        max_points=max_points,
        lfc_axis="y",
    )


def ma_points(
    de: pd.DataFrame, *, alpha: float, target: str, reference: str, n_labels: int = 8
) -> DEPoints:
    """The MA plot's genes: log2 fold change against log10 mean normalised count.

    With ``--shrink`` the y axis is the shrunken log2 fold change (``log2FoldChange_shrunk``), as R's
    ``plotMA`` of ``lfcShrink`` results; colours and hover keep the test's own values.
    """
    bm = de["baseMean"].to_numpy(float)
    with np.errstate(divide="ignore"):
        x = np.where(bm > 0, np.log10(bm), np.nan)
    shrunk = "log2FoldChange_shrunk" in de
    y = de["log2FoldChange_shrunk" if shrunk else "log2FoldChange"].to_numpy(float)
    ytitle = f"{'shrunken ' if shrunk else ''}log2 fold change ({target} / {reference})"
    return de_points(
        de, x, y, alpha=alpha, target=target, reference=reference,
        xtitle="log10 mean of normalised counts", ytitle=ytitle, n_labels=n_labels,
    )  # fmt: skip


# ---------------------------------------------------------------------------- comparability

#: Diverging colour scale from Okabe–Ito blue through white to vermillion (colour-blind safe).
DIVERGING = [[0.0, "#0072B2"], [0.5, "#FFFFFF"], [1.0, "#D55E00"]]


def outlier_figure(
    samples: Sequence[str],
    z_correlation: Sequence[float | None],
    z_distance: Sequence[float | None],
    *,
    threshold: float,
    outliers: Sequence[str] = (),
) -> Figure:
    """Outlier screening: each product's robust z-scores of low correlation and of distance to the centroid.

    Parameters
    ----------
    samples
        Product names.
    z_correlation, z_distance
        Robust z-scores recorded by the comparability step (``None`` where not computed).
    threshold
        The outlier threshold on either score (drawn as dashed lines).
    outliers
        Products called outliers.

    Returns
    -------
    dict
        Plotly figure specification: consistent and outlier products as two traces.

    """
    zc = np.asarray([np.nan if v is None else v for v in z_correlation], dtype=float)
    zd = np.asarray([np.nan if v is None else v for v in z_distance], dtype=float)
    bad = np.asarray([str(s) in {str(o) for o in outliers} for s in samples])
    names = [esc(s) for s in samples]
    data = []
    for label, mask, color, symbol in (
        ("consistent", ~bad, OK, "circle"),
        ("outlier", bad, FLAG, "diamond"),
    ):
        idx = np.flatnonzero(mask)
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text" if label == "outlier" else "markers",
                "name": label,
                "x": num(zc[idx]),
                "y": num(zd[idx]),
                "text": [names[i] for i in idx],
                "textposition": "top center",
                "hovertemplate": "<b>%{text}</b><br>z (low correlation) %{x:.2f}<br>z (distance) %{y:.2f}<extra></extra>",
                "marker": {
                    "color": color,
                    "size": 11 if label == "outlier" else 9,
                    "symbol": symbol,
                    "line": {"color": "#fff", "width": 1},
                },
            }
        )
    finite = np.concatenate([zc[np.isfinite(zc)], zd[np.isfinite(zd)], [threshold]])
    hi = float(finite.max()) * 1.1 + 0.5
    lo = min(float(finite.min()) * 1.1 - 0.5, -1.0)
    dash = {"color": "#666", "width": 1, "dash": "dash"}
    layout = base_layout(
        height=400,
        xaxis=axis("robust z: low correlation with peers", range=[lo, hi]),
        yaxis=axis("robust z: distance to peers' centroid (PCA)", range=[lo, hi]),
        shapes=[
            {"type": "line", "xref": "x", "yref": "paper", "x0": threshold, "x1": threshold, "y0": 0, "y1": 1, "line": dash},
            {"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold, "line": dash},
        ],
        annotations=[
            {"x": threshold, "y": 1, "xref": "x", "yref": "paper", "text": f"outlier threshold {threshold:g}", "showarrow": False,
             "xanchor": "left", "yanchor": "top", "font": {"size": 10, "color": "#555"}},
        ],
        legend={"orientation": "h", "y": 1.1, "x": 0},
    )  # fmt: skip
    return {"data": data, "layout": layout}


def equivalence_figure(
    contrasts: Sequence[dict[str, Any]], *, margin: float, required: float | None = None
) -> Figure:
    """Share of testable genes shown equivalent, shown beyond the margin, or neither, per group comparison.

    Parameters
    ----------
    contrasts
        Equivalence summaries (``name``/``target``/``reference``, ``fraction_equivalent``,
        ``fraction_beyond_margin``, ``n_tested``) as recorded in ``summary.json``.
    margin
        Equivalence margin (log2), for the labels.
    required
        Fraction of genes the decision rule needs shown equivalent (drawn as a dashed line).

    Returns
    -------
    dict
        Plotly figure specification: three stacked horizontal bar traces.

    """
    rows = [c for c in contrasts if c.get("fraction_equivalent") is not None]
    labels = [
        f"{esc(c.get('target', c.get('name')))} vs {esc(c.get('reference', ''))}" for c in rows
    ]
    eq = np.asarray([100 * float(c["fraction_equivalent"]) for c in rows])
    beyond = np.asarray([100 * float(c.get("fraction_beyond_margin") or 0.0) for c in rows])
    neither = np.clip(100 - eq - beyond, 0, None)
    parts = [
        (f"shown equivalent (|log2 FC| < {margin:g})", eq, "#009E73"),
        ("not shown either way", neither, "#D9D9D9"),
        (f"shown beyond the margin (|log2 FC| > {margin:g})", beyond, UP),
    ]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": name,
            "y": labels,
            "x": num(v, 4),
            "marker": {"color": color},
            "hovertemplate": f"%{{y}}<br>{name}: %{{x:.1f}} % of testable genes<extra></extra>",
        }
        for name, v, color in parts
    ]
    layout = base_layout(
        height=150 + 50 * len(rows),
        barmode="stack",
        xaxis=axis("% of testable genes", range=[0, 100]),
        yaxis=axis("", type="category", autorange="reversed"),
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "traceorder": "normal"},
        margin={"l": 120, "r": 20, "t": 40, "b": 50},
    )
    if required is not None:
        layout["shapes"] = [
            {"type": "line", "xref": "x", "yref": "paper", "x0": 100 * required, "x1": 100 * required, "y0": 0, "y1": 1,
             "line": {"color": "#222", "width": 1.5, "dash": "dash"}}
        ]  # fmt: skip
        layout["annotations"] = [
            {"x": 100 * required, "y": 0, "xref": "x", "yref": "paper", "text": f"rule: ≥ {100 * required:g} % equivalent",
             "showarrow": False, "xanchor": "right", "yanchor": "bottom", "font": {"size": 10}, "bgcolor": "rgba(255,255,255,0.8)"}
        ]  # fmt: skip
    return {"data": data, "layout": layout}


def variance_partition_figure(fractions: dict[str, dict[str, float]]) -> Figure:
    """Share of each gene's variance explained per component: median over genes with the interquartile range.

    Parameters
    ----------
    fractions
        Component → ``{"median", "q1", "q3"}`` (fractions 0–1) as recorded in ``summary.json``.

    Returns
    -------
    dict
        Plotly figure specification: one bar trace with asymmetric error bars.

    """
    comps = list(fractions)
    med = np.asarray([100 * float(fractions[c]["median"]) for c in comps])
    q1 = np.asarray([100 * float(fractions[c].get("q1", fractions[c]["median"])) for c in comps])
    q3 = np.asarray([100 * float(fractions[c].get("q3", fractions[c]["median"])) for c in comps])
    colors = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(comps))]
    data = [
        {
            "type": "bar",
            "x": [esc(c.replace("_", " ")) for c in comps],
            "y": num(med, 4),
            "marker": {"color": colors},
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": num(q3 - med, 4),
                "arrayminus": num(med - q1, 4),
                "color": "#444",
            },
            "customdata": [[a, b] for a, b in zip(num(q1, 3), num(q3, 3), strict=True)],
            "hovertemplate": "%{x}: median %{y:.1f} % (IQR %{customdata[0]}–%{customdata[1]} %)<extra></extra>",
            "name": "variance explained",
        }
    ]
    layout = base_layout(
        height=340, showlegend=False,
        xaxis=axis("", type="category"), yaxis=axis("% of a gene's variance (median, IQR)", rangemode="tozero"),
    )  # fmt: skip
    return {"data": data, "layout": layout}


def diverging_heatmap(
    values: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    label: str,
    hover_rows: Sequence[str] | None = None,
    show_values: bool = False,
    height: int | None = None,
) -> Figure:
    """A rows × columns heatmap on a blue–white–vermillion scale centred at 0.

    Parameters
    ----------
    values
        Matrix (rows × cols).
    rows, cols
        Labels (escaped here).
    label
        Colour-bar title and hover name of the values.
    hover_rows
        Longer row descriptions for the hover (escaped here); default ``rows``.
    show_values
        Print the values in the cells.
    height
        Figure height in pixels (default: from the number of rows).

    Returns
    -------
    dict
        Plotly figure specification.

    """
    v = np.asarray(values, dtype=float)
    lim = float(np.nanmax(np.abs(v))) if np.isfinite(v).any() else 1.0
    lim = lim if lim > 0 else 1.0
    r = [esc(x) for x in rows]
    c = [esc(x) for x in cols]
    hover = [esc(x) for x in (hover_rows if hover_rows is not None else rows)]
    trace: dict[str, Any] = {
        "type": "heatmap",
        "z": [num(row, 3) for row in v],
        "x": c,
        "y": r,
        "zmin": -lim,
        "zmax": lim,
        "zmid": 0,
        "colorscale": DIVERGING,
        "colorbar": {"title": {"text": label}, "thickness": 14},
        "customdata": [[h] * len(c) for h in hover],
        "hovertemplate": f"%{{x}}<br>%{{customdata}}<br>{label}: %{{z:.2f}}<extra></extra>",
        "xgap": 1,
        "ygap": 1,
    }
    if show_values:
        trace["texttemplate"] = "%{z:.2f}"
        trace["textfont"] = {"size": 10}
    layout = base_layout(
        height=height or max(260, 120 + 16 * len(rows)),
        xaxis=axis("", type="category", tickangle=-60, showgrid=False, side="bottom"),
        yaxis=axis(
            "", type="category", autorange="reversed", showgrid=False, tickfont={"size": 10}
        ),
        margin={"l": 160, "r": 20, "t": 10, "b": 90},
    )
    return {"data": [trace], "layout": layout}
