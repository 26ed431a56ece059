"""Degenerate data and odd files, through the real command line (the rest of issue 11).

* > 95 % all-zero genes with R's local dispersion trend: the VST stays finite (R's is NaN there);
* Poisson-like or tiny data: DESeq2's dispersion trend cannot be fitted; ``de`` and ``compare --contrast``
  stop with one line naming the counts file, ``compare --group`` skips the equivalence tests with the reason;
* two or three genes: the local trend fit no longer recurses without end (was a RecursionError);
* ``--panel`` given a FIFO or a folder: refused as not a regular file, not "file not found".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SAMPLES = ["s1", "s2", "s3", "s4", "s5", "s6"]


def mscseq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args], capture_output=True, text=True, check=False
    )


def write_counts(path: Path, rows: np.ndarray, *, zero_rows: int = 0) -> Path:
    """Genes × samples integer counts as a TSV, ``G<i>`` genes then ``Z<i>`` all-zero genes."""
    lines = ["gene_id\t" + "\t".join(SAMPLES)]
    lines += [f"G{g}\t" + "\t".join(str(int(v)) for v in row) for g, row in enumerate(rows)]
    zeros = "\t".join("0" * len(SAMPLES))
    lines += [f"Z{g}\t{zeros}" for g in range(zero_rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_sheet(folder: Path) -> Path:
    sheet = folder / "samples.tsv"
    sheet.write_text(
        "sample\tgroup\n"
        + "".join(f"{s}\t{'A' if i < 3 else 'B'}\n" for i, s in enumerate(SAMPLES))
    )
    return sheet


def negative_binomial_genes(n: int = 60, seed: int = 8) -> np.ndarray:
    """``n`` real-looking genes (NB, size 5, log-normal means); seed 8 needs R's local trend."""
    rng = np.random.default_rng(seed)
    means = rng.lognormal(5, 1.5, n)
    return np.array([rng.negative_binomial(5, 5 / (5 + mu), len(SAMPLES)) for mu in means])


def poisson_genes(n: int, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(40, (n, len(SAMPLES)))


def refused(proc: subprocess.CompletedProcess, *must: str) -> str:
    """Exit 2 with one line ``mscseq: error: ...`` containing each of ``must``, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("mscseq: error: ")]
    assert len(lines) == 1, proc.stderr
    for text in must:
        assert text in lines[0], (text, lines[0])
    assert "internal error" not in proc.stderr
    return lines[0]


def finished(proc: subprocess.CompletedProcess, out: Path) -> dict:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads((out / "summary.json").read_text())


# --- > 95 % all-zero genes: the VST's log2 anchors ---------------------------------------------------


def test_mostly_zero_genes_give_a_finite_vst_and_pca(tmp_path):
    import anndata

    counts = write_counts(
        tmp_path / "in" / "counts.tsv", negative_binomial_genes(), zero_rows=20_000
    )
    sheet = write_sheet(counts.parent)
    out = tmp_path / "out"
    proc = mscseq(
        "compare", str(counts), "-s", str(sheet), "-o", str(out), "--quiet", "--no-report"
    )
    finished(proc, out)
    adata = anndata.read_h5ad(out / "mscseq.h5ad")
    assert adata.uns["vst"]["fit_type"] == "local"  # the path whose quantile anchor was 0
    assert np.isfinite(adata.layers["vst"]).all()
    assert np.isfinite(adata.obsm["X_pca"]).all()


def test_all_zero_genes_do_not_change_the_vst_of_the_others():
    from mscseq.normalize import size_factors, vst

    genes = negative_binomial_genes().T.astype(float)  # samples × genes
    padded = np.hstack([genes, np.zeros((genes.shape[0], 2_000))])
    alone, params = vst(genes, size_factors(genes))
    with_zeros, params_zeros = vst(padded, size_factors(padded))
    assert params["fit_type"] == params_zeros["fit_type"] == "local"
    np.testing.assert_allclose(with_zeros[:, : genes.shape[1]], alone, rtol=1e-12)
    assert np.isfinite(with_zeros).all()


def test_log2_anchors_are_rs_quantiles_when_usable():
    from mscseq.normalize import _log2_anchors

    means = np.linspace(1.0, 1000.0, 5000)
    assert _log2_anchors(means) == tuple(float(q) for q in np.quantile(means, [0.95, 0.999]))
    mostly_zero = np.concatenate([np.zeros(100_000), means])
    assert _log2_anchors(mostly_zero) == _log2_anchors(means)
    assert _log2_anchors(np.array([0.0] * 100 + [7.0, 7.0])) == (7.0, 14.0)


# --- no dispersion trend: DE refused, equivalence skipped ---------------------------------------------


def test_de_on_two_poisson_genes_is_refused_naming_the_counts(tmp_path):
    counts = write_counts(tmp_path / "in" / "counts.tsv", poisson_genes(2))
    sheet = write_sheet(counts.parent)
    out = tmp_path / "de.tsv"
    proc = mscseq(
        "de", str(counts), "-s", str(sheet), "-d", "~ group", "-c", "group,B,A", "--out", str(out)
    )
    line = refused(proc, str(counts), "dispersion trend cannot be fitted", "biological replicates")
    assert "2 gene(s)" in line
    assert not out.exists()


def test_compare_contrast_on_two_poisson_genes_is_refused(tmp_path):
    counts = write_counts(tmp_path / "in" / "counts.tsv", poisson_genes(2))
    sheet = write_sheet(counts.parent)
    out = tmp_path / "out"
    proc = mscseq(
        "compare", str(counts), "-s", str(sheet), "-o", str(out), "--quiet", "--no-report",
        "-d", "~ group", "--contrast", "group,B,A",
    )  # fmt: skip
    refused(proc, str(counts), "dispersion trend cannot be fitted")
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out")]


def test_three_genes_no_longer_recurse_without_end(tmp_path):
    """Two genes above the minimum dispersion: locfit's bandwidth is 0 at both (was RecursionError)."""
    counts = write_counts(tmp_path / "in" / "counts.tsv", poisson_genes(3))
    sheet = write_sheet(counts.parent)
    out = tmp_path / "out"
    proc = mscseq(
        "compare", str(counts), "-s", str(sheet), "-o", str(out), "--no-report",
        "-d", "~ group", "--contrast", "group,B,A",
    )  # fmt: skip
    summary = finished(proc, out)
    assert "RecursionError" not in proc.stderr
    assert "the VST uses the mean gene-wise dispersion" in proc.stderr
    assert summary["comparability"]["verdict"] == "inconclusive"


def test_underdispersed_counts_still_give_tier2_without_a_trend(tmp_path):
    """Technical-replicate-like counts (scaled, ±1): no dispersion trend, yet Tier 2 runs, not a crash."""
    rng = np.random.default_rng(3)
    scale = np.array([0.8, 1.0, 1.2, 0.9, 1.1, 1.0])
    means = rng.lognormal(6, 1, 400)
    rows = np.round(means[:, None] * scale) + rng.integers(0, 2, (400, len(SAMPLES)))
    counts = write_counts(tmp_path / "in" / "counts.tsv", rows)
    sheet = write_sheet(counts.parent)
    out = tmp_path / "out"
    proc = mscseq(
        "compare", str(counts), "-s", str(sheet), "-o", str(out), "--quiet", "--no-report",
        "--group", "group",
    )  # fmt: skip
    assert "the VST uses the mean gene-wise dispersion" in proc.stderr
    comp = finished(proc, out)["comparability"]
    assert comp["verdict"] == "inconclusive"  # no panel gene named, 3 products per group
    (comparison,) = comp["comparisons"]
    tier2 = comparison["tier2"]  # the VST of the mean dispersion still gives the gene differences
    assert tier2["n_genes"] > 300
    assert tier2["n_beyond"] == 0  # scaled copies: no gene two-fold apart
    assert tier2["result"] in {"pass", "inconclusive"}


def test_trend_error_is_a_user_error_and_a_value_error():
    from mscseq.de.engine._locfit import locfit_1d
    from mscseq.de.engine.trend import DispersionTrendError, fit_trend
    from mscseq.errors import MscseqError

    with pytest.raises(ValueError, match="split more than"):
        locfit_1d(np.array([1.0, 2.0]), np.array([0.5, 0.7]), np.array([1.0, 1.0]))
    with pytest.raises(DispersionTrendError, match="within 2 orders of magnitude") as info:
        fit_trend(np.array([10.0, 20.0]), np.array([1e-8, 1e-8]))
    assert isinstance(info.value, MscseqError)
    assert isinstance(info.value, ValueError)
    with pytest.raises(DispersionTrendError, match="local dispersion trend"):
        fit_trend(np.array([10.0, 20.0]), np.array([0.1, 0.2]), "local")


# --- --panel must be a regular file ---------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_panel_fifo_is_refused_as_not_a_regular_file(tmp_path):
    counts = write_counts(tmp_path / "in" / "counts.tsv", poisson_genes(300))
    sheet = write_sheet(counts.parent)
    fifo = tmp_path / "panel.tsv"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    proc = mscseq(
        "compare", str(counts), "-s", str(sheet), "-o", str(out), "--quiet", "--no-report",
        "--panel", str(fifo),
    )  # fmt: skip
    line = refused(proc, str(fifo))
    assert "not found" not in line
    assert "regular file" in line or "FIFO" in line
    assert not out.exists()


# --- the sample sheet is streamed: blank-line padding costs no memory ----------------------------------


def test_iter_content_lines_numbers_every_line_ending(tmp_path):
    from mscseq.io.textfile import iter_content_lines

    p = tmp_path / "mixed.txt"
    p.write_bytes(b"\xef\xbb\xbfa\r\n\r\nb\rc\n\n\nd\r\r\ne")
    expect = [(1, "a"), (3, "b"), (4, "c"), (7, "d"), (9, "e")]
    for block in (1, 2, 3, 5, 1 << 20):  # CRLF and characters split across blocks
        assert list(iter_content_lines(p, block=block)) == expect


def test_iter_content_lines_names_the_undecodable_line(tmp_path):
    from mscseq.errors import MscseqError
    from mscseq.io.textfile import iter_content_lines

    p = tmp_path / "latin1.txt"
    p.write_bytes(b"sample\tgroup\n\n\ns1\tg\xe9\n")
    with pytest.raises(MscseqError, match=r"line 4: not UTF-8 text"):
        list(iter_content_lines(p))


def test_sheet_padded_with_blank_lines_reads(tmp_path):
    from mscseq.io import read_sheet

    p = tmp_path / "samples.tsv"
    with p.open("w") as fh:
        fh.write("\n\n  \nsample\tgroup\n\ns1\tA\n   \ns2\tB\n")
        fh.write("\n" * 2_000_000)
    sheet = read_sheet(p)
    assert sheet.index.tolist() == ["s1", "s2"]
    assert sheet["group"].tolist() == ["A", "B"]


def test_sheet_row_of_empty_cells_still_refused_and_lines_are_the_files(tmp_path):
    from mscseq.errors import MscseqError
    from mscseq.io import read_sheet

    p = tmp_path / "samples.tsv"
    p.write_text("sample\tgroup\ns1\tA\n\t\ns2\tB\n")
    with pytest.raises(MscseqError, match=r"line 3: empty sample name"):
        read_sheet(p)
    p.write_text("sample\tgroup\n\n\ns1\tA\n\n\ns2\tB\textra\n")
    with pytest.raises(MscseqError, match=r"cannot parse the sample sheet .*line 7, saw 3"):
        read_sheet(p)
    p.write_text("sample,group,group\ns1,A,B\n")
    with pytest.raises(MscseqError, match=r"duplicated column names 'group'"):
        read_sheet(p)
