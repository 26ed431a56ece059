"""Simulation study of the comparability verdict (issue 13: operating characteristics).

Realistic MSC product studies (profiles from the six-tissue MSC data, 10–30 M reads per product,
technical NB noise, donor SD 0.2/0.35/0.5 log2 with co-regulated programs and heavy tails, sex and
genotype on/off genes, batches, replicate libraries; see ``simstudy.generator``) are judged through
the same library calls as ``mscseq compare`` (``simstudy.rules``), R seeded runs per cell in parallel
processes. Writes per-run and per-cell TSVs (rates with 95 % Clopper–Pearson intervals) and a markdown
table for ``docs/comparability.md``.

Usage::

    python benchmarks/sim_comparability.py                    # fast grid, 20 runs per cell
    python benchmarks/sim_comparability.py --full --jobs 8    # every cell, 300 runs per cell
    python benchmarks/sim_comparability.py --rule mypkg.rules:tiered --cells 'equivalent|potency'
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from simstudy import runner, scenarios  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the full grid, 300 runs per cell")
    ap.add_argument(
        "--runs", type=int, default=None, help="runs per cell (default 20 fast, 300 full)"
    )
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--rule", default="current", help="verdict function, module:function")
    ap.add_argument("--cells", default=None, help="regular expression on cell names to keep")
    ap.add_argument("--genes", type=int, default=20000, help="genes per simulated study")
    ap.add_argument("--permutations", type=int, default=99, help="PERMANOVA permutations")
    ap.add_argument("--name", default="sim_comparability", help="stem of the result files")
    ap.add_argument("--outdir", type=Path, default=HERE / "results", help="results folder")
    ap.add_argument(
        "--from-runs",
        type=Path,
        nargs="+",
        default=None,
        help="tally existing per-run TSVs (e.g. parts of --full run with --cells) instead of running",
    )
    args = ap.parse_args(argv)
    runs = args.runs or (300 if args.full else 20)
    cells = scenarios.full_grid() if args.full else scenarios.fast_grid()
    if args.cells:
        cells = [c for c in cells if re.search(args.cells, c.key)]
    if args.from_runs:
        import pandas as pd

        df = pd.concat([pd.read_csv(p, sep="\t", keep_default_na=False) for p in args.from_runs])
        df = df.drop_duplicates(["cell", "run"]).reset_index(drop=True)
        order = {c.key: i for i, c in enumerate(cells)}
        df = df[df["cell"].isin(order)]
        df = df.iloc[df["cell"].map(order).argsort(kind="stable")].reset_index(drop=True)
        df["contaminant_flagged"] = df["contaminant_flagged"].map(
            {"True": True, "False": False, True: True, False: False}
        )
        write(df, args)
        return 0
    total = len(cells) * runs
    print(
        f"{len(cells)} cells × {runs} runs = {total} studies, {args.jobs} processes",
        file=sys.stderr,
    )
    start = time.time()

    def progress(done: int, of: int) -> None:
        if done % max(of // 20, 1) == 0 or done == of:
            print(f"  {done}/{of} runs, {time.time() - start:.0f} s", file=sys.stderr)

    df = runner.run_cells(
        cells,
        runs,
        jobs=args.jobs,
        rule=args.rule,
        n_genes=args.genes,
        permutations=args.permutations,
        progress=progress,
    )
    print(f"wall time {time.time() - start:.0f} s", file=sys.stderr)
    write(df, args)
    return 0


def write(df, args: argparse.Namespace) -> None:
    """Write the per-run and per-cell TSVs and the markdown table; print the table and the cost."""
    table = runner.tally(df)
    args.outdir.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.outdir / f"{args.name}_runs.tsv", sep="\t", index=False)
    table.to_csv(args.outdir / f"{args.name}.tsv", sep="\t", index=False, float_format="%.4g")
    text = runner.markdown(table)
    (args.outdir / f"{args.name}.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    full = scenarios.full_grid()
    est = runner.estimate_cpu_seconds(df, [*full, *scenarios.fast_grid()], full, 300)
    print(
        f"\n{len(df)} runs, {float(df['cpu_seconds'].sum()):.0f} s CPU in runs "
        f"({int((df['error'] != '').sum())} errors). "
        f"Estimated --full ({len(full)} cells × 300 runs): {est / 3600:.1f} CPU hours "
        "(CPU per run linear in the number of libraries, fitted on these runs).",
        file=sys.stderr,
    )


if __name__ == "__main__":
    raise SystemExit(main())
