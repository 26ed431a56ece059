"""The command line: outputs of a real run, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mscseq import __version__
from mscseq.cli import app

runner = CliRunner()

CORE_FILES = {
    "report.html",
    "summary.json",
    "run_info.json",
    "mscseq.h5ad",
    "tables/size_factors.tsv",
    "tables/normalized_counts.tsv",
    "tables/vst.tsv",
    "tables/qc.tsv",
    "tables/pca.tsv",
    "tables/pca_variance.tsv",
    "tables/sample_correlation.tsv",
    "tables/de_cohort_B_vs_A.tsv",
}


def mscseq(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, example_args):
    out = tmp_path_factory.mktemp("cli") / "out"
    proc = mscseq(*example_args("compare", "--outdir", str(out)))
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"mscseq {__version__}"


def test_help_lists_commands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    assert "compare" in res.stdout and "de" in res.stdout


def test_compare_writes_the_output_contract(run_dir):
    out, proc = run_dir
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert CORE_FILES <= files
    assert proc.stdout == ""  # stdout stays clean; logs go to stderr
    assert "wrote" in proc.stderr
    assert not list(out.parent.glob(".*mscseq-tmp*"))


def test_summary_json(run_dir, example_dir):
    out, _ = run_dir
    s = json.loads((out / "summary.json").read_text())
    assert s["schema"] == "mscseq.summary/2"
    assert s["dimensions"]["n_samples"] == 15
    assert s["dimensions"]["n_genes"] == 3000
    assert [q["sample"] for q in s["qc"]] == pd.read_csv(example_dir / "samples.tsv", sep="\t")[
        "sample"
    ].tolist()
    (de,) = s["de"]
    assert de["name"] == "cohort_B_vs_A"
    table = pd.read_csv(out / "tables/de_cohort_B_vs_A.tsv", sep="\t")
    sig = table["padj"] < 0.1
    assert de["n_up"] == int((sig & (table["log2FoldChange"] > 0)).sum())
    assert de["n_down"] == int((sig & (table["log2FoldChange"] < 0)).sum())


def test_tables_columns(run_dir):
    out, _ = run_dir
    de = pd.read_csv(out / "tables/de_cohort_B_vs_A.tsv", sep="\t")
    assert list(de.columns) == [
        "gene_id",
        "gene_name",
        "baseMean",
        "log2FoldChange",
        "lfcSE",
        "stat",
        "pvalue",
        "padj",
        "dispersion",
    ]
    padj = de["padj"].dropna().to_numpy()
    assert (padj[1:] >= padj[:-1]).all()  # sorted by padj
    assert de.loc[de.gene_id == "ENSG00000081237", "gene_name"].item() == "PTPRC"
    sf = pd.read_csv(out / "tables/size_factors.tsv", sep="\t")
    assert list(sf.columns) == ["sample", "size_factor"]
    pca = pd.read_csv(out / "tables/pca.tsv", sep="\t")
    assert list(pca.columns[:3]) == ["sample", "PC1", "PC2"]
    vst = pd.read_csv(out / "tables/vst.tsv", sep="\t", index_col=0)
    assert vst.shape == (3000, 15)


def test_run_info(run_dir, example_dir):
    out, _ = run_dir
    info = json.loads((out / "run_info.json").read_text())
    assert info["parameters"]["design"] == "~ cohort"
    assert info["parameters"]["contrasts"] == ["cohort,B,A"]
    import hashlib

    digest = hashlib.sha256((example_dir / "counts.tsv.gz").read_bytes()).hexdigest()
    assert digest in [i["sha256"] for i in info["inputs"]]
    assert info["versions"]["pydeseq2"]
    assert "compare" in info["command"]


def test_h5ad_round_trip(run_dir):
    import anndata as ad

    out, _ = run_dir
    a = ad.read_h5ad(out / "mscseq.h5ad")
    assert a.shape == (15, 3000)
    assert {"normalized", "vst"} <= set(a.layers)
    assert "X_pca" in a.obsm
    assert "cohort_B_vs_A" in a.uns["de"]


def test_existing_outdir_is_refused_and_untouched(run_dir, example_dir):
    out, _ = run_dir
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    proc = mscseq(
        "compare",
        str(example_dir / "counts.tsv.gz"),
        "-s",
        str(example_dir / "samples.tsv"),
        "-o",
        str(out),
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "--force" in proc.stderr and str(out) in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_bad_input_exit_code_2_one_line(tmp_path, example_dir):
    bad = tmp_path / "counts.tsv"
    bad.write_text("gene_id\tP01\nG1\t-3\n")
    out = tmp_path / "out"
    proc = mscseq("compare", str(bad), "-s", str(example_dir / "samples.tsv"), "-o", str(out))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert str(bad) in proc.stderr and "negative" in proc.stderr
    assert not out.exists()


def test_de_command_writes_one_table(tmp_path, example_args):
    out = tmp_path / "de.tsv"
    res = runner.invoke(app, example_args("de", "--out", str(out)))
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, sep="\t")
    assert table.columns[0] == "gene_id" and len(table) == 3000
    again = runner.invoke(app, example_args("de", "--out", str(out)))
    assert again.exit_code == 2
    assert "exists" in again.output


def test_unknown_contrast_level_fails_before_any_output(tmp_path, example_dir):
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "compare",
            str(example_dir / "counts.tsv.gz"),
            "-s",
            str(example_dir / "samples.tsv"),
            "--design",
            "~ cohort",
            "-c",
            "cohort,C,A",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 2
    assert "'C'" in res.output and "not found" in res.output
    assert not out.exists()


def test_de_reads_files_named_by_the_sheet(tmp_path, example_dir):
    """Without COUNTS, 'mscseq de' reads the files in the sheet's path column, as 'compare' does."""
    import shutil

    shutil.copy(example_dir / "counts.tsv.gz", tmp_path / "counts.tsv.gz")
    sheet = pd.read_csv(example_dir / "samples.tsv", sep="\t")
    sheet["path"] = "counts.tsv.gz"
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    args = ["--design", "~ cohort", "--contrast", "cohort,B,A"]
    res = runner.invoke(
        app, ["de", "-s", str(tmp_path / "samples.tsv"), *args, "--out", str(tmp_path / "a.tsv")]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "de",
            str(example_dir / "counts.tsv.gz"),
            "-s",
            str(example_dir / "samples.tsv"),
            *args,
            "--out",
            str(tmp_path / "b.tsv"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a.tsv").read_text() == (tmp_path / "b.tsv").read_text()
