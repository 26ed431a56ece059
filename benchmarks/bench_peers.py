"""Speed of mscseq next to the tools a user could pick instead (issue 15), as whole processes.

Usage (from the repository root; ``../shared/data`` beside the repo or ``MSCSEQ_SHARED_DATA``)::

    python benchmarks/bench_peers.py                      # airway, study20, mem200; best of 3
    python benchmarks/bench_peers.py airway --repeats 5   # selected parts, best of 5
    python benchmarks/bench_peers.py airway --pydeseq2    # add PyDESeq2 (slow: ~30-60 s a run)
    python benchmarks/bench_peers.py profile              # cProfile of compare on the 20-product study

Parts:

* ``airway``: ``mscseq de`` (``~ cell + dex``) next to limma-voom, edgeR QL and R DESeq2 (and PyDESeq2
  with ``--pydeseq2``) on the same two files; ratio of each to limma-voom's whole process.
* ``study20``: ``mscseq compare`` with ``--group``, one contrast and the report on a 20-product ×
  61,533-gene study next to limma-voom's bare DE on the same files; ratio compare / limma-voom.
* ``mem200``: ``mscseq compare`` (same options) on 200 products × 61,533 genes, run once: peak RSS and
  wall time (target ≤ 2 GiB), beside limma-voom's bare DE on the same files.
* ``profile``: ``mscseq compare`` of ``study20`` under cProfile; the top 40 lines by cumulative time go to
  ``benchmarks/results/compare_profile.txt``.

The studies are seeded simulations anchored in real data: gene IDs and each gene's expression level are
those of the six-tissue MSC set in ``msc_six_sources_osteogenic_kuchur_lobov`` (61,533 genes; the pooled
counts of its 102 libraries give each gene's share of the library), scaled to a realistic depth of 15–35 M
counts per library (the real libraries hold only 26,000–180,000 counts, too shallow to stand for a product
study: a fraction of the genes would carry counts). Products get donor offsets (log2 SD 0.25), two groups
A and B of equal size, 5 % of the expressed genes shifted in B (log2 N(0, 1)), negative-binomial counts
with the DESeq2-like dispersion trend of ``test_data/generate.py``.

Each figure is the best wall time of N fresh processes (``--repeats``, default 3; the processes of one
part take turns, round by round, so a change of load falls on all of them), with the 1-minute load
average before that run, the smallest CPU time (user + system) of the N runs and the process's own
peak RSS (``os.wait4``). R rows are skipped with a message where ``Rscript`` or the package is missing. Results: a Markdown table on stdout and
``benchmarks/results/peers.tsv`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MSCSEQ_SHARED_DATA", REPO.parent / "shared" / "data"))
PEERS = Path(__file__).resolve().parent / "peers"
RESULTS = Path(__file__).resolve().parent / "results"
PY = sys.executable
MSC_SET = "msc_six_sources_osteogenic_kuchur_lobov"
AIRWAY = "airway_himes2014_GSE52778"
R_PEERS = {
    "limma-voom": ("limma_voom.R", "limma"),
    "edgeR QL": ("edger_ql.R", "edgeR"),
    "R DESeq2": ("deseq2.R", "DESeq2"),
}
MEMORY_TARGET_GIB = 2.0


@dataclass
class Measure:
    """Best of ``runs`` fresh processes: wall seconds, load average before it, its peak RSS.

    ``cpu_seconds`` is the smallest user + system CPU time of the runs: on a loaded machine it moves
    far less than the wall time (the processes here use one core, ``--threads 1``).
    """

    seconds: float
    cpu_seconds: float
    runs: int
    load1: float
    peak_bytes: int
    median_seconds: float = float("nan")
    median_cpu_seconds: float = float("nan")
    median_load1: float = float("nan")


def load1() -> float:
    """1-minute load average (other sessions share the machine)."""
    return os.getloadavg()[0]


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Run ``cmd`` to completion; return its wall seconds, CPU seconds and own peak RSS in bytes.

    Raises
    ------
    RuntimeError
        When the process exits with a non-zero status (its stderr is shown).
    """
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss * 1024  # Linux reports kilobytes


def best_of(
    cmds: list[list[str]], repeats: int, env: dict[str, str], fresh: list[Path | None] | None = None
) -> list[Measure]:
    """Best wall time of each command over ``repeats`` rounds, the commands taking turns.

    Each round runs every command once, so a change of load on the shared machine falls on all of them
    rather than on one. ``fresh[i]`` (optional) is a folder removed before each run of ``cmds[i]``.
    """
    fresh = fresh or [None] * len(cmds)
    best: list[Measure | None] = [None] * len(cmds)
    every: list[list[tuple[float, float, float]]] = [[] for _ in cmds]
    for _ in range(repeats):
        for i, cmd in enumerate(cmds):
            if fresh[i] is not None:
                shutil.rmtree(fresh[i], ignore_errors=True)
            ld = load1()
            sec, cpu, peak = run_once(cmd, env)
            every[i].append((sec, cpu, ld))
            b = best[i]
            if b is None:
                best[i] = Measure(sec, cpu, repeats, ld, peak)
            elif sec < b.seconds:
                best[i] = Measure(sec, min(cpu, b.cpu_seconds), repeats, ld, peak)
            else:
                b.cpu_seconds = min(b.cpu_seconds, cpu)
    for b, runs in zip(best, every, strict=True):
        if b is not None:
            b.median_seconds, b.median_cpu_seconds, b.median_load1 = (
                float(np.median([r[k] for r in runs])) for k in range(3)
            )
    return [b for b in best if b is not None]


def child_env(work: Path) -> dict[str, str]:
    """Environment of the children: this checkout's ``src`` first on ``PYTHONPATH``, bytecode cached.

    An installed mscseq runs from compiled bytecode (pip compiles the wheel's modules when it installs
    them; a checkout writes ``__pycache__`` on first use). A shell with ``PYTHONDONTWRITEBYTECODE`` set
    (as some containers have) would make every run compile the ~150 modules a ``compare`` imports
    (~0.1 s); the children keep their bytecode in ``work/pycache`` instead, so the source tree stays clean.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


# --- machine and tools ---------------------------------------------------------------------


def r_versions() -> dict[str, str]:
    """Installed versions of R and the peer packages ({} without ``Rscript``)."""
    if shutil.which("Rscript") is None:
        return {}
    code = (
        "cat('R', paste(R.version$major, R.version$minor, sep='.'), '\\n');"
        "for (p in c('limma','edgeR','DESeq2')) cat(p, if (requireNamespace(p, quietly=TRUE))"
        " as.character(packageVersion(p)) else 'missing', '\\n')"
    )
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=False)
    pairs = (line.split() for line in out.stdout.splitlines() if line.strip())
    return {k: v for k, v in pairs if v != "missing"}


def machine(rv: dict[str, str]) -> str:
    """One line: CPUs, memory, Python, numpy, mscseq and R versions."""
    import mscseq

    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    r = ", ".join(f"{k} {v}" for k, v in rv.items()) or "R not found"
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem:.0f} GiB RAM, {platform.system()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, mscseq {mscseq.__version__}, {r}"
    )


# --- inputs --------------------------------------------------------------------------------


def airway_inputs(work: Path) -> tuple[Path, Path]:
    """The airway counts as shipped and a sample sheet (sample, cell, dex) derived from its metadata."""
    d = SHARED / AIRWAY
    sheet = work / "airway_samples.tsv"
    meta = pd.read_csv(d / "airway_metadata.tsv", sep="\t")
    meta.rename(columns={"ID": "sample"})[["sample", "cell", "dex"]].to_csv(
        sheet, sep="\t", index=False
    )
    return d / "airway_cts.tsv.gz", sheet


def msc_profile() -> pd.Series:
    """Each gene's share of the pooled counts of the six-tissue MSC set (all 102 libraries)."""
    files = sorted((SHARED / MSC_SET).glob("*_transcriptomes_total.csv.gz"))
    if not files:
        raise SystemExit(f"{SHARED / MSC_SET}: count files not found (set MSCSEQ_SHARED_DATA)")
    total = sum(pd.read_csv(f, index_col=0).sum(axis=1) for f in files)
    return total / total.sum()


def simulate_study(work: Path, n_products: int, seed: int = 15) -> tuple[Path, Path]:
    """Write (once) a seeded n-product × 61,533-gene study: counts TSV and sample sheet.

    Returns
    -------
    tuple of Path
        The counts file (gene_id + one column per product) and the sheet (sample, group).
    """
    counts_path = work / f"study{n_products}_seed{seed}_counts.tsv"
    sheet_path = work / f"study{n_products}_seed{seed}_samples.tsv"
    if counts_path.exists() and sheet_path.exists():
        return counts_path, sheet_path
    share = msc_profile()
    rng = np.random.default_rng(seed)
    g = share.size
    samples = [f"P{i + 1:03d}" for i in range(n_products)]
    group = np.where(np.arange(n_products) < n_products // 2, "A", "B")
    expressed = share.to_numpy() > 0
    shifted = expressed & (rng.random(g) < 0.05)
    shift = np.where(shifted, rng.normal(0.0, 1.0, g), 0.0)
    depth = rng.uniform(15e6, 35e6, n_products)
    base = share.to_numpy() * 25e6
    disp = (0.04 + 1.5 / np.maximum(base, 0.1)) * np.exp(rng.normal(0, 0.45, g))
    counts = np.empty((g, n_products), dtype=np.int64)
    for j in range(n_products):
        log2_mean = rng.normal(0.0, 0.25, g) + shift * (group[j] == "B")
        mean = share.to_numpy() * depth[j] * 2.0**log2_mean
        shape = 1.0 / disp
        counts[:, j] = rng.poisson(rng.gamma(shape, mean / shape))
    table = pd.DataFrame(counts, index=pd.Index(share.index, name="gene_id"), columns=samples)
    tmp = counts_path.with_suffix(".part")
    table.to_csv(tmp, sep="\t", lineterminator="\n")
    tmp.rename(counts_path)
    pd.DataFrame({"sample": samples, "group": group}).to_csv(sheet_path, sep="\t", index=False)
    return counts_path, sheet_path


PROFILE_PROC = r"""
import cProfile, sys, time
from mscseq.process import setup
setup()  # the process set-up of `python -m mscseq` (BLAS threads, collector), before numpy loads
out, sys.argv = sys.argv[1], ["mscseq", *sys.argv[2:]]
prof = cProfile.Profile(time.process_time)  # CPU clock: the machine is shared, wall time is not ours
prof.enable()
try:
    from mscseq.cli import main  # what `python -m mscseq` runs, before its exit (mscseq.fastexit)
    main()
except SystemExit as exc:
    if exc.code:
        raise
finally:
    prof.disable()
    prof.dump_stats(out)
"""

# Step timer: CPU and wall seconds of named functions, patched right after their module is first
# imported (so lazy imports stay where the code puts them), without a profiler's overhead.
STEPS = {
    # analyse and write_outputs: this process's share (the DE and the figures run in forked children)
    "mscseq.pipeline": [
        "load_while_importing",  # load itself runs in a forked child for small inputs
        "load",
        "validate_design",
        "analyse",
        "_prepare_figures",  # inside analyse, while the DE child still runs
        "_prepare_report",
        "run_info",
        "write_outputs",
    ],
    "mscseq.qc": ["compute_qc"],
    "mscseq.normalize": ["normalize"],
    "mscseq.explore": ["explore", "pca", "correlations", "cluster_order"],
    "mscseq.de.run": ["run_de"],
    "mscseq.comparability": ["run_comparability"],
    "mscseq.comparability.similarity": ["product_similarity", "two_clusters"],
    "mscseq.comparability.panels": ["load_panels", "panel_scores"],
    "mscseq.comparability.tier2": ["tier2"],
    "mscseq.comparability.permanova": ["permanova", "permdisp"],
    "mscseq.comparability.variance": ["variance_partition"],
    "mscseq.outputs": ["write_tables", "build_summary", "write_h5ad"],
    "mscseq.multiqc": ["write_multiqc"],
    "mscseq.report": ["render_report"],
    "mscseq.report.static": ["save_figures"],
}

STEPS_PROC = r"""
import importlib.abc, json, sys, time
from mscseq.process import setup
setup()  # the process set-up of `python -m mscseq` (BLAS threads, collector), before numpy loads
out, steps, sys.argv = sys.argv[1], json.loads(sys.argv[2]), ["mscseq", *sys.argv[3:]]
times, stack = {}, []

def wrap(module, name):
    func = getattr(module, name, None)
    if func is None or getattr(func, "_timed", False):
        return
    key = f"{module.__name__}.{name}"
    def timed(*args, **kwargs):
        rec = times.setdefault(key, {"depth": len(stack), "calls": 0, "cpu": 0.0, "wall": 0.0})
        c, w = time.process_time(), time.perf_counter()
        stack.append(key)
        try:
            return func(*args, **kwargs)
        finally:
            stack.pop()
            rec["calls"] += 1
            rec["cpu"] += time.process_time() - c
            rec["wall"] += time.perf_counter() - w
    timed._timed = True
    setattr(module, name, timed)

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in steps:
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            for attr in steps[name]:
                wrap(module, attr)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook())
code = 0
try:
    from mscseq.cli import main
    main()
except SystemExit as exc:
    code = exc.code
finally:
    with open(out, "w") as fh:
        json.dump({"steps": times, "cpu": time.process_time()}, fh)
if code:
    raise SystemExit(code)
from mscseq.fastexit import exit_now  # the exit of `python -m mscseq`
exit_now(0)
"""

# --- commands ------------------------------------------------------------------------------


def r_cmd(
    script: str, counts: Path, sheet: Path, design: str, contrast: str, out: Path
) -> list[str]:
    """``Rscript`` call of one peer script."""
    return ["Rscript", str(PEERS / script), str(counts), str(sheet), design, contrast, str(out)]


def compare_cmd(counts: Path, sheet: Path, outdir: Path, threads: int) -> list[str]:
    """``mscseq compare`` with ``--group``, one contrast and the report (the default)."""
    return [
        PY, "-m", "mscseq", "compare", str(counts), "--samples", str(sheet), "--outdir", str(outdir),
        "--design", "~ group", "--contrast", "group,B,A", "--group", "group",
        "--threads", str(threads), "--quiet",
    ]  # fmt: skip


@dataclass
class Row:
    """One line of the results table."""

    work: str
    process: str
    m: Measure
    ratio_to: str = ""
    ratio: float = float("nan")
    cpu_ratio: float = float("nan")
    median_ratio: float = float("nan")
    median_cpu_ratio: float = float("nan")

    def relative_to(self, name: str, ref: Measure) -> None:
        """Set the wall and CPU ratios (best and median) to the reference ``ref`` (called ``name``)."""
        self.ratio_to = name
        self.ratio = self.m.seconds / ref.seconds
        self.cpu_ratio = self.m.cpu_seconds / ref.cpu_seconds
        self.median_ratio = self.m.median_seconds / ref.median_seconds
        self.median_cpu_ratio = self.m.median_cpu_seconds / ref.median_cpu_seconds


class Bench:
    """Runs the parts and collects their rows."""

    def __init__(self, work: Path, repeats: int, threads: int, rv: dict[str, str]):
        self.work, self.repeats, self.threads, self.rv = work, repeats, threads, rv
        self.env = child_env(work)
        self.rows: list[Row] = []

    def have(self, package: str) -> bool:
        """Whether ``Rscript`` and the R package are installed (says so on stderr when not)."""
        if package in self.rv:
            return True
        why = "Rscript not found" if not self.rv else f"R package {package} not installed"
        print(f"{why}: its rows are skipped", file=sys.stderr)
        return False

    def add(self, work: str, process: str, m: Measure) -> Row:
        row = Row(work, process, m)
        self.rows.append(row)
        print(
            f"  {process:44s} {m.seconds:8.2f} s  cpu {m.cpu_seconds:7.2f} s  load {m.load1:4.1f}  peak {m.peak_bytes / 2**20:7.0f} MiB",
            file=sys.stderr,
        )
        return row

    def r_peers(self, names: list[str], files: tuple[Path, Path], design: str, con: str) -> dict:
        """``Rscript`` commands of the installed peers among ``names``, by display name."""
        out = {}
        for name in names:
            script, package = R_PEERS[name]
            if self.have(package):
                out[f"{name} (Rscript)"] = r_cmd(
                    script, *files, design, con, self.work / f"{script}.tsv"
                )
        return out

    def measure(self, work: str, cmds: dict[str, list[str]], repeats: int, fresh=None) -> list[Row]:
        """Measure ``cmds`` (name → command) taking turns, add and return their rows."""
        ms = best_of(list(cmds.values()), repeats, self.env, fresh)
        return [self.add(work, name, m) for name, m in zip(cmds, ms, strict=True)]

    def airway(self, pydeseq2: bool) -> None:
        """``mscseq de`` on airway next to limma-voom, edgeR QL, R DESeq2 (and PyDESeq2)."""
        work = "airway DE (~ cell + dex), 8 samples x 64,102 genes"
        print(f"\n{work}", file=sys.stderr)
        counts, sheet = airway_inputs(self.work)
        design, con = "~ cell + dex", "dex,trt,untrt"
        de = [
            PY, "-m", "mscseq", "de", str(counts), "--samples", str(sheet), "--design", design,
            "--contrast", con, "--threads", str(self.threads), "--out", str(self.work / "de.tsv"),
            "--force", "--quiet",
        ]  # fmt: skip
        run_once(de, self.env)  # warm the file cache and numba's on-disk compile cache
        cmds = {"mscseq de": de, **self.r_peers(list(R_PEERS), (counts, sheet), design, con)}
        if pydeseq2:
            cmds["PyDESeq2 (python)"] = [
                PY, str(PEERS / "pydeseq2_de.py"), str(counts), str(sheet), design, con,
                str(self.work / "pydeseq2.tsv"), str(self.threads),
            ]  # fmt: skip
        rows = self.measure(work, cmds, self.repeats)
        ref = [r for r in rows if r.process.startswith("limma-voom")]
        for row in rows if ref else []:
            row.relative_to("limma-voom (whole process)", ref[0].m)

    def study(self, n_products: int, repeats: int) -> None:
        """``mscseq compare`` on an n-product study next to limma-voom's bare DE."""
        counts, sheet = simulate_study(self.work, n_products)
        with open(counts) as fh:
            g = sum(1 for _ in fh) - 1
        work = f"compare --group, 1 contrast, report: {n_products} products x {g:,} genes"
        print(f"\n{work}", file=sys.stderr)
        outdir = self.work / f"compare{n_products}"
        cmd = compare_cmd(counts, sheet, outdir, self.threads)
        if repeats > 1:
            shutil.rmtree(outdir, ignore_errors=True)
            run_once(cmd, self.env)  # warm caches
        peers = self.r_peers(["limma-voom"], (counts, sheet), "~ group", "group,B,A")
        rows = self.measure(work, {"mscseq compare": cmd, **peers}, repeats, [outdir, None])
        shutil.rmtree(outdir, ignore_errors=True)
        for row in rows if len(rows) == 2 else []:
            row.relative_to("limma-voom DE", rows[1].m)
        if n_products >= 200:
            peak = rows[0].m.peak_bytes / 2**30
            verdict = "met" if peak <= MEMORY_TARGET_GIB else "MISSED"
            print(f"  peak memory {peak:.2f} GiB (target <= {MEMORY_TARGET_GIB} GiB: {verdict})",
                  file=sys.stderr)  # fmt: skip

    def steps(self, counts: Path, sheet: Path) -> str:
        """CPU and wall time of the main steps of one ``compare`` run, as a Markdown table."""
        outdir = self.work / "compare20_steps"
        shutil.rmtree(outdir, ignore_errors=True)
        rec = self.work / "compare20_steps.json"
        cmd = compare_cmd(counts, sheet, outdir, self.threads)
        ld = load1()
        sec, cpu, _ = run_once(
            [PY, "-c", STEPS_PROC, str(rec), json.dumps(STEPS), *cmd[3:]], self.env
        )
        shutil.rmtree(outdir, ignore_errors=True)
        data = json.loads(rec.read_text())
        lines = [
            f"step times of one `compare` run without profiler: {sec:.1f} s wall, {cpu:.1f} s CPU, "
            f"load average before {ld:.1f} (nested steps indented; their time is inside the parent's)",
            "",
            "| step | calls | CPU s | wall s |",
            "| --- | --- | --- | --- |",
        ]
        top = 0.0
        for key, r in data["steps"].items():
            name = key.removeprefix("mscseq.")
            lines.append(
                f"| {'  ' * r['depth']}{'↳ ' if r['depth'] else ''}{name} | {r['calls']} | "
                f"{r['cpu']:.2f} | {r['wall']:.2f} |"
            )
            top += r["cpu"] if r["depth"] == 0 else 0.0
        lines.append(
            f"| rest: interpreter start, imports of the CLI, options, atomic folder | | "
            f"{data['cpu'] - top:.2f} | |"
        )
        lines.append(
            f"| forked children (DE, mscseq.h5ad, figures) and the process end | | "
            f"{cpu - data['cpu']:.2f} | |"
        )
        return "\n".join(lines)

    def profile(self, out: Path) -> None:
        """cProfile of ``compare`` on the 20-product study; top 40 by cumulative time to ``out``."""
        counts, sheet = simulate_study(self.work, 20)
        outdir = self.work / "compare20_profile"
        shutil.rmtree(outdir, ignore_errors=True)
        prof = self.work / "compare20.prof"
        cmd = compare_cmd(counts, sheet, outdir, self.threads)
        run_once(cmd, self.env)  # numba compile cache and file cache warm, as a user's second run
        shutil.rmtree(outdir, ignore_errors=True)
        ld = load1()
        sec, cpu, _ = run_once([PY, "-c", PROFILE_PROC, str(prof), *cmd[3:]], self.env)
        shutil.rmtree(outdir, ignore_errors=True)
        steps = self.steps(counts, sheet)
        text = io.StringIO()
        stats = pstats.Stats(str(prof), stream=text)
        stats.sort_stats("cumulative").print_stats(40)
        header = (
            f"# cProfile of `mscseq compare` (--design '~ group' --contrast group,B,A --group group, "
            f"report) on the simulated 20-product x 61,533-gene study of benchmarks/bench_peers.py;\n"
            f"# times are CPU seconds (cProfile with time.process_time: the machine is shared)\n"
            f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; wall {sec:.1f} s under the "
            f"profiler ({cpu:.1f} s CPU); load average before: {ld:.1f}; threads {self.threads}\n"
            f"# machine: {machine(self.rv)}\n"
            f"# command: python benchmarks/bench_peers.py profile\n"
        )
        body = text.getvalue()
        for prefix in (
            str(REPO / "src"),
            sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["stdlib"],
        ):
            body = body.replace(prefix + os.sep, "")  # short module paths
        body = "\n".join(line.rstrip() for line in body.strip("\n").splitlines())
        out.write_text(header + "\n" + steps + "\n\n" + body + "\n")
        print(steps)
        print(
            f"profile ({sec:.1f} s wall, {cpu:.1f} s CPU under cProfile) written to {out}",
            file=sys.stderr,
        )


def table(rows: list[Row]) -> pd.DataFrame:
    """The rows as a DataFrame (seconds, load, peak MiB, ratio)."""
    return pd.DataFrame(
        {
            "work": [r.work for r in rows],
            "process": [r.process for r in rows],
            "seconds_best": [round(r.m.seconds, 2) for r in rows],
            "cpu_seconds_best": [round(r.m.cpu_seconds, 2) for r in rows],
            "runs": [r.m.runs for r in rows],
            "load1_before": [round(r.m.load1, 2) for r in rows],
            "peak_rss_mib": [round(r.m.peak_bytes / 2**20) for r in rows],
            "ratio": [round(r.ratio, 2) for r in rows],
            "cpu_ratio": [round(r.cpu_ratio, 2) for r in rows],
            "ratio_to": [r.ratio_to for r in rows],
            "seconds_median": [round(r.m.median_seconds, 2) for r in rows],
            "cpu_seconds_median": [round(r.m.median_cpu_seconds, 2) for r in rows],
            "load1_median": [round(r.m.median_load1, 2) for r in rows],
            "ratio_median": [round(r.median_ratio, 2) for r in rows],
            "cpu_ratio_median": [round(r.median_cpu_ratio, 2) for r in rows],
        }
    )


def markdown(df: pd.DataFrame) -> str:
    """The results as a Markdown table (the form ``benchmarks/README.md`` shows)."""
    lines = [
        "| work | process | wall median (best) of N | CPU median (min) | load median | peak RSS "
        "| ratio wall median (best) | ratio CPU median (min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in df.itertuples():
        ratio = "" if pd.isna(r.ratio) else f"{r.ratio_median:.2f}× ({r.ratio:.2f}×) {r.ratio_to}"
        cpu_ratio = (
            "" if pd.isna(r.cpu_ratio) else f"{r.cpu_ratio_median:.2f}× ({r.cpu_ratio:.2f}×)"
        )
        lines.append(
            f"| {r.work} | {r.process} | {r.seconds_median:.2f} s ({r.seconds_best:.2f} s) of {r.runs} "
            f"| {r.cpu_seconds_median:.2f} s ({r.cpu_seconds_best:.2f} s) | {r.load1_median:.1f} "
            f"| {r.peak_rss_mib / 1024:.2f} GiB | {ratio} | {cpu_ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the parts, print the table and write the TSV."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "parts", nargs="*", help="airway, study20, mem200, profile (default: the first three)"
    )
    ap.add_argument("--repeats", type=int, default=3, help="best of N fresh processes (default 3)")
    ap.add_argument(
        "--threads", type=int, default=1, help="mscseq --threads (default 1, the CLI's)"
    )
    ap.add_argument(
        "--pydeseq2", action="store_true", help="add PyDESeq2 to the airway part (slow)"
    )
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mscseq-bench-peers"
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "peers.tsv", help="results TSV")
    ap.add_argument("--profile-out", type=Path, default=RESULTS / "compare_profile.txt")
    args = ap.parse_args(argv)
    parts = args.parts or ["airway", "study20", "mem200"]
    unknown = set(parts) - {"airway", "study20", "mem200", "profile"}
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    rv = r_versions()
    info = machine(rv)
    start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine: {info}\nload average at start: {start}", file=sys.stderr)
    bench = Bench(args.workdir, args.repeats, args.threads, rv)
    if "airway" in parts:
        bench.airway(args.pydeseq2)
    if "study20" in parts:
        bench.study(20, args.repeats)
    if "mem200" in parts:
        bench.study(200, 1)
    if "profile" in parts:
        bench.profile(args.profile_out)
    if not bench.rows:
        return
    df = table(bench.rows)
    print(markdown(df))
    stamp = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    end = " ".join(f"{v:.2f}" for v in os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="\n") as fh:
        fh.write(f"# bench_peers.py {' '.join(parts)} --repeats {args.repeats} "
                 f"--threads {args.threads}; {stamp}\n")  # fmt: skip
        fh.write(f"# machine: {info}\n# load average at start: {start}; at end: {end}\n")
        df.to_csv(fh, sep="\t", index=False, lineterminator="\n")
    print(f"written {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
