"""Operating characteristics of the per-product verdict (``comparability.deviation``, issue 13).

Clean products of one population from the simulation study's generator (``simstudy.generator``:
real MSC expression profile, co-regulated programs, Student t donor effects, NB counts at 10–30 M
reads), DESeq2 VST, genes with pooled mean normalised count ≥ 10; then ``product_deviation``. Per cell:
the share of clean products with unadjusted p < 0.05 (should be ≤ 0.05) and the share called
deviating after Holm (target ≤ 1 %), with 95 % Clopper–Pearson intervals; and the share of
contaminated products (a fraction ``w`` of the reads from another cell population) called deviating.
Also the time of one call at 40 products × 10,000 genes.

Usage::

    python benchmarks/deviation_calibration.py                 # 100 runs per cell
    python benchmarks/deviation_calibration.py --runs 300 --out benchmarks/results/deviation_calibration.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from simstudy.generator import StudySpec, simulate  # noqa: E402
from simstudy.profile import default_profile  # noqa: E402
from simstudy.runner import clopper_pearson  # noqa: E402

from mscseq.comparability.deviation import product_deviation  # noqa: E402
from mscseq.normalize import size_factors, vst  # noqa: E402


def _vst_products(spec: StudySpec, profile, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """VST of one simulated study on the expressed genes, and which products are contaminated."""
    study = simulate(spec, profile, seed)
    counts = study.counts.to_numpy().T.astype(np.float64)
    sf = size_factors(counts)
    values, _ = vst(counts, sf)
    keep = (counts / sf[:, None]).mean(axis=0) >= 10
    return values[:, keep], study.truth["products"]["contaminated"].to_numpy(dtype=bool)


def _rate(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k / n:.4f} [{lo:.4f}, {hi:.4f}]"


def clean_cell(n: int, runs: int, df: float | None, sd: float, profile) -> str:
    """One markdown row: clean products' p < 0.05 and deviating rates."""
    below = deviating = total = 0
    for r in range(runs):
        y, _ = _vst_products(StudySpec(n_a=n, n_b=0, donor_sd=sd, df=df), profile, 7919 * n + r)
        tab = product_deviation(y, [f"P{i}" for i in range(n)], drivers=False)
        below += int((tab["p_value"] < 0.05).sum())
        deviating += int((tab["status"] == "deviating").sum())
        total += n
    tail = "normal" if df is None else f"t({df:g})"
    return f"| {n} | {sd} | {tail} | {total} | {_rate(below, total)} | {_rate(deviating, total)} |"


def contaminated_cell(n: int, runs: int, w: float, profile) -> str:
    """One markdown row: share of contaminated products called deviating."""
    hit = 0
    for r in range(runs):
        spec = StudySpec(n_a=n, n_b=0, contaminated=1, contamination=w)
        y, bad = _vst_products(spec, profile, 104729 + 31 * n + r)
        tab = product_deviation(y, [f"P{i}" for i in range(n)], drivers=False)
        hit += int((tab["status"].to_numpy()[bad] == "deviating").sum())
    return f"| {n} | {n - 1} | {w} | {runs} | {_rate(hit, runs)} |"


def speed(repeats: int = 5) -> float:
    """Median seconds of one call at 40 products × 10,000 genes (drivers included)."""
    rng = np.random.default_rng(0)
    y = 8 + rng.normal(size=(40, 10_000))
    names = [f"G{g}" for g in range(10_000)]
    product_deviation(y, [f"P{i}" for i in range(40)], gene_names=names)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        product_deviation(y, [f"P{i}" for i in range(40)], gene_names=names)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100, help="simulated studies per cell")
    ap.add_argument("--genes", type=int, default=12_000, help="genes in the simulated profile")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown tables here")
    args = ap.parse_args(argv)
    profile = default_profile(args.genes)
    lines = [
        "Clean products (one population; per-product rates with 95 % Clopper–Pearson intervals)",
        "",
        "| products | donor SD | donor effects | clean products | p < 0.05 | deviating (Holm) |",
        "|---|---|---|---|---|---|",
    ]
    for df in (5.0, 4.0, None):
        for n in (7, 10, 20, 40):
            runs = args.runs if n < 40 else max(args.runs // 2, 10)
            lines.append(clean_cell(n, runs, df, 0.35, profile))
            print(lines[-1], flush=True)
    for sd in (0.2, 0.5):
        lines.append(clean_cell(10, args.runs, 5.0, sd, profile))
        print(lines[-1], flush=True)
    lines += [
        "",
        "Contaminated product (a fraction w of its reads from another cell population)",
        "",
        "| products | peers | w | studies | deviating |",
        "|---|---|---|---|---|",
    ]
    for w in (0.1, 0.2, 0.3):
        for n in (9, 20):
            lines.append(contaminated_cell(n, max(args.runs // 2, 10), w, profile))
            print(lines[-1], flush=True)
    lines += ["", f"One call at 40 products × 10,000 genes: {speed() * 1000:.0f} ms (median of 5)."]
    print(lines[-1])
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
