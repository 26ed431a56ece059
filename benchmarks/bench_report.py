"""Benchmark of the HTML report with 100 samples × 60,000 genes and 1, 5 and 10 contrasts.

Targets (issue 14): ``report.html`` ≤ 10 MB and interactive within 3 s in Chromium with 10 contrasts, every
significant gene hoverable; ``render_report`` ≤ 10 s.

Builds a synthetic AnnData with every key of the data contract (docs/architecture.md) that the report
reads — counts, QC, size factors, normalised counts, VST, PCA, correlations, clustering, one 60,000-gene DE
table per contrast, a comparability block shaped like ``summary.json``'s — then times ``render_report``,
prints the size of the HTML and, with Playwright and Debian's Chromium, opens it headless and times the
load, a hover on a significant gene of the last contrast scrolled to right away, and every plot drawn.
No statistics are fitted: the values only need realistic shapes and ranges. Each contrast has its own
fold changes and p-values; ``--de-fraction`` of the genes (default 10 %) are truly changed and come out
significant (airway's dexamethasone contrast: ~4,000 of 33,000 tested genes, 12 %).

Usage::

    python benchmarks/bench_report.py                        # 1, 5 and 10 contrasts
    python benchmarks/bench_report.py --contrasts 10 --out report.html   # keep the report to open it
    python benchmarks/bench_report.py --samples 10 --genes 2000 --no-browser   # smaller, no browser
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
#: Time from opening the page until a plot the reader scrolls to is drawn and shows a gene on hover.
TARGET_INTERACTIVE = 3.0
CHROMIUM = Path("/usr/bin/chromium")


def _de_table(rng, ids, names, mu, de_fraction: float) -> pd.DataFrame:
    """One contrast's results: ``de_fraction`` of the genes changed (small p), the rest null, BH padj."""
    n = len(ids)
    changed = rng.random(n) < de_fraction
    lfc = np.where(changed, rng.choice([-1, 1], n) * rng.gamma(2.0, 0.6, n), rng.normal(0, 0.15, n))
    p = rng.uniform(0, 1, n)
    p[changed] = 10.0 ** -rng.uniform(2.5, 30, changed.sum())
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    padj = np.empty(n)
    padj[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return pd.DataFrame(
        {"gene_name": names, "baseMean": mu, "log2FoldChange": lfc, "lfcSE": np.full(n, 0.2), "stat": lfc / 0.2,
         "pvalue": p, "padj": padj, "dispersion": np.full(n, 0.05)},
        index=pd.Index(ids, name="gene_id"),
    ).sort_values("padj")  # fmt: skip


def synthetic(
    n_samples: int, n_genes: int, *, n_contrasts: int = 1, seed: int = 1, de_fraction: float = 0.1
):
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
    adata.uns["de"], adata.uns["de_summary"] = {}, {}
    name = "cohort_B_vs_A"
    for k in range(n_contrasts):
        de = _de_table(rng, ids, names, mu, de_fraction)
        sig = de["padj"] < 0.1
        meta = {
            "variable": "cohort",
            "target": "B",
            "reference": "A",
            "alpha": 0.1,
            "n_genes": n_genes,
            "n_tested": n_genes,
            "n_up": int((sig & (de["log2FoldChange"] > 0)).sum()),
            "n_down": int((sig & (de["log2FoldChange"] < 0)).sum()),
        }
        key = name if k == 0 else f"{name}_{k}"
        adata.uns["de"][key] = de
        adata.uns["de_summary"][key] = meta
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


def browser_times(path: Path) -> dict[str, float] | None:
    """Seconds from opening the report in headless Chromium until: the load event; a significant gene of
    the *last* contrast's volcano plot, scrolled to right after loading, shows its hover label (the page is
    interactive where the reader goes); every plot drawn (in the background).
    ``None`` without Playwright or Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None
    args = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load")
        out = {"load": time.perf_counter() - t0}
        last = page.locator("[data-fig^=fig-volcano-]").last
        last.scroll_into_view_if_needed()
        last.locator("g.trace.scatter").last.locator("path.point").first.wait_for(timeout=60_000)
        point = last.locator("g.trace.scatter").last.locator("path.point").first  # "higher" genes
        box = point.bounding_box()
        if box:
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            last.locator(".hoverlayer .hovertext").first.wait_for(timeout=30_000)
            out["last volcano hover"] = time.perf_counter() - t0
        page.wait_for_selector("body[data-plots-ready]", timeout=300_000)
        out["all plots"] = time.perf_counter() - t0
        browser.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    return out


def run_one(args, n_contrasts: int) -> bool:
    from mscseq.report import render_report

    t0 = time.perf_counter()
    adata, summary, run_info = synthetic(
        args.samples, args.genes, n_contrasts=n_contrasts, de_fraction=args.de_fraction
    )
    n_sig = sum(int((d["padj"] < 0.1).sum()) for d in adata.uns["de"].values())
    print(f"synthetic data {args.samples} × {args.genes}, {n_contrasts} contrast(s), {n_sig:,} significant "
          f"genes in all: {time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
    render_report(adata, summary=summary, run_info=run_info)  # warm: imports, templates, plotly.js
    times, cpu = [], []
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        html = render_report(adata, summary=summary, run_info=run_info)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    size = len(html.encode("utf-8"))
    out = args.out or Path(f"/tmp/bench_report_{n_contrasts}.html")
    out.write_text(html, encoding="utf-8")
    ok = min(times) <= TARGET_SECONDS and size <= TARGET_BYTES
    line = (f"{n_contrasts:>2} contrast(s): render best {min(times):.2f} s wall of {args.repeat} (CPU {min(cpu):.2f} s); "
            f"report {size / 1e6:.2f} MB")  # fmt: skip
    seen = None if args.no_browser else browser_times(out)
    if seen:
        line += "; Chromium " + ", ".join(f"{k} {v:.2f} s" for k, v in seen.items())
        ok = ok and seen.get("last volcano hover", np.inf) <= TARGET_INTERACTIVE
    print(line + f": {'ok' if ok else 'MISSED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--genes", type=int, default=60_000)
    ap.add_argument(
        "--contrasts", default="1,5,10", help="numbers of DE tables to measure, e.g. 1,5,10"
    )
    ap.add_argument("--de-fraction", type=float, default=0.1, help="share of genes truly changed")
    ap.add_argument("--repeat", type=int, default=3, help="time the best of this many renders")
    ap.add_argument("--no-browser", action="store_true", help="skip the headless Chromium timing")
    ap.add_argument(
        "--out", type=Path, help="write the report here (default /tmp/bench_report_<n>.html)"
    )
    args = ap.parse_args(argv)
    print(f"targets: render ≤ {TARGET_SECONDS:g} s, ≤ {TARGET_BYTES / 1e6:g} MB, last volcano hoverable ≤ "
          f"{TARGET_INTERACTIVE:g} s after opening")  # fmt: skip
    results = [run_one(args, int(n)) for n in args.contrasts.split(",")]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
