"""Products, not libraries: ``--product`` sums a product's libraries before any statistic; without it,
replicate libraries raise a caveat naming the option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mscseq.errors import MscseqError
from mscseq.products import collapse_products, replicate_caveat, replicate_columns
from mscseq.schemas import validate_summary

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "test_data" / "example"
ARGS = ["--design", "~ cohort", "--contrast", "cohort,B,A", "--group", "cohort", "--reference", "A"]


def mscseq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args], capture_output=True, text=True, check=False
    )


def split_study(folder: Path, seed: int = 3) -> tuple[Path, Path, Path]:
    """The example study with a ``product`` column, and the same study with each product split into 2–4
    libraries by binomial thinning (integer counts summing exactly to the product's)."""
    folder.mkdir()
    counts = pd.read_csv(EXAMPLE / "counts.tsv.gz", sep="\t")
    sheet = pd.read_csv(EXAMPLE / "samples.tsv", sep="\t", dtype=str)
    sheet["product"] = sheet["sample"]
    whole_sheet = folder / "whole.tsv"
    sheet.to_csv(whole_sheet, sep="\t", index=False)
    rng = np.random.default_rng(seed)
    out = counts[["gene_id", "gene_name"]].copy()
    rows = []
    for _, r in sheet.iterrows():
        left = counts[r["sample"]].to_numpy(dtype=np.int64)
        k = int(rng.integers(2, 5))
        for j in range(k):
            part = left if j == k - 1 else rng.binomial(left, 1.0 / (k - j))
            left = left - part
            lib = f"{r['sample']}_L{j + 1}"
            out[lib] = part
            rows.append({**r.to_dict(), "sample": lib, "lane": f"L{j + 1}"})
    split_counts = folder / "split_counts.tsv"
    out.to_csv(split_counts, sep="\t", index=False)
    split_sheet = folder / "split.tsv"
    pd.DataFrame(rows).to_csv(split_sheet, sep="\t", index=False)
    return whole_sheet, split_counts, split_sheet


def _tables(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "tables").glob("*.tsv"))}


def test_split_products_give_identical_results(tmp_path):
    whole_sheet, split_counts, split_sheet = split_study(tmp_path / "in")
    whole, split = tmp_path / "whole", tmp_path / "split"
    common = [*ARGS, "--product", "product", "--no-report", "--quiet"]
    p1 = mscseq(
        "compare",
        str(EXAMPLE / "counts.tsv.gz"),
        "--samples",
        str(whole_sheet),
        "-o",
        str(whole),
        *common,
    )
    p2 = mscseq(
        "compare", str(split_counts), "--samples", str(split_sheet), "-o", str(split), *common
    )
    assert p1.returncode == 0, p1.stderr
    assert p2.returncode == 0, p2.stderr
    t1, t2 = _tables(whole), _tables(split)
    libraries = pd.read_csv(split / "tables" / "libraries.tsv", sep="\t")
    assert len(libraries) > 30 and set(libraries["product"]) == set(
        pd.read_csv(whole_sheet, sep="\t")["sample"]
    )
    t1.pop("libraries.tsv"), t2.pop("libraries.tsv")
    assert t1.keys() == t2.keys() and {"tier1.tsv", "tier2_B_vs_A.tsv", "products.tsv"} <= t1.keys()
    for name in t1:
        assert t1[name] == t2[name], name
    s1 = json.loads((whole / "summary.json").read_text())
    s2 = json.loads((split / "summary.json").read_text())
    assert s1["dimensions"]["n_libraries"] == 15 == s1["dimensions"]["n_products"]
    assert (
        s2["dimensions"]["n_libraries"] == len(libraries) and s2["dimensions"]["n_products"] == 15
    )
    assert s2["products"]["libraries"]["P01"][0] == "P01_L1"
    assert s2["products"]["dropped_columns"] == ["lane"]
    validate_summary(s2)
    for s in (s1, s2):
        s["dimensions"].pop("n_libraries"), s.pop("products"), s.pop("mscseq_version")
    assert s1 == s2
    assert len(s2["comparability"]["products"]) == 15
    assert sum(s2["comparability"]["settings"]["levels"].values()) == 15
    params = json.loads((split / "run_info.json").read_text())["parameters"]
    assert params["product"] == "product"  # v2 appends protocol, batch and pair after it


def test_split_without_product_raises_the_caveat(tmp_path):
    _, split_counts, split_sheet = split_study(tmp_path / "in")
    out = tmp_path / "out"
    proc = mscseq(
        "compare",
        str(split_counts),
        "--samples",
        str(split_sheet),
        "-o",
        str(out),
        *ARGS,
        "--no-report",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    block = json.loads((out / "summary.json").read_text())["comparability"]
    caveats = block["caveats"]
    hits = [c for c in caveats if "--product product" in c]
    assert len(hits) == 1, caveats
    assert "'donor'" in hits[0]  # donor and product both name the products here
    # the screen's peers would hold each library's own siblings: no library is screened, so the set can
    # be neither comparable nor not comparable through its products, and the answer says how to fix it
    assert {p["status"] for p in block["products"]} == {"not_assessable"}
    assert all("--product donor" in p["note"] for p in block["products"])
    assert block["verdict"] != "comparable"
    assert any("rerun with --product donor" in s for s in block["settle"])


def test_example_has_no_replicate_caveat(example_adata):
    from mscseq.comparability import run_comparability

    block = run_comparability(example_adata.copy(), group="cohort", reference="A", permutations=99)
    assert not any("--product" in c for c in block["caveats"])
    block = run_comparability(
        example_adata.copy(), permutations=0
    )  # no group: sex, passage are candidates
    assert not any("--product" in c for c in block["caveats"])


def test_group_varying_within_a_product_is_refused(tmp_path):
    _, split_counts, split_sheet = split_study(tmp_path / "in")
    sheet = pd.read_csv(split_sheet, sep="\t", dtype=str)
    sheet.loc[sheet["sample"] == "P03_L2", "cohort"] = "B"
    sheet.to_csv(split_sheet, sep="\t", index=False)
    out = tmp_path / "out"
    proc = mscseq(
        "compare",
        str(split_counts),
        "--samples",
        str(split_sheet),
        "-o",
        str(out),
        *ARGS,
        "--product",
        "product",
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "'cohort'" in lines[0] and "'P03'" in lines[0] and str(split_sheet) in lines[0]
    assert not out.exists()


def test_missing_product_column_is_refused(tmp_path):
    out = tmp_path / "out"
    proc = mscseq(
        "compare",
        str(EXAMPLE / "counts.tsv.gz"),
        "--samples",
        str(EXAMPLE / "samples.tsv"),
        "-o",
        str(out),
        "--product",
        "batchx",
    )
    assert proc.returncode == 2
    assert "batchx" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def _adata(x: np.ndarray, obs: pd.DataFrame) -> ad.AnnData:
    return ad.AnnData(
        X=x.astype(np.float64),
        obs=obs,
        var=pd.DataFrame(index=[f"G{i}" for i in range(x.shape[1])]),
    )


def test_collapse_sums_in_first_library_order():
    x = np.arange(24).reshape(6, 4)
    obs = pd.DataFrame(
        {
            "lot": ["b", "a", "b", "c", "a", "c"],
            "site": ["s", "t", "s", "u", "t", "u"],
            "lane": list("121212"),
        },
        index=pd.Index([f"L{i}" for i in range(6)], name="sample"),
    ).astype("category")
    out = collapse_products(_adata(x, obs), "lot", keep_constant=["site"])
    assert list(out.obs_names) == ["b", "a", "c"]
    np.testing.assert_array_equal(out.X, [x[0] + x[2], x[1] + x[4], x[3] + x[5]])
    assert list(out.obs.columns) == ["lot", "site"]  # lane varies within a lot: dropped
    assert out.uns["products"]["dropped_columns"] == ["lane"]
    assert list(out.uns["products"]["library_qc"]["library_size"]) == list(x.sum(axis=1))
    with pytest.raises(MscseqError, match="'lane' differs between the libraries of product 'a'"):
        collapse_products(_adata(x, obs), "lot", keep_constant=["lane"])


def test_collapse_refuses_an_empty_product():
    obs = pd.DataFrame({"lot": ["a", None, "a"]}, index=["x", "y", "z"])
    with pytest.raises(MscseqError, match="library 'y' has no value"):
        collapse_products(_adata(np.ones((3, 2)), obs), "lot")


def _replicated(
    seed: int, *, libraries: int, products: int = 8, genes: int = 400, bio_sd: float = 0.35
):
    """Log-scale profiles: products differ by ``bio_sd`` per gene, libraries of one product by noise 0.1."""
    rng = np.random.default_rng(seed)
    base = rng.normal(8, 2, genes)
    prod = base + rng.normal(0, bio_sd, (products, genes))
    rows = np.repeat(prod, libraries, axis=0) + rng.normal(0, 0.1, (products * libraries, genes))
    obs = pd.DataFrame(
        {
            "donor": np.repeat([f"D{i}" for i in range(products)], libraries),
            "sex": np.repeat(["F", "M"] * (products // 2), libraries),
        }
    )
    return rows, obs


def test_replicate_columns_find_the_donor_not_the_sex():
    vst, obs = _replicated(1, libraries=3)
    found = replicate_columns(vst, obs)
    assert [f.column for f in found] == ["donor"]
    assert found[0].within < 0.5 * found[0].between
    assert "--product donor" in (replicate_caveat(found) or "")
    vst, obs = _replicated(1, libraries=1)
    assert replicate_columns(vst, obs) == []


def test_replicate_columns_need_group_and_design_constant():
    vst, obs = _replicated(2, libraries=2)
    obs["treated"] = ["no", "yes"] * (len(obs) // 2)  # a donor treated two ways: not replicates
    assert replicate_columns(vst, obs, constant=["treated"]) == []
    assert replicate_columns(vst, obs, group="treated") == []


FOLDER = "msc_six_sources_osteogenic_kuchur_lobov"


@pytest.mark.shared
@pytest.mark.slow
def test_six_tissues_product_equals_hand_summed(shared_data, tmp_path):
    """Kuchur–Lobov undifferentiated libraries (some products sequenced twice) through ``--product``: the
    same tables and summary as the products summed by hand."""
    d = shared_data / FOLDER
    sheet = pd.read_csv(d / "samples_derived_from_column_names.tsv", sep="\t", dtype=str)
    sheet = sheet[sheet["condition"] == "48h.undif"].copy()
    sheet["tissue"] = sheet["file"].str.replace("_transcriptomes_total.csv.gz", "", regex=False)
    counts = pd.concat(
        [
            pd.read_csv(d / f, index_col=0)[list(g["sample"])]
            for f, g in sheet.groupby("file", sort=False)
        ],
        axis=1,
    )[list(sheet["sample"])]
    counts = counts[counts.sum(axis=1) >= 10]
    counts.index.name = "gene_id"
    libs = sheet[["sample", "tissue", "donor_id", "tech_replicate", "collapse_group"]]
    products = libs.drop_duplicates("collapse_group")[["collapse_group", "tissue", "donor_id"]]
    summed = pd.DataFrame(
        {
            p: counts[list(g["sample"])].sum(axis=1)
            for p, g in libs.groupby("collapse_group", sort=False)
        }
    )
    assert len(libs) > len(products) == summed.shape[1] == 18
    files = {}
    for name, frame in (("libs", counts), ("summed", summed)):
        files[name] = tmp_path / f"{name}.tsv"
        frame.to_csv(files[name], sep="\t")
    (tmp_path / "libs_sheet.tsv").write_text(libs.to_csv(sep="\t", index=False))
    sheet_p = products.assign(sample=products["collapse_group"])[
        ["sample", "tissue", "donor_id", "collapse_group"]
    ]
    (tmp_path / "products_sheet.tsv").write_text(sheet_p.to_csv(sep="\t", index=False))
    common = [
        "--group",
        "tissue",
        "--reference",
        "fat",
        "--permutations",
        "99",
        "--no-report",
        "--quiet",
    ]
    common += ["--product", "collapse_group"]
    runs = {}
    for name, samples in (("libs", "libs_sheet.tsv"), ("summed", "products_sheet.tsv")):
        out = tmp_path / f"out_{name}"
        proc = mscseq(
            "compare",
            str(files[name]),
            "--samples",
            str(tmp_path / samples),
            "-o",
            str(out),
            *common,
        )
        assert proc.returncode == 0, proc.stderr
        runs[name] = out
    t1, t2 = _tables(runs["libs"]), _tables(runs["summed"])
    t1.pop("libraries.tsv"), t2.pop("libraries.tsv")
    assert t1.keys() == t2.keys()
    for name in t1:
        assert t1[name] == t2[name], name
    s1, s2 = (json.loads((runs[k] / "summary.json").read_text()) for k in ("libs", "summed"))
    assert s1["dimensions"]["n_libraries"] == len(libs) and s1["dimensions"]["n_products"] == 18
    assert s1["products"]["dropped_columns"] == ["tech_replicate"]
    for s in (s1, s2):
        s["dimensions"].pop("n_libraries"), s.pop("products")
    assert s1 == s2
    assert s1["comparability"]["verdict"] == "not_comparable"
    assert not any("--product" in c for c in s1["comparability"]["caveats"])


@pytest.mark.shared
@pytest.mark.slow
def test_six_tissue_libraries_raise_the_caveat_naming_the_product(shared_data):
    """Without --product the libraries of the six-tissue data are named as replicates: the donor (and its
    collapse group) qualify, tissue, a coarser column, does not — with and without --group tissue."""
    from mscseq.comparability.similarity import informative_genes
    from mscseq.normalize import normalize

    d = shared_data / FOLDER
    sheet = pd.read_csv(d / "samples_derived_from_column_names.tsv", sep="\t", dtype=str)
    sheet = sheet[sheet["condition"] == "48h.undif"].copy()
    sheet["tissue"] = sheet["file"].str.replace("_transcriptomes_total.csv.gz", "", regex=False)
    counts = pd.concat(
        [
            pd.read_csv(d / f, index_col=0)[list(g["sample"])]
            for f, g in sheet.groupby("file", sort=False)
        ],
        axis=1,
    )[list(sheet["sample"])]
    counts = counts[counts.sum(axis=1) >= 10]
    obs = sheet.set_index("sample")[["tissue", "donor_id", "tech_replicate", "collapse_group"]]
    a = ad.AnnData(X=counts.T.to_numpy(dtype=np.float64), obs=obs.astype("category"))
    normalize(a)
    vst = np.asarray(a.layers["vst"])[
        :, informative_genes(np.asarray(a.layers["normalized"]).mean(axis=0))
    ]
    for group in ("tissue", None):
        found = replicate_columns(vst, a.obs, group=group)
        assert [f.column for f in found] == ["donor_id", "collapse_group"], group
