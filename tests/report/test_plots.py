"""Unit tests of the plot builders: each returns a plotly figure spec with the expected traces."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mscseq.report import plots


@pytest.fixture
def obs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cohort": ["A", "A", "B", "B", "B"],
            "age": [30.0, 41.0, 52.0, 28.0, 60.0],
            "lot": ["x"] * 5,
        },
        index=pd.Index(["S1", "S2", "S3<b>", "S4", "S5"], name="sample"),
    )


@pytest.fixture
def de_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    lfc = rng.normal(0, 1, n)
    p = np.clip(rng.uniform(0, 1, n) ** 3, 1e-30, 1)
    padj = np.minimum(p * 20, 1.0)
    padj[:5] = np.nan
    return pd.DataFrame(
        {
            "gene_name": [f"G{i}" for i in range(n)],
            "baseMean": rng.lognormal(5, 2, n),
            "log2FoldChange": lfc,
            "lfcSE": np.full(n, 0.3),
            "pvalue": p,
            "padj": padj,
        },
        index=pd.Index([f"ENSG{i:05d}" for i in range(n)], name="gene_id"),
    )


def _valid(fig: dict) -> None:
    assert set(fig) == {"data", "layout"}
    json.dumps(fig, allow_nan=False)  # embeddable as strict JSON


def test_num_rounds_and_maps_non_finite_to_none():
    assert plots.num([1.234567, np.nan, np.inf, 0.0, -0.000123456]) == [
        1.2346,
        None,
        None,
        0.0,
        -0.00012346,
    ]


def test_esc_escapes_markup():
    assert plots.esc("<img src=x>&") == "&lt;img src=x&gt;&amp;"


def test_qc_figure_one_bar_per_sample_and_highlight(obs):
    qc = pd.DataFrame(
        {
            "library_size": [1e6, 2e6, 3e6, 4e6, 5e6],
            "detected_genes": [10, 20, 30, 40, 50],
            "top100_fraction": [0.5] * 5,
        },
        index=obs.index,
    )
    fig = plots.qc_figure(qc, highlight=["S4"])
    _valid(fig)
    assert [t["meta"]["metric"] for t in fig["data"]] == [
        "library_size",
        "detected_genes",
        "top100_fraction",
    ]
    lib = fig["data"][0]
    assert lib["type"] == "bar" and lib["y"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert lib["x"][2] == "S3&lt;b&gt;"
    assert lib["marker"]["color"][3] == plots.FLAG and lib["marker"]["color"][0] == plots.OK
    assert "Library size" in fig["layout"]["yaxis"]["title"]["text"]


def test_pca_figure_colorings_switch_trace_groups(obs):
    coords = np.arange(15, dtype=float).reshape(5, 3)
    fig = plots.pca_figure(
        coords, [0.5, 0.2, 0.1], obs, color_by=["cohort", "age"], default="age", label_points=False
    )
    _valid(fig)
    meta = fig["layout"]["meta"]
    assert [c["column"] for c in meta["colorings"]] == ["cohort", "age"]
    assert meta["default"] == 1
    # cohort: one trace per level (A, B); age (continuous): one trace with a colour scale
    assert len(fig["data"]) == 3
    assert [t["name"] for t in fig["data"][:2]] == ["A", "B"]
    assert fig["data"][2]["marker"]["colorscale"] == "Viridis"
    assert [t["visible"] for t in fig["data"]] == [False, False, True]
    assert meta["colorings"][0]["visible"] == [True, True, False]
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("PC1 (50.0 %")
    assert "PC2 (20.0 %" in fig["layout"]["yaxis"]["title"]["text"]
    # hover text carries the (escaped) sample name and its sheet values
    b = fig["data"][1]
    assert b["x"] == [6.0, 9.0, 12.0]
    assert b["text"][0].startswith("<b>S3&lt;b&gt;</b>") and "cohort: B" in b["text"][0]


def test_pca_figure_labels_points_for_small_studies(obs):
    fig = plots.pca_figure(np.ones((5, 2)), [0.6, 0.4], obs, color_by=["cohort"])
    labels = fig["data"][-1]
    assert labels["mode"] == "text" and labels["text"][2] == "S3&lt;b&gt;"
    assert all(len(c["visible"]) == len(fig["data"]) for c in fig["layout"]["meta"]["colorings"])


def test_pca_figure_single_pc(obs):
    fig = plots.pca_figure(np.ones((5, 1)), [1.0], obs, color_by=["lot"])
    _valid(fig)
    assert fig["data"][0]["y"] == [0.0] * 5


def test_scree_figure():
    fig = plots.scree_figure([0.4, 0.3, 0.2, 0.1], max_pcs=3)
    _valid(fig)
    bars, cum = fig["data"]
    assert bars["x"] == ["PC1", "PC2", "PC3"] and bars["y"] == [40.0, 30.0, 20.0]
    assert cum["y"] == [40.0, 70.0, 90.0]


def test_correlation_heatmap_follows_clustering_order_and_draws_tree():
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 50))
    corr = np.corrcoef(x)
    z = linkage(squareform(1 - corr, checks=False), method="average", optimal_ordering=True)
    names = [f"S{i}" for i in range(6)]
    order = [names[i] for i in leaves_list(z)]
    fig = plots.correlation_heatmap(corr, names, order, linkage=z)
    _valid(fig)
    heat, tree = fig["data"]
    assert heat["type"] == "heatmap" and heat["x"] == order and heat["y"] == order
    i, j = names.index(order[0]), names.index(order[1])
    assert heat["z"][0][1] == pytest.approx(corr[i, j], abs=1e-4)
    assert heat["zmax"] == 1.0
    assert tree["xaxis"] == "x2" and tree["mode"] == "lines"
    xs = [v for v in tree["x"] if v is not None]
    assert min(xs) >= 0 and max(xs) <= 5  # leaves sit on the heatmap columns


def test_correlation_heatmap_without_tree():
    fig = plots.correlation_heatmap(np.eye(2), ["a", "b"], ["b", "a"])
    assert len(fig["data"]) == 1 and fig["data"][0]["x"] == ["b", "a"]


def test_volcano_figure_classes_and_hover(de_table):
    fig = plots.volcano_figure(de_table, alpha=0.1, target="B", reference="A<")
    _valid(fig)
    by_class = {t["meta"]["class"]: t for t in fig["data"]}
    assert set(by_class) == {"ns", "down", "up"}
    sig = de_table["padj"] < 0.1
    assert len(by_class["up"]["x"]) == int((sig & (de_table["log2FoldChange"] > 0)).sum())
    assert len(by_class["down"]["x"]) == int((sig & (de_table["log2FoldChange"] < 0)).sum())
    assert sum(len(t["x"]) for t in fig["data"]) == len(de_table)
    assert "A&lt;" in by_class["up"]["name"]
    assert by_class["up"]["text"][0].startswith("G")
    assert by_class["up"]["hovertext"][0].startswith("ENSG")
    assert len(by_class["up"]["customdata"][0]) == 2  # padj, mean count (log2 FC is the x value)
    assert "%{x:.3g}" in by_class["up"]["hovertemplate"]
    assert "%{customdata[1]" in by_class["up"]["hovertemplate"]
    assert "images" not in fig["layout"] and fig["layout"]["meta"]["static"] is False
    assert fig["layout"]["yaxis"]["title"]["text"] == "−log10 p-value"
    lo, hi = fig["layout"]["xaxis"]["range"]
    assert lo == pytest.approx(-hi)
    assert 0 < len(fig["layout"]["annotations"]) <= 10


def test_volcano_figure_static_layer_above_max_points(de_table):
    fig = plots.volcano_figure(de_table, alpha=0.1, max_points=100)
    _valid(fig)
    meta = fig["layout"]["meta"]
    sig = int((de_table["padj"] < 0.1).sum())
    top = de_table["padj"].rank(method="first") <= 40
    expected = int(((de_table["padj"] < 0.1) | top).sum())
    assert sig > 0 and expected < 300
    assert meta["static"] is True and meta["n_interactive"] == expected and meta["n_points"] == 300
    assert sum(len(t["x"]) for t in fig["data"]) == expected
    shown = {t["meta"]["class"]: len(t["x"]) for t in fig["data"]}
    assert shown["up"] + shown["down"] == sig  # every significant gene stays hoverable
    img = fig["layout"]["images"][0]
    assert img["source"].startswith("data:image/png;base64,")
    assert img["xref"] == "x" and img["sizing"] == "stretch"
    xr = fig["layout"]["xaxis"]["range"]
    assert img["x"] == pytest.approx(xr[0]) and img["sizex"] == pytest.approx(xr[1] - xr[0])


def test_ma_figure_axes(de_table):
    fig = plots.ma_figure(de_table, alpha=0.1, target="B", reference="A")
    _valid(fig)
    assert fig["layout"]["xaxis"]["title"]["text"] == "log10 mean of normalised counts"
    assert "log2 fold change (B / A)" == fig["layout"]["yaxis"]["title"]["text"]
    pts = sum(len(t["x"]) for t in fig["data"])
    assert pts == int((de_table["baseMean"] > 0).sum())


def test_ma_plot_draws_shrunken_fold_changes_when_present(de_table):
    de = de_table.copy()
    de["log2FoldChange_shrunk"] = de["log2FoldChange"] / 2
    pts = plots.ma_points(de, alpha=0.1, target="B", reference="A")
    assert pts.ytitle == "shrunken log2 fold change (B / A)"
    keep = np.isfinite(np.log10(de["baseMean"].where(de["baseMean"] > 0)))
    keep &= np.isfinite(de["log2FoldChange"])
    assert np.allclose(pts.y, de.loc[keep, "log2FoldChange_shrunk"])
    assert np.allclose(pts.lfc, de.loc[keep, "log2FoldChange"])  # hover keeps the test's value


def test_raster_layer_covers_the_range():
    layer = plots.raster_layer(
        np.array([0.0, 1.0]), np.array([0.0, 2.0]), ["#000", "#f00"], xrange=(-1, 2), yrange=(0, 3)
    )
    assert layer["x"] == -1 and layer["y"] == 3 and layer["sizex"] == 3 and layer["sizey"] == 3
    assert layer["layer"] == "below"


def test_as_records_and_panel_flags_shapes():
    from mscseq.report.fmt import as_records
    from mscseq.report.records import panel_flag_list

    assert as_records({}) == []
    assert as_records(None) == []
    assert as_records({"0": {"a": 1}, "1": {"a": 2}}) == [{"a": 1}, {"a": 2}]
    assert panel_flag_list({"panels": {"flags": {}}}) == []
    assert panel_flag_list({"panels": {"flags": {"P1": ["m1", "m2"]}}}) == [
        {"sample": "P1", "message": "m1"},
        {"sample": "P1", "message": "m2"},
    ]
    assert panel_flag_list(None) == []


def test_outlier_figure_splits_products_and_draws_threshold():
    fig = plots.outlier_figure(
        ["a", "b<", "c"], [0.1, 9.0, None], [0.2, 8.0, 0.3], threshold=3.5, outliers=["b<"]
    )
    _valid(fig)
    ok, bad = fig["data"]
    assert ok["name"] == "consistent" and ok["text"] == ["a", "c"] and ok["x"] == [0.1, None]
    assert bad["name"] == "outlier" and bad["text"] == ["b&lt;"]
    assert fig["layout"]["shapes"][0]["x0"] == 3.5


def test_equivalence_figure_stacks_to_100_percent():
    rows = [
        {
            "target": "B",
            "reference": "A",
            "fraction_equivalent": 0.9,
            "fraction_beyond_margin": 0.02,
        }
    ]
    fig = plots.equivalence_figure(rows, margin=1.0, required=0.9)
    _valid(fig)
    assert [t["x"][0] for t in fig["data"]] == [90.0, 8.0, 2.0]
    assert fig["data"][0]["y"] == ["B vs A"]
    assert fig["layout"]["shapes"][0]["x0"] == 90.0


def test_variance_partition_figure_error_bars():
    fig = plots.variance_partition_figure({"donor": {"median": 0.3, "q1": 0.1, "q3": 0.5}})
    _valid(fig)
    bar = fig["data"][0]
    assert (
        bar["y"] == [30.0]
        and bar["error_y"]["array"] == [20.0]
        and bar["error_y"]["arrayminus"] == [20.0]
    )


def test_diverging_heatmap_is_centred():
    fig = plots.diverging_heatmap(
        np.array([[1.0, -2.0]]), ["g<1>"], ["s1", "s2"], label="log2", show_values=True
    )
    _valid(fig)
    hm = fig["data"][0]
    assert hm["zmin"] == -2.0 and hm["zmax"] == 2.0 and hm["zmid"] == 0
    assert hm["y"] == ["g&lt;1&gt;"] and hm["texttemplate"]


def test_top_genes_table_shows_shrunken_fold_changes_when_present(de_table):
    from mscseq.report.sections import de as de_section

    plain = de_table.sort_values("padj")
    assert de_section._header(plain) == de_section.HEADER
    assert len(de_section._top_rows(plain, 5)[0]) == len(de_section.HEADER)
    shrunk = plain.assign(log2FoldChange_shrunk=plain["log2FoldChange"] / 4)
    header = de_section._header(shrunk)
    rows = de_section._top_rows(shrunk, 5)
    i = header.index(de_section.SHRUNK_HEADER)
    assert header[i - 1] == "log2 FC" and all(len(r) == len(header) for r in rows)
    expected = shrunk["log2FoldChange_shrunk"].head(5).to_numpy()
    assert np.allclose([r[i]["v"] for r in rows], expected)
