"""Issue 15, the speed-ups: same numbers as before, less work on the hot path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscseq.explore import pca, top_variable_genes


@pytest.mark.parametrize(("n", "g"), [(2, 40), (3, 10), (8, 3), (20, 2000), (12, 700)])
def test_pca_equals_scanpy_bit_for_bit(n, g):
    """``explore.pca`` gives scanpy's ``sc.pp.pca`` numbers exactly, without importing scanpy."""
    import anndata as ad
    import scanpy as sc

    rng = np.random.default_rng(n * 1000 + g)
    vst = rng.normal(size=(n, g)) * rng.uniform(0.1, 3, g) + rng.normal(size=g)
    genes = top_variable_genes(vst)
    sub = ad.AnnData(X=np.ascontiguousarray(vst[:, genes]))
    sc.pp.pca(sub, n_comps=max(1, min(n - 1, len(genes))), zero_center=True, svd_solver="full")
    loadings = np.asarray(sub.varm["PCs"], dtype=np.float64)
    flip = np.sign(loadings[np.abs(loadings).argmax(axis=0), np.arange(loadings.shape[1])])
    res = pca(vst)
    np.testing.assert_array_equal(res["coords"], np.asarray(sub.obsm["X_pca"], float) * flip)
    np.testing.assert_array_equal(res["loadings"], loadings * flip)
    np.testing.assert_array_equal(res["variance"], np.asarray(sub.uns["pca"]["variance"]))
    np.testing.assert_allclose(res["variance_ratio"], sub.uns["pca"]["variance_ratio"], rtol=1e-12)


def _imported_by_cli(args: list[str], modules: tuple[str, ...]) -> list[str]:
    """Run the CLI with ``args`` in a fresh interpreter (it must succeed); which of ``modules`` it imported."""
    code = (
        "import json, sys\n"
        "from mscseq.cli import main\n"
        "modules = sys.argv[1].split(',')\n"
        "sys.argv = ['mscseq', *sys.argv[2:]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(m for m in modules if m in sys.modules)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, ",".join(modules), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_compare_does_not_import_scanpy(example_args, tmp_path: Path):
    """The CLI's analysis path never pays for ``import scanpy`` (scanpy stays for its plots and the notebook)."""
    args = example_args(
        "compare", "--group", "cohort", "--outdir", str(tmp_path / "out"), "--quiet"
    )
    # nor scikit-learn or scipy.stats (comparability uses scipy.special and its own silhouette / ARI)
    assert _imported_by_cli(args, ("scanpy", "sklearn", "scipy.stats")) == []
    # scanpy's own plot reads the AnnData mscseq wrote (the scverse contract)
    check = (
        "import sys, anndata as ad, scanpy as sc, matplotlib\n"
        "matplotlib.use('Agg')\n"
        "a = ad.read_h5ad(sys.argv[1])\n"
        "assert a.varm['PCs'].shape == (a.n_vars, a.obsm['X_pca'].shape[1])\n"
        "assert {'variance', 'variance_ratio', 'params'} <= set(a.uns['pca'])\n"
        "ax = sc.pl.pca(a, color='cohort', show=False)\n"
        "sc.pl.pca_variance_ratio(a, show=False)\n"
        "print(len(ax.collections[0].get_offsets()))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", check, str(tmp_path / "out" / "mscseq.h5ad")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "15"


def test_a_locked_folder_stops_the_run_before_it_reads_its_inputs(tmp_path: Path):
    """The output folder's lock is taken before the analysis: the losing run does no work."""
    import fcntl

    from test_reliability_outputs import compare_args, mscseq, one_line_error, write_study

    study = write_study(tmp_path / "in")
    (study / "counts.tsv").write_text("this is not a count table\n")  # reading it would fail
    out = tmp_path / "out"
    with open(tmp_path / ".out.mscseq-tmp-lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = mscseq(*compare_args(study, out), cwd=tmp_path)
    one_line_error(proc, "another mscseq run is writing", str(out))
    assert not out.exists()
    # without the lock, the same run reaches the reader and fails there
    proc = mscseq(*compare_args(study, out), cwd=tmp_path)
    assert "another mscseq run" not in one_line_error(proc, "counts.tsv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, no lock left


@pytest.mark.parametrize(
    "labels",
    [list("aaaabbbb"), ["A"] * 10 + ["B"] * 10, list("AAAAABBBBBCCCCC"), list("AAAAAAAABBBB")],
)
def test_permdisp_is_scikit_bio_s(labels):
    """Own vectorised PERMDISP: scikit-bio's F (to rounding) and p-value on its seeded stream."""
    import warnings

    from skbio import DistanceMatrix
    from skbio.stats.distance import permdisp as sk_permdisp

    from mscseq.comparability.permanova import euclidean_sq, permdisp

    n = len(labels)
    rng = np.random.default_rng(n)
    for seed in range(3):
        x = rng.normal(size=(n, 200))
        x[: n // 2] *= rng.uniform(0.5, 2.5)
        dm = DistanceMatrix(np.sqrt(euclidean_sq(x)), [f"s{i}" for i in range(n)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = sk_permdisp(
                dm, labels, test="median", permutations=499, seed=seed, dimensions=min(10, n - 1)
            )
        res = permdisp(x, labels, permutations=499, seed=seed)
        assert res["f"] == pytest.approx(ref["test statistic"], rel=1e-10)
        assert res["p_value"] == ref["p-value"]


def test_tables_are_written_in_blocks_with_the_same_bytes(tmp_path: Path, monkeypatch):
    """Block-wise writing gives pandas' bytes whatever the block size (floats, NaN, ints, text)."""
    import pandas as pd

    from mscseq import outputs

    rng = np.random.default_rng(5)
    n = 1001
    df = pd.DataFrame(
        {
            "gene_name": [f"G{i}" if i % 7 else "=SUM(A1)" for i in range(n)],
            "baseMean": rng.gamma(0.5, 100, n),
            "padj": np.where(rng.random(n) < 0.3, np.nan, rng.random(n) * 1e-6),
            "n": np.arange(n),
            "flag": rng.random(n) < 0.5,
        },
        index=pd.Index([f"ENSG{i:011d}" for i in range(n)], name="gene_id"),
    )
    df.iloc[3, 1] = np.inf
    expected = df.to_csv(sep="\t", na_rep="NA", index_label="gene_id", lineterminator="\n")
    expected = expected.replace("\t=SUM(A1)\t", "\t'=SUM(A1)\t")
    for rows in (1, 7, 1000, 1001, 5000):
        pieces = list(outputs.tsv_blocks(df, index_label="gene_id", block_rows=rows))
        assert len(pieces) == 1 + -(-n // rows)
        assert "".join(pieces) == expected
    monkeypatch.setattr(outputs, "BLOCK_ROWS", 64)
    outputs.write_tsv(df, tmp_path / "t.tsv", index_label="gene_id")
    assert (tmp_path / "t.tsv").read_text(encoding="utf-8") == expected
    assert outputs.tsv_text(df.iloc[:0], index_label="gene_id") == expected.splitlines()[0] + "\n"


def test_de_does_not_import_anndata_nor_comparability(example_args, tmp_path: Path):
    """``mscseq de`` reads into a CountData: no anndata/zarr/h5py, no comparability package imported."""
    out = tmp_path / "de.tsv"
    args = example_args("de", "--out", str(out), "--quiet")
    heavy = ("anndata", "zarr", "h5py", "mscseq.comparability", "matplotlib")
    assert _imported_by_cli(args, heavy) == []
    assert out.read_text().startswith("gene_id\tgene_name\tbaseMean")


def test_count_data_holds_what_the_anndata_holds(example_dir: Path):
    """``load_dataset(light=True)`` has the AnnData's X, obs, var and uns; run_de gives the same tables."""
    from mscseq.de import Contrast, run_de
    from mscseq.io import CountData, load_dataset

    files = ([example_dir / "counts.tsv.gz"], example_dir / "samples.tsv")
    full = load_dataset(*files)
    light = load_dataset(*files, light=True)
    assert isinstance(light, CountData)
    assert (light.n_obs, light.n_vars) == full.shape
    np.testing.assert_array_equal(light.X, full.X)
    pd.testing.assert_frame_equal(light.obs, full.obs)
    pd.testing.assert_frame_equal(light.var, full.var)
    assert light.uns == dict(full.uns)
    again = light.to_anndata()
    pd.testing.assert_frame_equal(again.obs, full.obs)
    np.testing.assert_array_equal(again.X, full.X)
    contrast = [Contrast.parse("cohort,B,A")]
    run_de(full, design="~ cohort", contrasts=contrast)
    run_de(light, design="~ cohort", contrasts=contrast)
    pd.testing.assert_frame_equal(light.uns["de"]["cohort_B_vs_A"], full.uns["de"]["cohort_B_vs_A"])


def test_background_job_returns_the_value_and_raises_the_child_error():
    """A step run in a forked child gives its value, or raises its error here with its message."""
    from mscseq.background import start
    from mscseq.errors import MscseqError

    box = {"seen": 1}

    def step(x):
        box["seen"] = 99  # the child's copy: the parent's stays as it was
        return {"table": pd.DataFrame({"v": [x, 0.1 + 0.2]})}

    job = start(step, 2.5)
    out = job.result()
    assert out["table"]["v"].tolist() == [2.5, 0.1 + 0.2]
    assert box["seen"] == 1

    def broken():
        raise MscseqError("no gene left in the counts")

    for background in (True, False):
        job = start(broken, background=background)
        with pytest.raises(MscseqError, match="no gene left in the counts"):
            job.result()


def test_analyse_with_the_de_in_the_background_gives_the_same_results(example_params):
    """``analyse(background=True)`` (the CLI's compare) fills ``uns`` exactly as the steps in order."""
    from mscseq.io import load_dataset
    from mscseq.pipeline import analyse

    params = example_params
    runs = []
    for background in (False, True):
        adata = load_dataset(params.counts, params.samples)
        analyse(adata, params, background=background)
        runs.append(adata)
    one, two = runs
    assert set(one.uns) == set(two.uns)
    pd.testing.assert_frame_equal(one.uns["de"]["cohort_B_vs_A"], two.uns["de"]["cohort_B_vs_A"])
    assert one.uns["de_summary"] == two.uns["de_summary"]
    assert one.uns["comparability"] == two.uns["comparability"]


def test_a_de_error_comes_before_a_comparability_error(example_params, monkeypatch):
    """With the DE in the background, its error is still the one raised when both steps fail."""
    import mscseq.comparability
    import mscseq.pipeline
    from mscseq.errors import MscseqError
    from mscseq.io import load_dataset

    def de_fails(adata, params):
        raise MscseqError("the DE failed")

    def comparability_fails(adata, options):
        raise MscseqError("the comparability failed")

    monkeypatch.setattr(mscseq.pipeline, "de_step", de_fails)
    monkeypatch.setattr(mscseq.comparability, "run_comparability", comparability_fails)
    params = example_params
    adata = load_dataset(params.counts, params.samples)
    with pytest.raises(MscseqError, match="the DE failed"):
        mscseq.pipeline.analyse(adata, params, background=True)
