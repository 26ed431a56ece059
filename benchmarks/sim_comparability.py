"""Simulation study of the comparability verdict (operating characteristics).

Seeded simulations in the style of ``test_data/generate.py`` (negative-binomial counts with a DESeq2-like
mean–dispersion trend, per-product donor offsets, cohort shifts, one optionally contaminated product) are
run through :func:`mscseq.comparability.run_comparability` exactly as ``mscseq compare`` runs it, and the
verdicts are counted per setting.

Truth per setting:

* ``equivalent``: every gene's cohort shift is below half the margin (|log2 FC| ≤ 0.4 with margin 1);
* ``differ``: a fraction of genes is shifted by 1.5–3 × the margin (a material difference);
* ``contaminated``: equivalent cohorts, one product carries haematopoietic markers and a broad shift;
* ``products``: no ``--group`` (one product per donor), with or without a contaminated product;
  ``products_differ``: no ``--group`` but two hidden cohorts that truly differ.

Requirements checked: the false ``comparable`` rate over ``differ`` and ``contaminated`` settings is at most
5 %; the power (``comparable`` on ``equivalent`` settings) is reported per setting.

Usage::

    python benchmarks/sim_comparability.py                 # fast: a few minutes on 2 cores
    python benchmarks/sim_comparability.py --full          # 100 seeds per setting, full grid
    python benchmarks/sim_comparability.py --out results.tsv --jobs 2
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
GENERATE = HERE.parent / "test_data" / "generate.py"


def _generator():
    spec = importlib.util.spec_from_file_location("mscseq_generate", GENERATE)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@dataclass(frozen=True)
class Setting:
    """One cell of the simulation grid."""

    truth: str  # equivalent | differ | contaminated | products | products_contaminated
    n_per_group: int
    depth: float  # multiplies the generator's mean counts (1 ≈ 20 M reads per library)
    donor_sd: float  # log2 SD of product-to-product (donor) offsets
    shift_fraction: float
    shift_size: float  # log2
    n_genes: int = 3000


def simulate(setting: Setting, seed: int):
    """Counts (samples × genes), sheet and gene names for one replicate."""
    import anndata as ad

    gen = _generator()
    rng = np.random.default_rng(seed)
    markers = gen.MARKERS
    n_sim = setting.n_genes - len(markers)
    names = [m[1] for m in markers] + [f"SIM{i}" for i in range(1, n_sim + 1)]
    ids = [m[0] for m in markers] + [f"SIMG{i:05d}" for i in range(1, n_sim + 1)]
    log_mean = np.concatenate(
        [[m[2] for m in markers], rng.normal(1.8, 0.9, n_sim).clip(-1.0, 5.0)]
    )
    base = 10**log_mean * setting.depth
    disp = gen.dispersions(rng, 10**log_mean)
    g = setting.n_genes
    shift = np.zeros(g)
    if setting.truth in {"equivalent", "contaminated"} and setting.shift_fraction > 0:
        idx = rng.choice(np.arange(len(markers), g), int(setting.shift_fraction * g), replace=False)
        shift[idx] = rng.uniform(0.1, setting.shift_size, len(idx)) * rng.choice([-1, 1], len(idx))
    if setting.truth in {"differ", "products_differ"}:
        idx = rng.choice(np.arange(len(markers), g), int(setting.shift_fraction * g), replace=False)
        shift[idx] = setting.shift_size * rng.choice([-1, 1], len(idx))
    n = 2 * setting.n_per_group
    sym = {s: i for i, s in enumerate(names)}
    rows, counts = [], []
    contaminated = None
    if setting.truth in {"contaminated", "products_contaminated"}:
        contaminated = n - 1
    for i in range(n):
        cohort = "A" if i < setting.n_per_group else "B"
        lfc = rng.normal(0, setting.donor_sd, g)
        if cohort == "B":
            lfc = lfc + shift
        if i == contaminated:
            for s, v in gen.CONTAMINATION.items():
                lfc[sym[s]] += v
            broad = rng.choice(g, int(0.15 * g), replace=False)
            lfc[broad] += rng.normal(0, 1.3, len(broad))
        depth = rng.uniform(0.6, 1.6)
        counts.append(gen.nb_counts(rng, base * depth * 2.0**lfc, disp))
        rows.append({"sample": f"P{i + 1:02d}", "donor": f"D{i + 1:02d}", "cohort": cohort})
    obs = pd.DataFrame(rows).set_index("sample")
    x = np.asarray(counts, dtype=np.float64)
    keep = x.sum(axis=0) > 0
    var = pd.DataFrame({"gene_name": np.asarray(names)[keep]}, index=np.asarray(ids)[keep])
    return ad.AnnData(X=x[:, keep], obs=obs, var=var), contaminated


def run_one(args: tuple[Setting, int]) -> dict:
    """Simulate, analyse and return the verdict and key metrics."""
    setting, seed = args
    warnings.simplefilter("ignore")
    from mscseq.comparability import run_comparability
    from mscseq.explore import explore
    from mscseq.normalize import normalize
    from mscseq.qc import compute_qc

    adata, contaminated = simulate(setting, seed)
    compute_qc(adata)
    normalize(adata)
    explore(adata)
    grouped = not setting.truth.startswith("products")
    block = run_comparability(
        adata,
        group="cohort" if grouped else None,
        reference="A" if grouped else None,
        engine="mscseq",
        permutations=99,
        seed=seed,
    )
    status = {p["sample"]: p["status"] for p in block["products"]}
    outliers = [s for s, v in status.items() if v == "outlier"]
    cont_name = f"P{contaminated + 1:02d}" if contaminated is not None else None
    c = block["metrics"]["contrasts"][0] if block["metrics"]["contrasts"] else {}
    return {
        **asdict(setting),
        "seed": seed,
        "verdict": block["verdict"],
        "n_outliers": len(outliers),
        "contaminated_flagged": (cont_name in outliers) if cont_name else None,
        "false_outliers": len([s for s in outliers if s != cont_name]),
        "fraction_equivalent": c.get("fraction_equivalent"),
        "n_beyond_margin": c.get("n_beyond_margin"),
        "n_tested": c.get("n_tested"),
        "n_tested_beyond": c.get("n_tested_beyond"),
        "min_concordance": block["metrics"]["min_concordance"],
        "permanova_p": (block.get("permanova") or {}).get("p_value"),
    }


def grid(full: bool) -> list[Setting]:
    """Settings of the fast or the full study."""
    out: list[Setting] = []
    sizes = (3, 6, 10) if full else (3, 6)
    depths = (0.1, 1.0)
    donors = (0.18, 0.35) if full else (0.18,)
    for n, depth, dsd in itertools.product(sizes, depths, donors):
        out.append(Setting("equivalent", n, depth, dsd, 0.0, 0.0))
        out.append(Setting("equivalent", n, depth, dsd, 0.10, 0.4))
        for frac, size in itertools.product(
            (0.02, 0.05, 0.10) if full else (0.02, 0.10), (1.5, 2.0, 3.0) if full else (1.5, 3.0)
        ):
            out.append(Setting("differ", n, depth, dsd, frac, size))
        out.append(Setting("contaminated", n, depth, dsd, 0.03, 0.4))
        out.append(Setting("products", n, depth, dsd, 0.0, 0.0))
        out.append(Setting("products_contaminated", n, depth, dsd, 0.0, 0.0))
        out.append(Setting("products_differ", n, depth, dsd, 0.10, 3.0))
        out.append(Setting("products_differ", n, depth, dsd, 0.05, 2.0))
    out += [
        Setting("equivalent", 20, 1.0, 0.18, 0.0, 0.0),
        Setting("differ", 20, 1.0, 0.18, 0.02, 1.5),
    ]
    if full:
        out += [
            Setting("equivalent", 20, 1.0, 0.35, 0.0, 0.0),
            Setting("equivalent", 20, 1.0, 0.18, 0.10, 0.4),
            Setting("differ", 20, 1.0, 0.18, 0.01, 2.0),
            Setting("products_differ", 20, 1.0, 0.18, 0.02, 2.0),
        ]
    return out


def clopper_pearson_upper(k: int, n: int, conf: float = 0.95) -> float:
    """One-sided upper confidence bound of a binomial proportion."""
    from scipy.stats import beta

    return 1.0 if k == n else float(beta.ppf(conf, k + 1, n - k))


def report(df: pd.DataFrame) -> str:
    """Markdown summary: verdict rates per setting and the overall requirements."""
    keys = ["truth", "n_per_group", "depth", "donor_sd", "shift_fraction", "shift_size"]
    tab = (
        df.groupby(keys, sort=True)["verdict"]
        .value_counts(normalize=True)
        .unstack(fill_value=0.0)
        .reindex(columns=["comparable", "inconclusive", "not_comparable"], fill_value=0.0)
    )
    tab["runs"] = df.groupby(keys, sort=True).size()
    extra = df.groupby(keys, sort=True).agg(
        median_f_eq=("fraction_equivalent", "median"),
        contaminated_flagged=("contaminated_flagged", "mean"),
        false_outliers_per_run=("false_outliers", "mean"),
    )
    tab = tab.join(extra)
    lines = [
        "| "
        + " | ".join(
            [
                *keys,
                "comparable",
                "inconclusive",
                "not_comparable",
                "runs",
                "median f_eq",
                "contaminant flagged",
                "false outliers/run",
            ]
        )
        + " |"
    ]
    lines.append("|" + "---|" * (len(keys) + 7))
    for idx, r in tab.iterrows():
        vals = [str(v) for v in idx] + [
            f"{r['comparable']:.2f}",
            f"{r['inconclusive']:.2f}",
            f"{r['not_comparable']:.2f}",
            str(int(r["runs"])),
        ]
        vals.append("" if pd.isna(r["median_f_eq"]) else f"{r['median_f_eq']:.3f}")
        vals.append(
            "" if pd.isna(r["contaminated_flagged"]) else f"{r['contaminated_flagged']:.2f}"
        )
        vals.append(f"{r['false_outliers_per_run']:.2f}")
        lines.append("| " + " | ".join(vals) + " |")
    bad = df[
        df["truth"].isin(["differ", "contaminated", "products_contaminated", "products_differ"])
    ]
    k = int((bad["verdict"] == "comparable").sum())
    good = df[df["truth"] == "equivalent"]
    prod = df[df["truth"] == "products"]
    lines.append("")
    lines.append(
        f"False 'comparable' when the products truly differ (differ + contaminated): {k}/{len(bad)} = "
        f"{k / max(len(bad), 1):.3f} (95% upper bound {clopper_pearson_upper(k, len(bad)):.3f}); requirement ≤ 0.05."
    )
    lines.append(
        f"Power (comparable | equivalent cohorts): {(good['verdict'] == 'comparable').mean():.3f} over {len(good)} runs; "
        f"not_comparable on equivalent cohorts: {(good['verdict'] == 'not_comparable').mean():.3f}."
    )
    lines.append(
        f"Without --group, comparable on homogeneous products: {(prod['verdict'] == 'comparable').mean():.3f} over {len(prod)} runs."
    )
    clean = df[df["truth"].isin(["equivalent", "differ", "products"])]
    lines.append(
        f"False outlier flags per product on clean data: {clean['false_outliers'].sum() / (2 * clean['n_per_group']).sum():.4f}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="100 seeds per setting over the full grid")
    ap.add_argument(
        "--seeds", type=int, default=None, help="seeds per setting (default 6 fast, 100 full)"
    )
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument(
        "--out",
        type=Path,
        default=HERE / "results" / "sim_comparability.tsv",
        help="per-run results TSV",
    )
    args = ap.parse_args(argv)
    seeds = args.seeds or (100 if args.full else 6)
    tasks = [(s, 1000 * i + k) for i, s in enumerate(grid(args.full)) for k in range(seeds)]
    start = time.time()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(run_one, tasks, chunksize=4))
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, sep="\t", index=False)
    text = report(df)
    print(text)
    print(
        f"\n{len(df)} runs in {time.time() - start:.0f} s; per-run results in {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
