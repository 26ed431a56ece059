"""Peak memory of reading padded count files (issue 11, item 17): all-zero gene rows and blank lines.

Three inputs, each followed by padding of about ``--mib`` MiB:

- ``zeros``: a small real matrix (200 genes × 3 samples), then all-zero gene rows
  (``Z0000001<TAB>0<TAB>0<TAB>0``), about 3.4 million genes at 50 MiB;
- ``blank``: the same matrix, then blank lines only (50 million at 50 MiB);
- ``sheet``: a 3-sample sheet, then blank lines only (``read_sheet``).

Usage::

    python benchmarks/bench_io_padding.py              # 50 MiB each; read_counts and load_dataset
    python benchmarks/bench_io_padding.py --compare    # also the whole `mscseq compare --no-report`
    python benchmarks/bench_io_padding.py --mib 10 --json out.json
    python benchmarks/bench_io_padding.py --cases sheet     # only the padded sample sheet

Each measurement runs in a fresh process (``/usr/bin/time``-like peak RSS from ``getrusage``, interpreter
and imports included). The files are written to a temporary folder and deleted afterwards. No target is
enforced; the figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLES = ("A", "B", "C")

CHILD = r"""
import json, resource, sys, time
import mscseq.io as io
mode, counts, sheet = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
if mode == "read_counts":
    shape = list(io.read_counts(counts).counts.shape)
elif mode == "read_sheet":
    shape = list(io.read_sheet(sheet).shape)
else:
    shape = list(io.load_dataset([counts], sheet).shape)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_bytes": peak, "shape": shape}))
"""


def write_inputs(folder: Path, mib: int) -> dict[str, Path]:
    """Write the two padded matrices and a sheet; return their paths."""
    rng = np.random.default_rng(0)
    head = "gene_id\t" + "\t".join(SAMPLES) + "\n"
    head += "".join(
        f"R{g}\t" + "\t".join(str(v) for v in rng.poisson(50, len(SAMPLES))) + "\n"
        for g in range(200)
    )
    target = mib << 20
    zeros = folder / "zeros.tsv"
    with zeros.open("w") as fh:
        fh.write(head)
        size, g = 0, 0
        while size < target:
            block = "".join(f"Z{g + i:07d}\t0\t0\t0\n" for i in range(100_000))
            fh.write(block)
            size += len(block)
            g += 100_000
    blank = folder / "blank.tsv"
    with blank.open("w") as fh:
        fh.write(head)
        for _ in range(mib):
            fh.write("\n" * (1 << 20))
    sheet = folder / "samples.tsv"
    sheet.write_text("sample\tgroup\nA\tx\nB\ty\nC\ty\n")
    padded_sheet = folder / "padded_samples.tsv"
    with padded_sheet.open("w") as fh:
        fh.write("sample\tgroup\nA\tx\nB\ty\nC\ty\n")
        for _ in range(mib):
            fh.write("\n" * (1 << 20))
    return {"zeros": zeros, "blank": blank, "sheet": sheet, "padded_sheet": padded_sheet}


def measure_read(mode: str, counts: Path, sheet: Path) -> dict:
    """One read in a fresh interpreter: seconds and peak RSS."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(counts), str(sheet)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{mode} {counts.name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_compare(counts: Path, sheet: Path, outdir: Path) -> dict:
    """The whole ``mscseq compare --no-report`` in a child process: seconds and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "mscseq", "compare", str(counts), "-s", str(sheet)),
            *("--design", "~group", "-o", str(outdir), "--no-report", "--quiet"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "seconds": seconds,
        # RUSAGE_CHILDREN is the largest child so far: exact when this child is the largest.
        "peak_rss_bytes": peak * 1024 if peak > before else None,
        "exit_code": proc.returncode,
        "error": proc.stderr.strip().splitlines()[-1] if proc.returncode else None,
    }


def _print(case: str, size: int, runs: dict[str, dict]) -> None:
    print(f"{case}: {size / 2**20:.0f} MiB")
    for mode, r in runs.items():
        peak = r["peak_rss_bytes"]
        shown = f"{peak / 2**20:7.0f} MiB ({peak / size:4.1f}× the file)" if peak else "n/a"
        print(f"  {mode:<13} {r['seconds']:6.1f} s   peak RSS {shown}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=50, help="Padding per file in MiB (default 50).")
    parser.add_argument("--compare", action="store_true", help="Also run `mscseq compare`.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument(
        "--cases", default="zeros,blank,sheet", help="Comma-separated cases (default: all three)."
    )
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mscseq-bench-padding-") as tmp:
        paths = write_inputs(Path(tmp), args.mib)
        for case in args.cases.split(","):
            if case == "sheet":
                counts = paths["padded_sheet"]
                size = counts.stat().st_size
                runs = {"read_sheet": measure_read("read_sheet", paths["blank"], counts)}
                results[case] = {"file_bytes": size, "runs": runs}
                _print(case, size, runs)
                continue
            counts = paths[case]
            size = counts.stat().st_size
            runs = {
                m: measure_read(m, counts, paths["sheet"]) for m in ("read_counts", "load_dataset")
            }
            if args.compare:
                runs["compare"] = measure_compare(counts, paths["sheet"], Path(tmp) / f"out_{case}")
            results[case] = {"file_bytes": size, "runs": runs}
            _print(case, size, runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
