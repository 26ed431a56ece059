import json

import numpy as np
import pandas as pd
import pytest

from mscseq.comparability import run_comparability
from mscseq.outputs import dump_json

# The DESeq2 engine's lowess (independent filtering) divides 0/0 when all residuals are zero; reported to
# its owner. It does not change the results (those weights are discarded).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")


@pytest.fixture(scope="module")
def grouped(example_adata):
    a = example_adata.copy()
    block = run_comparability(a, group="cohort", reference="A", permutations=199, design="~ 1")
    return a, block


def test_block_is_plain_json_and_complete(grouped):
    a, block = grouped
    text = dump_json(block)
    assert json.loads(text) == block
    for key in (
        "verdict",
        "question",
        "reasons",
        "rule",
        "protocol",
        "comparisons",
        "single_group",
        "products",
        "sensitivity",
        "confounders",
        "settle",
        "caveats",
        "descriptive",
        "panels",
        "quality_range",
        "settings",
    ):
        assert key in block
    for key in ("similarity", "permanova", "permdisp", "variance_partition"):
        assert key in block["descriptive"]
    (comparison,) = block["comparisons"]
    assert (comparison["target"], comparison["reference"]) == ("B", "A")
    assert a.uns["comparability"] is block


def test_contaminated_product_is_the_only_deviating_one(grouped):
    _, block = grouped
    status = {p["product"]: p["status"] for p in block["products"]}
    assert [s for s, v in status.items() if v == "deviating"] == ["P09"]
    assert set(status.values()) == {"conforming", "deviating"}
    assert block["verdict"] == "not_comparable"
    assert "P09" in block["reasons"][0]
    p09 = next(p for p in block["products"] if p["product"] == "P09")
    assert any("PTPRC" in f for f in p09["flags"])
    assert block["sensitivity"]["excluded"] == ["P09"]


def test_cohorts_equivalent_without_the_outlier(example_adata):
    from mscseq.explore import explore
    from mscseq.normalize import normalize

    a = example_adata[example_adata.obs_names != "P09"].copy()
    normalize(a)
    explore(a)
    block = run_comparability(a, group="cohort", reference="A", permutations=199)
    (c,) = block["comparisons"]
    assert c["tier2"]["n_beyond"] == 0
    assert c["tier2"]["result"] == "pass"
    assert c["tier1"]["result"] == "pass"
    assert not [p for p in block["products"] if p["status"] == "deviating"]
    assert block["verdict"] in {"comparable", "inconclusive"}
    assert block["descriptive"]["permanova"]["n_samples"] == 14


def test_no_group_and_deterministic(example_adata):
    a, b = example_adata.copy(), example_adata.copy()
    x = run_comparability(a, permutations=99)
    y = run_comparability(b, permutations=99)
    assert dump_json(x) == dump_json(y)
    assert x["question"] == "single_group" and x["comparisons"] == []
    assert x["single_group"] is not None and x["descriptive"]["permanova"] is None
    assert any("one product per donor" in c for c in x["caveats"])
    assert x["verdict"] == "not_comparable"  # P09


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_data_inconclusive_not_crash(example_adata, n):
    a = example_adata[["P01", "P07", "P02"][:n]].copy()
    del a.obsm["X_pca"]
    block = run_comparability(a, group="cohort" if n >= 2 else None, permutations=49)
    assert block["verdict"] == "inconclusive"
    assert block["reasons"]
    json.loads(dump_json(block))


def test_variance_partition_with_replicates(licensing_dir):
    from mscseq.explore import explore
    from mscseq.io import load_dataset
    from mscseq.normalize import normalize
    from mscseq.qc import compute_qc

    a = load_dataset([licensing_dir / "counts.tsv.gz"], licensing_dir / "samples.tsv")
    compute_qc(a)
    normalize(a)
    explore(a)
    block = run_comparability(
        a,
        group="condition",
        reference="control",
        design="~ donor + condition",
        permutations=99,
    )
    vp = block["descriptive"]["variance_partition"]
    assert vp["donor"] == "donor" and vp["fixed"] == ["condition"]
    assert vp["fractions"]["donor"]["median"] > 0.3
    assert block["descriptive"]["permanova"]["scheme"] == "within_blocks"
    assert block["verdict"] == "not_comparable"  # IFN-γ licensing moves genes far beyond 1 log2
    frac = a.uns["comparability_tables"]["variance_partition"]
    assert np.allclose(frac[["condition", "donor", "residual"]].sum(axis=1), 1.0)
    assert isinstance(frac, pd.DataFrame)


def test_variability_margins_use_the_biological_sd(example_adata, tmp_path):
    """k·σ_R margins from the reference products' scores, with the scores' technical SD removed."""
    a = example_adata.copy()
    path = tmp_path / "protocol.yaml"
    path.write_text("variability_margins:\n  enabled: true\n  k: 1.5\n  floor: 0.01\n  cap: 5\n")
    block = run_comparability(a, group="cohort", reference="A", protocol=path, descriptive=False)
    margins = block["settings"]["margins_from_reference"]
    scores = a.uns["comparability_tables"]["panel_scores"]
    assert set(margins) >= {"isct_identity", "licensing_potency"}
    ref = (a.obs["cohort"].astype(str) == "A").to_numpy()
    for panel, margin in margins.items():
        sd_total = float(np.std(scores[panel].to_numpy()[ref], ddof=1))
        # the technical part is removed: strictly below 1.5 SD of the scores, and a small part only
        assert 0.9 * 1.5 * sd_total < margin < 1.5 * sd_total
