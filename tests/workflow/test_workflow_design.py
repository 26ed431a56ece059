"""The workflow checks each dataset's design and contrasts with mscseq's own parser before anything runs."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("snakemake", reason="snakemake is not installed (pip install -e '.[workflow]')")

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflows" / "workflow" / "Snakefile"
GOOD = {
    "dataset": "ds1",
    "counts": "counts.tsv.gz",
    "samples": "samples.tsv",
    "design": "~ cohort",
    "contrast": "cohort,B,A",
}


def _dry_run(folder: Path, row: dict[str, str]) -> subprocess.CompletedProcess[str]:
    ex = REPO / "test_data" / "example"
    for name in ("counts.tsv.gz", "samples.tsv"):
        shutil.copy(ex / name, folder / name)
    sheet = folder / "datasets.csv"
    with open(sheet, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(GOOD))
        w.writeheader()
        w.writerow({**GOOD, **row})
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-n", "-p", "--cores", "1"]
    cmd += ["--config", f"datasets={sheet}"]
    return subprocess.run(
        cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"design": "~ I(open('CANARY', 'w'))"},
            "column 'design': \"~ I(open('CANARY', 'w'))\" is not valid; expected design formula",
        ),
        ({"design": "~ cohort.__class__"}, "column 'design': '~ cohort.__class__' is not valid"),
        (
            {"design": "~ log(cohort)"},
            "design '~ log(cohort)': not a valid formula: function call log(...) is not allowed",
        ),
        ({"design": "~ cohort cohort"}, "design '~ cohort cohort': not a valid formula"),
        (
            {"design": "~ lot", "contrast": "lot,a b,c;lot,a_b,c"},
            "contrast 'lot,a b,c' and 'lot,a_b,c' would both be written as 'lot_a_b_vs_c'",
        ),
    ],
)
def test_design_and_contrasts_checked_before_anything_runs(
    tmp_path: Path, row: dict[str, str], expected: str
) -> None:
    res = _dry_run(tmp_path, row)
    log = res.stdout + res.stderr
    assert res.returncode != 0, log
    assert expected in log, log
    assert not list(tmp_path.rglob("CANARY"))


def test_backticked_names_and_c_pass(tmp_path: Path) -> None:
    res = _dry_run(tmp_path, {"design": "~ C(`cohort`) + sex", "contrast": "cohort,B,A"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "--design '~ C(`cohort`) + sex'" in res.stdout + res.stderr
