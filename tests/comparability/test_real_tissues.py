"""Real data: MSC-like cells of six tissues, three donors each (Kuchur, Lobov et al.; ../shared/data).

Products from different tissues of origin must come out ``not_comparable``; technical-replicate halves of
the same products must not.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mscseq.comparability import run_comparability

pytestmark = [
    pytest.mark.shared,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning"),
]

FOLDER = "msc_six_sources_osteogenic_kuchur_lobov"


@pytest.fixture(scope="module")
def kuchur(shared_data):
    """Counts of the undifferentiated (48 h) samples and the sample table, replicates and their sums."""
    d = shared_data / FOLDER
    sheet = pd.read_csv(d / "samples_derived_from_column_names.tsv", sep="\t")
    sheet = sheet[sheet["condition"] == "48h.undif"].copy()
    sheet["tissue"] = sheet["file"].str.replace("_transcriptomes_total.csv.gz", "", regex=False)
    counts = pd.concat(
        [
            pd.read_csv(d / f, index_col=0)[list(g["sample"])]
            for f, g in sheet.groupby("file", sort=True)
        ],
        axis=1,
    )
    products = sheet.groupby("collapse_group", sort=True).agg(
        tissue=("tissue", "first"), donor=("donor_id", "first"), samples=("sample", list)
    )
    summed = pd.DataFrame({p: counts[r.samples].sum(axis=1) for p, r in products.iterrows()})
    return counts, sheet.set_index("sample"), summed, products


def _adata(counts: pd.DataFrame, obs: pd.DataFrame) -> ad.AnnData:
    from mscseq.explore import explore
    from mscseq.normalize import normalize
    from mscseq.qc import compute_qc

    counts = counts[counts.sum(axis=1) >= 10]
    a = ad.AnnData(
        X=counts.T.to_numpy(dtype=np.float64),
        obs=obs.loc[counts.columns].astype(str),
        var=pd.DataFrame({"gene_name": [""] * len(counts)}, index=counts.index.astype(str)),
    )
    compute_qc(a)
    normalize(a)
    explore(a)
    return a


def test_six_tissues_single_group_not_comparable(kuchur):
    """The seed study's question on 18 undifferentiated products of six tissues, no --group: a clear no."""
    _, _, summed, products = kuchur
    a = _adata(summed, products[["tissue", "donor"]])
    block = run_comparability(a, permutations=0)
    assert block["question"] == "single_group"
    assert block["verdict"] == "not_comparable"
    single = block["single_group"]
    assert single["split"]["result"] == "fail" or single["spread"]["result"] == "fail"


def test_six_tissues_groups_not_comparable(kuchur):
    _, _, summed, products = kuchur
    a = _adata(summed, products[["tissue", "donor"]])
    block = run_comparability(a, group="tissue", reference="fat", permutations=199)
    assert block["verdict"] == "not_comparable"
    assert len(block["comparisons"]) == 5
    assert block["descriptive"]["permanova"]["p_value"] <= 0.01


@pytest.mark.parametrize(("ref", "other"), [("fat", "pk"), ("pk", "fat")])
def test_tissue_pairs_not_comparable(kuchur, ref, other):
    """Adipose vs Wharton's-jelly (pk) products: not_comparable whichever level is the reference."""
    _, _, summed, products = kuchur
    keep = products.index[products["tissue"].isin([ref, other])]
    a = _adata(summed[keep], products.loc[keep, ["tissue", "donor"]])
    block = run_comparability(a, group="tissue", reference=ref, permutations=0)
    assert block["verdict"] == "not_comparable"


def test_replicate_halves_never_not_comparable(kuchur):
    """Technical-replicate halves of the same products (paired by product) are never not_comparable."""
    counts, sheet, _, _ = kuchur
    both = sheet.groupby("collapse_group").filter(lambda g: len(g) == 2)
    obs = both[["tissue", "donor_id", "collapse_group", "tech_replicate"]].astype(str)
    a = _adata(counts[list(both.index)], obs)
    block = run_comparability(
        a, group="tech_replicate", reference="1", pair="collapse_group", permutations=0
    )
    assert block["verdict"] != "not_comparable"
    (c,) = block["comparisons"]
    assert c["tier1"]["result"] != "fail"
    assert c["tier2"]["result"] != "fail"
    # the halves without pairing are not_comparable-free too
    unpaired = run_comparability(a, group="tech_replicate", reference="1", permutations=0)
    assert unpaired["verdict"] != "not_comparable"
