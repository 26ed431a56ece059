"""The count-format registry and the low-level text helpers behind the hostile-input fixes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscseq.errors import MscseqError
from mscseq.io import COUNT_FORMATS, FORMATS, ReadOptions
from mscseq.io.detect import detect_format
from mscseq.io.formats import HEADER_SIGNATURES, OTHER_FORMATS, PER_SAMPLE_FORMATS, ReadRequest
from mscseq.io.limits import check_count_range
from mscseq.io.matrix import count_text_lines
from mscseq.io.readers import ReadOptions as ReadersReadOptions
from mscseq.io.table import CountTable
from mscseq.io.textfile import read_head, require_regular_file


def test_registry_partitions_the_formats():
    assert COUNT_FORMATS == (
        "matrix",
        "nfcore",
        "featurecounts",
        "htseq",
        "star",
        "salmon",
        "kallisto",
        "rsem",
        "h5ad",
    )
    assert OTHER_FORMATS == ("featurecounts_summary", "star_log", "dexseq")
    assert PER_SAMPLE_FORMATS == ("htseq", "star", "salmon", "kallisto", "rsem")
    assert ReadersReadOptions is ReadOptions


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_has_exactly_one_way_to_read_it(name):
    spec = FORMATS[name]
    ways = [spec.read is not None, spec.quantifier, spec.read_qc is not None]
    assert sum(ways) == 1, name
    assert spec.counts or spec.refusal, (
        f"{name}: a format without counts must say why it is refused"
    )
    assert spec.hint


def test_dexseq_reads_through_the_registry(write):
    p = write("s1.dexseq.txt", "GENE1:001\t5\nGENE1:002\t0\n_ambiguous\t3\n")
    assert detect_format(p).format == "dexseq"
    table = FORMATS["dexseq"].read(p, ReadRequest("s1", ReadOptions()))
    assert table.level == "exon"
    assert table.counts["s1"].tolist() == [5.0, 0.0]
    assert table.qc.loc["s1", "dexseq_ambiguous"] == 3.0


def test_dexseq_refused_for_analysis_with_the_registry_text(write):
    from mscseq.io import read_counts

    p = write("s1.dexseq.txt", "GENE1:001\t5\nGENE1:002\t0\n")
    with pytest.raises(MscseqError, match=r"exon-bin counts from dexseq_count\.py .*exon-bin IDs"):
        read_counts(p)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a", 1),
        (b"a\n", 1),
        (b"\n\na\n\n", 1),
        (b"a\r\nb\r\n", 2),
        (b"a\rb\r\r", 2),
        (b"h\n" + b"\n" * 1000 + b"x", 2),
    ],
)
def test_count_text_lines_counts_non_blank_lines(tmp_path, data, expected):
    p = tmp_path / "f.txt"
    p.write_bytes(data)
    assert count_text_lines(p) == expected


def test_count_text_lines_across_blocks(tmp_path):
    """Line ends split over the 4 MiB read blocks are counted once, plain and gzip."""
    rng = np.random.default_rng(0)
    for alphabet in (b"abcdefgh\n", b"ab\n\r"):
        chars = np.frombuffer(alphabet, dtype=np.uint8)
        data = chars[rng.integers(0, len(chars), 9_000_001)].tobytes()
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        expected = sum(1 for ln in lines if ln)
        p = tmp_path / "f.txt"
        p.write_bytes(data)
        assert count_text_lines(p) == expected
        g = tmp_path / "f.txt.gz"
        g.write_bytes(gzip.compress(data, compresslevel=1))
        assert count_text_lines(g) == expected


def test_read_head_cuts_at_a_line_end_or_a_whole_character(tmp_path):
    p = tmp_path / "f.txt"
    p.write_bytes(b"abc\r\ndef\nghij")
    head = read_head(p, 7)
    assert head.lines == ["abc"] and not head.whole and head.cut == 2
    p.write_bytes(
        ("x" * 5 + "é" * 10).encode()
    )  # no line end: the line's start, never half a character
    head = read_head(p, 8)
    assert head.lines == ["xxxxxé"] and head.cut == 1
    assert read_head(p, 100).whole


def test_require_regular_file_refuses_a_folder_and_a_fifo(tmp_path):
    with pytest.raises(MscseqError, match="is a folder"):
        require_regular_file(tmp_path)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        with pytest.raises(MscseqError, match=r"named pipe \(FIFO\)"):
            require_regular_file(fifo)


def test_check_count_range_accepts_the_largest_exact_count():
    ok = CountTable(
        counts=pd.DataFrame({"a": [2.0**53 - 1, 0.0]}, index=["g1", "g2"]), source=Path("x")
    )
    check_count_range(ok)
    bad = CountTable(
        counts=pd.DataFrame({"a": [1.0, 2.0**53]}, index=["g1", "g2"]), source=Path("x")
    )
    with pytest.raises(MscseqError, match="gene 'g2', sample 'a'"):
        check_count_range(bad)


@pytest.mark.parametrize(("name", "signature"), HEADER_SIGNATURES)
def test_each_header_signature_detects_its_format(write, name, signature):
    width = len(signature.columns)
    row = "\t".join(["ENST00000000001", *["1"] * (width - 1)])
    p = write(f"{name}.txt", "\t".join(signature.columns) + "\n" + row + "\n")
    det = detect_format(p)
    assert (det.format, det.why) == (name, signature.why)
    assert det.level == (signature.level or "transcript")
