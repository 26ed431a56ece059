"""Engine error messages say what the user can do, and name no option that does not exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscseq.de.engine import fit_deseq2
from mscseq.errors import MscseqError
from mscseq.normalize import size_factors


def _every_gene_has_a_zero(n_samples: int = 6, n_genes: int = 60) -> np.ndarray:
    rng = np.random.default_rng(2)
    counts = rng.poisson(200, size=(n_samples, n_genes)).astype(float)
    counts[np.arange(n_genes) % n_samples, np.arange(n_genes)] = 0.0
    return counts


def test_no_size_factors_message_both_doors() -> None:
    counts = _every_gene_has_a_zero()
    design = pd.DataFrame({"Intercept": 1.0, "g": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]})
    with pytest.raises(MscseqError) as from_fit:
        fit_deseq2(counts, design)
    with pytest.raises(MscseqError) as from_normalize:
        size_factors(counts)
    assert str(from_fit.value) == str(from_normalize.value)
    msg = str(from_fit.value)
    assert "remove empty or failed libraries" in msg
    assert "size_factors" not in msg and "--" not in msg


def test_no_size_factors_message_through_cli(tmp_path: Path) -> None:
    counts = _every_gene_has_a_zero()
    samples = [f"s{i}" for i in range(counts.shape[0])]
    table = pd.DataFrame(
        counts.T.astype(int), index=[f"G{j}" for j in range(counts.shape[1])], columns=samples
    )
    table.index.name = "gene_id"
    table.to_csv(tmp_path / "counts.tsv", sep="\t")
    sheet = pd.DataFrame({"sample": samples, "cohort": ["A", "A", "A", "B", "B", "B"]})
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    cmd = [
        sys.executable,
        "-m",
        "mscseq",
        "compare",
        str(tmp_path / "counts.tsv"),
        "--samples",
        str(tmp_path / "samples.tsv"),
        "--design",
        "~ cohort",
        "--contrast",
        "cohort,B,A",
        "--outdir",
        str(tmp_path / "out"),
        "--no-report",
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "remove empty or failed libraries" in lines[0]
    assert str(tmp_path / "counts.tsv") in lines[0]  # names the file (its path holds the test name)
    message = lines[0].replace(str(tmp_path / "counts.tsv"), "COUNTS")
    assert "size_factors" not in message and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
