"""Bad input gives one clear line naming the file (and line/column), never a traceback or a guess."""

from __future__ import annotations

import gzip
import os

import pytest

from mscseq.errors import MscseqError
from mscseq.io import load_dataset, read_count_files, read_counts, read_sheet
from mscseq.io.readers import ReadOptions

GOOD = "gene_id\tA\tB\nG1\t1\t2\nG2\t3\t4\n"


def err(fn, *args, **kwargs) -> str:
    with pytest.raises(MscseqError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope.tsv"
    assert (
        err(read_counts, p)
        == f"{p}: file not found; check the path (relative paths are from the current folder)"
    )


def test_folder_instead_of_file(tmp_path):
    assert "is a folder" in err(read_counts, tmp_path)


def test_empty_file(write):
    p = write("empty.tsv", "")
    assert err(read_counts, p).startswith(f"{p}: the file is empty")


def test_blank_lines_only(write):
    p = write("blank.tsv", "\n\n  \n")
    assert str(p) in err(read_counts, p)


def test_header_only(write):
    p = write("header.tsv", "gene_id\tA\tB\n")
    assert (
        err(read_counts, p)
        == f"{p}: only a header line, no genes; check that the file was written completely"
    )


def test_header_only_gz(write):
    p = write("header.tsv.gz", "gene_id\tA\tB\n")
    assert "only a header line" in err(read_counts, p)


def test_negative(write):
    p = write("neg.tsv", "gene_id\tA\tB\nG1\t1\t2\nG2\t-3\t4\n")
    assert (
        err(read_counts, p)
        == f"{p}, line 3, column 'A': negative count -3; counts must be 0 or more"
    )


def test_non_numeric(write):
    p = write("nan.tsv", "gene_id\tA\tB\nG1\t1\t2\nG2\t3\tfour\n")
    assert err(read_counts, p).startswith(f"{p}, line 3, column 'B': value 'four' is not a number")


@pytest.mark.parametrize("missing", ["", "NA", "nan"])
def test_missing_value(write, missing):
    p = write("miss.tsv", f"gene_id\tA\tB\nG1\t1\t{missing}\nG2\t3\t4\n")
    assert err(read_counts, p).startswith(f"{p}, line 2, column 'B': missing value")


def test_short_row(write):
    p = write("short.tsv", "gene_id\tA\tB\nG1\t1\t2\nG2\t3\n")
    assert err(read_counts, p).startswith(f"{p}, line 3: 2 columns but the header has 3")


def test_long_row(write):
    p = write("long.tsv", "gene_id\tA\tB\nG1\t1\t2\t9\nG2\t3\t4\n")
    assert err(read_counts, p).startswith(f"{p}, line 2: 4 columns but the header has 3")


def test_non_integer_raw_counts(write):
    p = write("frac.tsv", "gene_id\tA\tB\nG1\t1\t2.5\nG2\t3\t4\n")
    msg = err(read_counts, p)
    assert msg.startswith(f"{p}, line 2, column 'B': non-integer value 2.5 in a raw-count matrix")
    assert "--format nfcore" in msg and "raw read counts" in msg


def test_infinite(write):
    p = write("inf.tsv", "gene_id\tA\nG1\tinf\n")
    assert "not a finite number" in err(read_counts, p)


def test_duplicated_samples(write):
    p = write("dup.tsv", "gene_id\tA\tA\nG1\t1\t2\n")
    assert (
        err(read_counts, p)
        == f"{p}, line 1: duplicated sample names in the header: 'A'; make each sample column name unique"
    )


def test_duplicated_samples_across_files(write):
    a = write("a.tsv", GOOD)
    b = write("b.tsv", GOOD)
    assert "sample 'A' is also in" in err(read_count_files, [a, b])


def test_unnamed_column(write):
    p = write("unnamed.tsv", "gene_id\tA\t\nG1\t1\t2\n")
    assert "column 3 of the header has no name" in err(read_counts, p)


def test_empty_gene_id(write):
    p = write("noid.tsv", "gene_id\tA\nG1\t1\n\t2\n")
    assert err(read_counts, p) == f"{p}, line 3: empty gene ID in the first column"


def test_truncated_gzip(tmp_path):
    data = gzip.compress(("gene_id\tA\n" + "".join(f"G{i}\t{i}\n" for i in range(20000))).encode())
    p = tmp_path / "cut.tsv.gz"
    p.write_bytes(data[: len(data) // 2])
    msg = err(read_counts, p)
    assert msg.startswith(f"{p}: the gzip data is truncated or corrupt")
    assert "re-copy" in msg


def test_corrupt_gzip_header(tmp_path):
    p = tmp_path / "bad.tsv.gz"
    p.write_bytes(b"\x1f\x8b" + os.urandom(64))
    assert "truncated or corrupt" in err(read_counts, p)


def test_binary_garbage(tmp_path):
    p = tmp_path / "garbage.bin"
    p.write_bytes(bytes(range(256)) * 10)
    assert err(read_counts, p) == f"{p}: looks like a binary file, not a text table of counts"


def test_not_utf8(tmp_path):
    p = tmp_path / "latin1.tsv"
    p.write_bytes("gene_id\tA\nGén\t1\n".encode("latin-1"))
    assert err(read_counts, p).startswith(f"{p}, line 2: not UTF-8 text")


def test_semicolon_delimiter(write):
    p = write("semi.csv", "gene_id;A;B\nG1;1;2\n")
    assert (
        err(read_counts, p)
        == f"{p}: columns are separated by ';'; save the table as CSV (',') or TSV (tab)"
    )


def test_space_delimiter(write):
    p = write("space.txt", "gene_id A B\nG1 1 2\n")
    assert "separated by spaces" in err(read_counts, p)


def test_mixed_delimiters(write):
    p = write("mixed.tsv", "gene_id\tA\tB\nG1,1,2\n")
    assert f"{p}, line 2: 1 columns but the header has 3" in err(read_counts, p)


def test_single_column(write):
    p = write("one.txt", "gene_id\nG1\n")
    assert "no tab or comma" in err(read_counts, p)


def test_format_mismatch(write):
    p = write("s1.txt", "G1\t5\nG2\t0\n__no_feature\t7\n")
    msg = err(read_counts, p, format="star")
    assert msg.startswith(f"{p}: --format star was given but the file looks like htseq")
    assert "drop --format" in msg


def test_format_h5ad_on_text(write):
    p = write("m.tsv", GOOD)
    assert "--format h5ad was given but the file looks like matrix" in err(
        read_counts, p, format="h5ad"
    )


def test_unknown_format(write):
    p = write("m.tsv", GOOD)
    assert "unknown --format 'excel'" in err(
        read_count_files, [p], options=ReadOptions(format="excel")
    )


def test_unknown_strandedness(write):
    p = write("sReadsPerGene.out.tab", "N_unmapped\t1\t1\t1\nG1\t1\t2\t3\n")
    assert "unknown strandedness 'both'" in err(read_counts, p, strandedness="both")


def test_star_bad_row(write):
    p = write("sReadsPerGene.out.tab", "N_unmapped\t1\t1\t1\nG1\t1\t2\nG2\t1\t2\t3\n")
    assert err(read_counts, p).startswith(f"{p}, line 2: 3 tab-separated columns, expected 4")


def test_htseq_non_integer(write):
    p = write("s.txt", "G1\t5\nG2\t0.5\n")
    assert err(read_counts, p).startswith(f"{p}, line 2, column")


def test_htseq_only_special_lines(write):
    p = write("s.txt", "__no_feature\t5\n__ambiguous\t0\n")
    assert "only '__' summary lines" in err(read_counts, p)


def test_salmon_bad_value(write):
    p = write("a/quant.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\nT1\t100\t80\t1\tlots\n")
    msg = err(read_counts, p, tx2gene=write("t.tsv", "T1\tG1\n"))
    assert msg.startswith(f"{p}, line 2, column 'NumReads': value 'lots' is not a number")


def test_salmon_samples_differ(write):
    a = write("a/quant.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\nT1\t100\t80\t1\t1\n")
    b = write("b/quant.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\nT2\t100\t80\t1\t1\n")
    t2g = write("t.tsv", "T1\tG1\nT2\tG1\n")
    assert "differ from the 1 of" in err(read_count_files, [a, b], options=ReadOptions(tx2gene=t2g))


def test_per_sample_names_collide(write):
    a = write("x/quant.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\nT1\t100\t80\t1\t1\n")
    b = write("y/x/quant.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\nT1\t100\t80\t1\t1\n")
    assert "gives sample name 'x'" in err(read_count_files, [a, b])


def test_missing_tx2gene_file(write, tmp_path):
    a = write("x/quant.sf", "Name\tLength\tEffectiveLength\tTPM\tNumReads\nT1\t100\t80\t1\t1\n")
    assert "file not found" in err(read_counts, a, tx2gene=tmp_path / "t2g.tsv")


def test_genes_missing_between_files(write):
    a = write("a.tsv", "gene_id\tA\nG1\t1\nG2\t2\n")
    b = write("b.tsv", "gene_id\tB\nG1\t1\n")
    assert "genes present in other count files are missing here" in err(read_count_files, [a, b])
    t = read_count_files([a, b], fill_missing_zero=True)
    assert t.counts.loc["G2", "B"] == 0


# --- sample sheets ---------------------------------------------------------------------------


def test_sheet_without_sample_column(write, small_matrix):
    s = write("s.tsv", "name\tgroup\nA\tx\n")
    msg = err(load_dataset, [small_matrix], s)
    assert msg.startswith(f"{s}: no 'sample' column") and "--sample-column" in msg


def test_sheet_duplicated_rows(write, small_matrix):
    s = write("s.tsv", "sample\tgroup\nA\tx\nA\tx\nB\ty\n")
    assert (
        err(load_dataset, [small_matrix], s)
        == f"{s}: duplicated samples in column 'sample': 'A'; list each sample once"
    )


def test_sheet_samples_missing_from_counts(write, small_matrix):
    s = write("s.tsv", "sample\tgroup\nA\tx\nZ\ty\n")
    msg = err(load_dataset, [small_matrix], s)
    assert msg.startswith(f"{s}: 1 sample(s) in the sheet are not in the count files: 'Z'")


def test_sheet_design_column_missing(small_matrix, small_sheet):
    msg = err(load_dataset, [small_matrix], small_sheet, required_columns=["donor"])
    assert msg.startswith(
        f"{small_sheet}: column(s) 'donor' used in the design or options are not in the sheet"
    )


def test_sheet_empty(write, small_matrix):
    s = write("s.tsv", "")
    assert err(read_sheet, s).startswith(
        f"{s}: the file is empty (0 bytes); expected a sample sheet"
    )


def test_sheet_header_only(write):
    s = write("s.tsv", "sample\tgroup\n")
    assert err(read_sheet, s) == f"{s}: the sample sheet has a header but no samples"


def test_sheet_empty_sample_name(write):
    s = write("s.tsv", "sample\tgroup\nA\tx\n\ty\n")
    assert err(read_sheet, s).startswith(f"{s}, line 3: empty sample name")


def test_sheet_path_does_not_exist(write):
    s = write("s.tsv", "sample\tpath\nA\tcounts/a.txt\n")
    msg = err(load_dataset, None, s)
    assert msg.startswith(f"{s}, line 2, column 'path': file 'counts/a.txt' does not exist")
    assert "relative to the sheet's folder" in msg


def test_sheet_without_path_column_and_no_counts(small_sheet):
    assert "no 'path' column" in err(load_dataset, None, small_sheet)


def test_sheet_path_shared_by_per_sample_file(write):
    write("a.txt", "G1\t5\n")
    s = write("s.tsv", "sample\tpath\nA\ta.txt\nB\ta.txt\n")
    assert "several samples share the path" in err(load_dataset, None, s)


def test_sheet_path_folder(write, tmp_path):
    (tmp_path / "sub").mkdir()
    s = write("s.tsv", "sample\tpath\nA\tsub\n")
    assert "is a folder" in err(load_dataset, None, s)


def test_excel_sheet(tmp_path, small_matrix):
    import pandas as pd

    s = tmp_path / "samples.xlsx"
    pd.DataFrame(
        {"sample": ["A", "B", "C"], "donor": [1, 2, 3], "group": ["x", "y", "y"]}
    ).to_excel(s, index=False)
    adata = load_dataset([small_matrix], s)
    assert list(adata.obs_names) == ["A", "B", "C"]
    assert list(adata.obs["donor"].astype(str)) == ["1", "2", "3"]


def test_corrupt_excel_sheet(tmp_path, small_matrix):
    s = tmp_path / "samples.xlsx"
    s.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert err(load_dataset, [small_matrix], s).startswith(
        f"{s}: cannot be read as an Excel .xlsx workbook"
    )


def test_sheet_duplicated_columns(write, small_matrix):
    s = write("s.tsv", "sample\tgroup\tgroup\nA\tx\ty\n")
    assert (
        err(read_sheet, s)
        == f"{s}, line 1: duplicated column names 'group'; give each column its own name"
    )


def test_kallisto_h5_and_foreign_hdf5(tmp_path):
    import h5py

    k = tmp_path / "abundance.h5"
    with h5py.File(k, "w") as fh:
        fh.create_dataset("est_counts", data=[1.0, 2.0])
        fh.create_group("aux")
    assert "give the abundance.tsv" in err(read_counts, k)
    other = tmp_path / "matrix.h5"
    with h5py.File(other, "w") as fh:
        fh.create_dataset("data", data=[1, 2])
    assert "not an AnnData" in err(read_counts, other)
