"""Options objects: one set of defaults for CLI and API; fit once, test many; ``mscseq de`` = compare's DE."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

from mscseq import cli
from mscseq.comparability import run_comparability
from mscseq.de.design import Contrast
from mscseq.options import ComparabilityOptions, DEOptions, with_changes
from mscseq.pipeline import CompareParams

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")

#: CLI option → the options class and field holding its default.
DE_FIELDS = {
    "design": "design",
    "alpha": "alpha",
    "threads": "threads",
    "engine": "engine",
    "lfc_threshold": "lfc_threshold",
    "alt_hypothesis": "alt_hypothesis",
    "test": "test",
    "reduced": "reduced",
}
COMPARABILITY_FIELDS = {"margin": "margin", "permutations": "permutations", "seed": "seed"}


def _cli_defaults(command: str) -> dict[str, object]:
    """The defaults the installed Typer/Click command really uses (enum choices as their values)."""
    click_cmd = typer.main.get_command(cli.app).commands[command]  # type: ignore[attr-defined]
    return {
        p.name: p.default.value if hasattr(p.default, "value") else p.default
        for p in click_cmd.params
    }


@pytest.mark.parametrize("command", ["compare", "de"])
def test_cli_defaults_equal_the_api_defaults(command):
    defaults = _cli_defaults(command)
    de = DEOptions()
    for option, name in DE_FIELDS.items():
        if option == "design" and command == "de":
            continue  # required in `mscseq de`
        assert defaults[option] == getattr(de, name), option
    if command == "compare":
        comparability = ComparabilityOptions()
        for option, name in COMPARABILITY_FIELDS.items():
            assert defaults[option] == getattr(comparability, name), option
    params = CompareParams(counts=[], samples=Path("s.tsv"))
    for option in ("sample_column", "fill_missing_zero", "keep_gene_version", "format", "layer"):
        assert defaults[option] == getattr(params, option), option


def test_compare_params_defaults_are_the_options_defaults():
    params = CompareParams(counts=[], samples=Path("s.tsv"))
    assert params.de_options() == DEOptions()
    comparability = params.comparability_options()
    assert comparability == dataclasses.replace(ComparabilityOptions(), design=DEOptions().design)


def test_comparability_shares_the_de_defaults_and_runs_the_mscseq_engine():
    de, comparability = DEOptions(), ComparabilityOptions()
    assert comparability.engine == de.engine == "mscseq"
    assert (comparability.alpha, comparability.threads) == (de.alpha, de.threads)
    # the API functions keep no second list of defaults: their options come from the dataclasses
    for fn in (run_comparability,):
        params = inspect.signature(fn).parameters
        assert set(params) == {"adata", "options", "fit", "changes"}


def test_keyword_changes_build_the_same_options():
    c = Contrast.parse("cohort,B,A")
    opts = with_changes(None, DEOptions, {"design": "~ cohort", "contrasts": [c]})
    assert opts == DEOptions(design="~ cohort", contrasts=(c,))
    assert with_changes(opts, DEOptions, {}) is opts
    with pytest.raises(TypeError, match=r"no option.*margni"):
        with_changes(None, ComparabilityOptions, {"margni": 1.0})
    with pytest.raises(TypeError, match="expected DEOptions"):
        with_changes(ComparabilityOptions(), DEOptions, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.alpha = 0.05  # type: ignore[misc]


@pytest.fixture
def count_fits(monkeypatch):
    """Count the engine's DESeq2 fits."""
    import mscseq.de.engine as engine

    calls: list[tuple[int, int]] = []
    fit_deseq2 = engine.fit_deseq2

    def counted(counts, design, **kw):
        calls.append(design.shape)
        return fit_deseq2(counts, design, **kw)

    monkeypatch.setattr(engine, "fit_deseq2", counted)
    return calls


def _equivalence(adata) -> pd.DataFrame:
    (table,) = adata.uns["comparability_tables"]["equivalence"].values()
    return table


def test_equivalence_tests_both_margins_on_one_fit(example_adata, count_fits):
    adata = example_adata.copy()
    run_comparability(adata, group="cohort", reference="A", permutations=0)
    assert len(count_fits) == 1
    table = _equivalence(adata)
    assert table["padj_equivalence"].notna().sum() > 0
    assert table["padj_beyond"].notna().sum() > 0


def test_equivalence_reuses_the_de_fit_when_the_model_is_the_same(example_adata, count_fits):
    from mscseq.de.run import run_de

    own = example_adata.copy()
    run_comparability(own, group="cohort", reference="A", design="~ cohort", permutations=0)
    assert len(count_fits) == 1
    shared = example_adata.copy()
    fit = run_de(shared, design="~ cohort", contrasts=[Contrast.parse("cohort,B,A")])
    run_comparability(
        shared, group="cohort", reference="A", design="~ cohort", permutations=0, fit=fit
    )
    assert len(count_fits) == 2  # the DE fit, tested again for both margins
    pd.testing.assert_frame_equal(_equivalence(shared), _equivalence(own), check_exact=True)
    assert shared.uns["comparability"] == own.uns["comparability"]


def test_equivalence_refits_when_the_parametrisation_differs(example_adata, count_fits):
    from mscseq.de.run import run_de

    adata = example_adata.copy()
    # DE codes A as the base level; equivalence against reference B codes B first: another matrix
    fit = run_de(adata, design="~ cohort", contrasts=[Contrast.parse("cohort,B,A")])
    run_comparability(
        adata, group="cohort", reference="B", design="~ cohort", permutations=0, fit=fit
    )
    assert len(count_fits) == 2
    a_fold = adata.uns["de"]["cohort_B_vs_A"]["log2FoldChange"]
    b_fold = _equivalence(adata)["log2FoldChange"]  # A over B
    # the same model up to the fit's convergence tolerance, not to the last digit: hence no reuse
    np.testing.assert_allclose(b_fold.reindex(a_fold.index), -a_fold, atol=1e-3)


def test_de_command_writes_compare_s_table(example_dir, tmp_path):
    args = [
        str(example_dir / "counts.tsv.gz"),
        "--samples",
        str(example_dir / "samples.tsv"),
        "--design",
        "~ sex + cohort",
        "--contrast",
        "cohort,B,A",
        "--lfc-threshold",
        "0.5",
        "--quiet",
    ]
    res = runner.invoke(cli.app, ["de", *args, "--out", str(tmp_path / "de.tsv")])
    assert res.exit_code == 0, res.output
    outdir = tmp_path / "compare"
    res = runner.invoke(cli.app, ["compare", *args, "--outdir", str(outdir), "--no-report"])
    assert res.exit_code == 0, res.output
    compare_table = (outdir / "tables" / "de_cohort_B_vs_A.tsv").read_bytes()
    assert (tmp_path / "de.tsv").read_bytes() == compare_table
