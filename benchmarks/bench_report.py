"""Benchmark of the HTML report: ``render_report`` on 100 samples × 60,000 genes (target ≤ 10 s, ≤ 10 MB).

Builds a synthetic AnnData with every key of the data contract (docs/architecture.md) that the report
reads — counts, QC, size factors, normalised counts, VST, PCA, correlations, clustering, one DE table of
60,000 genes, a comparability block shaped like ``summary.json``'s — then times ``render_report`` and
prints the size of the HTML. No statistics are fitted: the values only need realistic shapes and ranges.

Usage::

    python benchmarks/bench_report.py                  # 100 × 60,000, prints time and size
    python benchmarks/bench_report.py --out report.html  # also keep the report to open it
    python benchmarks/bench_report.py --samples 10 --genes 2000   # smaller
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGET_SECONDS = 10.0
TARGET_BYTES = 10 * 1000 * 1000


def synthetic(n_samples: int, n_genes: int, *, n_contrasts: int = 1, seed: int = 1):
    """AnnData, summary and run_info of a fake run with the contract keys the report reads."""
    import anndata as ad
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    from mscseq.comparability.panels import builtin_panels

    rng = np.random.default_rng(seed)
    samples = [f"S{i:03d}" for i in range(n_samples)]
    panel_genes = builtin_panels()
    ids = list(panel_genes["gene_id"].drop_duplicates())[: n_genes // 2]
    syms = dict(zip(panel_genes["gene_id"], panel_genes["symbol"], strict=False))
    ids += [f"ENSG9{i:010d}" for i in range(n_genes - len(ids))]
    names = [syms.get(g, f"GENE{i}") for i, g in enumerate(ids)]
    mu = np.exp(rng.normal(4, 2, n_genes))
    x = rng.poisson(mu[None, :] * rng.uniform(0.6, 1.6, (n_samples, 1))).astype(np.float64)
    obs = pd.DataFrame(
        {
            "donor": [f"D{i:03d}" for i in range(n_samples)],
            "cohort": pd.Categorical(rng.choice(["A", "B", "C"], n_samples)),
            "passage": pd.Categorical(rng.choice(["P3", "P4", "P5"], n_samples)),
            "age": rng.uniform(20, 70, n_samples).round(0),
        },
        index=pd.Index(samples, name="sample"),
    )
    adata = ad.AnnData(
        X=x, obs=obs, var=pd.DataFrame({"gene_name": names}, index=pd.Index(ids, name="gene_id"))
    )
    lib = x.sum(axis=1)
    adata.obs["library_size"] = lib.astype(np.int64)
    adata.obs["detected_genes"] = (x > 0).sum(axis=1)
    adata.obs["top100_fraction"] = np.sort(x, axis=1)[:, -100:].sum(axis=1) / lib
    sf = lib / np.median(lib)
    adata.obs["size_factor"] = sf
    norm = x / sf[:, None]
    adata.layers["normalized"] = norm
    adata.layers["vst"] = np.log2(norm + 1)
    adata.var["base_mean"] = norm.mean(axis=0)
    pcs = rng.normal(0, 1, (n_samples, min(50, n_samples - 1))) * np.linspace(
        10, 1, min(50, n_samples - 1)
    )
    adata.obsm["X_pca"] = pcs
    var = pcs.var(axis=0, ddof=1)
    adata.uns["pca"] = {"variance": var, "variance_ratio": var / var.sum() * 0.8, "n_top": 500}
    corr = np.corrcoef(adata.layers["vst"][:, :2000])
    adata.obsp["pearson"] = corr
    adata.obsp["spearman"] = corr
    z = linkage(
        squareform(np.clip(1 - corr, 0, None), checks=False),
        method="average",
        optimal_ordering=True,
    )
    adata.uns["clustering"] = {
        "order": [samples[i] for i in leaves_list(z)],
        "linkage": z,
        "method": "average",
        "metric": "1 - pearson",
    }
    adata.uns["vst"] = {"fit_type": "parametric", "asympt_disp": 0.05, "extra_pois": 2.0}
    adata.uns["input"] = {"format": "matrix", "level": "gene"}
    lfc = rng.normal(0, 0.6, n_genes)
    p = np.clip(rng.uniform(0, 1, n_genes) ** 4, 1e-300, 1)
    padj = np.minimum(p * 10, 1.0)
    de = pd.DataFrame(
        {"gene_name": names, "baseMean": mu, "log2FoldChange": lfc, "lfcSE": np.full(n_genes, 0.2), "stat": lfc / 0.2,
         "pvalue": p, "padj": padj, "dispersion": np.full(n_genes, 0.05)},
        index=pd.Index(ids, name="gene_id"),
    ).sort_values("padj")  # fmt: skip
    name = "cohort_B_vs_A"
    n_up, n_down = int(((padj < 0.1) & (lfc > 0)).sum()), int(((padj < 0.1) & (lfc < 0)).sum())
    meta = {
        "variable": "cohort",
        "target": "B",
        "reference": "A",
        "alpha": 0.1,
        "n_genes": n_genes,
        "n_tested": n_genes,
        "n_up": n_up,
        "n_down": n_down,
    }
    adata.uns["de"] = {name: de}
    adata.uns["de_summary"] = {name: meta}
    for k in range(1, n_contrasts):
        other = de.assign(log2FoldChange=rng.normal(0, 0.6, n_genes))
        adata.uns["de"][f"{name}_{k}"] = other
        adata.uns["de_summary"][f"{name}_{k}"] = meta
    params = {
        "counts": ["counts.tsv.gz"],
        "samples": "samples.tsv",
        "design": "~ cohort",
        "contrasts": ["cohort,B,A"],
        "alpha": 0.1,
        "engine": "pydeseq2",
    }
    adata.uns["mscseq"] = {"params": params}
    comp = {
        "verdict": "comparable",
        "rule": "not_comparable if any product is an outlier; comparable if at least 90% of testable genes are shown equivalent",
        "reasons": ["cohort_B_vs_A: 95.0% of testable genes shown equivalent"],
        "metrics": {"n_products": n_samples, "n_outliers": 0, "outliers": [], "group": "cohort", "margin": 1.0, "alpha": 0.1, "mad_z_threshold": 3.5,
                    "contrasts": [{"name": name, "n_tested": n_genes, "n_equivalent": int(0.95 * n_genes), "fraction_equivalent": 0.95,
                                   "n_tested_beyond": n_genes, "n_beyond_margin": 5, "fraction_beyond_margin": 5 / n_genes}]},
        "products": [{"sample": s, "status": "consistent", "reasons": [], "flags": []} for s in samples],
        "caveats": ["synthetic benchmark data"],
        "similarity": {"genes_used": n_genes // 2, "median_correlation": {s: 0.97 for s in samples}, "centroid_distance": {s: 10.0 for s in samples},
                       "z_correlation": {s: float(v) for s, v in zip(samples, rng.normal(0, 1, n_samples), strict=True)},
                       "z_distance": {s: float(v) for s, v in zip(samples, rng.normal(0, 1, n_samples), strict=True)},
                       "concordance": {s: 0.98 for s in samples}},
        "equivalence": [{"name": name, "target": "B", "reference": "A", "n_target": 33, "n_reference": 34, "n_tested": n_genes,
                         "n_equivalent": int(0.95 * n_genes), "fraction_equivalent": 0.95, "n_tested_beyond": n_genes, "n_beyond_margin": 5,
                         "fraction_beyond_margin": 5 / n_genes, "top_beyond_margin": []}],
        "permanova": {"pseudo_f": 1.1, "r2": 0.02, "p_value": 0.3, "permutations": 999, "scheme": "free", "n_samples": n_samples, "n_groups": 3, "min_p_value": 0.001},
        "variance_partition": {"donor": "donor", "fixed": ["cohort"], "n_genes": 1000, "method": "REML",
                               "fractions": {"cohort": {"median": 0.02, "q1": 0.0, "q3": 0.05}, "residual": {"median": 0.9, "q1": 0.8, "q3": 0.97}}},
        "panels": {"panels": [], "flags": {}, "scores": {s: {"isct_identity": float(rng.normal()), "senescence": float(rng.normal())} for s in samples}},
        "settings": {"group": "cohort", "reference": "A", "margin": 1.0, "panels": []},
    }  # fmt: skip
    adata.uns["comparability"] = comp
    summary = {
        "schema": "mscseq.summary/1",
        "mscseq_version": "bench",
        "dimensions": {
            "n_samples": n_samples,
            "n_genes": n_genes,
            "n_genes_expressed": int((x.sum(axis=0) > 0).sum()),
        },
        "design": "~ cohort",
        "de": [{"name": k, **m} for k, m in adata.uns["de_summary"].items()],
        "comparability": comp,
    }
    run_info = {
        "command": ["mscseq", "compare", "..."],
        "parameters": params,
        "versions": {"mscseq": "bench"},
        "inputs": [{"path": "counts.tsv.gz", "sha256": "0" * 64, "bytes": 1}],
        "started": "",
        "finished": "",
        "elapsed_seconds": 0,
    }
    return adata, summary, run_info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--genes", type=int, default=60_000)
    ap.add_argument("--contrasts", type=int, default=1, help="number of 60,000-gene DE tables")
    ap.add_argument("--repeat", type=int, default=3, help="time the best of this many renders")
    ap.add_argument("--out", type=Path, help="write the report here")
    args = ap.parse_args(argv)

    from mscseq.report import render_report

    t0 = time.perf_counter()
    adata, summary, run_info = synthetic(args.samples, args.genes, n_contrasts=args.contrasts)
    print(
        f"synthetic data {args.samples} × {args.genes}: {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    render_report(
        adata, summary=summary, run_info=run_info
    )  # warm: imports, template compile, plotly.js read
    times, cpu = [], []
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        html = render_report(adata, summary=summary, run_info=run_info)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    size = len(html.encode("utf-8"))
    if args.out:
        args.out.write_text(html, encoding="utf-8")
    best, first = min(times), times[0]
    ok = best <= TARGET_SECONDS and size <= TARGET_BYTES
    print(f"render_report: best {best:.2f} s wall of {args.repeat} (first {first:.2f} s; CPU {min(cpu):.2f} s); report {size / 1e6:.2f} MB; "
          f"targets ≤ {TARGET_SECONDS:g} s, ≤ {TARGET_BYTES / 1e6:g} MB: {'ok' if ok else 'MISSED'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
