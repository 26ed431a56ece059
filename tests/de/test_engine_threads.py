"""The engine's results do not depend on the number of worker threads (issue 11, item 15)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _engine_data import toy_counts

from mscseq.de.engine import fit_deseq2

_ARRAYS = (
    "size_factors",
    "disp_gene",
    "disp_fit",
    "disp_map",
    "dispersion",
    "beta",
    "beta_var",
    "mu",
    "hat",
    "cooks",
    "max_cooks",
    "loglike",
    "iterations",
)


def _simulated() -> tuple[np.ndarray, pd.DataFrame]:
    y, x, _ = toy_counts(11, g=3000, n=12)
    y[:, :50] = 0.0  # all-zero genes are skipped, so the fitted rows are not a plain range
    y[0, 60:70] = 5000.0  # outliers: the replacement refit runs on a subset of genes too
    return y, x


@pytest.mark.parametrize("kernels", [False, True], ids=["numpy", "numba"])
def test_fit_is_identical_for_any_thread_count(kernels: bool) -> None:
    y, x = _simulated()
    one = fit_deseq2(y, x, threads=1, kernels=kernels)
    assert one.info["backend"] == ("numba" if kernels else "numpy")
    for threads in (2, 3):
        many = fit_deseq2(y, x, threads=threads, kernels=kernels)
        for name in _ARRAYS:
            assert np.array_equal(getattr(one, name), getattr(many, name), equal_nan=True), (
                f"{name} differs between 1 and {threads} threads"
            )


def test_cli_tables_identical_for_any_thread_count(shared_data: Path, tmp_path: Path) -> None:
    """``compare`` on airway: DE and comparability tables byte-identical with 1 and 2 threads."""
    d = shared_data / "airway_himes2014_GSE52778"
    args = [
        sys.executable,
        "-m",
        "mscseq",
        "compare",
        str(d / "airway_cts.tsv.gz"),
        "--samples",
        str(d / "airway_metadata.tsv"),
        "--sample-column",
        "ID",
        "--design",
        "~ cell + dex",
        "--contrast",
        "dex,trt,untrt",
        "--group",
        "dex",
        "--reference",
        "untrt",
        "--no-report",
        "--quiet",
    ]
    outs = {}
    for threads in ("1", "2"):
        outs[threads] = tmp_path / f"t{threads}"
        cmd = [*args, "--outdir", str(outs[threads]), "--threads", threads]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
    tables = sorted(p.name for p in (outs["1"] / "tables").iterdir())
    assert "de_dex_trt_vs_untrt.tsv" in tables
    assert {"tier1.tsv", "tier2_trt_vs_untrt.tsv", "products.tsv"} <= set(tables)
    assert tables == sorted(p.name for p in (outs["2"] / "tables").iterdir())
    for name in tables:
        one = (outs["1"] / "tables" / name).read_bytes()
        two = (outs["2"] / "tables" / name).read_bytes()
        assert one == two, f"tables/{name} differs between --threads 1 and --threads 2"
