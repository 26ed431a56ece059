"""MultiQC custom-content files: their content, and that MultiQC itself picks them up.

MultiQC is in the test extra; without it the last test skips, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mscseq
from mscseq.multiqc import DE_FILE, QC_FILE, TIERS_FILE, VERDICT_FILE, write_multiqc
from mscseq.outputs import dump_json


@pytest.fixture(scope="module")
def summary(example_adata) -> dict:
    """summary.json of the example study with DE and comparability (fast engine)."""
    adata = example_adata.copy()
    mscseq.run_de(
        adata, design="~ cohort", contrasts=[mscseq.Contrast.parse("cohort,B,A")], engine="mscseq"
    )
    mscseq.run_comparability(adata, group="cohort", design="~ cohort", permutations=99)
    return json.loads(dump_json(mscseq.build_summary(adata)))


def _rows(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def test_files_written(summary: dict, tmp_path: Path) -> None:
    v2 = (
        summary["schema"] == "mscseq.summary/2"
    )  # tiers file and product statuses of the tiered rule
    expected = (
        [QC_FILE, VERDICT_FILE, TIERS_FILE, DE_FILE] if v2 else [QC_FILE, VERDICT_FILE, DE_FILE]
    )
    assert write_multiqc(summary, tmp_path / "multiqc") == expected
    qc = {r["Sample"]: r for r in _rows(tmp_path / "multiqc" / QC_FILE)}
    assert len(qc) == 15
    first = summary["qc"][0]
    assert float(qc[first["sample"]]["library_size"]) == pytest.approx(first["library_size"] / 1e6)
    assert float(qc[first["sample"]]["top100_fraction"]) == pytest.approx(
        100 * first["top100_fraction"]
    )
    flagged = "deviating" if v2 else "outlier"
    assert qc["P09"]["comparability"] == flagged
    section = json.loads((tmp_path / "multiqc" / VERDICT_FILE).read_text())
    assert section["plot_type"] == "table"
    assert summary["comparability"]["verdict"].replace("_", " ") in section["description"]
    assert section["data"]["P09"]["status"] == flagged
    (de,) = _rows(tmp_path / "multiqc" / DE_FILE)
    assert de["Contrast"] == "cohort_B_vs_A"
    assert int(de["up"]) == summary["de"][0]["n_up"]


def test_without_comparability_or_de(summary: dict, tmp_path: Path) -> None:
    plain = {k: v for k, v in summary.items() if k != "comparability"} | {"de": []}
    assert write_multiqc(plain, tmp_path) == [QC_FILE]
    assert "comparability" not in (tmp_path / QC_FILE).read_text().splitlines()[-2]


def test_multiqc_picks_the_files_up(summary: dict, tmp_path: Path) -> None:
    if importlib.util.find_spec("multiqc") is None:
        reason = "MultiQC is not installed (it is in the test extra: pip install -e '.[test]')"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI=true, so this test must run")
        pytest.skip(reason)
    run = tmp_path / "run"
    write_multiqc(summary, run / "multiqc")
    out = tmp_path / "mqc"
    proc = subprocess.run(
        [sys.executable, "-m", "multiqc", str(run), "-o", str(out), "--no-ansi", "--force"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "multiqc_report.html").is_file()
    stats = (out / "multiqc_data" / "multiqc_general_stats.txt").read_text()
    assert "mscseq_qc-library_size" in stats and "P09" in stats
    verdict = (out / "multiqc_data" / "multiqc_mscseq_verdict_table.txt").read_text()
    assert "P09\toutlier" in verdict or "P09\tdeviating" in verdict
    assert "cohort_B_vs_A" in (out / "multiqc_data" / "multiqc_mscseq_de_table.txt").read_text()
    assert "mscseq comparability verdict" in (out / "multiqc_report.html").read_text()
