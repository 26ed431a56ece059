"""The Snakemake workflow in ``workflows/``: lint, a real run on test_data, clear sheet errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mscseq.schemas import validate_summary

pytest.importorskip("snakemake", reason="snakemake is not installed (pip install -e '.[workflow]')")

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
SNAKEFILE = WORKFLOWS / "workflow" / "Snakefile"
TEST_SHEET = WORKFLOWS / ".test" / "config" / "datasets.csv"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # the rules call the `mscseq` installed beside this Python
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def snakemake(
    *args: str | Path, cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *map(str, args)]
    return subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def test_lint() -> None:
    res = snakemake("--lint", cwd=WORKFLOWS, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow
def test_workflow_runs_on_test_data(tmp_path: Path) -> None:
    res = snakemake(
        "--cores", "2", "--directory", tmp_path,
        "--configfile", WORKFLOWS / ".test" / "config" / "config.yaml",
        "--config", f"datasets={TEST_SHEET}", "outdir=results", "threads=1",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "results"
    with open(out / "summary.tsv", newline="") as fh:
        rows = {r["dataset"]: r for r in csv.DictReader(fh, delimiter="\t")}
    assert sorted(rows) == ["example", "licensing"]
    assert rows["example"]["n_samples"] == "15"
    assert rows["licensing"]["n_samples"] == "24"
    assert int(rows["licensing"]["de_condition_IFNg_vs_control_up"]) > 0
    assert rows["licensing"]["de_cohort_B_vs_A_up"] == ""  # other datasets' contrasts stay empty
    assert rows["example"]["de_cohort_B_vs_A_up"] != ""
    assert (
        rows["example"]["verdict"] == "not_comparable"
    )  # P09 is simulated as a contaminated product
    # P09 is the outlier (mscseq.summary/1) or the deviating product (mscseq.summary/2)
    v2 = rows["example"]["schema"] == "mscseq.summary/2"
    assert rows["example"]["deviating" if v2 else "outliers"] == "P09"
    assert rows["example"]["n_products"] == "15"
    for name, row in rows.items():
        assert row["report"] == f"{name}/report.html"
        assert (out / row["report"]).is_file()
        validate_summary(json.loads((out / name / "summary.json").read_text()))
        assert (out / "logs" / "compare" / f"{name}.log").is_file()
        assert row["verdict"] in {"comparable", "not_comparable", "inconclusive"}
        flagged = row["n_deviating"] if row["schema"] == "mscseq.summary/2" else row["n_outliers"]
        assert int(row["n_products"]) >= int(flagged)
    assert not list(out.glob(".*tmp*")), "no temporary folders left behind"


def _write_sheet(folder: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or ["dataset", "counts", "samples", "design", "contrast", "group"]
    path = folder / "datasets.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
def sheet_dir(tmp_path: Path) -> Path:
    """A folder with two count files and a sample sheet, for sheets with relative paths."""
    ex = REPO / "test_data" / "example"
    shutil.copy(ex / "counts.tsv.gz", tmp_path / "a.tsv.gz")
    shutil.copy(ex / "counts.tsv.gz", tmp_path / "b.tsv.gz")
    shutil.copy(ex / "samples.tsv", tmp_path / "samples.tsv")
    return tmp_path


GOOD = {
    "dataset": "ds1",
    "counts": "a.tsv.gz",
    "samples": "samples.tsv",
    "design": "~ cohort",
    "contrast": "cohort,B,A",
}


@pytest.mark.parametrize(
    ("change", "header", "expected"),
    [
        (
            {"dataset": "bad name"},
            None,
            "row 1 (dataset 'bad name'), column 'dataset': 'bad name' is not valid; expected name of the dataset",
        ),
        ({"counts": ""}, None, "row 1 (dataset 'ds1'): 'counts' is empty; it is required"),
        (
            {"contrast": "cohort,B"},
            None,
            "column 'contrast': 'cohort,B' is not valid; expected VARIABLE,TARGET,REFERENCE",
        ),
        (
            {"design": "cohort"},
            None,
            "column 'design': 'cohort' is not valid; expected design formula",
        ),
        ({"counts": "missing.tsv"}, None, "row 1 (dataset 'ds1'): file not found:"),
        ({}, ["dataset", "counts", "samples", "desing"], "unknown column(s) 'desing'"),
        ({}, ["dataset", "samples"], "missing column(s) 'counts'"),
    ],
)
def test_bad_datasets_sheet_is_a_clear_error(
    sheet_dir: Path, change: dict[str, str], header: list[str] | None, expected: str
) -> None:
    sheet = _write_sheet(sheet_dir, [{**GOOD, **change}], header)
    res = snakemake(
        "-n", "--cores", "1", "--config", f"datasets={sheet}", cwd=sheet_dir, timeout=120
    )
    assert res.returncode != 0
    log = (
        res.stdout + res.stderr
    )  # snakemake prints parse errors on stdout or stderr depending on mode
    assert expected in log, log


def test_duplicate_dataset_names(sheet_dir: Path) -> None:
    sheet = _write_sheet(sheet_dir, [GOOD, GOOD])
    res = snakemake(
        "-n", "--cores", "1", "--config", f"datasets={sheet}", cwd=sheet_dir, timeout=120
    )
    assert res.returncode != 0
    assert "duplicated dataset name(s) ds1" in res.stdout + res.stderr


def test_missing_sheet(tmp_path: Path) -> None:
    res = snakemake(
        "-n", "--cores", "1", "--config", "datasets=nope.csv", cwd=tmp_path, timeout=120
    )
    assert res.returncode != 0
    assert "datasets sheet nope.csv: file not found" in res.stdout + res.stderr


def test_several_count_files_and_options_reach_the_cli(sheet_dir: Path) -> None:
    row = {
        **GOOD,
        "counts": "a.tsv.gz; b.tsv.gz",
        "contrast": "cohort,B,A;lot,reference,product",
        "group": "cohort",
    }
    sheet = _write_sheet(sheet_dir, [row])
    res = snakemake(
        "-n", "-p", "--cores", "4",
        "--config", f"datasets={sheet}", "outdir=out dir", "threads=3", "extra=--alpha 0.05",
        cwd=sheet_dir, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    log = res.stdout + res.stderr
    cmd = next(line for line in log.splitlines() if "mscseq compare" in line)
    assert f"{sheet_dir / 'a.tsv.gz'} {sheet_dir / 'b.tsv.gz'}" in cmd
    assert "--design '~ cohort'" in cmd
    assert "--contrast cohort,B,A --contrast lot,reference,product" in cmd
    assert "--group cohort" in cmd
    assert "--threads 3" in cmd
    assert "--alpha 0.05" in cmd
    assert "--outdir 'out dir/ds1'" in cmd


def test_comparability_design_columns_reach_the_cli(sheet_dir: Path) -> None:
    (sheet_dir / "protocols").mkdir()
    (sheet_dir / "protocols" / "site.yaml").write_text("alpha: 0.05\n")
    row = {**GOOD, "group": "cohort", "product": "donor", "batch": "run", "pair": "donor",
           "protocol": "protocols/site.yaml"}  # fmt: skip
    header = ["dataset", "counts", "samples", "design", "contrast", "group", "product", "batch",
              "pair", "protocol"]  # fmt: skip
    sheet = _write_sheet(sheet_dir, [row], header)
    res = snakemake(
        "-n", "-p", "--cores", "1", "--config", f"datasets={sheet}", cwd=sheet_dir, timeout=120
    )
    assert res.returncode == 0, res.stderr
    log = res.stdout + res.stderr
    cmd = next(line for line in log.splitlines() if "mscseq compare" in line)
    assert "--group cohort --product donor --batch run --pair donor" in cmd
    assert f"--protocol {sheet_dir / 'protocols' / 'site.yaml'}" in cmd
    missing = _write_sheet(sheet_dir, [{**row, "protocol": "nope.yaml"}], header)
    res = snakemake(
        "-n", "--cores", "1", "--config", f"datasets={missing}", cwd=sheet_dir, timeout=120
    )
    assert res.returncode != 0
    assert f"file not found: {sheet_dir / 'nope.yaml'}" in res.stdout + res.stderr


def test_slurm_profile_parses() -> None:
    pytest.importorskip(
        "snakemake_executor_plugin_slurm", reason="the SLURM executor plugin is not installed"
    )
    res = snakemake(
        "--profile", "profiles/slurm", "-n", cwd=WORKFLOWS, timeout=120
    )  # dry run: nothing is submitted
    assert res.returncode == 0, res.stdout + res.stderr
    assert "compare" in res.stdout
