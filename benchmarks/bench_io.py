"""I/O benchmark: read a 1,000-sample × 60,000-gene gzip count matrix (target ≤ 20 s, ≤ 2 GiB peak RSS).

Usage::

    python benchmarks/bench_io.py                 # 1000 × 60000, cached input in $TMPDIR
    python benchmarks/bench_io.py --samples 200   # smaller
    python benchmarks/bench_io.py --json out.json

Each measurement runs in a fresh Python process, so the peak RSS is that of the read alone (interpreter
and imports included). Exits with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_SECONDS = 20.0
TARGET_RSS_GIB = 2.0


def make_matrix(path: Path, n_genes: int, n_samples: int, seed: int = 0) -> None:
    """Write a realistic raw-count matrix: versioned Ensembl IDs, many zeros, counts up to ~10^6."""
    rng = np.random.default_rng(seed)
    means = rng.lognormal(mean=1.5, sigma=2.5, size=n_genes)
    depth = rng.uniform(0.5, 1.5, size=n_samples)
    tmp = path.with_suffix(".partial")
    with gzip.open(tmp, "wt", compresslevel=6) as fh:
        fh.write("gene_id\t" + "\t".join(f"MSC{i:04d}" for i in range(n_samples)) + "\n")
        for start in range(0, n_genes, 2000):
            mu = means[start : start + 2000, None] * depth[None, :]
            block = rng.negative_binomial(5, 5 / (5 + mu)).astype(np.int64)
            fh.write(
                "".join(
                    f"ENSG{start + i:011d}.{(start + i) % 17 + 1}\t"
                    + "\t".join(map(str, row.tolist()))
                    + "\n"
                    for i, row in enumerate(block)
                )
            )
    tmp.replace(path)


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
import mscseq.io as io
t_import = time.perf_counter() - t0
mode, counts, sheet = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
if mode == "read_counts":
    table = io.read_counts(counts)
    shape = list(table.counts.shape)
else:
    adata = io.load_dataset([counts], sheet)
    shape = list(adata.shape)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"mode": mode, "seconds": seconds, "import_seconds": t_import, "peak_rss_bytes": peak, "shape": shape}))
"""


def measure(mode: str, counts: Path, sheet: Path) -> dict:
    """Run one read in a fresh interpreter and return its timing and peak RSS."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(counts), str(sheet)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--genes", type=int, default=60_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mscseq-bench-io"
    )
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    counts = args.workdir / f"counts_{args.genes}x{args.samples}.tsv.gz"
    if not counts.exists():
        t0 = time.perf_counter()
        make_matrix(counts, args.genes, args.samples)
        print(
            f"generated {counts} ({counts.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
    sheet = args.workdir / f"samples_{args.samples}.tsv"
    sheet.write_text(
        "sample\tdonor\n" + "".join(f"MSC{i:04d}\tD{i % 40:02d}\n" for i in range(args.samples))
    )
    results = {
        "genes": args.genes,
        "samples": args.samples,
        "gzip_mib": round(counts.stat().st_size / 2**20, 1),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "runs": [measure("read_counts", counts, sheet), measure("load_dataset", counts, sheet)],
    }
    ok = True
    print(f"{args.genes} genes × {args.samples} samples, gzip {results['gzip_mib']} MiB")
    for r in results["runs"]:
        gib = r["peak_rss_bytes"] / 2**30
        passed = r["seconds"] <= TARGET_SECONDS and gib <= TARGET_RSS_GIB
        ok &= passed
        print(
            f"  {r['mode']:<13} {r['seconds']:6.1f} s (+{r['import_seconds']:.1f} s imports)   "
            f"peak RSS {gib:5.2f} GiB   {'ok' if passed else 'OVER TARGET'}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
