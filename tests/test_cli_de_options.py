"""``--engine``, ``--lfc-threshold``, ``--alt-hypothesis``, ``--test`` and ``--reduced`` on ``de`` and ``compare``."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mscseq import cli
from mscseq.cli import app
from mscseq.de.design import build_design
from mscseq.de.engine import fit_deseq2, lrt_results, results
from mscseq.pipeline import CompareParams

runner = CliRunner()

# The engine's lowess (independent filtering, _rstats.py) divides 0/0 when all residuals are zero; known and
# reported to its owner, it does not change the results (those weights are discarded).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")

DESIGN = "~ sex + cohort"


def _de(example_dir: Path, *extra: str, out: str = "-"):
    counts = example_dir / "counts.tsv.gz"
    if not counts.exists():
        counts = example_dir / "counts.tsv"
    args = [
        "de",
        str(counts),
        "-s",
        str(example_dir / "samples.tsv"),
        "-d",
        DESIGN,
        "-c",
        "cohort,B,A",
        "--out",
        out,
        *extra,
    ]
    return runner.invoke(app, args)


def _table(text: str) -> pd.DataFrame:
    return pd.read_csv(StringIO(text), sep="\t", index_col=0)


@pytest.fixture(scope="module")
def engine_fit(example_dir: Path):
    """The engine called directly on the example data: the reference the CLI must reproduce."""
    counts = pd.read_csv(example_dir / "counts.tsv.gz", sep="\t", index_col=0).drop(
        columns="gene_name"
    )
    obs = pd.read_csv(example_dir / "samples.tsv", sep="\t", index_col=0).astype(str)
    counts = counts[obs.index]
    x = build_design(DESIGN, obs)
    fit = fit_deseq2(counts.to_numpy(float).T, x)
    res_index = counts.index.astype(str)
    return fit, x, obs, res_index


def test_mscseq_is_the_default_engine():
    for command in (cli.compare, cli.de):
        params = inspect.signature(command).parameters
        assert params["engine"].default is cli.Engine.mscseq
        assert params["alt_hypothesis"].default is cli.AltHypothesis.greaterAbs
        assert params["test"].default is cli.Test.wald
        assert params["lfc_threshold"].default == 0.0
    assert CompareParams(counts=[], samples=Path("s.tsv")).engine == "mscseq"


@pytest.mark.parametrize("alt", ["greaterAbs", "lessAbs", "greater", "less"])
def test_de_threshold_test_on_the_contrast(example_dir, engine_fit, alt):
    fit, _, _, index = engine_fit
    res = _de(example_dir, "--lfc-threshold", "0.5", "--alt-hypothesis", alt)
    assert res.exit_code == 0, res.output
    ours = _table(res.stdout)
    ref = results(fit, ("cohort", "B", "A"), lfc_threshold=0.5, alt_hypothesis=alt)
    ref.index = index
    ours = ours.loc[ref.index]
    np.testing.assert_allclose(ours["pvalue"], ref["pvalue"], rtol=1e-12)
    np.testing.assert_allclose(ours["padj"], ref["padj"], rtol=1e-12)
    np.testing.assert_allclose(ours["stat"], ref["stat"], rtol=1e-12)


def test_de_reversed_contrast_threshold_is_symmetric(example_dir):
    """The threshold applies to the contrast: A vs B gives B vs A's p-values with greater ↔ less."""
    fwd = _de(example_dir, "--lfc-threshold", "0.3", "--alt-hypothesis", "greater")
    args = [
        "de",
        str(example_dir / "counts.tsv.gz"),
        "-s",
        str(example_dir / "samples.tsv"),
        "-d",
        DESIGN,
        "-c",
        "cohort,A,B",
        "--out",
        "-",
        "--lfc-threshold",
        "0.3",
        "--alt-hypothesis",
        "less",
    ]
    rev = runner.invoke(app, args)
    assert fwd.exit_code == 0 and rev.exit_code == 0
    a, b = _table(fwd.stdout), _table(rev.stdout)
    b = b.loc[a.index]
    np.testing.assert_allclose(a["pvalue"], b["pvalue"], rtol=1e-10)
    np.testing.assert_allclose(a["log2FoldChange"], -b["log2FoldChange"], rtol=1e-10, atol=1e-12)


def test_de_lrt(example_dir, engine_fit):
    fit, _, obs, index = engine_fit
    res = _de(example_dir, "--test", "lrt", "--reduced", "~ sex")
    assert res.exit_code == 0, res.output
    ours = _table(res.stdout)
    assert list(ours.columns) == [
        "gene_name",
        "baseMean",
        "log2FoldChange",
        "lfcSE",
        "stat",
        "pvalue",
        "padj",
        "dispersion",
    ]
    lrt = lrt_results(fit, build_design("~ sex", obs))
    wald = results(fit, ("cohort", "B", "A"))
    lrt.index = wald.index = index
    ours = ours.loc[index]
    np.testing.assert_allclose(ours["stat"], lrt["stat"], rtol=1e-12)  # deviance difference
    np.testing.assert_allclose(ours["pvalue"], lrt["pvalue"], rtol=1e-12)
    np.testing.assert_allclose(ours["padj"], lrt["padj"], rtol=1e-12)
    # the named contrast's fold change and standard error, as R's results(dds_lrt, contrast=) reports
    np.testing.assert_allclose(ours["log2FoldChange"], wald["log2FoldChange"], rtol=1e-12)
    np.testing.assert_allclose(ours["lfcSE"], wald["lfcSE"], rtol=1e-12)
    assert not np.allclose(ours["pvalue"].fillna(1), wald["pvalue"].fillna(1))


def test_de_lrt_intercept_only_reduced(example_dir):
    res = _de(example_dir, "--test", "lrt", "--reduced", "~ 1")
    assert res.exit_code == 0, res.output
    assert _table(res.stdout)["pvalue"].notna().sum() > 1000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--test", "lrt"], "--test lrt needs --reduced"),
        (["--reduced", "~ sex"], "--reduced is only used by the likelihood-ratio test"),
        (["--test", "lrt", "--reduced", "~ lot"], "not nested in the design"),
        (["--test", "lrt", "--reduced", "~ sex + cohort"], "must drop the tested terms"),
        (["--test", "lrt", "--reduced", "~ sex +"], "--reduced '~ sex +': not a valid formula"),
        (["--test", "lrt", "--reduced", "~ nosuchcolumn"], "nosuchcolumn"),
        (
            ["--test", "lrt", "--reduced", "~ sex", "--engine", "pydeseq2"],
            "PyDESeq2 has no likelihood-ratio test",
        ),
        (
            ["--test", "lrt", "--reduced", "~ sex", "--lfc-threshold", "1"],
            "R's results() refuses them for the LRT",
        ),
        (["--alt-hypothesis", "lessAbs"], "give a positive --lfc-threshold"),
    ],
)
def test_de_option_errors(example_dir, tmp_path, extra, message):
    out = tmp_path / "de.tsv"
    res = _de(example_dir, *extra, out=str(out))
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert res.stderr.startswith("mscseq: error: ")
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--alt-hypothesis", "twoSided"], "--alt-hypothesis"),
        (["--test", "anova"], "--test"),
        (["--lfc-threshold", "-1"], "--lfc-threshold"),
        (["--engine", "edger"], "--engine"),
    ],
)
def test_de_bad_choices_are_usage_errors(example_dir, extra, option):
    res = _de(example_dir, *extra)
    assert res.exit_code == 2
    assert option in res.output


def test_pydeseq2_threshold_warns_about_per_coefficient_test(example_dir, tmp_path):
    pytest.importorskip("pydeseq2")
    counts = pd.read_csv(example_dir / "counts.tsv.gz", sep="\t", index_col=0).iloc[:300]
    counts.to_csv(tmp_path / "counts.tsv", sep="\t")
    (tmp_path / "samples.tsv").write_text((example_dir / "samples.tsv").read_text())
    out = tmp_path / "de.tsv"
    res = _de(
        tmp_path,
        "--engine",
        "pydeseq2",
        "--lfc-threshold",
        "0.5",
        "--alt-hypothesis",
        "greater",
        out=str(out),
    )
    assert res.exit_code == 0, res.output
    assert "PR #468" in res.stderr
    assert _table(out.read_text())["pvalue"].notna().any()


def test_compare_records_the_test(example_dir, tmp_path):
    out = tmp_path / "out"
    args = [
        "compare",
        str(example_dir / "counts.tsv.gz"),
        "-s",
        str(example_dir / "samples.tsv"),
        "-d",
        DESIGN,
        "-c",
        "cohort,B,A",
        "-o",
        str(out),
        "--no-report",
        "--lfc-threshold",
        "0.5",
        "--alt-hypothesis",
        "greaterAbs",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    (de,) = json.loads((out / "summary.json").read_text())["de"]
    assert (de["test"], de["lfc_threshold"], de["alt_hypothesis"]) == ("wald", 0.5, "greaterAbs")
    params = json.loads((out / "run_info.json").read_text())["parameters"]
    assert params["engine"] == "mscseq"
    assert (
        params["test"],
        params["reduced"],
        params["lfc_threshold"],
        params["alt_hypothesis"],
    ) == (
        "wald",
        None,
        0.5,
        "greaterAbs",
    )


def test_compare_lrt_errors_before_writing(example_dir, tmp_path):
    out = tmp_path / "out"
    args = [
        "compare",
        str(example_dir / "counts.tsv.gz"),
        "-s",
        str(example_dir / "samples.tsv"),
        "-d",
        DESIGN,
        "-c",
        "cohort,B,A",
        "-o",
        str(out),
        "--no-report",
        "--test",
        "lrt",
        "--reduced",
        "~ lot",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "not nested" in res.stderr
    assert not out.exists()


def test_compare_lrt_subprocess(example_dir, tmp_path):
    """One real process: compare with the LRT writes its table and records the test."""
    from mscseq.schemas import validate_summary

    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mscseq",
            "compare",
            str(example_dir / "counts.tsv.gz"),
            "-s",
            str(example_dir / "samples.tsv"),
            "-d",
            DESIGN,
            "-c",
            "cohort,B,A",
            "-o",
            str(out),
            "--no-report",
            "--test",
            "lrt",
            "--reduced",
            "~ sex",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    validate_summary(summary)
    (de,) = summary["de"]
    assert (de["test"], de["reduced"], de["alt_hypothesis"], de["lfc_threshold"]) == (
        "lrt",
        "~ sex",
        "greaterAbs",
        0.0,
    )
    table = pd.read_csv(out / "tables/de_cohort_B_vs_A.tsv", sep="\t", index_col=0)
    assert table["pvalue"].notna().sum() > 1000
