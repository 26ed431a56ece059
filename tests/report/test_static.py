"""Static figures (``figures/``: PDF and PNG) drawn from the report's figure data, and ``--no-figures``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from report_helpers import load_parts

from mscseq import figures
from mscseq.report import figdata, static
from mscseq.report.records import comparability_block, de_contrasts

CONTRAST = "cohort_B_vs_A"
STEMS = ["correlation_clustermap", "pca", f"volcano_{CONTRAST}", f"ma_{CONTRAST}"]


def test_compare_writes_pdf_and_png_figures(report_dir: Path) -> None:
    from matplotlib.image import imread

    folder = report_dir / "figures"
    for stem in STEMS:
        pdf, png = folder / f"{stem}.pdf", folder / f"{stem}.png"
        assert pdf.read_bytes()[:5] == b"%PDF-", pdf
        assert pdf.read_bytes().rstrip().endswith(b"%%EOF"), pdf
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        pixels = imread(png)
        assert pixels.shape[0] > 500 and pixels.shape[1] > 500, (stem, pixels.shape)
        assert pixels.std() > 0.01, f"{png} is blank"
    run_info = json.loads((report_dir / "run_info.json").read_text(encoding="utf-8"))
    assert run_info["parameters"]["figures"] is True


def test_static_pca_draws_the_report_pca(report_parts) -> None:
    from matplotlib.colors import to_hex

    adata, summary, _ = report_parts
    spec = figdata.pca(adata, comparability_block(adata, summary))
    fig = static.pca(spec)
    shown = [t for t in spec["data"] if t.get("visible", True) and t["mode"] != "text"]
    drawn = fig.axes[0].collections
    assert len(drawn) == len(shown) >= 2
    for tr, pts in zip(shown, drawn, strict=True):
        assert np.array_equal(pts.get_offsets(), np.column_stack([tr["x"], tr["y"]]))
        assert {to_hex(c) for c in pts.get_facecolors()} == {tr["marker"]["color"].lower()}
        assert pts.get_label() == tr["name"]
    ax = fig.axes[0]
    assert ax.get_xlabel() == spec["layout"]["xaxis"]["title"]["text"]
    names = {t.get_text() for t in ax.texts}
    assert set(adata.obs_names) <= names  # every sample labelled, as in the report
    assert figures.static_pca(adata).axes[0].get_xlabel() == ax.get_xlabel()


def test_clustermap_has_the_report_clustering_order(report_parts) -> None:
    adata, _, _ = report_parts
    fig = figures.static_correlation(adata)
    report_order = figdata.correlation(adata)["data"][0]["x"]
    heat = max(fig.axes, key=lambda ax: len(ax.get_xticklabels()))
    assert [t.get_text() for t in heat.get_xticklabels()] == report_order
    assert [t.get_text() for t in heat.get_yticklabels()] == report_order
    assert list(report_order) == [str(s) for s in adata.uns["clustering"]["order"]]


@pytest.mark.parametrize("kind", ["volcano", "ma"])
def test_static_de_plots_show_the_report_genes(report_parts, kind: str) -> None:
    from matplotlib.colors import to_hex

    adata, summary, _ = report_parts
    (name, table, meta), *_ = de_contrasts(adata, summary)
    spec = getattr(figdata, kind)(table, meta)
    fig = getattr(figures, f"static_{kind}")(adata, name)
    drawn = {c.get_label(): c for c in fig.axes[0].collections}
    assert spec["layout"]["meta"]["static"] is False  # the example is small: every gene is a trace
    for tr in spec["data"]:
        pts = drawn[tr["name"]]
        xy = pts.get_offsets()
        assert len(xy) == len(tr["x"]), tr["name"]
        assert np.allclose(xy, np.column_stack([tr["x"], tr["y"]]), rtol=1e-4, atol=1e-9)
        assert {to_hex(c) for c in pts.get_facecolors()} <= {tr["marker"]["color"].lower()}
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == [a["text"] for a in spec["layout"]["annotations"]]


def test_panel_score_heatmap_is_the_report_heatmap(report_parts) -> None:
    adata, summary, _ = report_parts
    spec = figdata.panel_scores(adata, comparability_block(adata, summary))
    if spec is None:
        pytest.skip("the example run scored no panels")
    fig = static.heatmap(spec, title="t")
    image = fig.axes[0].images[0]
    z = np.array([[np.nan if v is None else v for v in row] for row in spec["data"][0]["z"]])
    assert np.array_equal(np.ma.filled(image.get_array(), np.nan), z, equal_nan=True)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == spec["data"][0]["x"]


def test_save_figures_from_the_api_is_reproducible(report_parts, tmp_path: Path) -> None:
    adata, _, _ = report_parts
    first = figures.save_figures(adata, tmp_path / "a")
    again = figures.save_figures(adata, tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in again]
    assert {p.name for p in first} >= {f"{s}.{e}" for s in STEMS for e in ("pdf", "png")}
    for a, b in zip(first, again, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two identical runs"


def test_no_figures_writes_none(tmp_path: Path, example_dir: Path) -> None:
    out = tmp_path / "out"
    args = [sys.executable, "-m", "mscseq", "compare", str(example_dir / "counts.tsv.gz"),
            "-s", str(example_dir / "samples.tsv"), "-o", str(out), "--design", "~ cohort",
            "-c", "cohort,B,A", "--no-report", "--no-figures", "--quiet"]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "figures").exists()
    assert not list(out.rglob("*.pdf")) and not list(out.rglob("*.png"))
    run_info = json.loads((out / "run_info.json").read_text(encoding="utf-8"))
    assert run_info["parameters"]["figures"] is False
    assert load_parts(out)[0].n_obs > 0


def test_dollar_signs_in_names_are_text_not_tex(report_parts, tmp_path: Path) -> None:
    """A name like ``$\\frac$`` is invalid TeX: with math parsing it would abort the whole run."""
    adata, _, _ = report_parts
    a = adata.copy()
    odd = r"P$\frac{$x"
    a.obs_names = [odd if s == "P03" else str(s) for s in a.obs_names]
    a.uns["clustering"] = {**a.uns["clustering"], "order": [odd if str(s) == "P03" else str(s) for s in a.uns["clustering"]["order"]]}  # fmt: skip
    name = next(iter(a.uns["de"]))
    table = a.uns["de"][name].copy()
    table.iloc[0, table.columns.get_loc("gene_name")] = r"$\notasymbol$"
    a.uns["de"] = {**a.uns["de"], name: table}
    written = figures.save_figures(a, tmp_path / "figs")
    assert {p.suffix for p in written} == {".pdf", ".png"}
    texts = [t.get_text() for t in figures.static_volcano(a).axes[0].texts]
    assert r"$\notasymbol$" in texts
    assert odd in {t.get_text() for t in figures.static_pca(a).axes[0].texts}


def test_no_panel_heatmap_without_panel_scores(report_parts, tmp_path: Path) -> None:
    """Panels scored but no panel gene measured (e.g. a targeted or synthetic gene set): no empty heatmap."""
    adata, summary, _ = report_parts
    comp = comparability_block(adata, summary) or {}
    panels = {**(comp.get("panels") or {}), "scores": {str(s): {} for s in adata.obs_names}}
    stems = [
        stem
        for stem, _ in static.run_figures(
            adata, {**summary, "comparability": {**comp, "panels": panels}}
        )
    ]
    assert "panel_scores" not in stems and {"pca", "correlation_clustermap"} <= set(stems)
