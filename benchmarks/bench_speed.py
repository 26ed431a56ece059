"""Issue 15's speed-ups measured: ``mscseq compare`` on the 20-product study and ``mscseq de`` on airway.

Usage (from the repository root; ``../shared/data`` beside the repo or ``MSCSEQ_SHARED_DATA``)::

    python benchmarks/bench_speed.py                          # this tree, best of 3
    python benchmarks/bench_speed.py --before /work/main/src  # and another tree's src/ beside it

Each figure is the best wall time of N fresh processes (``--repeats``, default 3), the trees taking turns
round by round (a change of load on the shared machine falls on both), with the 1-minute load average
before the best run, the smallest CPU time (user + system) of the runs and the process's peak RSS. The
studies and the process measurement are those of ``benchmarks/bench_peers.py`` (the 20-product ×
61,533-gene simulation anchored in the six-tissue MSC set; airway with ``~ cell + dex``), so the numbers
sit beside its peer table. Results: a Markdown table on stdout and ``benchmarks/results/speed.tsv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_peers import (  # noqa: E402  (the peer benchmark's studies and process measurement)
    PY,
    airway_inputs,
    best_of,
    compare_cmd,
    simulate_study,
)

REPO = HERE.parent


def de_cmd(counts: Path, sheet: Path, out: Path) -> list[str]:
    """``mscseq de`` on airway: ``~ cell + dex``, dex trt vs untrt, one thread."""
    return [
        PY, "-m", "mscseq", "de", str(counts), "--samples", str(sheet), "--design", "~ cell + dex",
        "--contrast", "dex,trt,untrt", "--out", str(out), "--force", "--threads", "1", "--quiet",
    ]  # fmt: skip


def child_env() -> dict[str, str]:
    """The children's environment (each command sets its own ``PYTHONPATH`` through ``env``)."""
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="another tree's src/ to measure beside this one")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mscseq-bench-speed")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "speed.tsv")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    trees = [("this tree", REPO / "src")]
    if args.before is not None:
        trees.insert(0, ("before", args.before.resolve()))
    counts20, sheet20 = simulate_study(args.work, 20)
    air_counts, air_sheet = airway_inputs(args.work)
    rows = []
    for work, make in [
        (
            "compare, 20 products × 61,533 genes, --group, one contrast, report",
            lambda d: compare_cmd(counts20, sheet20, d, threads=1),
        ),
        ("de, airway ~ cell + dex", lambda d: de_cmd(air_counts, air_sheet, d / "de.tsv")),
    ]:
        outs = [args.work / f"out{i}" for i in range(len(trees))]
        for d in outs:
            d.mkdir(exist_ok=True)
        cmds, fresh = [], []
        for d in outs:
            target = d / "compare"
            cmds.append(make(target if "compare" in work else d))
            fresh.append(target)
        # best_of takes one environment: PYTHONPATH goes on the command line instead
        cmds = [["env", f"PYTHONPATH={src}", *c] for (_, src), c in zip(trees, cmds, strict=True)]
        measures = best_of(cmds, args.repeats, child_env(), fresh=fresh)
        for (name, src), m in zip(trees, measures, strict=True):
            rows.append(
                {
                    "work": work,
                    "tree": f"{name} ({src})",
                    "best_wall_s": round(m.seconds, 2),
                    "min_cpu_s": round(m.cpu_seconds, 2),
                    "peak_rss_mib": round(m.peak_bytes / 2**20),
                    "load1_before": round(m.load1, 1),
                    "runs": m.runs,
                }
            )
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, sep="\t", index=False)
    print(table.to_markdown(index=False) if hasattr(table, "to_markdown") else table.to_string())


if __name__ == "__main__":
    main()
