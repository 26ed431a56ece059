"""Simulation study of the comparability verdict (issue 13: operating characteristics).

Realistic MSC product studies (profiles from the six-tissue MSC data, 10–30 M reads per product,
technical NB noise, donor SD 0.2/0.35/0.5 log2 with co-regulated programs and heavy tails, sex and
genotype on/off genes, batches, replicate libraries; see ``simstudy.generator``) are judged through
the same library calls as ``mscseq compare`` (``simstudy.rules``), R seeded runs per cell in parallel
processes. Each finished run is appended to ``<name>_runs.tsv`` at once and runs already there are
skipped, so a stopped study resumes where it stopped (the seeds depend only on the cell and the run
number). Runs are interleaved in chunks (runs 0–24 of every cell, then 25–49, …), so a study stopped
early has about as many runs in every cell. Writes the per-cell TSV (rates with 95 % Clopper–Pearson
intervals), the targets TSV and a markdown report for ``docs/comparability.md``.

Usage::

    python benchmarks/sim_comparability.py                    # fast grid, 20 runs, current rule
    python benchmarks/sim_comparability.py --rule v2 --grid study --runs 300 --workers 2 \
        --name sim_v2                                         # the issue-13 study (resumable)
    python benchmarks/sim_comparability.py --rule v2 --grid study --cells '^equivalent|n6' ...
    python benchmarks/sim_comparability.py --name sim_v2 --grid study --tables-only
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from simstudy import runner, scenarios, tables  # noqa: E402

GRIDS = {
    "fast": scenarios.fast_grid,
    "full": scenarios.full_grid,
    "study": scenarios.study_grid,
}


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", choices=sorted(GRIDS), default="fast", help="design grid")
    ap.add_argument("--full", action="store_true", help="same as --grid full")
    ap.add_argument(
        "--runs", type=int, default=None, help="runs per cell (default 20; 300 with --full)"
    )
    ap.add_argument(
        "--workers", "--jobs", dest="jobs", type=int, default=2, help="worker processes"
    )
    ap.add_argument("--rule", default="current", help="current, v2 or module:function")
    ap.add_argument("--cells", default=None, help="regular expression on cell names to keep")
    ap.add_argument(
        "--genes",
        type=int,
        default=None,
        help="genes per simulated study (default 12000 with --rule v2, see results/sim_cost.md; "
        "else 20000)",
    )
    ap.add_argument("--chunk", type=int, default=25, help="runs per cell per round")
    ap.add_argument("--permutations", type=int, default=99, help="PERMANOVA permutations (current)")
    ap.add_argument("--name", default="sim_comparability", help="stem of the result files")
    ap.add_argument("--outdir", type=Path, default=HERE / "results", help="results folder")
    ap.add_argument("--title", default=None, help="title of the markdown report")
    ap.add_argument(
        "--tables-only", action="store_true", help="no new runs: tables of <name>_runs.tsv"
    )
    ap.add_argument(
        "--from-runs",
        type=Path,
        nargs="+",
        default=None,
        help="tally these per-run TSVs (e.g. parts run on other machines) instead of running",
    )
    args = ap.parse_args(argv)
    if args.genes is None:
        args.genes = 12000 if args.rule == "v2" else 20000
    grid = "full" if args.full else args.grid
    runs = args.runs or (300 if args.full else 20)
    cells = GRIDS[grid]()
    if args.cells:
        cells = [c for c in cells if re.search(args.cells, c.key)]
    path = args.outdir / f"{args.name}_runs.tsv"
    if args.from_runs:
        import pandas as pd

        df = pd.concat([runner.read_runs(p) for p in args.from_runs], ignore_index=True)
        df = df.drop_duplicates(["cell", "run"], keep="last")
        write(runner.select(df, cells), args)
        return 0
    if args.tables_only:
        write(runner.select(runner.read_runs(path), cells), args)
        return 0
    total = len(cells) * runs
    print(
        f"{len(cells)} cells × {runs} runs = {total} studies ({args.genes} genes), "
        f"{args.jobs} processes, appending to {path}",
        file=sys.stderr,
    )
    start = time.time()

    def progress(done: int, of: int) -> None:
        if done % max(of // 100, 1) == 0 or done == of:
            print(f"  {done}/{of} new runs, {time.time() - start:.0f} s", file=sys.stderr)

    df = runner.run_cells(
        cells,
        runs,
        jobs=args.jobs,
        rule=args.rule,
        n_genes=args.genes,
        permutations=args.permutations,
        progress=progress,
        out=path,
        chunk=args.chunk,
    )
    print(f"wall time {time.time() - start:.0f} s", file=sys.stderr)
    write(df, args)
    return 0


def write(df, args: argparse.Namespace) -> None:
    """Write the per-cell and targets TSVs and the markdown report; print the targets summary."""
    title = args.title or f"Operating characteristics ({args.rule} rule, {args.name})"
    notes = [
        f"Rule `{args.rule}`, {args.genes} genes per simulated study; "
        "`python benchmarks/sim_comparability.py` (see `benchmarks/simstudy`)."
    ]
    text, table, targets = tables.report(df, title=title, notes=notes)
    args.outdir.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.outdir / f"{args.name}.tsv", sep="\t", index=False, float_format="%.4g")
    targets.to_csv(
        args.outdir / f"{args.name}_targets.tsv", sep="\t", index=False, float_format="%.4g"
    )
    (args.outdir / f"{args.name}.md").write_text(text, encoding="utf-8")
    print(tables.markdown_targets(targets).split("\n\n")[0])
    full = scenarios.study_grid()
    known = [*full, *scenarios.full_grid(), *scenarios.fast_grid()]
    est = runner.estimate_cpu_seconds(df, known, full, 300)
    print(
        f"\n{len(df)} runs, {float(df['cpu_seconds'].sum()):.0f} s CPU in runs "
        f"({int((df['error'].fillna('') != '').sum())} errors). "
        f"Estimated --grid study ({len(full)} cells × 300 runs): {est / 3600:.1f} CPU hours "
        "(CPU per run linear in the number of libraries, fitted on these runs).",
        file=sys.stderr,
    )


if __name__ == "__main__":
    raise SystemExit(main())
