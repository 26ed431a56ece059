"""Cost of one run of the simulation study, and of the whole issue-13 grid, by genes per study.

For each gene count and each design of :func:`simstudy.scenarios.study_grid` (products × libraries),
times (CPU seconds, median of ``--reps`` runs, one BLAS thread as in the study's workers):

* ``generate``: :func:`simstudy.generator.simulate` + :func:`simstudy.generator.to_anndata`;
* ``prepare``: the v2 adapter's steps before the comparability (``--product`` collapse when the cell
  has several libraries, QC, normalisation and VST);
* ``rule``: the rest of :func:`simstudy.rules.v2_rule` (``run_comparability``) when ``--rule v2``
  runs (the lead's v2 on the path), else the assumed ``--rule-seconds``.

Then the grid's CPU hours at ``--runs`` runs per cell and its wall hours on ``--workers`` processes
(an idle machine), and the Tier-2 gene count of the profile (pooled mean ≥ 50 normalised counts at
20 M reads). Writes ``results/sim_cost.md`` (``--out``).

Usage::

    python benchmarks/sim_cost.py                        # generator + VST, 50 ms assumed for v2
    python benchmarks/sim_cost.py --rule v2 --genes 12000 # the real v2 rule
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from simstudy import rules, runner, scenarios  # noqa: E402
from simstudy.generator import StudySpec, simulate, to_anndata  # noqa: E402
from simstudy.profile import default_profile  # noqa: E402

TIER2_MIN_MEAN = 50.0


def _prepare(adata, cell):
    from mscseq.normalize import normalize
    from mscseq.products import collapse_products
    from mscseq.qc import compute_qc

    options = rules.v2_options(cell, 0)
    product = rules.product_column(cell)
    if product:
        keep = [options[k] for k in ("group", "batch", "pair") if options[k]]
        adata = collapse_products(adata, product, keep_constant=keep)
    compute_qc(adata)
    normalize(adata)
    return adata


def measure(cell, profile, reps: int, rule: str) -> tuple[float, float, float]:
    """Median CPU seconds of generate, prepare and the whole v2 rule (nan without ``rule``)."""
    times = []
    for r in range(reps):
        seed = runner.run_seed(cell, r)
        t0 = time.process_time()
        adata = to_anndata(simulate(cell.spec, profile, seed))
        t1 = time.process_time()
        _prepare(adata.copy(), cell)
        t2 = time.process_time()
        if rule == "v2":
            rules.v2_rule(adata, cell, seed)
        t3 = time.process_time()
        times.append((t1 - t0, t2 - t1, (t3 - t2) if rule == "v2" else np.nan))
    return tuple(float(x) for x in np.median(np.asarray(times), axis=0))


def vst_inflation(small: int, large: int, seeds=(3, 4)) -> tuple[float, float]:
    """Median and 99th percentile of the ratio of between-product SD of the VST (10 vs 10 products,
    genes with mean ≥ 50 counts) with ``small`` genes to that with ``large`` genes, same counts:
    what leaving out the low genes does to the VST through its dispersion trend."""
    from mscseq.normalize import size_factors, vst

    profile = default_profile(large)
    ratios = []
    for seed in seeds:
        x = simulate(StudySpec(n_a=10, n_b=10), profile, seed).counts.to_numpy().T
        well = np.flatnonzero(x[:, :small].mean(axis=0) >= TIER2_MIN_MEAN)
        sd = []
        for g in (small, large):
            v, _ = vst(x[:, :g], size_factors(x[:, :g]))
            sd.append(v[:, well].std(axis=0, ddof=1))
        ratios.append(sd[0] / sd[1])
    r = np.concatenate(ratios)
    return float(np.median(r)), float(np.quantile(r, 0.99))


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, nargs="+", default=[20000, 12000, 8000])
    ap.add_argument("--reps", type=int, default=3, help="repetitions per design")
    ap.add_argument("--rule", choices=["none", "v2"], default="none")
    ap.add_argument("--rule-seconds", type=float, default=0.05, help="assumed v2 cost beyond VST")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget-hours", type=float, default=1.0, help="wall hours for the study")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "sim_cost.md")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    grid = scenarios.study_grid()
    designs: dict[tuple[int, int, bool], list] = {}
    for c in grid:
        product = rules.product_column(c) is not None
        designs.setdefault((c.spec.n_products, c.spec.libraries, product), []).append(c)
    lines = [
        "## Cost of the simulation study (issue 13 grid)",
        "",
        f"`python benchmarks/sim_cost.py {' '.join(argv or sys.argv[1:])}`: CPU seconds per run "
        f"(median of {args.reps}, one BLAS thread); the grid is {len(grid)} cells × {args.runs} runs "
        f"= {len(grid) * args.runs} runs, wall time on {args.workers} idle cores. "
        + (
            "`rule` is the whole v2 adapter (collapse, QC, VST, run_comparability)."
            if args.rule == "v2"
            else f"The v2 rule beyond the VST is assumed to cost {args.rule_seconds * 1e3:.0f} ms."
        ),
        "",
        "| genes | Tier-2 genes at 20 M | products × libraries | cells | generate s | "
        "collapse+QC+VST s | rule s | per run s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for g in args.genes:
        profile = default_profile(g)
        tier2 = int((profile.base * 20e6 >= TIER2_MIN_MEAN).sum())
        total = base = 0.0
        for (products, libraries, product), cells in sorted(designs.items()):
            gen, prep, whole = measure(cells[0], profile, args.reps, args.rule)
            rule = whole if args.rule == "v2" else prep + args.rule_seconds
            per_run = gen + rule
            total += per_run * len(cells) * args.runs
            base += (gen + prep) * len(cells) * args.runs
            lines.append(
                f"| {g} | {tier2} | {products} × {libraries}{' (--product)' * product} | "
                f"{len(cells)} | {gen:.3f} | "
                f"{prep:.3f} | {rule:.3f} | {per_run:.3f} |"
            )
            print(lines[-1], flush=True)
        summary.append((g, tier2, total, base))
    lines += [
        "",
        "| genes | Tier-2 genes | CPU hours | wall hours on "
        f"{args.workers} workers | mean s per run |",
        "|---|---|---|---|---|",
    ]
    n_runs = len(grid) * args.runs
    for g, tier2, total, _ in summary:
        lines.append(
            f"| {g} | {tier2} | {total / 3600:.2f} | {total / 3600 / args.workers:.2f} | "
            f"{total / n_runs:.3f} |"
        )
    most = max(t for _, t, _, _ in summary)
    g, tier2, total, base = min((s for s in summary if s[1] == most), key=lambda s: s[0])
    per_run = args.budget_hours * 3600 * args.workers / n_runs
    lines += [
        "",
        f"Choice: {g} genes, the fewest that keep the whole Tier-2 set ({tier2} genes with pooled "
        "mean ≥ 50 normalised counts at 20 M reads; the genes left out are all below it, so they "
        "enter only the size factors and the VST's dispersion trend). "
        f"{args.budget_hours:g} h on {args.workers} cores is {per_run * 1e3:.0f} ms CPU per run for "
        f"{n_runs} runs; generation + collapse/QC/VST take {base / n_runs * 1e3:.0f} ms on average "
        f"(weighted by the grid's cells), which leaves {(per_run - base / n_runs) * 1e3:.0f} ms "
        "per run on average for the v2 rule beyond the VST (PCA, tiers, products, single group). "
        f"At the cost measured here the grid takes {total / 3600 / args.workers:.2f} h on "
        f"{args.workers} idle cores.",
    ]
    largest = max(args.genes)
    if g < largest:
        med, q99 = vst_inflation(g, largest)
        lines[-1] += (
            f" Leaving out the genes beyond {g} changes the VST's dispersion trend a little: the "
            f"between-product SD of the Tier-2 genes is {100 * (med - 1):.1f} % higher than with "
            f"{largest} genes (median over genes; 99th percentile {100 * (q99 - 1):.1f} %), on the "
            "conservative side (slightly wider intervals, a little less power)."
        )
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
