"""Gene sets of the comparability tiers (exclusions, Tier-2 genes, spread genes), sex inference, at_rest."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscseq.comparability import genesets, sex
from mscseq.comparability import panels as pnl
from mscseq.errors import MscseqError

XIST, TSIX, RPS4Y1, DDX3Y = (
    "ENSG00000229807",
    "ENSG00000270641",
    "ENSG00000129824",
    "ENSG00000067048",
)


def test_excluded_table_is_well_formed() -> None:
    table = genesets.excluded_genes()
    assert list(table.columns) == ["gene_id", "symbol", "reason", "note"]
    assert set(table["reason"]) == set(genesets.EXCLUSION_CLASSES)
    assert (table["symbol"] != "").all()
    ids = table.loc[table["gene_id"] != "", "gene_id"]
    assert ids.str.match(r"^ENSG\d{11}$").all()
    assert not ids.duplicated().any()
    assert (table["note"] != "").all()
    need = {
        "sex": {
            "XIST",
            "TSIX",
            "RPS4Y1",
            "DDX3Y",
            "KDM5D",
            "UTY",
            "EIF1AY",
            "USP9Y",
            "ZFY",
            "KDM5C",
            "KDM6A",
            "DDX3X",
            "EIF1AX",
            "RPS4X",
            "ZFX",
            "USP9X",
        },
        "hla": {"HLA-A", "HLA-B", "HLA-C", "HLA-DRA", "HLA-DRB1", "HLA-DQA1", "HLA-DPB1"},
        "genotype": {"GSTM1", "GSTT1", "UGT2B17", "GSTT2B", "LILRA3"},
        "cnv": {"C4A", "C4B"},
    }
    for reason, symbols in need.items():
        assert symbols <= set(table.loc[table["reason"] == reason, "symbol"]), reason


def test_exclusion_by_id_with_version_by_symbol_and_by_hla_prefix() -> None:
    ids = [f"{XIST}.7", "ENSG00000134184", "G1", "G2", "ENSG00000244731", "G3", "ENSG00000000003"]
    names = ["", "", "hla-a", "HLA-DQA1-AS1", "", "UGT2B17", "TSPAN6"]
    reasons = genesets.exclusion_reasons(ids, names)
    assert reasons.tolist() == ["sex", "genotype", "hla", "hla", "cnv", "genotype", ""]
    # symbols as IDs (salmon merged tables keyed by symbol), no names
    assert genesets.exclusion_reasons(["XIST", "HLA-B", "GSTT1", "ACTB"], None).tolist() == [
        "sex",
        "hla",
        "genotype",
        "",
    ]


def test_exclusion_of_par_y_rows_and_empty_input() -> None:
    assert genesets.exclusion_reasons([f"{RPS4Y1}.5_PAR_Y"], [""]).tolist() == ["sex"]
    assert genesets.exclusion_reasons([], []).tolist() == []


def toy(n: int = 8) -> tuple[np.ndarray, list[str], list[str]]:
    ids = [
        "ENSG00000000003",
        XIST,
        "ENSG00000206503",
        "ENSG00000134184",
        "ENSG00000111640",
        "ENSG00000075624",
    ]
    names = ["TSPAN6", "XIST", "HLA-A", "GSTM1", "GAPDH", "ACTB"]
    means = np.array([100.0, 500.0, 800.0, 300.0, 20.0, 1000.0])
    norm = np.tile(means, (n, 1))
    return norm, ids, names


def test_tier2_genes_pooled_filter_minus_exclusions() -> None:
    norm, ids, names = toy()
    assert genesets.tier2_genes(norm, ids, names, min_mean=50).tolist() == [0, 5]
    # exclusions follow the protocol's tier2.exclude
    assert genesets.tier2_genes(norm, ids, names, min_mean=50, exclude=["sex"]).tolist() == [
        0,
        2,
        3,
        5,
    ]
    assert genesets.tier2_genes(norm, ids, names, min_mean=50, exclude=[]).tolist() == [
        0,
        1,
        2,
        3,
        5,
    ]
    with pytest.raises(MscseqError, match="unknown exclusion class"):
        genesets.tier2_genes(norm, ids, names, min_mean=50, exclude=["eyes"])


def test_tier2_genes_never_depend_on_groups() -> None:
    """A gene switched on in half the products only (one group) is kept when the pooled mean passes."""
    norm, ids, names = toy()
    norm[:4, 4] = 0.0
    norm[4:, 4] = 120.0  # pooled mean 60 >= 50, although one group has none of it
    assert 4 in genesets.tier2_genes(norm, ids, names, min_mean=50)


def test_tier2_genes_from_a_list() -> None:
    norm, ids, names = toy()
    # the list replaces the expression filter (GAPDH at mean 20 is kept) but not the exclusions (XIST)
    got = genesets.tier2_genes(
        norm, ids, names, min_mean=50, gene_list=["gapdh", "XIST", "ENSG00000000003.9"]
    )
    assert got.tolist() == [0, 4]


def test_read_gene_list(tmp_path: Path) -> None:
    plain = tmp_path / "genes.txt"
    plain.write_text("# my genes\nCOL1A1\n\nENSG00000135318\n")
    assert genesets.read_gene_list(plain) == ["COL1A1", "ENSG00000135318"]
    table = tmp_path / "genes.tsv"
    table.write_text("symbol\tnote\nTHY1\tCD90\nENG\tCD105\n")
    assert genesets.read_gene_list(table) == ["THY1", "ENG"]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(MscseqError, match="holds no genes"):
        genesets.read_gene_list(empty)
    with pytest.raises(MscseqError, match="not found"):
        genesets.read_gene_list(tmp_path / "absent.txt")


def test_well_expressed_list_and_spread_genes() -> None:
    table = genesets.well_expressed_msc()
    assert {"gene_id", "symbol"} <= set(table.columns)
    assert len(table) > 3000
    assert table["gene_id"].str.match(r"^ENSG\d{11}$").all()
    assert (genesets.exclusion_reasons(table["gene_id"], table["symbol"]) == "").all()
    # housekeeping and mesenchymal genes are in it
    assert {"ACTB", "GAPDH", "VIM", "COL1A1", "FN1"} <= set(table["symbol"])
    norm, ids, names = toy()
    # XIST, HLA-A, GSTM1 never; GAPDH too low here; ACTB kept
    got = genesets.spread_genes(norm, ids, names, min_mean=50)
    assert "ENSG00000075624" in np.asarray(ids)[got]
    assert set(np.asarray(ids)[got]) <= set(table["gene_id"])
    assert not {XIST, "ENSG00000206503", "ENSG00000134184", "ENSG00000111640"} & set(
        np.asarray(ids)[got]
    )


def test_speed_is_vectorised_enough() -> None:
    """60,000 genes: one exclusion pass is a few list look-ups per gene (checked by count, not time)."""
    ids = [f"ENSMUSG{i:011d}.1" for i in range(60_000)]
    reasons = genesets.exclusion_reasons(ids, None)
    assert reasons.shape == (60_000,)
    assert (reasons == "").all()


# --- sex ------------------------------------------------------------------------------------------------


def sex_data(
    xist: list[float], chry: list[float], depth: float = 1e6
) -> tuple[np.ndarray, list[str]]:
    ids = [XIST, RPS4Y1, "ENSG00000075624"]
    x = np.array([[a, b, depth - a - b] for a, b in zip(xist, chry, strict=True)])
    return x, ids


def test_infer_sex_calls_and_columns() -> None:
    # CPM: female 300 XIST / 0 chrY; male 0 / 100; both high; both low; shallow male; shallow female
    x, ids = sex_data([300, 0, 300, 1, 0, 300], [0, 100, 100, 1, 300, 0])
    x[4] *= (
        0.05  # 50,000 reads: 15 chrY reads, but a female's XIST would give < 5 reads: no male call
    )
    x[5] *= 0.01  # 10,000 reads: 3 XIST reads < 5
    got = sex.infer_sex(x, ids, None, ["f", "m", "both", "none", "shallow_m", "shallow_f"])
    assert got["sex"].tolist() == ["female", "male", "unknown", "unknown", "unknown", "unknown"]
    # the raw library sizes decide the evidence when given (here 100x the normalised row sums)
    deeper = sex.infer_sex(x, ids, None, list("abcdef"), library_sizes=x.sum(axis=1) * 100)
    assert deeper["sex"].tolist() == ["female", "male", "unknown", "unknown", "male", "female"]
    assert list(got.columns) == ["xist", "chry", "xist_cpm", "chry_cpm", "sex"]
    assert got.loc["f", "xist"] == pytest.approx(np.log2(301))
    assert got.loc["m", "chry_cpm"] == pytest.approx(100)


def test_infer_sex_uses_tsix_and_symbols() -> None:
    # XIST reads counted on TSIX (the six-tissue data), data keyed by symbols
    ids = ["TSIX", "DDX3Y", "ACTB"]
    x = np.array([[5000.0, 0.0, 1e6], [0.0, 50.0, 1e6]])
    got = sex.infer_sex(x, ids, None, ["a", "b"])
    assert got["sex"].tolist() == ["female", "male"]


def test_infer_sex_without_the_genes_is_unknown() -> None:
    x = np.ones((2, 3)) * 100
    got = sex.infer_sex(x, ["G1", "G2", "G3"], ["A", "B", "C"], ["a", "b"])
    assert (got["sex"] == "unknown").all()


@pytest.mark.shared
def test_infer_sex_on_airway(shared_data: Path) -> None:
    """Airway: donors N61311, N052611, N080611 male; N061011 female (XIST ~150-200 CPM, chrY 1 CPM)."""
    counts = pd.read_csv(
        shared_data / "airway_himes2014_GSE52778" / "airway_cts.tsv.gz", sep="\t", index_col=0
    )
    got = sex.infer_sex(counts.to_numpy(float).T, list(counts.index), None, list(counts.columns))
    assert got["sex"].tolist() == ["male"] * 6 + ["female"] * 2


@pytest.mark.shared
def test_infer_sex_on_six_tissue_donors(shared_data: Path) -> None:
    folder = shared_data / "msc_six_sources_osteogenic_kuchur_lobov"
    calls = {}
    for tissue in ("fat", "ob"):
        df = pd.read_csv(folder / f"{tissue}_transcriptomes_total.csv.gz", index_col=0)
        undif = df[[c for c in df.columns if "48h.undif" in c]]
        donors = pd.Index([c.split(".48h")[0] for c in undif.columns])
        summed = undif.T.groupby(donors).sum()
        got = sex.infer_sex(summed.to_numpy(float), list(df.index), None, list(summed.index))
        calls.update(got["sex"].to_dict())
    # MSC.fat.15.31 has 50 k undifferentiated reads: too shallow for the absence of XIST to mean male
    assert calls == {
        "MSC.fat.15.31": "unknown",
        "MSC.fat.15.38": "female",
        "MSC.fat.15.45": "male",
        "OB.d08": "male",
        "OB.d09": "male",
        "OB.d20": "male",
    }


# --- at_rest ------------------------------------------------------------------------------------------


def test_licensing_panel_at_rest_column() -> None:
    df = pnl.builtin_panels()
    assert "at_rest" in df.columns
    lic = df[df["panel"] == "licensing_potency"].set_index("symbol")["at_rest"]
    assert set(lic[lic == "no"].index) == {"IDO1", "CXCL9", "CXCL10", "IL1RN", "CIITA"}
    assert {"STAT1", "IL6", "HGF", "TNFAIP6"} <= set(lic[lic == "yes"].index)
    assert (df.loc[df["panel"] != "licensing_potency", "at_rest"] == "").all()


def test_read_panel_at_rest_values(tmp_path: Path) -> None:
    good = tmp_path / "p.tsv"
    good.write_text("symbol\tpanel\tat_rest\nA\tp\tYes\nB\tp\t\nC\tp\tno\n")
    assert pnl.read_panel(good)["at_rest"].tolist() == ["yes", "", "no"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("symbol\tpanel\tat_rest\nA\tp\tsometimes\n")
    with pytest.raises(MscseqError, match=r"bad\.tsv: unknown at_rest value.*'sometimes'"):
        pnl.read_panel(bad)
    plain = tmp_path / "plain.tsv"
    plain.write_text("symbol\tpanel\nA\tp\n")
    assert pnl.read_panel(plain)["at_rest"].tolist() == [""]


@pytest.mark.shared
def test_excluded_ids_match_symbols_in_ensembl_annotation(shared_data: Path) -> None:
    """Every ID of the exclusion list that GSE224190 annotates carries the same symbol there."""
    path = shared_data / "ucmsc_cytokine_primed_GSE224190_FPKM" / "GSE224190_gene_FPKM.txt.gz"
    with gzip.open(path, "rt") as fh:
        ann = pd.read_csv(fh, sep="\t", usecols=["id", "Symbol"], dtype=str)
    lookup = dict(zip(ann["id"], ann["Symbol"], strict=True))
    table = genesets.excluded_genes()
    checked = [
        (g, s) for g, s in zip(table["gene_id"], table["symbol"], strict=True) if g in lookup
    ]
    assert len(checked) >= 60
    assert [(g, s, lookup[g]) for g, s in checked if lookup[g] != s] == []
