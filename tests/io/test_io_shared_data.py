"""Every real example in ../shared/data read and inspected (skipped where the folder is absent)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from mscseq.errors import MscseqError
from mscseq.io import load_dataset, read_count_files, read_counts
from mscseq.io.inspect import inspect_file
from mscseq.io.readers import ReadOptions

pytestmark = pytest.mark.shared


def test_airway_matrix(shared_data):
    t = read_counts(shared_data / "airway_himes2014_GSE52778/airway_cts.tsv.gz")
    assert t.counts.shape == (64102, 8)
    assert t.counts.loc["ENSG00000000003"].tolist() == [679, 448, 873, 408, 1138, 1047, 770, 572]
    sums = [20637971, 18809481, 25348649, 15163415, 24448408, 30818215, 19126151, 21164133]
    assert t.counts.sum().tolist() == sums
    assert t.counts.index[-1].startswith("LRG_")


def test_airway_with_its_metadata(shared_data):
    d = shared_data / "airway_himes2014_GSE52778"
    adata = load_dataset(
        [d / "airway_cts.tsv.gz"],
        d / "airway_metadata.tsv",
        sample_column="ID",
        required_columns=["cell", "dex"],
    )
    assert adata.shape == (8, 64102)
    assert list(adata.obs["dex"].astype(str)) == ["untrt", "trt"] * 4


def test_pasilla_matrix(shared_data):
    t = read_counts(shared_data / "pasilla_brooks2011/pasilla_gene_counts.tsv.gz")
    assert t.counts.shape == (14599, 7)
    assert t.counts.sum().tolist() == [
        13972512,
        21911438,
        8358426,
        9841335,
        18670279,
        9571826,
        10343856,
    ]


def test_msc_six_sources_from_sheet_file_column(shared_data):
    """The six per-tissue matrices named in the sheet's 'file' column, each read once, 102 samples."""
    d = shared_data / "msc_six_sources_osteogenic_kuchur_lobov"
    adata = load_dataset(
        None,
        d / "samples_derived_from_column_names.tsv",
        path_column="file",
        required_columns=["donor_id", "condition"],
    )
    assert adata.shape == (102, 61533)
    sums = adata.X.sum(axis=1)
    assert 25_000 < sums.min() and sums.max() < 181_000
    par = [g for g in adata.var_names if g.endswith("_PAR_Y")]
    assert len(par) == 46 and all("." not in g for g in par)
    assert not adata.var_names.has_duplicates


@pytest.mark.parametrize("tissue", ["fat", "gf", "ligament", "ob", "pk", "pulp"])
def test_msc_each_file(shared_data, tissue):
    t = read_counts(
        shared_data
        / f"msc_six_sources_osteogenic_kuchur_lobov/{tissue}_transcriptomes_total.csv.gz"
    )
    assert t.counts.shape[0] == 61533 and 15 <= t.counts.shape[1] <= 18
    assert np.array_equal(t.counts.to_numpy(), np.round(t.counts.to_numpy()))


def test_fpkm_is_refused_but_inspectable(shared_data):
    p = shared_data / "ucmsc_cytokine_primed_GSE224190_FPKM/GSE224190_gene_FPKM.txt.gz"
    with pytest.raises(MscseqError, match=r"line 2, column 'ctrl-1_fpkm'.*FPKM"):
        read_counts(p)
    info = inspect_file(p)
    assert info["format"] == "matrix" and info["n_features"] == 20313 and info["n_samples"] == 6
    assert info["integer_counts"] is False and info["gene_names"] is True


def test_nfcore_gsc_add3(shared_data):
    t = read_counts(
        shared_data / "nfcore_salmon_merged_human_GSC_ADD3/salmon.merged.gene_counts.tsv.gz"
    )
    assert t.format == "nfcore" and t.counts.shape == (29744, 10)
    assert any("5622 genes had non-integer" in n for n in t.notes)
    assert t.gene_names["ZYX"] == "ZYX" and "AKAP17A-2" in t.counts.index
    assert abs(t.counts["CBA_001"].sum() - 10.0e6) < 0.1e6


def test_nfcore_srp254919_with_samplesheet(shared_data):
    d = shared_data / "nfcore_SRP254919_mouse_differentialabundance"
    adata = load_dataset(
        [d / "SRP254919.salmon.merged.gene_counts.top1000cov.tsv"],
        d / "SRP254919.samplesheet.csv",
        required_columns=["treatment"],
    )
    assert adata.shape == (6, 1000)
    assert any("333 genes had non-integer" in n for n in adata.uns["input"]["notes"])
    assert adata.var.loc["ENSMUSG00000030324", "gene_name"] == "Rho"
    assert np.array_equal(adata.X, np.round(adata.X))


def test_htseq_sixteen_through_sheet(shared_data, tmp_path):
    d = shared_data / "htseq_count_airway_GSE52778_16samples"
    files = sorted(d.glob("SRR*_all_counts.txt.gz"))
    assert len(files) == 16
    rows = ["sample\tgroup\tpath"] + [
        f"{f.name[:10]}\tg{i % 2}\t{os.path.relpath(f, tmp_path)}" for i, f in enumerate(files)
    ]
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text("\n".join(rows) + "\n")
    adata = load_dataset(None, sheet)
    assert adata.shape == (16, 57773)
    assert adata.obs_names[0] == "SRR1039508"
    assert adata.X[0].sum() == 18_104_038
    assert adata.obs.loc["SRR1039508", "tool_htseq_no_feature"] == 2_048_439
    assert adata.obs.loc["SRR1039508", "tool_htseq_ambiguous"] == 609_790
    assert adata.obs.loc["SRR1039508", "tool_htseq_alignment_not_unique"] == 6_029_848
    assert not any(g.startswith("__") for g in adata.var_names)


def test_featurecounts_hbr_uhr(shared_data):
    t = read_counts(
        shared_data / "formats_featurecounts_star/featurecounts_HBR_UHR_chr22/featureCounts.txt"
    )
    assert t.format == "featurecounts"
    assert list(t.counts.columns) == ["HBR_1", "HBR_2", "HBR_3", "UHR_1", "UHR_2", "UHR_3"]
    assert t.counts.shape == (1378, 6)
    assert t.counts.sum().tolist() == [89293, 108322, 97141, 178591, 114831, 141201]
    assert sum(g.startswith("ERCC-") for g in t.counts.index) == 92


def test_featurecounts_summary_is_qc(shared_data):
    p = shared_data / "formats_featurecounts_star/featurecounts_summary_celegans/counts.txt.summary"
    info = inspect_file(p)
    assert info["format"] == "featurecounts_summary"
    assert info["samples"] == ["EO073", "EO074", "EO075", "EO076", "EO077", "EO078"]
    assert info["qc"]["EO073"]["featurecounts_Assigned"] == 20851466
    assert (
        len(
            [
                k
                for k in info["qc_lines"]
                if k.startswith("featurecounts_") and k != "featurecounts_assigned_fraction"
            ]
        )
        == 14
    )
    with pytest.raises(MscseqError, match="holds QC, not counts"):
        read_counts(p)


def test_star_readspergene(shared_data):
    p = (
        shared_data
        / "formats_featurecounts_star/star_readspergene_streamline/ReadsPerGene.out.tab.gz"
    )
    raw = pd.read_csv(p, sep="\t", header=None, skiprows=4)
    t = read_counts(p, keep_gene_version=True)
    assert t.format == "star" and t.counts.shape == (62836, 1)
    sample = t.counts.columns[0]
    # 28.9 % forward / 71.1 % reverse is undetermined by nf-core's thresholds: the unstranded column is used.
    assert t.qc.loc[sample, "star_strandedness"] == "unstranded"
    assert any("undetermined" in n for n in t.notes)
    assert t.counts[sample].sum() == raw[1].sum()
    assert t.qc.loc[sample, "star_N_unmapped"] == 384537
    assert t.qc.loc[sample, "star_input_reads"] == 14_971_841  # from Log.final.out beside it
    rev = read_counts(p, strandedness="reverse")
    assert rev.counts.iloc[:, 0].sum() == raw[3].sum()
    assert rev.qc.iloc[0]["star_N_noFeature"] == 10898079
    assert t.counts.index[0].startswith("ENSG") and "." in t.counts.index[0]


def test_star_log_inspect(shared_data):
    info = inspect_file(
        shared_data / "formats_featurecounts_star/star_readspergene_streamline/Log.final.out"
    )
    assert info["format"] == "star_log"
    (metrics,) = info["qc"].values()
    assert (
        metrics["Number of input reads"] == 14971841 and metrics["Uniquely mapped reads %"] == 88.86
    )


@pytest.fixture(scope="module")
def tx2gene_v27(shared_data, tmp_path_factory):
    """GENCODE v27 transcript→gene map taken from the RSEM genes.results of the same data set."""
    r = pd.read_csv(
        shared_data / "formats_tximportData_geuvadis/rsem/ERR188297/ERR188297.genes.results.gz",
        sep="\t",
    )
    rows = [
        (t, g)
        for g, ts in zip(r["gene_id"], r["transcript_id(s)"], strict=True)
        for t in ts.split(",")
    ]
    path = tmp_path_factory.mktemp("t2g") / "tx2gene.gencode.v27.tsv"
    pd.DataFrame(rows, columns=["TXNAME", "GENEID"]).to_csv(path, sep="\t", index=False)
    return path


def test_salmon_tximport_matches_reference_computation(shared_data, tx2gene_v27):
    p = shared_data / "formats_tximportData_geuvadis/salmon/ERR188297/quant.sf.gz"
    t = read_counts(p, tx2gene=tx2gene_v27, keep_gene_version=True)
    assert list(t.counts.columns) == ["ERR188297"]
    q = pd.read_csv(p, sep="\t")
    m = pd.read_csv(tx2gene_v27, sep="\t").set_index("TXNAME")["GENEID"]
    q["gene"] = q["Name"].map(m)
    assert q["gene"].notna().all()
    g = q.groupby("gene")
    expect_counts = g["NumReads"].sum().round()
    assert t.counts["ERR188297"].reindex(expect_counts.index).tolist() == expect_counts.tolist()
    tpm = g["TPM"].sum()
    wl = (q["TPM"] * q["EffectiveLength"]).groupby(q["gene"]).sum() / tpm
    expressed = tpm > 0
    got = t.lengths["ERR188297"].reindex(wl.index)
    np.testing.assert_allclose(got[expressed], wl[expressed], rtol=1e-12)
    mean_len = g["EffectiveLength"].mean()
    np.testing.assert_allclose(got[~expressed], mean_len[~expressed], rtol=1e-12)
    assert t.counts.shape == (58288, 1)


def test_kallisto_ensembl_ids_matched_without_versions(shared_data, tx2gene_v27):
    p = shared_data / "formats_tximportData_geuvadis/kallisto_boot/ERR188297/abundance.tsv.gz"
    info = inspect_file(p)
    assert (
        info["format"] == "kallisto"
        and info["level"] == "transcript"
        and info["n_features"] == 178136
    )
    t = read_counts(p, tx2gene=tx2gene_v27)
    assert any("without version suffixes" in n for n in t.notes)
    assert t.counts.shape[0] > 30000
    assert t.counts.index[0].startswith("ENSG") and "." not in t.counts.index[0]


def test_rsem_two_samples(shared_data):
    d = shared_data / "formats_tximportData_geuvadis/rsem"
    files = [d / "ERR188297/ERR188297.genes.results.gz", d / "ERR188088/ERR188088.genes.results.gz"]
    t = read_count_files(files)
    assert list(t.counts.columns) == ["ERR188297", "ERR188088"]
    assert t.counts.shape == (58288, 2)
    assert t.lengths is not None and t.lengths.loc["ENSG00000000419", "ERR188297"] == pytest.approx(
        883.46
    )
    assert t.counts.loc["ENSG00000000419", "ERR188297"] == 1000
    assert any("rounded" in n for n in t.notes)


def test_salmon_drosophila_needs_map(shared_data, tmp_path):
    p = shared_data / "formats_tximportData_geuvadis/salmon_dm/SRR1197474/quant.sf.gz"
    with pytest.raises(MscseqError, match="--tx2gene"):
        read_counts(p)
    info = inspect_file(p)
    assert (info["format"], info["level"], info["n_features"]) == ("salmon", "transcript", 33706)
    assert info["samples"] == ["SRR1197474"]


def test_dexseq_exon_bins_refused_but_inspectable(shared_data):
    p = shared_data / "pasilla_brooks2011/dexseq_exon_counts_per_sample/treated1fb.txt.gz"
    with pytest.raises(MscseqError, match="exon-bin counts"):
        read_counts(p)
    info = inspect_file(p)
    assert info["level"] == "exon" and "dexseq_empty" in info["qc_lines"]


def test_pydeseq2_synthetic_csvs(shared_data):
    base = shared_data / "pydeseq2_synthetic_with_R_reference"
    assert read_counts(base / "datasets/synthetic/test_counts.csv").counts.shape == (10, 100)
    assert read_counts(base / "tests/data/wide/test_counts.csv").counts.shape == (50, 30)
    assert read_counts(
        base / "tests/data/large_counts/test_counts_from_test_code.csv"
    ).counts.shape == (8, 5)


COUNT_FILES = [
    "airway_himes2014_GSE52778/airway_cts.tsv.gz",
    "pasilla_brooks2011/pasilla_gene_counts.tsv.gz",
    "msc_six_sources_osteogenic_kuchur_lobov/pk_transcriptomes_total.csv.gz",
    "nfcore_salmon_merged_human_GSC_ADD3/salmon.merged.gene_counts.tsv.gz",
    "nfcore_SRP254919_mouse_differentialabundance/SRP254919.salmon.merged.gene_counts.top1000cov.tsv",
    "htseq_count_airway_GSE52778_16samples/SRR1039523_all_counts.txt.gz",
    "formats_featurecounts_star/featurecounts_HBR_UHR_chr22/featureCounts.txt",
    "formats_featurecounts_star/star_readspergene_streamline/ReadsPerGene.out.tab.gz",
    "formats_tximportData_geuvadis/rsem/ERR188088/ERR188088.genes.results.gz",
    "formats_tximportData_geuvadis/salmon/ERR188297/quant.sf.gz",
]


@pytest.mark.parametrize("rel", COUNT_FILES)
def test_inspect_agrees_with_reader(shared_data, rel):
    p = shared_data / rel
    info = inspect_file(p)
    assert info["n_features"] > 0 and info["n_samples"] == len(info["samples"])
    if info["level"] == "gene":
        t = read_counts(p, keep_gene_version=True)
        assert info["n_samples"] == t.counts.shape[1]
        assert info["n_features"] == t.counts.shape[0]
        sizes = np.array(list(info["library_sizes"].values()), dtype=float)
        np.testing.assert_allclose(sizes, t.counts.sum().to_numpy(), rtol=1e-6, atol=len(t.counts))


def test_inspect_reports_tool_qc(shared_data):
    info = inspect_file(
        shared_data / "htseq_count_airway_GSE52778_16samples/SRR1039508_all_counts.txt.gz"
    )
    assert info["qc_lines"] == sorted(
        [
            "htseq_no_feature",
            "htseq_ambiguous",
            "htseq_too_low_aQual",
            "htseq_not_aligned",
            "htseq_alignment_not_unique",
        ]
    )


def test_not_count_files_are_refused_clearly(shared_data):
    with pytest.raises(MscseqError, match="zip archive"):
        read_counts(shared_data / "msc_six_sources_osteogenic_kuchur_lobov/RNA-seq_samples.xlsx")
    with pytest.raises(MscseqError, match="not a number"):
        read_counts(shared_data / "airway_himes2014_GSE52778/airway_metadata.tsv")


def test_declared_format_mismatch_on_real_file(shared_data):
    p = shared_data / "htseq_count_airway_GSE52778_16samples/SRR1039508_all_counts.txt.gz"
    with pytest.raises(MscseqError, match="--format star was given but the file looks like htseq"):
        read_count_files([p], options=ReadOptions(format="star"))


def test_msc_excel_sheet(shared_data):
    """The authors' .xlsx sheet reads; its spellings differ from the count columns and the error lists them."""
    d = shared_data / "msc_six_sources_osteogenic_kuchur_lobov"
    from mscseq.io import read_sheet

    sheet = read_sheet(d / "RNA-seq_samples.xlsx")
    assert sheet.shape == (102, 10)
    assert sheet.loc["Pulp.3219.23.48h.undif_1", "Cell_type"] == "DPSCs"
    counts = sorted(d.glob("*_transcriptomes_total.csv.gz"))
    with pytest.raises(
        MscseqError,
        match=r"RNA-seq_samples\.xlsx: \d+ sample\(s\) in the sheet are not in the count files",
    ):
        load_dataset(counts, d / "RNA-seq_samples.xlsx")
