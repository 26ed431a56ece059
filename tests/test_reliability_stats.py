"""Statistics on hostile or degenerate input, through the real command line (issue 11, items 7, 11, 12).

Tiny matrices and a single sample end with one line naming the counts file (exit 2) or run to the end
with the verdict ``inconclusive``; ``--permutations`` is enumerated exactly when the labelings are few,
refused when absurd, and ``0`` gives no p-value anywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SAMPLES = ["s1", "s2", "s3", "s4", "s5", "s6"]


def mscseq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args], capture_output=True, text=True, check=False
    )


def write_study(
    folder: Path,
    *,
    n_genes: int = 300,
    samples: list[str] = SAMPLES,
    constant: int | None = None,
    mean: float = 40,
) -> tuple[Path, Path]:
    """Counts (Poisson(mean) per gene, or one constant) and a two-group sheet; returns (counts, sheet)."""
    rng = np.random.default_rng(11)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["gene_id\t" + "\t".join(samples)]
    for g in range(n_genes):
        values = (
            [constant] * len(samples) if constant is not None else rng.poisson(mean, len(samples))
        )
        rows.append(f"G{g}\t" + "\t".join(str(v) for v in values))
    counts = folder / "counts.tsv"
    counts.write_text("\n".join(rows) + "\n")
    sheet = folder / "samples.tsv"
    half = (len(samples) + 1) // 2
    sheet.write_text(
        "sample\tgroup\n"
        + "".join(f"{s}\t{'A' if i < half else 'B'}\n" for i, s in enumerate(samples))
    )
    return counts, sheet


def compare(counts: Path, sheet: Path, *extra: str, report: bool = False):
    out = counts.parent.parent / "out"
    args = ["compare", str(counts), "-s", str(sheet), "-o", str(out), "--quiet", *extra]
    if not report:
        args.append("--no-report")
    return mscseq(*args), out


def refused(proc: subprocess.CompletedProcess, out: Path, *must: str) -> str:
    """Exit 2, one line 'mscseq: error: ...' naming what it must, no traceback, nothing written."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mscseq: error: ")
    for text in must:
        assert text in lines[0], (text, lines[0])
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    return lines[0]


def finished(proc: subprocess.CompletedProcess, out: Path) -> dict:
    """Exit 0, no traceback, a schema-valid summary.json; returns it."""
    from mscseq.schemas import validate_summary

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    validate_summary(summary)
    return summary


# --- item 11: tiny matrices and a single sample ---------------------------------------------------


def test_single_sample_is_refused_naming_the_counts(tmp_path):
    counts, sheet = write_study(tmp_path / "in", samples=["s1"])
    proc, out = compare(counts, sheet)
    line = refused(proc, out, str(counts), "only 1 sample", "s1")
    assert "at least 2" in line


def test_one_gene_is_refused_naming_the_counts(tmp_path):
    counts, sheet = write_study(tmp_path / "in", n_genes=1)
    proc, out = compare(counts, sheet, "--group", "group")
    refused(proc, out, str(counts), "only 1 gene", "G0")


def test_constant_counts_are_refused(tmp_path):
    counts, sheet = write_study(tmp_path / "in", constant=40)
    proc, out = compare(counts, sheet, "--group", "group")
    refused(proc, out, str(counts), "same normalised count in every sample")


# --- item 12: degenerate data are inconclusive, with the reason ------------------------------------


@pytest.mark.parametrize(("n_genes", "group"), [(2, True), (5, False), (5, True)])
def test_few_genes_are_inconclusive(tmp_path, n_genes, group):
    counts, sheet = write_study(tmp_path / "in", n_genes=n_genes)
    proc, out = compare(counts, sheet, *(["--group", "group"] if group else []))
    comp = finished(proc, out)["comparability"]
    assert comp["verdict"] == "inconclusive"
    assert comp["settings"]["n_informative_genes"] == n_genes
    assert comp["settings"]["n_tier2_genes"] == 0
    if group:  # Tier 2 is not estimated on a handful of genes, and the reasons say why
        (comparison,) = comp["comparisons"]
        assert comparison["tier2"]["result"] == "not_estimable"
        # what would settle it names the cause, not "more than 200 products per group"
        assert any("not estimable here: Tier 2 (only 0 genes" in s for s in comp["settle"])
        assert not any("more than 200" in s for s in comp["settle"])
        assert (
            "Tier 2: only 0 genes pass the expression floor (at least 100 needed)"
            in comp["reasons"]
        )
    else:  # the single-group split cannot be assessed, and the reasons say why
        assert comp["single_group"]["split"]["result"] == "not_estimable"
        assert any(r.startswith("two-way split: not assessable") for r in comp["reasons"])


def test_enough_genes_are_judged(tmp_path):
    counts, sheet = write_study(
        tmp_path / "in", n_genes=300, samples=[f"s{i}" for i in range(8)], mean=200
    )
    proc, out = compare(counts, sheet)
    comp = finished(proc, out)["comparability"]
    assert comp["settings"]["n_informative_genes"] == 300
    assert comp["settings"]["n_tier2_genes"] == 300
    assert comp["single_group"]["split"]["result"] in {"pass", "fail", "inconclusive"}
    assert not any("not assessable" in r or "expression floor" in r for r in comp["reasons"])


# --- item 7: permutations ----------------------------------------------------------------------------


def test_few_labelings_are_enumerated_exactly(tmp_path):
    counts, sheet = write_study(tmp_path / "in")
    proc, out = compare(counts, sheet, "--group", "group", "--permutations", "999")
    pm = finished(proc, out)["comparability"]["descriptive"]["permanova"]
    # 6 samples, 3 + 3: C(6, 3) = 20 distinct labelings, each scored once
    assert pm["exact"] is True
    assert pm["distinct_labelings"] == 20
    assert pm["permutations"] == 20
    assert pm["min_p_value"] == pytest.approx(1 / 20)
    k = pm["p_value"] * 20
    assert k == pytest.approx(round(k)) and 1 <= round(k) <= 20


def test_more_labelings_than_permutations_stay_random(tmp_path):
    counts, sheet = write_study(tmp_path / "in")
    proc, out = compare(counts, sheet, "--group", "group", "--permutations", "9")
    pm = finished(proc, out)["comparability"]["descriptive"]["permanova"]
    assert pm["exact"] is False
    assert pm["permutations"] == 9
    assert pm["min_p_value"] == pytest.approx(1 / 10)


def test_absurd_permutations_are_refused_before_any_work(tmp_path):
    counts, sheet = write_study(tmp_path / "in")
    started = time.monotonic()
    proc, out = compare(counts, sheet, "--group", "group", "--permutations", "10000000")
    line = refused(proc, out, "--permutations 10000000", "at most 100,000")
    assert "exactly" in line
    assert time.monotonic() - started < 600  # not a timing assertion: only a hang guard


def test_zero_permutations_give_no_p_value(tmp_path):
    counts, sheet = write_study(tmp_path / "in")
    proc, out = compare(counts, sheet, "--group", "group", "--permutations", "0", report=True)
    comp = finished(proc, out)["comparability"]
    descriptive = comp["descriptive"]
    assert descriptive["permanova"]["p_value"] is None
    assert descriptive["permanova"]["exact"] is False
    assert descriptive["permanova"]["pseudo_f"] is not None
    assert descriptive["permdisp"]["p_value"] is None
    html = (out / "report.html").read_text()
    assert "were tested with PERMANOVA" not in html
    assert "no permutations were run, so no p-value was computed" in html
    assert "not computed (no permutations)" in html


# --- the masks behind the checks ---------------------------------------------------------------------


def test_varying_genes_ignore_size_factor_rounding():
    from mscseq.checks import informative_genes_mask, varying_genes_mask

    base = np.array([[40.0, 7.0, 300.0, 20.0]])
    # sample 2 is sample 1 sequenced 3x deeper: identical after normalisation, up to rounding
    norm = np.vstack([base, (base * 3.0) / 3.0000000000001, base + np.array([[0, 0, 0, 5]])])
    assert varying_genes_mask(norm).tolist() == [False, False, False, True]
    assert informative_genes_mask(norm).tolist() == [False, False, False, True]
    low = norm.copy()
    low[:, 3] = [1.0, 2.0, 3.0]  # varies, but mean normalised count < 10
    assert not informative_genes_mask(low)[3]
