"""``mscseq compare`` with the comparability options: tables, --strict exit code, determinism, bad panels."""

import json
import subprocess
import sys

import pytest


def mscseq(*args):
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args], capture_output=True, text=True, check=False
    )


def _compare(example_dir, out, *extra):
    return mscseq(
        "compare",
        str(example_dir / "counts.tsv.gz"),
        "--samples",
        str(example_dir / "samples.tsv"),
        "--outdir",
        str(out),
        "--engine",
        "mscseq",
        "--no-report",
        "--permutations",
        "199",
        *extra,
    )


@pytest.fixture(scope="module")
def strict_run(tmp_path_factory, example_dir):
    out = tmp_path_factory.mktemp("cmp") / "out"
    proc = _compare(example_dir, out, "--group", "lot", "--reference", "reference", "--strict")
    return out, proc


def test_strict_exits_3_after_writing(strict_run):
    out, proc = strict_run
    assert proc.returncode == 3, proc.stderr
    assert "not_comparable" in proc.stderr.splitlines()[-1]
    files = {p.name for p in (out / "tables").iterdir()}
    assert {
        "products.tsv",
        "panel_scores.tsv",
        "tier1.tsv",
        "tier2_product_vs_reference.tsv",
    } <= files
    block = json.loads((out / "summary.json").read_text())["comparability"]
    assert block["verdict"] == "not_comparable"
    assert block["settings"]["reference"] == "reference"
    assert block["quality_range"]["n_reference"] == 3


def test_summary_byte_identical(strict_run, example_dir, tmp_path):
    out, _ = strict_run
    again = tmp_path / "again"
    proc = _compare(example_dir, again, "--group", "lot", "--reference", "reference")
    assert proc.returncode == 0, proc.stderr
    assert (out / "summary.json").read_bytes() == (again / "summary.json").read_bytes()


def test_bad_panel_and_group_fail_early(example_dir, tmp_path):
    bad = tmp_path / "panel.tsv"
    bad.write_text("gene\tpanel\nA\tp\n")
    proc = _compare(example_dir, tmp_path / "o1", "--panel", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "a panel needs a 'gene_id' or a 'symbol' column (columns found: 'gene', 'panel')"
    )
    assert not (tmp_path / "o1").exists()
    proc = _compare(example_dir, tmp_path / "o2", "--group", "cohort", "--reference", "Z")
    assert proc.returncode == 2
    assert "--reference 'Z': not a level of column 'cohort'" in proc.stderr
    proc = _compare(example_dir, tmp_path / "o3", "--group", "nope")
    assert proc.returncode == 2 and "nope" in proc.stderr
