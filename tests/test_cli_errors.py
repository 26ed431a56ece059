"""Bad input through the real command line: exit code 2, one line on stderr naming the file, no traceback,
no output folder created or changed."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SAMPLES = ["s1", "s2", "s3", "s4", "s5", "s6"]


def mscseq(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def matrix_text(n_genes: int = 100, samples: list[str] = SAMPLES) -> str:
    rng = np.random.default_rng(7)
    rows = ["gene_id\t" + "\t".join(samples)]
    rows += [
        f"G{g}\t" + "\t".join(str(v) for v in rng.poisson(40, len(samples))) for g in range(n_genes)
    ]
    return "\n".join(rows) + "\n"


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A small valid study in ``tmp_path/in``: counts.tsv and samples.tsv."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "counts.tsv").write_text(matrix_text())
    (d / "samples.tsv").write_text(
        "sample\tgroup\tbatch\tlot\n"
        + "".join(
            f"{s}\t{g}\t{b}\t{lot}\n"
            for s, g, b, lot in zip(SAMPLES, "AAABBB", "xxxyyy", "xxxyyw", strict=True)
        )
    )
    return d


def fails_cleanly(result: tuple[subprocess.CompletedProcess, Path], *must: str) -> str:
    """Exit code 2, one stderr line starting 'mscseq: error:', naming what it must; nothing written."""
    proc, out = result
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mscseq: error: ")
    for text in must:
        assert text in lines[0], (text, lines[0])
    assert proc.stdout == ""
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], (
        "temporary folder left behind"
    )
    return lines[0]


def compare(
    study: Path, counts: Path | str | None, *extra: str, sheet: Path | None = None
) -> tuple[subprocess.CompletedProcess, Path]:
    out = study.parent / "out"
    args = ["compare"] + ([str(counts)] if counts is not None else [])
    args += [
        "-s",
        str(sheet or study / "samples.tsv"),
        "-o",
        str(out),
        "--no-report",
        "--quiet",
        *extra,
    ]
    return mscseq(*args), out


def write(study: Path, name: str, text: str | bytes) -> Path:
    p = study / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


# --- count files ---------------------------------------------------------------------------------


def test_missing_counts_file(study):
    p = study / "absent.tsv"
    fails_cleanly(compare(study, p), str(p), "file not found")


def test_empty_counts_file(study):
    p = write(study, "empty.tsv", "")
    fails_cleanly(compare(study, p), str(p), "empty")


def test_header_only(study):
    p = write(study, "header.tsv", "gene_id\t" + "\t".join(SAMPLES) + "\n")
    fails_cleanly(compare(study, p), str(p), "only a header line")


def test_negative_value(study):
    text = matrix_text().splitlines()
    text[3] = text[3].rsplit("\t", 1)[0] + "\t-5"
    p = write(study, "neg.tsv", "\n".join(text) + "\n")
    fails_cleanly(compare(study, p), f"{p}, line 4, column 's6'", "negative")


def test_non_numeric_value(study):
    text = matrix_text().splitlines()
    text[5] = text[5].replace("\t", "\tabc\t", 1).rsplit("\t", 1)[0]
    p = write(study, "nan.tsv", "\n".join(text) + "\n")
    fails_cleanly(compare(study, p), f"{p}, line 6, column 's1'", "'abc' is not a number")


def test_missing_value(study):
    text = matrix_text().splitlines()
    text[2] = text[2].rsplit("\t", 1)[0] + "\tNA"
    p = write(study, "na.tsv", "\n".join(text) + "\n")
    fails_cleanly(compare(study, p), f"{p}, line 3, column 's6'", "missing value")


def test_non_integer_in_raw_counts(study):
    text = matrix_text().splitlines()
    text[2] = text[2].rsplit("\t", 1)[0] + "\t3.7"
    p = write(study, "frac.tsv", "\n".join(text) + "\n")
    fails_cleanly(
        compare(study, p),
        f"{p}, line 3, column 's6'",
        "non-integer",
        "raw read counts",
        "--format nfcore",
    )


def test_duplicated_sample_names(study):
    p = write(study, "dup.tsv", matrix_text(samples=["s1", "s2", "s3", "s4", "s5", "s5"]))
    fails_cleanly(compare(study, p), str(p), "duplicated sample names", "'s5'")


def test_truncated_gzip(study):
    data = gzip.compress(matrix_text(20000).encode())
    p = write(study, "cut.tsv.gz", data[: len(data) // 2])
    fails_cleanly(compare(study, p), str(p), "truncated or corrupt")


def test_binary_garbage(study):
    p = write(study, "garbage.tsv", bytes(range(256)) * 40)
    fails_cleanly(compare(study, p), str(p), "binary file")


def test_wrong_delimiter(study):
    p = write(study, "semi.csv", matrix_text().replace("\t", ";"))
    fails_cleanly(compare(study, p), str(p), "separated by ';'")


def test_format_contradicts_content(study):
    fails_cleanly(
        compare(study, study / "counts.tsv", "--format", "htseq"),
        str(study / "counts.tsv"),
        "--format htseq was given",
    )


def test_unknown_format(study):
    fails_cleanly(
        compare(study, study / "counts.tsv", "--format", "excel"), "unknown --format 'excel'"
    )


def test_transcripts_without_tx2gene(study):
    p = write(
        study, "quant.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\nT1\t100\t80\t1\t5\n"
    )
    fails_cleanly(compare(study, p), str(p), "--tx2gene")


# --- sample sheet ---------------------------------------------------------------------------------


def test_sheet_without_sample_column(study):
    s = write(study, "bad_sheet.tsv", "name\tgroup\ns1\tA\n")
    fails_cleanly(compare(study, study / "counts.tsv", sheet=s), str(s), "no 'sample' column")


def test_sheet_duplicated_rows(study):
    s = write(study, "dup_sheet.tsv", "sample\tgroup\ns1\tA\ns1\tA\ns2\tB\n")
    fails_cleanly(
        compare(study, study / "counts.tsv", sheet=s), str(s), "duplicated samples", "'s1'"
    )


def test_sheet_samples_missing_from_counts(study):
    s = write(study, "extra_sheet.tsv", "sample\tgroup\ns1\tA\ns9\tB\n")
    fails_cleanly(
        compare(study, study / "counts.tsv", sheet=s), str(s), "not in the count files", "'s9'"
    )


def test_sheet_empty(study):
    s = write(study, "empty_sheet.tsv", "")
    fails_cleanly(compare(study, study / "counts.tsv", sheet=s), str(s), "expected a sample sheet")


def test_sheet_path_does_not_exist(study):
    s = write(
        study, "path_sheet.tsv", "sample\tgroup\tpath\ns1\tA\tcounts/s1.txt\ns2\tB\tcounts/s2.txt\n"
    )
    fails_cleanly(
        compare(study, None, sheet=s),
        str(s),
        "line 2, column 'path'",
        "'counts/s1.txt' does not exist",
    )


def test_no_counts_and_no_path_column(study):
    fails_cleanly(compare(study, None), str(study / "samples.tsv"), "no 'path' column")


# --- design and contrasts -------------------------------------------------------------------------


def test_design_column_missing(study):
    fails_cleanly(
        compare(study, study / "counts.tsv", "--design", "~ donor"),
        str(study / "samples.tsv"),
        "'donor'",
    )


def test_formula_syntax_error(study):
    fails_cleanly(
        compare(study, study / "counts.tsv", "--design", "~ group +"),
        "--design '~ group +'",
        "not a valid formula",
    )


def test_confounded_design(study):
    fails_cleanly(
        compare(study, study / "counts.tsv", "--design", "~ batch + group", "-c", "group,B,A"),
        "confounded",
        "--design",
    )


def test_rank_deficient_design(study):
    # lot x is only in group A, lots y and w only in B: group = y + w, without any single pair being identical.
    fails_cleanly(
        compare(study, study / "counts.tsv", "--design", "~ group + lot", "-c", "group,B,A"),
        "--design",
        "rank",
    )


def test_contrast_level_missing(study):
    fails_cleanly(
        compare(study, study / "counts.tsv", "--design", "~ group", "-c", "group,C,A"),
        "'C'",
        "not found",
    )


def test_malformed_contrast(study):
    fails_cleanly(
        compare(study, study / "counts.tsv", "--design", "~ group", "-c", "group-B-A"),
        "--contrast 'group-B-A'",
    )


# --- output folder --------------------------------------------------------------------------------


def test_existing_output_folder_left_untouched(study):
    out = study.parent / "out"
    out.mkdir()
    keep = out / "precious.txt"
    keep.write_text("do not touch")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*")}
    proc = mscseq(
        "compare",
        str(study / "counts.tsv"),
        "-s",
        str(study / "samples.tsv"),
        "-o",
        str(out),
        "--no-report",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("mscseq: error: ") and str(out) in line and "--force" in line
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*")} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out")]


def test_inspect_bad_file(study):
    p = write(study, "garbage.bin", bytes(range(256)) * 4)
    proc = mscseq("inspect", str(p))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"mscseq: error: {p}: looks like a binary file, not a text table of counts"
    ]


def test_de_bad_input(study):
    text = matrix_text().splitlines()
    text[2] = text[2].rsplit("\t", 1)[0] + "\t-1"
    p = write(study, "neg.tsv", "\n".join(text) + "\n")
    out = study.parent / "de.tsv"
    proc = mscseq(
        "de",
        str(p),
        "-s",
        str(study / "samples.tsv"),
        "--design",
        "~ group",
        "-c",
        "group,B,A",
        "--out",
        str(out),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{p}, line 3, column 's6'" in proc.stderr
    assert not out.exists()
