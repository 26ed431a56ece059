import gzip

import numpy as np
import pandas as pd
import pytest

from mscseq.comparability import panels as pnl
from mscseq.errors import MscseqError


def test_builtin_panels_complete():
    df = pnl.builtin_panels()
    assert set(df["panel"]) == set(pnl.BUILTIN_PANELS)
    isct = df[df["panel"] == "isct_identity"]
    positive = set(isct.loc[isct["direction"] == "positive", "symbol"])
    # the ISCT markers and the four established positive surface markers (CD44, CD29, CD166, CD13)
    assert positive == {"NT5E", "THY1", "ENG", "CD44", "ITGB1", "ALCAM", "ANPEP"}
    assert {"PTPRC", "CD34", "CD14", "ITGAM", "CD79A", "CD19", "HLA-DRA"} <= set(isct["symbol"])
    pot = set(df.loc[df["panel"] == "licensing_potency", "symbol"])
    assert {
        "IDO1",
        "PTGS2",
        "TNFAIP6",
        "HGF",
        "CD274",
        "HLA-G",
        "TGFB1",
        "IL6",
        "LIF",
        "CXCL9",
        "CXCL10",
        "STAT1",
        "IRF1",
    } <= pot
    assert {"CDKN2A", "CDKN1A"} <= set(df.loc[df["panel"] == "senescence", "symbol"])
    assert df["gene_id"].str.match(r"^ENSG\d{11}$").all()
    assert not df.duplicated(["panel", "gene_id"]).any()


@pytest.mark.shared
def test_builtin_ids_match_symbols_in_ensembl_annotation(shared_data):
    """Every Ensembl ID ↔ symbol pair agrees with the GSE224190 annotation (Ensembl ID, Symbol)."""
    path = shared_data / "ucmsc_cytokine_primed_GSE224190_FPKM" / "GSE224190_gene_FPKM.txt.gz"
    with gzip.open(path, "rt") as fh:
        ann = pd.read_csv(fh, sep="\t", usecols=["id", "Symbol"], dtype=str)
    lookup = dict(zip(ann["id"], ann["Symbol"], strict=True))
    df = pnl.builtin_panels()
    bad = [
        (g, s, lookup.get(g))
        for g, s in zip(df["gene_id"], df["symbol"], strict=True)
        if lookup.get(g) != s
    ]
    assert bad == []


def test_match_by_id_with_version_or_symbol():
    panels = pd.DataFrame(
        {
            "gene_id": ["ENSG00000135318", "", "ENSG00000000001"],
            "symbol": ["NT5E", "THY1", "ENG"],
            "panel": "p",
            "direction": "positive",
            "note": "",
        }
    )
    m = pnl.match_genes(panels, ["ENSG00000135318.12", "X1", "X2"], ["", "THY1", "ENG"])
    assert m["index"].tolist() == [0, 1, 2]


def test_user_panel_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("gene\tpanel\nA\tp\n")
    with pytest.raises(MscseqError, match=r"bad\.tsv: a panel needs a 'gene_id' or a 'symbol'"):
        pnl.read_panel(bad)
    bad.write_text("symbol\tpanel\tdirection\nA\tp\tup\n")
    with pytest.raises(MscseqError, match="unknown direction"):
        pnl.read_panel(bad)
    bad.write_text("symbol\tpanel\nA\t\n")
    with pytest.raises(MscseqError, match="line 2 has an empty 'panel'"):
        pnl.read_panel(bad)
    with pytest.raises(MscseqError, match="not found"):
        pnl.read_panel(tmp_path / "missing.tsv")
    good = tmp_path / "good.tsv"
    good.write_text("gene_id\tsymbol\tpanel\n\tIDO1\tmy_potency\nENSG00000131203.5\t\tmy_potency\n")
    df = pnl.load_panels([good])
    assert "my_potency" in set(df["panel"])
    assert df["gene_id"].iloc[-1] == "ENSG00000131203"


def test_scores_flags_and_quality_range():
    rng = np.random.default_rng(0)
    n = 8
    symbols = ["NT5E", "THY1", "ENG", "PTPRC", "IDO1"]
    panels = pnl.match_genes(pnl.builtin_panels(), [f"G{i}" for i in range(5)], symbols)
    norm = np.tile([3000.0, 3000.0, 2000.0, 2.0, 20.0], (n, 1)) * rng.uniform(0.9, 1.1, (n, 5))
    norm[2, 3] = 80.0  # PTPRC carry-over in product 2
    vst = np.log2(norm + 1)
    flags = pnl.marker_flags(norm, panels, [f"s{i}" for i in range(n)])
    assert list(flags) == ["s2"]
    assert "PTPRC" in flags["s2"][0] and "IFN-γ licensing" in flags["s2"][0]
    scores = pnl.panel_scores(vst, panels)
    assert scores["isct_identity"].idxmin() == 2
    qr = pnl.quality_range(
        vst, panels, np.array([True] * 4 + [False] * 4), [f"s{i}" for i in range(n)]
    )
    assert qr["n_reference"] == 4 and len(qr["products"]) == 4
    assert (
        pnl.quality_range(vst, panels, np.array([True] * 2 + [False] * 6), list("abcdefgh")) is None
    )
