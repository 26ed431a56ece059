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


def test_six_tissues_not_comparable(kuchur):
    _, _, summed, products = kuchur
    a = _adata(summed, products[["tissue", "donor"]])
    block = run_comparability(a, group="tissue", reference="fat", engine="mscseq", permutations=999)
    assert block["verdict"] == "not_comparable"
    beyond = [c for c in block["metrics"]["contrasts"] if c["n_beyond_margin"] >= 10]
    assert len(beyond) >= 3  # most tissues differ from adipose MSC beyond two-fold in many genes
    assert block["permanova"]["p_value"] <= 0.01


@pytest.mark.parametrize(("ref", "other"), [("fat", "pk"), ("fat", "ob"), ("pulp", "pk")])
def test_tissue_pairs_not_comparable(kuchur, ref, other):
    _, _, summed, products = kuchur
    keep = products.index[products["tissue"].isin([ref, other])]
    a = _adata(summed[keep], products.loc[keep, ["tissue", "donor"]])
    block = run_comparability(a, group="tissue", reference=ref, engine="mscseq", permutations=199)
    assert block["verdict"] == "not_comparable"


def test_replicate_halves_not_not_comparable(kuchur):
    counts, sheet, _, _ = kuchur
    both = sheet.groupby("collapse_group").filter(lambda g: len(g) == 2)
    obs = both[["tissue", "donor_id", "collapse_group", "tech_replicate"]].astype(str)
    a = _adata(counts[list(both.index)], obs)
    block = run_comparability(
        a,
        group="tech_replicate",
        reference="1",
        engine="mscseq",
        design="~ collapse_group + tech_replicate",
        permutations=199,
    )
    assert block["verdict"] != "not_comparable"
    (c,) = block["metrics"]["contrasts"]
    assert c["n_beyond_margin"] == 0
