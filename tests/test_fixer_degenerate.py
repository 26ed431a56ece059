"""Degenerate but valid inputs found while making the v2 suite green: the run and its re-render succeed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def mscseq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args], capture_output=True, text=True, check=False
    )


def write_study(folder: Path, counts: np.ndarray, groups: list[str]) -> tuple[Path, Path]:
    folder.mkdir(parents=True)
    samples = [f"s{i}" for i in range(counts.shape[1])]
    rows = ["gene_id\t" + "\t".join(samples)]
    rows += [f"G{g}\t" + "\t".join(map(str, row)) for g, row in enumerate(counts)]
    (folder / "counts.tsv").write_text("\n".join(rows) + "\n")
    sheet = "sample\tgroup\n" + "".join(f"{s}\t{g}\n" for s, g in zip(samples, groups, strict=True))
    (folder / "samples.tsv").write_text(sheet)
    return folder / "counts.tsv", folder / "samples.tsv"


def test_one_principal_component_holding_all_variance_rerenders(tmp_path):
    """Identical products but one gene of one product: PC1 holds all the variance (ratio 1 + ulp)."""
    base = np.random.default_rng(2).poisson(300, (400, 1))
    counts = np.hstack([base] * 8)
    counts[0, 0] += 5
    counts_file, sheet = write_study(tmp_path / "in", counts, list("AAAABBBB"))
    out = tmp_path / "out"
    proc = mscseq(
        "compare", str(counts_file), "-s", str(sheet), "-o", str(out), "--quiet", "--group", "group"
    )
    assert proc.returncode == 0, proc.stderr
    ratio = json.loads((out / "summary.json").read_text())["pca"]["variance_ratio"]
    assert ratio[0] == 1.0 and all(0 <= r <= 1 for r in ratio)
    proc = mscseq("report", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
