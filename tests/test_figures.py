"""``mscseq.figures``: the report's figures as plotly figures for notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mscseq
from mscseq import figures
from mscseq.errors import MscseqError

#: Report figure id → the notebook function that must draw the same figure.
NOTEBOOK = {
    "fig-qc": figures.qc,
    "fig-pca": figures.pca,
    "fig-scree": figures.scree,
    "fig-corr": figures.correlation,
    "fig-volcano-0": figures.volcano,
    "fig-ma-0": figures.ma,
    "fig-outliers": figures.outliers,
    "fig-equivalence": figures.equivalence,
    "fig-variance": figures.variance_partition,
    "fig-panel-scores": figures.panel_scores,
    "fig-panel-genes": figures.panel_genes,
}


@pytest.fixture(scope="module")
def grouped_run(tmp_path_factory, example_params) -> Path:
    """The example study compared by cohort (panel figures; no variance partition without replicates)."""
    from mscseq.pipeline import run_compare

    out = tmp_path_factory.mktemp("figures") / "out"
    run_compare(example_params, out, argv=["mscseq", "compare", "(test fixture)"])
    return out


def test_notebook_figures_are_the_report_figures(grouped_run: Path) -> None:
    import anndata as ad

    from mscseq.report.render import build_context

    adata = ad.read_h5ad(grouped_run / "mscseq.h5ad")  # comparability block in h5ad form
    summary = json.loads((grouped_run / "summary.json").read_text(encoding="utf-8"))
    run_info = json.loads((grouped_run / "run_info.json").read_text(encoding="utf-8"))
    report = build_context(adata, summary=summary, run_info=run_info)["figures"]
    assert set(report) <= set(NOTEBOOK), "a report figure has no notebook function"
    assert {"fig-qc", "fig-pca", "fig-panel-scores", "fig-panel-genes"} <= set(report)
    # the tiered verdict (summary/2) has no gene-equivalence bars, and similarity is a descriptive table
    assert not {"fig-outliers", "fig-equivalence"} & set(report)
    for fig_id, spec in report.items():
        assert NOTEBOOK[fig_id](adata).to_dict() == figures.to_figure(spec).to_dict(), fig_id
    # the report's colouring is the default one; another colouring is the same figure with other traces shown
    cohort = figures.pca(adata, color_by="cohort")
    assert [t.visible for t in cohort.data] != [t.visible for t in figures.pca(adata).data]
    assert cohort.layout.legend.title.text == "cohort"


def test_figures_from_explored_adata(example_adata) -> None:
    for fig in (
        figures.qc(example_adata),
        figures.pca(example_adata, color_by="cohort"),
        figures.correlation(example_adata),
        figures.scree(example_adata),
    ):
        assert len(fig.data) > 0
        fig.to_json()  # serialisable, as a notebook needs
    assert len(figures.correlation(example_adata, method="spearman").data) > 0


def test_figure_errors_name_the_missing_step(example_adata) -> None:
    with pytest.raises(MscseqError, match=r"color_by='nope': not a sample-sheet column"):
        figures.pca(example_adata, color_by="nope")
    with pytest.raises(MscseqError, match=r"run mscseq\.run_de"):
        figures.volcano(example_adata)
    for draw in (figures.panel_scores, figures.panel_genes, figures.outliers, figures.equivalence):
        with pytest.raises(MscseqError, match=r"run mscseq\.run_comparability"):
            draw(example_adata)


def test_volcano_and_panel_scores(example_adata) -> None:
    adata = example_adata.copy()
    mscseq.run_de(
        adata, design="~ cohort", contrasts=[mscseq.Contrast.parse("cohort,B,A")], engine="mscseq"
    )
    assert len(figures.volcano(adata).data) > 0
    with pytest.raises(MscseqError, match=r"contrast 'x' not found; available: cohort_B_vs_A"):
        figures.ma(adata, "x")
    mscseq.run_comparability(adata, group="cohort", design="~ cohort", permutations=99)
    heat = figures.panel_scores(adata).data[0]
    assert list(heat.x) == [
        str(s) for s in adata.obs_names
    ]  # products as columns, as in the report
    # the contaminated product is the outlier of the notebook's outlier plot
    marked = [t for t in figures.outliers(adata).data if "P09" in (t.text or ())]
    assert marked
