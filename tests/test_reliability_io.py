"""Hostile and broken count files through the real command line (issue 11, items 6, 10, 16 and 17).

Every failure is exit code 2 with one line on stderr naming the file, no traceback and no output
folder; nothing hangs (each run has a timeout).
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SAMPLES = ["s1", "s2", "s3", "s4", "s5", "s6"]
TIMEOUT = 120


def mscseq(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI; a hang fails the test through the timeout instead of blocking the suite."""
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=TIMEOUT,
    )


def matrix_text(n_genes: int = 60, *, zero_sample: str | None = None) -> str:
    rng = np.random.default_rng(11)
    rows = ["gene_id\t" + "\t".join(SAMPLES)]
    for g in range(n_genes):
        values = rng.poisson(40, len(SAMPLES))
        if zero_sample is not None:
            values[SAMPLES.index(zero_sample)] = 0
        rows.append(f"G{g}\t" + "\t".join(str(v) for v in values))
    return "\n".join(rows) + "\n"


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A small valid study in ``tmp_path/in``: counts.tsv and samples.tsv."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "counts.tsv").write_text(matrix_text())
    (d / "samples.tsv").write_text(
        "sample\tgroup\n" + "".join(f"{s}\t{g}\n" for s, g in zip(SAMPLES, "AAABBB", strict=True))
    )
    return d


def compare(study: Path, counts: Path | None, sheet: Path | None = None):
    out = study.parent / "out"
    args = ["compare"] + ([str(counts)] if counts is not None else [])
    args += ["-s", str(sheet or study / "samples.tsv"), "-o", str(out), "--no-report", "--quiet"]
    return mscseq(*args), out


def one_line_error(proc: subprocess.CompletedProcess, *must: str) -> str:
    """Exit 2, a single ``mscseq: error:`` line holding every text of ``must``, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mscseq: error: ")
    for text in must:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def fails_cleanly(result, *must: str) -> str:
    proc, out = result
    line = one_line_error(proc, *must)
    assert not out.exists()
    return line


# --- item 6: FIFOs and other non-regular files are refused before open() ----------------------------

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


@needs_fifo
def test_fifo_as_counts_is_refused(study):
    fifo = study / "counts.fifo"
    os.mkfifo(fifo)
    fails_cleanly(compare(study, fifo), str(fifo), "named pipe (FIFO)", "not a regular file")


@needs_fifo
def test_fifo_as_sheet_is_refused(study):
    fifo = study / "samples.fifo"
    os.mkfifo(fifo)
    fails_cleanly(compare(study, study / "counts.tsv", sheet=fifo), str(fifo), "named pipe")


@needs_fifo
def test_fifo_as_sheet_path_entry_is_refused(study):
    fifo = study / "s1.fifo"
    os.mkfifo(fifo)
    sheet = study / "paths.tsv"
    sheet.write_text("sample\tgroup\tpath\ns1\tA\ts1.fifo\ns2\tB\tcounts.tsv\n")
    line = fails_cleanly(compare(study, None, sheet=sheet), str(sheet), "line 2", "named pipe")
    assert "s1.fifo" in line


@needs_fifo
def test_fifo_as_inspect_argument_is_refused(study):
    fifo = study / "x.fifo"
    os.mkfifo(fifo)
    one_line_error(mscseq("inspect", str(fifo)), str(fifo), "named pipe")


@needs_fifo
def test_fifo_as_tx2gene_is_refused(study):
    fifo = study / "t2g.fifo"
    os.mkfifo(fifo)
    out = study.parent / "out"
    proc = mscseq(
        "compare",
        str(study / "counts.tsv"),
        *("-s", str(study / "samples.tsv"), "-o", str(out), "--no-report", "--tx2gene", str(fifo)),
    )
    fails_cleanly((proc, out), str(fifo), "named pipe")


def test_device_is_refused(study):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    one_line_error(mscseq("inspect", "/dev/zero"), "/dev/zero", "a device", "not a regular file")


# --- item 16: symbolic link loops and broken links say so -------------------------------------------


def test_symlink_loop_is_named(study):
    a, b = study / "a.tsv", study / "b.tsv"
    a.symlink_to(b)
    b.symlink_to(a)
    line = fails_cleanly(compare(study, a), str(a), "symbolic link loop")
    assert "not found" not in line


def test_broken_symlink_is_named(study):
    link = study / "link.tsv"
    link.symlink_to(study / "gone.tsv")
    fails_cleanly(compare(study, link), str(link), "symbolic link to a file that does not exist")


# --- item 10: counts beyond exact float range ---------------------------------------------------------


@pytest.mark.parametrize("value", ["9223372036854775808", "1e308", "9007199254740993"])
def test_count_above_2_53_is_refused(study, value):
    text = matrix_text().splitlines()
    fields = text[5].split("\t")
    fields[3] = value  # gene G4, sample s3
    text[5] = "\t".join(fields)
    p = study / "big.tsv"
    p.write_text("\n".join(text) + "\n")
    fails_cleanly(compare(study, p), str(p), "gene 'G4'", "sample 's3'", "2^53")


def test_library_size_above_2_53_is_refused(study):
    text = matrix_text().splitlines()
    for i in (1, 2):
        fields = text[i].split("\t")
        fields[1] = str(2**53 - 10)  # each count is exact, their sum is not
        text[i] = "\t".join(fields)
    p = study / "sum.tsv"
    p.write_text("\n".join(text) + "\n")
    fails_cleanly(compare(study, p), str(p), "sample 's1'", "2^53")


def test_count_at_2_53_in_inspect_is_refused(study):
    p = study / "big.tsv"
    p.write_text("gene_id\ta\nG1\t1e300\nG2\t4\n")
    one_line_error(mscseq("inspect", str(p)), str(p), "gene 'G1'", "sample 'a'")


# --- item 16: misleading messages ---------------------------------------------------------------------


def test_all_zero_sample_names_file_and_sample(study):
    p = study / "zero.tsv"
    p.write_text(matrix_text(zero_sample="s4"))
    fails_cleanly(compare(study, p), str(p), "'s4'", "no reads")


def test_all_zero_sample_per_sample_files_names_its_file(study):
    rng = np.random.default_rng(2)
    rows = []
    for s in SAMPLES:
        counts = [0] * 30 if s == "s5" else rng.poisson(30, 30).tolist()
        f = study / f"{s}.htseq.txt"
        f.write_text("".join(f"G{g}\t{c}\n" for g, c in enumerate(counts)))
        rows.append(f"{s}\t{'A' if s < 's4' else 'B'}\t{f.name}\n")
    sheet = study / "paths.tsv"
    sheet.write_text("sample\tgroup\tpath\n" + "".join(rows))
    fails_cleanly(compare(study, None, sheet=sheet), str(study / "s5.htseq.txt"), "'s5'")


def test_cr_only_line_endings_are_read(study):
    p = study / "cr.tsv"
    p.write_bytes(matrix_text().replace("\n", "\r").encode())
    proc = mscseq("inspect", "--json", str(p))
    assert proc.returncode == 0, proc.stderr
    assert '"n_features": 60' in proc.stdout


def test_cr_only_line_endings_run(study):
    p = study / "cr.tsv"
    p.write_bytes(matrix_text().replace("\n", "\r").encode())
    proc, out = compare(study, p)
    assert proc.returncode == 0, proc.stderr
    out = out.rename(study.parent / "cr_out")
    plain, out_plain = compare(study, study / "counts.tsv")
    assert plain.returncode == 0, plain.stderr
    name = "tables/qc.tsv"
    assert (out / name).read_bytes() == (out_plain / name).read_bytes()


def test_huge_first_data_line_is_not_called_header_only(study):
    p = study / "long.tsv"
    p.write_bytes(b"gene_id\ts1\ts2\nG1\t" + b"7" * 3_000_000 + b"\t2\nG2\t4\t5\n")
    line = fails_cleanly(compare(study, p), str(p))
    assert "only a header line" not in line


@pytest.mark.slow
def test_line_without_end_beyond_64_mib_is_named(study, tmp_path):
    p = tmp_path / "noeol.tsv.gz"
    with gzip.open(p, "wb", compresslevel=1) as fh:
        fh.write(b"gene_id\ts1\ts2\n")
        fh.write(b"G\t1\t2" * (70 << 18))  # about 70 MiB with no line end
    line = one_line_error(mscseq("inspect", str(p)), str(p))
    assert "only a header line" not in line


@pytest.mark.slow
def test_wide_header_over_one_mib_is_read(study):
    samples = [f"sample_{i:06d}" for i in range(80_000)]  # a header line of about 1.1 MB
    p = study / "wide.tsv"
    p.write_text(
        "gene_id\t"
        + "\t".join(samples)
        + "\n"
        + "".join(f"G{g}\t" + "\t".join(["3"] * len(samples)) + "\n" for g in range(2))
    )
    proc = mscseq("inspect", "--json", str(p))
    assert proc.returncode == 0, proc.stderr
    assert '"n_samples": 80000' in proc.stdout


# --- item 17: padding with blank lines or all-zero genes (behaviour; memory in benchmarks) ------------


def test_blank_line_padding_reads(study):
    p = study / "padded.tsv"
    p.write_text(matrix_text() + "\n" * 200_000 + "\r\n" * 1000)
    proc = mscseq("inspect", "--json", str(p))
    assert proc.returncode == 0, proc.stderr
    assert '"n_features": 60' in proc.stdout


@pytest.mark.slow
def test_all_zero_gene_padding_runs(study):
    p = study / "zeros.tsv"
    p.write_text(matrix_text() + "".join(f"Z{g}\t0\t0\t0\t0\t0\t0\n" for g in range(1_000)))
    proc, out = compare(study, p)
    assert proc.returncode == 0, proc.stderr
    assert (out / "tables" / "qc.tsv").is_file()
