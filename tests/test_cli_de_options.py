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


def _de_args(example_dir: Path, *extra: str, out: str = "-") -> list[str]:
    """``mscseq de`` on the example study (design DESIGN, contrast cohort,B,A) with ``extra`` options."""
    counts = example_dir / "counts.tsv.gz"
    if not counts.exists():
        counts = example_dir / "counts.tsv"
    return [
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


def _de(example_dir: Path, *extra: str, out: str = "-"):
    return runner.invoke(app, _de_args(example_dir, *extra, out=out))


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


# --- issue 14: --size-factors, --fit-type, --shrink, continuous covariates ---------------------------


def _ok_table(res) -> pd.DataFrame:
    assert res.exit_code == 0, res.output
    return pd.read_csv(StringIO(res.stdout), sep="\t", index_col=0)


def test_de_size_factors_and_fit_type_change_the_fit(example_dir):
    base = _ok_table(_de(example_dir))
    for extra in (["--size-factors", "poscounts"], ["--fit-type", "mean"]):
        other = _ok_table(_de(example_dir, *extra))
        assert list(other.columns) == list(base.columns)
        joined = base.join(other, rsuffix="_o")
        assert not np.allclose(joined["dispersion"], joined["dispersion_o"]), extra


def test_de_poscounts_equals_the_engine_with_r_poscounts_factors(example_dir):
    from mscseq.de.engine.sizefactors import size_factors_poscounts

    counts = pd.read_csv(example_dir / "counts.tsv.gz", sep="\t", index_col=0)
    sheet = pd.read_csv(example_dir / "samples.tsv", sep="\t", index_col=0)
    counts = counts[sheet.index]
    numeric = counts.select_dtypes("number")
    sf = size_factors_poscounts(numeric.to_numpy(dtype=float))
    fit = fit_deseq2(numeric.to_numpy(dtype=float).T, build_design(DESIGN, sheet), size_factors=sf)
    x = build_design(DESIGN, sheet)
    expected = results(fit, (x.columns == "cohort[T.B]").astype(float))
    got = _ok_table(_de(example_dir, "--size-factors", "poscounts")).loc[numeric.index]
    np.testing.assert_allclose(got["pvalue"], expected["pvalue"], rtol=1e-10)


def test_de_shrink_adds_named_columns_and_keeps_the_test(example_dir):
    base = _ok_table(_de(example_dir))
    for kind in ("apeglm", "normal"):
        shr = _ok_table(_de(example_dir, "--shrink", kind))
        assert list(shr.columns) == [*base.columns, "log2FoldChange_shrunk", "lfcSE_shrunk"]
        shr = shr.loc[base.index]
        pd.testing.assert_frame_equal(shr[base.columns], base)
        ok = shr["log2FoldChange"].notna()
        # shrinkage pulls towards zero
        assert (
            shr["log2FoldChange_shrunk"][ok].abs() <= shr["log2FoldChange"][ok].abs() + 1e-6
        ).mean() > 0.95


def test_de_shrink_apeglm_refuses_a_contrast_that_is_no_coefficient(example_dir):
    res = runner.invoke(
        app,
        [
            "de",
            str(example_dir / "counts.tsv.gz"),
            "-s",
            str(example_dir / "samples.tsv"),
            "-d",
            "~ 0 + cohort",
            "-c",
            "cohort,B,A",
            "--out",
            "-",
            "--shrink",
            "apeglm",
        ],
    )
    assert res.exit_code == 2
    assert "apeglm shrinks one coefficient" in res.output


def test_de_continuous_covariate(example_dir, tmp_path):
    sheet = pd.read_csv(example_dir / "samples.tsv", sep="\t")
    sheet["passage_n"] = sheet["passage"].str[1:].astype(int)
    path = tmp_path / "samples.tsv"
    sheet.to_csv(path, sep="\t", index=False)
    args = ["de", str(example_dir / "counts.tsv.gz"), "-s", str(path), "--out", "-"]
    res = runner.invoke(app, [*args, "-d", "~ cohort + passage_n", "-c", "passage_n"])
    table = _ok_table(res)
    assert table["pvalue"].notna().sum() > 0
    # a one-name contrast of a text column, or of a covariate not in the design: clear errors
    res = runner.invoke(app, [*args, "-d", "~ cohort + passage_n", "-c", "cohort"])
    assert res.exit_code == 2 and "must hold numbers" in res.output
    res = runner.invoke(app, [*args, "-d", "~ cohort", "-c", "passage_n"])
    assert res.exit_code == 2 and "not in the design" in res.output


def test_compare_records_the_new_options(example_dir, tmp_path):
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
        "--size-factors",
        "poscounts",
        "--fit-type",
        "mean",
        "--shrink",
        "apeglm",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    (de,) = json.loads((out / "summary.json").read_text())["de"]
    assert (de["size_factors"], de["fit_type"], de["shrink"]) == ("poscounts", "mean", "apeglm")
    params = json.loads((out / "run_info.json").read_text())["parameters"]
    # new keys come last, so the old ones keep their order
    keys = list(params)
    new = ["size_factors", "fit_type", "shrink", "contrasts_file"]
    assert [k for k in keys if k in new] == new
    assert keys.index("size_factors") > keys.index("strict")  # appended after the older keys
    assert (params["size_factors"], params["fit_type"], params["shrink"]) == (
        "poscounts",
        "mean",
        "apeglm",
    )
    table = pd.read_csv(out / "tables" / "de_cohort_B_vs_A.tsv", sep="\t", index_col=0)
    assert {"log2FoldChange_shrunk", "lfcSE_shrunk"} <= set(table.columns)
    # one choice for the whole run: the normalisation used the same size factors
    sizes = pd.read_csv(out / "tables" / "size_factors.tsv", sep="\t", index_col=0)
    assert np.exp(np.log(sizes.iloc[:, 0]).mean()) == pytest.approx(1.0)


def test_default_run_records_no_new_summary_keys(example_dir, tmp_path):
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
        "--permutations",
        "0",
    ]
    assert runner.invoke(app, args).exit_code == 0
    (de,) = json.loads((out / "summary.json").read_text())["de"]
    assert not {"size_factors", "fit_type", "shrink", "design"} & set(de)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--shrink", "apeglm", "--engine", "pydeseq2"], "only the mscseq engine shrinks"),
        (["--fit-type", "local", "--engine", "pydeseq2"], "PyDESeq2 has no local trend"),
        (["--shrink", "apeglm", "--test", "lrt", "--reduced", "~ sex"], "--shrink"),
    ],
)
def test_new_option_combinations_refused(example_dir, extra, message):
    res = _de(example_dir, *extra)
    assert res.exit_code == 2, res.output
    assert message in res.output


@pytest.mark.parametrize("command", ["compare", "de"])
def test_new_option_defaults_come_from_deoptions(command):
    import typer.main

    from mscseq.options import DEOptions

    click_cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    defaults = {
        p.name: p.default.value if hasattr(p.default, "value") else p.default
        for p in click_cmd.params
    }
    for name in ("size_factors", "fit_type", "shrink"):
        assert defaults[name] == getattr(DEOptions(), name), name
    params = CompareParams(counts=[], samples=Path("s.tsv"))
    assert (params.size_factors, params.fit_type, params.shrink) == ("ratio", "parametric", None)


def test_one_params_builder_for_compare_and_de():
    """compare and de build CompareParams through one function (issue 12, D2)."""
    for fn in (cli.compare, cli.de):
        assert "_params(values" in inspect.getsource(fn)
        assert "CompareParams(" not in inspect.getsource(fn)


def test_sparse_data_run_with_poscounts(tmp_path):
    """Every gene has a zero in some sample: ratio refuses and says what to do; poscounts runs."""
    rng = np.random.default_rng(3)
    g, n = 300, 8
    mu = np.exp(rng.normal(3, 1.5, g))
    y = rng.negative_binomial(2, 2 / (2 + mu[:, None] * np.ones(n)))
    y[np.arange(g), rng.integers(n, size=g)] = 0
    samples = [f"S{j}" for j in range(n)]
    counts = tmp_path / "counts.tsv"
    pd.DataFrame(
        y, index=pd.Index([f"G{i}" for i in range(g)], name="gene_id"), columns=samples
    ).to_csv(counts, sep="\t")
    sheet = tmp_path / "samples.tsv"
    pd.DataFrame({"sample": samples, "condition": ["a"] * 4 + ["b"] * 4}).to_csv(
        sheet, sep="\t", index=False
    )
    args = ["de", str(counts), "-s", str(sheet), "-d", "~ condition", "-c", "condition,b,a"]
    res = runner.invoke(app, [*args, "--out", "-"])
    assert res.exit_code == 2 and "--size-factors poscounts" in res.output
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "compare",
            *args[1:],
            "-o",
            str(out),
            "--no-report",
            "--size-factors",
            "poscounts",
            "--permutations",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "tables" / "de_condition_b_vs_a.tsv", sep="\t", index_col=0)
    assert table["pvalue"].notna().sum() > 0


@pytest.mark.parametrize("command", ["compare", "de"])
def test_help_lists_options_in_panels(command):
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    panels = [ln[:-1] for ln in lines if ln and not ln.startswith(" ") and ln.endswith(":")]
    expected = ["Inputs", "Design and DE", "Comparability", "Output and run", "Options"]
    if command == "de":
        expected.remove("Comparability")
    assert panels == expected
    text = res.stdout
    assert text.index("--size-factors") > text.index("Design and DE:")
    assert text.index("--outdir" if command == "compare" else "--out ") > text.index(
        "Output and run:"
    )
    if command == "compare":
        assert "Example:" in text and text.index("Example:") < text.index("Inputs:")


def test_reduced_design_without_coefficients_is_one_line(example_dir):
    """``--reduced '~ 0'`` has no coefficient: a one-line error (was an internal error in the LRT fit)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mscseq",
            *_de_args(example_dir, "--test", "lrt", "--reduced", "~ 0"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--reduced '~ 0'" in lines[0] and "no coefficient" in lines[0]
