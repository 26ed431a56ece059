"""Operating characteristics of the single-group conditions 2 and 3 (:mod:`mscseq.comparability.single`).

Seeded simulated single groups of ``--products`` products, counts drawn per gene as
Poisson(μ_g · s_i · 2^(b_ig)) with donor effects b_ig ~ N(0, sd²) (optionally co-regulated programs),
normalised and VST-transformed by mscseq itself (:func:`mscseq.normalize.vst`); depth 10–30 M reads per
product. Four panel scores of 15 well-expressed genes each (margin 0.5 log2); the spread genes are the
1,000 best-expressed genes; gene margin 1.0, f₀ 0.01, τ 0.5, α 0.05.

Scenarios: ``homogeneous`` (donor SD 0.35), ``homogeneous_programs`` (SD 0.35, 10 programs of 5 % of the
genes with within-program correlation 0.45), ``homogeneous_sd04`` (SD 0.4 = 0.8 τ), ``cohort_10_10``
and ``cohort_5_15`` (5 % of genes 2 log2 apart), ``score_cohort_10_10`` (one panel score's genes 1 log2
apart only), ``wide`` (SD 0.7). Reported: P(pass), P(fail), P(split p < 0.05) with 95 % Clopper–Pearson
intervals, and the median spread estimate.

    python benchmarks/single_group_calibration.py [--runs 300] [--genes 6000] [--products 20]
        [--out benchmarks/results/single_group_calibration.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta

from mscseq.comparability.single import single_group
from mscseq.normalize import size_factors, vst

SCENARIOS = (
    "homogeneous",
    "homogeneous_programs",
    "homogeneous_sd04",
    "cohort_10_10",
    "cohort_5_15",
    "score_cohort_10_10",
    "wide",
)
PANEL_SIZE = 15
N_PANELS = 4


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def simulate(seed: int, scenario: str, n: int, genes: int) -> dict:
    rng = np.random.default_rng(seed)
    base = rng.lognormal(np.log(0.6), 1.6, genes)  # relative expression
    depth = rng.uniform(10e6, 30e6, n)
    mu = base / base.sum() * depth[:, None] * 0.5  # half the reads on these genes
    sd = {"homogeneous_sd04": 0.4, "wide": 0.7}.get(scenario, 0.35)
    b = rng.normal(0, sd, (n, genes))
    if scenario == "homogeneous_programs":
        size = genes // 20
        for k in range(10):
            f = rng.normal(0, 1, (n, 1))
            sl = slice(k * size, (k + 1) * size)
            b[:, sl] = sd * (np.sqrt(0.45) * f + np.sqrt(0.55) * rng.normal(0, 1, (n, size)))
    order = np.argsort(-base)
    panels = {f"panel{k}": order[k : N_PANELS * PANEL_SIZE : N_PANELS] for k in range(N_PANELS)}
    if scenario.startswith("cohort"):
        c = 10 if scenario == "cohort_10_10" else 5
        shifted = rng.choice(genes, genes // 20, replace=False)
        b[np.ix_(np.arange(c), shifted)] += 2.0 * rng.choice([-1, 1], len(shifted))
    if scenario == "score_cohort_10_10":
        b[:10, panels["panel0"]] -= 1.0
    counts = rng.poisson(mu * 2.0**b).astype(np.float64)
    keep = counts.sum(axis=0) >= 10
    counts = counts[:, keep]
    idx = np.full(genes, -1)
    idx[keep] = np.arange(keep.sum())
    panels = {k: idx[v][idx[v] >= 0] for k, v in panels.items()}
    sf = size_factors(counts)
    y, _ = vst(counts, sf)
    norm = counts / sf[:, None]
    mean = norm.mean(axis=0)
    split_genes = np.flatnonzero(mean >= 10)
    spread_genes = np.sort(np.argsort(-mean)[:1000])
    scores = pd.DataFrame({k: y[:, v].mean(axis=1) for k, v in panels.items()})
    return {
        "vst": y,
        "norm": norm,
        "sf": sf,
        "split_genes": split_genes,
        "spread_genes": spread_genes,
        "scores": scores,
        "score_genes": panels,
    }


def one_run(seed: int, scenario: str, n: int, genes: int) -> dict:
    d = simulate(seed, scenario, n, genes)
    return single_group(
        d["vst"],
        split_genes=d["split_genes"],
        spread_genes=d["spread_genes"],
        norm=d["norm"],
        scores=d["scores"],
        margins=dict.fromkeys(d["scores"].columns, 0.5),
        gene_margin=1.0,
        f0=0.01,
        tau=0.5,
        alpha=0.05,
        seed=seed,
        size_factors=d["sf"],
        score_genes=d["score_genes"],
    )


def rate(k: int, n: int) -> dict:
    lo, hi = clopper_pearson(k, n)
    return {"k": k, "n": n, "rate": k / n, "ci95": [round(lo, 4), round(hi, 4)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--genes", type=int, default=6000)
    ap.add_argument("--products", type=int, default=20)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    table = {}
    for scenario in args.scenarios.split(","):
        t0 = time.perf_counter()
        res = [one_run(s, scenario, args.products, args.genes) for s in range(args.runs)]
        k = len(res)
        table[scenario] = {
            "pass": rate(sum(r["result"] == "pass" for r in res), k),
            "fail": rate(sum(r["result"] == "fail" for r in res), k),
            "split_p_below_0.05": rate(sum(r["split"]["p_value"] < 0.05 for r in res), k),
            "split_fail": rate(sum(r["split"]["result"] == "fail" for r in res), k),
            "spread_fail": rate(sum(r["spread"]["result"] == "fail" for r in res), k),
            "spread_median": round(float(np.median([r["spread"]["estimate"] for r in res])), 4),
            "spread_upper_median": round(float(np.median([r["spread"]["upper"] for r in res])), 4),
            "seconds_per_run": round((time.perf_counter() - t0) / k, 4),
        }
        row = table[scenario]
        print(
            f"{scenario:22s} pass {row['pass']['rate']:.3f} {row['pass']['ci95']}  "
            f"fail {row['fail']['rate']:.3f} {row['fail']['ci95']}  "
            f"p<.05 {row['split_p_below_0.05']['rate']:.3f} {row['split_p_below_0.05']['ci95']}  "
            f"spread {row['spread_median']} (upper {row['spread_upper_median']})",
            flush=True,
        )
    if args.out:
        meta = {"runs": args.runs, "genes": args.genes, "products": args.products}
        args.out.write_text(json.dumps({"settings": meta, "scenarios": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
