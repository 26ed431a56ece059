"""``mscseq.figures``: the report's figures as plotly figures for notebooks."""

from __future__ import annotations

import pytest

import mscseq
from mscseq import figures
from mscseq.errors import MscseqError


def test_figures_from_explored_adata(example_adata) -> None:
    for fig in (
        figures.qc(example_adata),
        figures.pca(example_adata, color_by="cohort"),
        figures.correlation(example_adata),
    ):
        assert len(fig.data) > 0
        fig.to_json()  # serialisable, as a notebook needs
    assert len(figures.correlation(example_adata, method="spearman").data) > 0


def test_figure_errors_name_the_missing_step(example_adata) -> None:
    with pytest.raises(MscseqError, match=r"color_by='nope': not a sample-sheet column"):
        figures.pca(example_adata, color_by="nope")
    with pytest.raises(MscseqError, match=r"run mscseq\.run_de"):
        figures.volcano(example_adata)
    with pytest.raises(MscseqError, match=r"run mscseq\.run_comparability"):
        figures.panel_scores(example_adata)


def test_volcano_and_panel_scores(example_adata) -> None:
    adata = example_adata.copy()
    mscseq.run_de(
        adata, design="~ cohort", contrasts=[mscseq.Contrast.parse("cohort,B,A")], engine="mscseq"
    )
    assert len(figures.volcano(adata).data) > 0
    mscseq.run_comparability(
        adata, group="cohort", design="~ cohort", engine="mscseq", permutations=99
    )
    fig = figures.panel_scores(adata)
    assert "P09 *" in fig.data[0].y  # the contaminated product is marked as an outlier
