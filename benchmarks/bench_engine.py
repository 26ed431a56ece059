"""Benchmark of mscseq's DESeq2 engine: agreement with R, whole-process speed, and scale.

Usage (from the repository root; ``../shared/data`` beside the repo)::

    python benchmarks/bench_engine.py                 # everything
    python benchmarks/bench_engine.py agreement speed # selected parts
    python benchmarks/bench_engine.py scale --quick   # 10..1000 samples, 20k..60k genes

R parts run where ``Rscript`` with DESeq2 is installed and are skipped with a message otherwise.
Times are wall-clock seconds of whole processes (interpreter start, imports, reading, fitting,
writing), measured one after another on the same machine in one run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MSCSEQ_SHARED_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO / "tests" / "de"))
sys.path.insert(0, str(REPO / "src"))

PY = sys.executable

# --- one-shot child processes -------------------------------------------------------------

ENGINE_PROC = r"""
import sys, time, resource
t0 = time.perf_counter()
import numpy as np, pandas as pd
from mscseq.de.engine import fit_deseq2, results
d = sys.argv[1]
cts = pd.read_csv(d + "/airway_cts.tsv.gz", sep="\t", index_col=0)
meta = pd.read_csv(d + "/airway_metadata.tsv", sep="\t").set_index("ID").loc[cts.columns]
x = pd.DataFrame({"Intercept": 1.0}, index=meta.index)
for lv in sorted(meta.cell.unique())[1:]:
    x[f"cell[T.{lv}]"] = (meta.cell == lv).astype(float)
x["dex[T.trt]"] = (meta.dex == "trt").astype(float)
fit = fit_deseq2(cts.to_numpy().T, x, threads=int(sys.argv[3]))
res = results(fit, ("dex", "trt", "untrt"))
res.index = cts.index
res.to_csv(sys.argv[2], sep="\t")
"""

PYDESEQ2_PROC = r"""
import sys
import pandas as pd
from pydeseq2.dds import DeseqDataSet
from pydeseq2.ds import DeseqStats
d = sys.argv[1]
cts = pd.read_csv(d + "/airway_cts.tsv.gz", sep="\t", index_col=0)
meta = pd.read_csv(d + "/airway_metadata.tsv", sep="\t").set_index("ID").loc[cts.columns]
cts = cts[cts.sum(axis=1) > 0]
dds = DeseqDataSet(counts=cts.T, metadata=meta[["cell", "dex"]], design="~cell + dex",
                   refit_cooks=True, n_cpus=int(sys.argv[3]), quiet=True)
dds.deseq2()
st = DeseqStats(dds, contrast=["dex", "trt", "untrt"], quiet=True, n_cpus=int(sys.argv[3]))
st.summary()
st.results_df.to_csv(sys.argv[2], sep="\t")
"""

R_PROC = r"""
suppressMessages(library(DESeq2))
a <- commandArgs(TRUE)
cts <- as.matrix(read.delim(gzfile(file.path(a[1], "airway_cts.tsv.gz")), row.names = 1))
meta <- read.delim(file.path(a[1], "airway_metadata.tsv")); rownames(meta) <- meta$ID
meta <- meta[colnames(cts), ]; meta$cell <- factor(meta$cell); meta$dex <- relevel(factor(meta$dex), "untrt")
dds <- DESeq(DESeqDataSetFromMatrix(cts, meta, ~ cell + dex), quiet = TRUE)
write.table(as.data.frame(results(dds, contrast = c("dex", "trt", "untrt"))), a[2], sep = "\t", quote = FALSE)
"""

SCALE_PROC = r"""
import sys, time, resource, json
t0 = time.perf_counter()
import numpy as np, pandas as pd
from mscseq.de.engine import fit_deseq2, results
n, g, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
batch = np.arange(n) % 10
cond = (np.arange(n) // 10) % 2 if n >= 20 else np.arange(n) % 2
x = pd.DataFrame({"Intercept": 1.0}, index=[f"s{i}" for i in range(n)])
for b in range(1, min(10, n // 2)):
    x[f"batch[T.b{b}]"] = (batch == b).astype(float)
x["condition[T.B]"] = cond.astype(float)
mu = np.exp(rng.normal(3.0, 2.0, g))
disp = 0.05 + 1.5 / mu
lfc = np.where(rng.random(g) < 0.1, rng.normal(0, 1, g), 0.0)
be = rng.normal(0, 0.2, (10, g))
sf = np.exp(rng.normal(0, 0.25, n))
m = sf[:, None] * mu[None, :] * np.exp(be[batch] + np.outer(cond, lfc))
counts = rng.negative_binomial(1 / disp, 1 / (1 + m * disp)).astype(np.float64)
t1 = time.perf_counter()
fit = fit_deseq2(counts, x, threads=threads)
res = results(fit, "condition[T.B]")
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"n": n, "g": g, "threads": threads, "fit_seconds": t2 - t1,
                  "peak_rss_bytes": peak, "counts_bytes": counts.nbytes,
                  "n_sig": int((res.padj < 0.1).sum())}))
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def has_r() -> bool:
    if shutil.which("Rscript") is None:
        return False
    ok = subprocess.run(["Rscript", "-e", "suppressMessages(library(DESeq2))"], capture_output=True)
    return ok.returncode == 0


# --- parts --------------------------------------------------------------------------------


def part_agreement() -> pd.DataFrame:
    from _engine_data import REFERENCE, agreement, airway, msc_gf, pasilla

    from mscseq.de.engine import fit_deseq2, lrt_results, results

    rows = []
    for loader in (airway, pasilla):
        cts, x, con = loader(SHARED)
        ref = pd.read_csv(SHARED / "r_reference" / f"{loader.__name__}.results.tsv.gz", sep="\t", index_col=0).loc[cts.index]
        fit = fit_deseq2(cts.to_numpy().T, x)
        rows.append({"dataset": loader.__name__, "test": "Wald", **agreement(ref, results(fit, con))})
        eq = results(fit, con, lfc_threshold=1, alt_hypothesis="lessAbs")
        rows.append({"dataset": loader.__name__, "test": "lessAbs |LFC|<1", **agreement(ref, eq, "eq_pvalue", "eq_padj")})
    cts, x, con = msc_gf(SHARED)
    ref = pd.read_csv(REFERENCE / "msc_gf.results.tsv.gz", sep="\t", index_col=0).loc[cts.index]
    fit = fit_deseq2(cts.to_numpy().T, x)
    rows.append({"dataset": "msc_gf (local trend)", "test": "Wald", **agreement(ref, results(fit, con))})
    rows.append({"dataset": "msc_gf (local trend)", "test": "lessAbs |LFC|<1",
                 **agreement(ref, results(fit, con, lfc_threshold=1, alt_hypothesis="lessAbs"), "eq_pvalue", "eq_padj")})
    rows.append({"dataset": "msc_gf (local trend)", "test": "greater LFC>0.5",
                 **agreement(ref, results(fit, con, lfc_threshold=0.5, alt_hypothesis="greater"), "gt_pvalue", "gt_padj")})
    xr = x[[c for c in x.columns if not c.startswith("condition")]]
    rows.append({"dataset": "msc_gf (local trend)", "test": "LRT ~donor", **agreement(ref, lrt_results(fit, xr), "lrt_pvalue", "lrt_padj")})
    df = pd.DataFrame(rows)
    print("\n## Agreement with R DESeq2 1.38.3 (genes with baseMean >= 10)\n")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return df


def part_speed(threads: int = 2, repeats: int = 1) -> dict:
    d = str(SHARED / "airway_himes2014_GSE52778")
    tmp = Path(tempfile.mkdtemp())
    out: dict = {}
    _timed([PY, "-c", ENGINE_PROC, d, str(tmp / "warm.tsv"), str(threads)])  # warm file cache
    out["mscseq engine process"] = min(
        _timed([PY, "-c", ENGINE_PROC, d, str(tmp / "m.tsv"), str(threads)]) for _ in range(repeats)
    )
    mscseq = shutil.which("mscseq") or str(Path(PY).parent / "mscseq")
    if Path(mscseq).exists():
        sheet = tmp / "samples.tsv"
        meta = pd.read_csv(Path(d) / "airway_metadata.tsv", sep="\t")
        meta.rename(columns={"ID": "sample"})[["sample", "cell", "dex"]].to_csv(sheet, sep="\t", index=False)
        cmd = [mscseq, "de", str(Path(d) / "airway_cts.tsv.gz"), "--samples", str(sheet), "--design", "~ cell + dex",
               "--contrast", "dex,trt,untrt", "--engine", "mscseq", "--threads", str(threads), "--out", str(tmp / "de_out.tsv"), "--force"]
        try:
            shutil.rmtree(tmp / "de_out", ignore_errors=True)
            out["mscseq de (CLI)"] = _timed(cmd)
        except subprocess.CalledProcessError:
            print("note: `mscseq de` CLI call failed; only the engine process is timed", file=sys.stderr)
    out["PyDESeq2 0.5.4 process"] = _timed([PY, "-c", PYDESEQ2_PROC, d, str(tmp / "p.tsv"), str(threads)])
    if has_r():
        rfile = tmp / "r.R"
        rfile.write_text(R_PROC)
        out["Rscript DESeq2 process"] = _timed(["Rscript", str(rfile), d, str(tmp / "r.tsv")])
    else:
        print("Rscript with DESeq2 not found: R timing skipped", file=sys.stderr)
    print(f"\n## Whole-process wall time on airway (33,469 expressed genes x 8 samples), threads={threads}\n")
    base = out.get("mscseq de (CLI)", out["mscseq engine process"])
    for k, v in out.items():
        print(f"{k:28s} {v:7.2f} s   ratio to mscseq: {v / base:6.1f}x")
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def part_scale(quick: bool = False, threads: int = 2) -> pd.DataFrame:
    grid = [(10, 20000), (100, 20000), (1000, 20000), (100, 60000)]
    if not quick:
        grid.append((1000, 60000))
    rows = []
    for n, g in grid:
        t = time.perf_counter()
        r = subprocess.run([PY, "-c", SCALE_PROC, str(n), str(g), str(threads)], check=True, env=_env(),
                           capture_output=True, text=True)
        rec = json.loads(r.stdout.strip().splitlines()[-1])
        rec["process_seconds"] = time.perf_counter() - t
        rows.append(rec)
    df = pd.DataFrame(rows)
    df["peak_GiB"] = df["peak_rss_bytes"] / 2**30
    print(f"\n## Scale (synthetic NB, ~ batch + condition, 10 batches), threads={threads}\n")
    print(df[["n", "g", "fit_seconds", "process_seconds", "peak_GiB", "n_sig"]].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return df


def main(argv: list[str]) -> None:
    parts = [a for a in argv if not a.startswith("--")] or ["agreement", "speed", "scale"]
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, numpy {np.__version__}")
    if "agreement" in parts:
        part_agreement()
    if "speed" in parts:
        part_speed()
    if "scale" in parts:
        part_scale(quick="--quick" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
