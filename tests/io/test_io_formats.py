"""Each format on small synthetic files: what is read, what becomes QC, what is noted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscseq.errors import MscseqError
from mscseq.io import load_dataset, read_count_files, read_counts
from mscseq.io.detect import detect_format
from mscseq.io.readers import ReadOptions
from mscseq.io.star import infer_strandedness
from mscseq.io.tximport import read_tx2gene


def test_matrix_versions_stripped_and_kept(small_matrix):
    t = read_counts(small_matrix)
    assert t.format == "matrix"
    assert list(t.counts.index) == ["ENSG00000000001", "ENSG00000000002", "ENSG00000000003"]
    assert t.counts.loc["ENSG00000000002", "C"] == 7
    kept = read_counts(small_matrix, keep_gene_version=True)
    assert kept.counts.index[0] == "ENSG00000000001.5"


def test_csv_with_r_style_header_and_quotes(write):
    # R's write.csv quotes names; write.table leaves the row-name column out of the header.
    p = write("r.csv", '"","s1","s2"\n"g1",1,2\n"g2",3,4\n')
    t = read_counts(p)
    assert list(t.counts.columns) == ["s1", "s2"] and t.counts.loc["g2", "s2"] == 4
    q = write("r.tsv", "s1\ts2\ng1\t1\t2\ng2\t3\t4\n")
    assert read_counts(q).counts.loc["g1", "s2"] == 2


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz"])
def test_compressed_by_content(tmp_path, suffix):
    import bz2
    import gzip
    import lzma

    comp = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[suffix]
    p = tmp_path / "counts.data"  # no telling extension: detected from the magic bytes
    p.write_bytes(comp(b"gene\ts1\ng1\t5\n"))
    assert read_counts(p).counts.loc["g1", "s1"] == 5


def test_par_y_and_duplicates_summed(write, caplog):
    p = write(
        "par.tsv",
        "gene\ts1\nENSG00000002586.20\t5\nENSG00000002586.20_PAR_Y\t0\nENSG00000000005.1\t1\nENSG00000000005.2\t2\n",
    )
    t = read_counts(p)
    assert "ENSG00000002586_PAR_Y" in t.counts.index
    assert t.counts.loc["ENSG00000002586", "s1"] == 5
    assert t.counts.loc["ENSG00000000005", "s1"] == 3
    assert any("duplicated gene IDs summed" in n for n in t.notes)


def test_nfcore_gene_counts_rounded_with_names(write):
    p = write(
        "salmon.merged.gene_counts.tsv",
        "gene_id\tgene_name\tS1\tS2\nENSG1\tTP53\t1.4\t2\nENSG2\tMYC\t2.6\t0\n",
    )
    t = read_counts(p)
    assert t.format == "nfcore"
    assert t.counts.loc["ENSG2", "S1"] == 3 and t.counts.loc["ENSG1", "S1"] == 1
    assert t.gene_names["ENSG2"] == "MYC"
    assert any("rounded" in n for n in t.notes)


def test_nfcore_tpm_refused(write):
    p = write(
        "salmon.merged.gene_tpm.tsv",
        "gene_id\tgene_name\tS1\nENSG1\tA\t500000.5\nENSG2\tB\t499999.5\n",
    )
    with pytest.raises(MscseqError, match="TPM"):
        read_counts(p)


def test_nfcore_transcript_counts_summed(write):
    p = write(
        "salmon.merged.transcript_counts.tsv",
        "tx\tgene_id\tS1\nT1\tG1\t1.5\nT2\tG1\t2\nT3\tG2\t4\n",
    )
    t = read_counts(p)
    assert t.counts.loc["G1", "S1"] == 4  # 3.5 rounded half to even
    assert t.counts.loc["G2", "S1"] == 4


def test_featurecounts_names_and_summary(write):
    header = "# Program:featureCounts v2.0.1; Command:featureCounts -a x.gtf -o counts.txt /data/a/s1.bam /data/b/s2.Aligned.sortedByCoord.out.bam\n"
    body = "Geneid\tChr\tStart\tEnd\tStrand\tLength\t/data/a/s1.bam\t/data/b/s2.Aligned.sortedByCoord.out.bam\n"
    body += "G1\tchr1;chr1\t1;50\t10;90\t+;+\t51\t3\t4\nG2\tchr2\t5\t9\t-\t5\t0\t8\n"
    p = write("counts.txt", header + body)
    write(
        "counts.txt.summary",
        "Status\t/data/a/s1.bam\t/data/b/s2.Aligned.sortedByCoord.out.bam\nAssigned\t3\t12\nUnassigned_NoFeatures\t1\t0\n",
    )
    t = read_counts(p)
    assert t.format == "featurecounts"
    assert list(t.counts.columns) == ["s1", "s2"]
    assert t.counts.loc["G2", "s2"] == 8
    assert t.qc.loc["s1", "featurecounts_Unassigned_NoFeatures"] == 1
    assert t.qc.loc["s2", "featurecounts_assigned_fraction"] == 1.0


def test_htseq_special_lines_become_qc(write):
    p = write(
        "s1.htseq.txt", "G1\t5\nG2\t0\n__no_feature\t7\n__ambiguous\t1\n__alignment_not_unique\t3\n"
    )
    t = read_counts(p, sample="S1")
    assert list(t.counts.index) == ["G1", "G2"]
    assert t.qc.loc["S1", "htseq_no_feature"] == 7
    assert t.qc.loc["S1", "htseq_alignment_not_unique"] == 3


STAR = (
    "N_unmapped\t10\t10\t10\nN_multimapping\t5\t5\t5\nN_noFeature\t3\t40\t4\nN_ambiguous\t2\t1\t1\n"
)


def test_star_inferred_reverse_and_forced(write, caplog):
    p = write("s1ReadsPerGene.out.tab", STAR + "G1\t100\t2\t98\nG2\t50\t1\t49\n")
    t = read_counts(p)
    assert list(t.counts.columns) == ["s1"]
    assert t.counts.loc["G1", "s1"] == 98
    assert t.qc.loc["s1", "star_strandedness"] == "reverse"
    assert t.qc.loc["s1", "star_N_noFeature"] == 4
    assert any("inferred as reverse" in n for n in t.notes)
    assert read_counts(p, strandedness="unstranded").counts.loc["G1", "s1"] == 100
    assert read_counts(p, strandedness="forward").counts.loc["G1", "s1"] == 2


@pytest.mark.parametrize(
    ("fwd", "rev", "expected"),
    [
        (90, 10, "forward"),
        (10, 90, "reverse"),
        (50, 50, "unstranded"),
        (46, 54, "unstranded"),
        (30, 70, "unstranded"),
        (0, 0, "unstranded"),
    ],
)
def test_infer_strandedness_rules(fwd, rev, expected):
    assert infer_strandedness(fwd, rev)[0] == expected
    if (fwd, rev) == (30, 70):
        assert "undetermined" in infer_strandedness(fwd, rev)[1]


def _salmon(write, name, rows):
    text = "Name\tLength\tEffectiveLength\tTPM\tNumReads\n" + "".join(
        f"{t}\t{L}\t{e}\t{tpm}\t{n}\n" for t, L, e, tpm, n in rows
    )
    return write(name, text)


def test_tximport_default_summary(write):
    """Counts summed; length = TPM-weighted mean; zero-abundance genes filled as tximport does."""
    s1 = _salmon(
        write,
        "s1/quant.sf",
        [
            ("T1.1", 1000, 800, 10, 80.4),
            ("T2.1", 2000, 1800, 30, 540.2),
            ("T3.1", 500, 300, 0, 0),
            ("T4.1", 700, 500, 0, 0),
        ],
    )
    s2 = _salmon(
        write,
        "s2/quant.sf",
        [
            ("T1.1", 1000, 810, 0, 0),
            ("T2.1", 2000, 1790, 0, 0),
            ("T3.1", 500, 310, 5, 15.5),
            ("T4.1", 700, 520, 0, 0),
        ],
    )
    tx2 = write("tx2gene.csv", "TXNAME,GENEID\nT1,GA\nT2,GA\nT3,GB\nT4,GC\n")
    t = read_count_files([s1, s2], options=ReadOptions(tx2gene=tx2))
    assert list(t.counts.columns) == ["s1", "s2"]
    assert t.counts.loc["GA", "s1"] == round(80.4 + 540.2)
    assert t.counts.loc["GB", "s2"] == 16
    L = t.lengths
    assert L.loc["GA", "s1"] == pytest.approx((10 * 800 + 30 * 1800) / 40)
    # GA has no abundance in s2: geometric mean of its other lengths (just s1's here).
    assert L.loc["GA", "s2"] == pytest.approx(L.loc["GA", "s1"])
    # GC has no abundance anywhere: mean transcript length averaged over samples.
    assert L.loc["GC", "s1"] == pytest.approx(510.0)
    assert any("without version suffixes" in n for n in t.notes)
    assert any("rounded" in n for n in t.notes)


def test_tximport_gtf_and_missing_transcripts(write):
    s1 = _salmon(
        write,
        "a/quant.sf",
        [("ENST1", 100, 80, 1, 5), ("ENST2", 100, 80, 1, 7), ("ENST9", 100, 80, 1, 1)],
    )
    gtf = write(
        "genes.gtf",
        '#!genome-build test\nchr1\tsrc\tgene\t1\t9\t.\t+\t.\tgene_id "ENSG1"; gene_name "ABC";\n'
        'chr1\tsrc\ttranscript\t1\t9\t.\t+\t.\tgene_id "ENSG1"; transcript_id "ENST1"; gene_name "ABC";\n'
        'chr1\tsrc\texon\t1\t9\t.\t+\t.\tgene_id "ENSG1"; transcript_id "ENST2"; gene_name "ABC";\n',
    )
    t = read_counts(s1, tx2gene=gtf)
    assert t.counts.loc["ENSG1", "a"] == 12
    assert t.gene_names["ENSG1"] == "ABC"
    assert any("not in" in n and "ENST9" in n for n in t.notes)


def test_tximport_needs_map(write):
    s1 = _salmon(write, "a/quant.sf", [("ENST1", 100, 80, 1, 5)])
    with pytest.raises(MscseqError, match="--tx2gene"):
        read_counts(s1)
    other = write("t2g.tsv", "X1\tG1\n")
    with pytest.raises(MscseqError, match="none of the transcripts"):
        read_counts(s1, tx2gene=other)


def test_gencode_bar_names_carry_the_gene(write):
    s1 = _salmon(
        write,
        "a/quant.sf",
        [
            (
                "ENST00000000001.1|ENSG00000000001.2|OTTHUMG|OTTHUMT|ABC-201|ABC|900|protein_coding|",
                900,
                700,
                1,
                3,
            )
        ],
    )
    t = read_counts(s1)
    assert t.counts.loc["ENSG00000000001", "a"] == 3
    assert t.gene_names["ENSG00000000001"] == "ABC"


def test_kallisto_and_rsem(write):
    k = write(
        "k1/abundance.tsv",
        "target_id\tlength\teff_length\test_counts\ttpm\nT1\t100\t80\t2.5\t1\nT2\t100\t80\t1\t1\n",
    )
    tx2 = write("t2g.tsv", "T1\tG1\nT2\tG1\n")
    assert read_counts(k, tx2gene=tx2).counts.loc["G1", "k1"] == 4  # 3.5 → 4
    r = write(
        "x.genes.results",
        "gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM\nG1\tT1,T2\t100\t80\t3.00\t1\t1\n",
    )
    t = read_counts(r)
    assert t.format == "rsem" and list(t.counts.columns) == ["x"] and t.counts.iloc[0, 0] == 3
    iso = write(
        "y.isoforms.results",
        "transcript_id\tgene_id\tlength\teffective_length\texpected_count\tTPM\tFPKM\tIsoPct\nT1\tG1\t100\t80\t1\t1\t1\t50\nT2\tG1\t90\t70\t2\t1\t1\t50\n",
    )
    assert read_counts(iso).counts.loc["G1", "y"] == 3


def test_h5ad_layers(tmp_path):
    import anndata as ad

    x = np.array([[1.5, 2.0], [0.2, 4.0]])
    counts = np.array([[1, 2], [0, 4]], dtype=np.float32)
    a = ad.AnnData(
        X=x,
        obs=pd.DataFrame(index=["s1", "s2"]),
        var=pd.DataFrame({"gene_name": ["A", "B"]}, index=["g1", "g2"]),
    )
    a.layers["counts"] = counts
    p = tmp_path / "data.h5ad"
    a.write_h5ad(p)
    assert detect_format(p).format == "h5ad"
    from mscseq.io.inspect import inspect_file

    info = inspect_file(p)
    assert (info["format"], info["n_samples"], info["n_features"]) == ("h5ad", 2, 2)
    assert info["library_sizes"] == {"s1": 3, "s2": 4}
    t = read_counts(p)
    assert t.counts.loc["g2", "s2"] == 4 and t.gene_names["g1"] == "A"
    with pytest.raises(MscseqError, match="non-integer"):
        read_counts(p, layer="X")
    with pytest.raises(MscseqError, match="no layer 'raw'"):
        read_counts(p, layer="raw")


def test_tx2gene_conflict(write):
    p = write("t2g.tsv", "T1\tG1\nT1\tG2\n")
    with pytest.raises(MscseqError, match="more than one gene"):
        read_tx2gene(p)


def test_sheet_path_column(write):
    write("data/s1.txt", "G1\t5\nG2\t1\n__no_feature\t2\n")
    write("data/s2.txt", "G1\t3\nG2\t0\n__no_feature\t4\n")
    sheet = write("sheet.tsv", "sample\tcondition\tpath\nB\tx\tdata/s2.txt\nA\ty\tdata/s1.txt\n")
    adata = load_dataset(None, sheet)
    assert list(adata.obs_names) == ["B", "A"]
    assert adata.X[0].tolist() == [3, 0]
    assert adata.obs.loc["A", "tool_htseq_no_feature"] == 2


def test_sheet_path_shared_matrix(write):
    write("m.tsv", "gene\tA\tB\nG1\t1\t2\n")
    sheet = write("sheet.csv", "sample,path\nA,m.tsv\nB,m.tsv\n")
    adata = load_dataset([], sheet)
    assert adata.X[:, 0].tolist() == [1, 2]


def test_lengths_layer(write):
    _salmon(write, "s1/quant.sf", [("T1", 100, 80, 1, 5)])
    _salmon(write, "s2/quant.sf", [("T1", 100, 90, 1, 6)])
    write("t2g.tsv", "T1\tG1\n")
    sheet = write("sheet.tsv", "sample\tpath\ns1\ts1/quant.sf\ns2\ts2/quant.sf\n")
    adata = load_dataset(None, sheet, tx2gene=sheet.parent / "t2g.tsv")
    assert adata.layers["avg_tx_length"][:, 0].tolist() == [80, 90]


def test_trailing_delimiter_everywhere_is_ignored(write):
    p = write("trail.tsv", "gene_id\tA\tB\t\nG1\t1\t2\t\nG2\t3\t4\t\n")
    t = read_counts(p)
    assert list(t.counts.columns) == ["A", "B"] and t.counts.loc["G2", "B"] == 4


def test_trailing_delimiter_on_rows_only_is_an_error(write):
    p = write("trail_rows.tsv", "gene_id\tA\tB\nG1\t1\t2\t\nG2\t3\t4\t\n")
    with pytest.raises(MscseqError, match=r"line 2: 4 columns but the header has 3"):
        read_counts(p)


def test_windows_line_endings(write):
    p = write("crlf.csv", "gene_id,A,B\r\nG1,1,2\r\nG2,3,4\r\n")
    assert read_counts(p).counts.loc["G2", "B"] == 4
    bad = write("crlf_bad.csv", "gene_id,A,B\r\nG1,1,2\r\nG2,3,x\r\n")
    with pytest.raises(MscseqError, match=r"line 3, column 'B': value 'x'"):
        read_counts(bad)


def test_nfcore_normalised_table_refused(write):
    p = write("all.normalised_counts.tsv", "gene_id\tgene_name\tS1\nG1\tA\t1.5\n")
    with pytest.raises(MscseqError, match="normalised or transformed"):
        read_counts(p)


def test_entrez_ids_stay_text(write):
    p = write("entrez.tsv", "gene\tA\n7157\t5\n0100\t1\n")
    assert list(read_counts(p).counts.index) == ["7157", "0100"]


def test_files_read_are_recorded(write):
    write("d/s1ReadsPerGene.out.tab", STAR + "G1\t100\t2\t98\n")
    write(
        "d/s1Log.final.out",
        "                          Started job on |\tNov 01 10:00:00\n   Number of input reads |\t120\n",
    )
    sheet = write("sheet.tsv", "sample\tpath\nA\td/s1ReadsPerGene.out.tab\n")
    adata = load_dataset(None, sheet)
    files = [Path(f).name for f in adata.uns["input"]["files"]]
    assert files == ["s1ReadsPerGene.out.tab", "s1Log.final.out"]
    assert adata.obs.loc["A", "tool_star_input_reads"] == 120


def test_star_samples_with_different_strandedness_are_flagged(write, caplog):
    a = write("aReadsPerGene.out.tab", STAR + "G1\t100\t2\t98\n")
    b = write("bReadsPerGene.out.tab", STAR + "G1\t100\t97\t3\n")
    with caplog.at_level("WARNING"):
        t = read_count_files([a, b])
    assert t.counts.loc["G1"].tolist() == [98, 97]
    assert any("differ in strandedness" in n for n in t.notes)
    assert "differ in strandedness" in caplog.text
    forced = read_count_files([a, b], options=ReadOptions(strandedness="unstranded"))
    assert forced.counts.loc["G1"].tolist() == [100, 100]


def test_inspect_nfcore_transcripts_and_tpm_as_is(write):
    from mscseq.io.inspect import inspect_file

    tx = write(
        "salmon.merged.transcript_counts.tsv",
        "tx\tgene_id\tS1\nT1\tG1\t1.5\nT2\tG1\t2\nT3\tG2\t4\n",
    )
    info = inspect_file(tx)
    assert (info["format"], info["n_features"], info["integer_counts"]) == ("nfcore", 2, False)
    assert info["library_sizes"] == {"S1": 7.5}
    tpm = write(
        "salmon.merged.gene_tpm.tsv",
        "gene_id\tgene_name\tS1\nENSG1\tA\t500000.5\nENSG2\tB\t499999.5\n",
    )
    assert inspect_file(tpm)["library_sizes"] == {"S1": 1_000_000}
