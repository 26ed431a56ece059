"""The I/O options through the command line: inspect, per-sample files from the sheet, --strandedness."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from mscseq.cli import app

runner = CliRunner()


def test_inspect_json(write):
    m = write(
        "counts.tsv.gz",
        "gene_id\tgene_name\tA\tB\nENSG00000000001.3\tX\t1.5\t2\nENSG00000000002.1\tY\t3\t4\n",
    )
    h = write("s1.txt", "G1\t5\nG2\t1\n__no_feature\t2\n__ambiguous\t0\n")
    res = runner.invoke(app, ["inspect", "--json", str(m), str(h)])
    assert res.exit_code == 0, res.output
    first, second = json.loads(res.stdout)
    assert first["format"] == "nfcore" and first["compression"] == "gzip"
    assert first["n_features"] == 2 and first["samples"] == ["A", "B"]
    assert first["library_sizes"] == {"A": 4.5, "B": 6} and first["integer_counts"] is False
    assert second["format"] == "htseq" and second["qc_lines"] == [
        "htseq_ambiguous",
        "htseq_no_feature",
    ]
    assert second["library_sizes"] == {"s1": 6}


def test_inspect_text(write):
    h = write(
        "s1ReadsPerGene.out.tab",
        "N_unmapped\t1\t1\t1\nN_multimapping\t0\t0\t0\nN_noFeature\t0\t0\t0\nN_ambiguous\t0\t0\t0\nG1\t10\t0\t10\n",
    )
    res = runner.invoke(app, ["inspect", str(h), "--strandedness", "reverse"])
    assert res.exit_code == 0, res.output
    assert "format: star" in res.stdout and "s1=10" in res.stdout


def test_compare_with_per_sample_files_from_the_sheet(tmp_path):
    rng = np.random.default_rng(5)
    d = tmp_path / "study"
    (d / "htseq").mkdir(parents=True)
    rows = ["sample\tcohort\tpath"]
    for i in range(6):
        counts = rng.poisson(rng.lognormal(3, 1, 400)).astype(int)
        lines = [f"ENSG{g:011d}.{g % 5 + 1}\t{c}" for g, c in enumerate(counts)]
        lines += [
            "__no_feature\t100",
            "__ambiguous\t5",
            "__too_low_aQual\t0",
            "__not_aligned\t0",
            "__alignment_not_unique\t50",
        ]
        (d / "htseq" / f"lib{i}.txt").write_text("\n".join(lines) + "\n")
        rows.append(f"S{i}\t{'AB'[i // 3]}\thtseq/lib{i}.txt")
    (d / "samples.tsv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mscseq",
            "compare",
            "-s",
            str(d / "samples.tsv"),
            "-o",
            str(out),
            "--no-report",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    qc = (out / "tables" / "qc.tsv").read_text().splitlines()
    assert "tool_htseq_no_feature" in qc[0]
    assert [ln.split("\t")[0] for ln in qc[1:]] == [f"S{i}" for i in range(6)]
    norm = (out / "tables" / "normalized_counts.tsv").read_text().splitlines()
    assert norm[1].startswith("ENSG00000000000\t")  # versions stripped
    assert not any(ln.startswith("__") for ln in norm)


def test_compare_salmon_with_tx2gene_and_star_strandedness(tmp_path):
    """Salmon files from the sheet with --tx2gene: genes summed, lengths kept in the h5ad."""
    import anndata as ad

    rng = np.random.default_rng(11)
    d = tmp_path / "study"
    d.mkdir()
    n_tx = 600
    tx2gene = [(f"ENST{t:011d}.1", f"ENSG{t // 3:011d}") for t in range(n_tx)]
    (d / "tx2gene.csv").write_text(
        "TXNAME,GENEID\n" + "".join(f"{t.split('.')[0]},{g}\n" for t, g in tx2gene)
    )
    rows = ["sample\tcohort\tpath"]
    for i in range(6):
        (d / f"s{i}").mkdir()
        est = rng.gamma(2.0, rng.lognormal(2, 1, n_tx))
        tpm = est / est.sum() * 1e6
        lines = ["Name\tLength\tEffectiveLength\tTPM\tNumReads"]
        lines += [
            f"{t}\t1000\t{800 + k % 50}.5\t{tpm[k]:.4f}\t{est[k]:.3f}"
            for k, (t, _) in enumerate(tx2gene)
        ]
        (d / f"s{i}" / "quant.sf").write_text("\n".join(lines) + "\n")
        rows.append(f"S{i}\t{'AB'[i // 3]}\ts{i}/quant.sf")
    (d / "samples.tsv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mscseq",
            "compare",
            "-s",
            str(d / "samples.tsv"),
            "--tx2gene",
            str(d / "tx2gene.csv"),
            "-o",
            str(out),
            "--no-report",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    adata = ad.read_h5ad(out / "mscseq.h5ad")
    assert adata.shape == (6, 200)
    assert "avg_tx_length" in adata.layers
    assert np.all((adata.layers["avg_tx_length"] >= 800) & (adata.layers["avg_tx_length"] <= 850))
    assert np.array_equal(adata.X, np.round(adata.X))
    assert "summarised to 200 genes" in proc.stderr
