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
COMPARABILITY_FIELDS = {
    "group": "group",
    "reference": "reference",
    "protocol": "protocol",
    "margin": "margin",
    "batch": "batch",
    "pair": "pair",
    "permutations": "permutations",
    "seed": "seed",
}


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


def test_comparability_options_hold_no_de_settings():
    """v2: comparability fits no DESeq2 model; its margins and levels are the protocol's."""
    fields = {f.name for f in dataclasses.fields(ComparabilityOptions)}
    gone = {"engine", "alpha", "thresholds", "size_factors", "fit_type", "threads"}
    assert not fields & gone
    assert {"group", "reference", "protocol", "margin", "batch", "pair", "seed"} <= fields
    # the API functions keep no second list of defaults: their options come from the dataclasses
    for fn in (run_comparability,):
        params = inspect.signature(fn).parameters
        assert set(params) == {"adata", "options", "changes"}


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


def _tier2_genes(adata) -> pd.DataFrame:
    (table,) = adata.uns["comparability_tables"]["tier2_genes"].values()
    return table


def test_comparability_fits_no_deseq2_model(example_adata, count_fits):
    adata = example_adata.copy()
    run_comparability(adata, group="cohort", reference="A", permutations=0)
    assert count_fits == []  # Tier 1 and Tier 2 test the VST; no DESeq2 fit inside comparability
    table = _tier2_genes(adata)
    assert len(table) == adata.uns["comparability"]["comparisons"][0]["tier2"]["n_genes"]
    assert table["estimate"].notna().all() and table["p_beyond"].notna().all()


def test_swapping_the_reference_only_flips_the_signs(example_adata):
    a_ref, b_ref = example_adata.copy(), example_adata.copy()
    run_comparability(a_ref, group="cohort", reference="A", permutations=0)
    run_comparability(b_ref, group="cohort", reference="B", permutations=0)
    b_over_a, a_over_b = _tier2_genes(a_ref), _tier2_genes(b_ref)
    np.testing.assert_allclose(a_over_b["estimate"], -b_over_a["estimate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a_over_b["p_beyond"], b_over_a["p_beyond"], rtol=1e-12)
    (ab,) = a_ref.uns["comparability"]["comparisons"]
    (ba,) = b_ref.uns["comparability"]["comparisons"]
    assert ab["tier2"]["n_beyond"] == ba["tier2"]["n_beyond"]
    assert ab["tier2"]["upper"] == pytest.approx(ba["tier2"]["upper"], rel=1e-12)
    for x, y in zip(ab["tier1"]["attributes"], ba["tier1"]["attributes"], strict=True):
        assert x["estimate"] == pytest.approx(-y["estimate"], abs=1e-12)
        assert x["result"] == y["result"]


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
