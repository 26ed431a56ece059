"""How often the replicate-library caveat is raised, on seeded simulated studies run without ``--product``.

Three kinds of study, each ``--runs`` seeds (design drawn per seed: 3, 4, 6 or 10 products per group, two
groups, donor SD 0.2, 0.35 or 0.5 log2 per gene, 10–30 M reads per library):

* ``replicated``: each product sequenced as 2–4 libraries (sheet: sample, product, group, sex, lane); the
  caveat should be raised (target ≥ 99 %);
* ``unreplicated``: one library per product (sheet: sample, product, group, sex, passage with a 2-level
  effect on 5 % of genes); the caveat should not be raised;
* ``unreplicated_site``: as ``unreplicated`` plus a ``site`` column nested in the group (two sites per group,
  1 log2 apart on 10 % of genes): the hard case of a covariate that is not a product;
* ``replicated_shallow``: as ``replicated`` at 30–200 k reads per library (the six-tissue data's depth),
  for information: technical noise then rivals donor differences.

The caveat is :func:`mscseq.products.replicate_columns` on the VST of the informative genes, exactly as
``run_comparability`` calls it (``--group group``). Rates come with 95 % Clopper–Pearson intervals.

    python benchmarks/replicate_caveat.py [--runs 200] [--genes 4000] [--out benchmarks/results/replicate_caveat.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy.stats import beta

from mscseq.comparability.similarity import informative_genes
from mscseq.normalize import normalize
from mscseq.products import REPLICATE_RATIO, replicate_columns

KINDS = ("replicated", "unreplicated", "unreplicated_site", "replicated_shallow")


def simulate(seed: int, kind: str, n_genes: int) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """Counts (libraries × genes) and sheet of one study, and its design."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    n = int(rng.choice([3, 4, 6, 10]))
    sd = float(rng.choice([0.2, 0.35, 0.5]))
    # baseline expression: log-normal proportions (a few very high genes, a long tail of low ones)
    log_p = rng.normal(0.0, 2.0, n_genes)
    p = np.exp(log_p) / np.exp(log_p).sum()
    products = [f"P{i:02d}" for i in range(2 * n)]
    group = np.repeat(["A", "B"], n)
    sex = rng.choice(["F", "M"], 2 * n)
    effect = rng.normal(0.0, sd, (2 * n, n_genes)) * np.log(
        2
    )  # donor effect, log2 SD → natural log
    passage = rng.choice(["P3", "P4"], 2 * n)
    passage_genes = rng.random(n_genes) < 0.05
    effect += np.outer(passage == "P4", passage_genes) * 0.5 * np.log(2)
    site = np.array([f"{g}{1 + i % 2}" for i, g in enumerate(group)])
    if kind == "unreplicated_site":
        site_genes = rng.random(n_genes) < 0.10
        effect += np.outer(np.char.endswith(site, "2"), site_genes) * np.log(2)
    replicated = kind.startswith("replicated")
    lo_depth, hi_depth = (30e3, 200e3) if kind == "replicated_shallow" else (10e6, 30e6)
    k = rng.integers(2, 5, 2 * n) if replicated else np.ones(2 * n, dtype=int)
    rows, sheet = [], []
    for i, prod in enumerate(products):
        mu_p = p * np.exp(effect[i])
        mu_p /= mu_p.sum()
        for j in range(int(k[i])):
            depth = rng.uniform(lo_depth, hi_depth)
            mean = depth * mu_p
            # technical replicates: Poisson with a little extra library-prep noise (dispersion 0.01)
            rows.append(rng.poisson(rng.gamma(1 / 0.01, mean * 0.01)))
            sheet.append(
                {
                    "sample": f"{prod}_{j + 1}",
                    "product": prod,
                    "group": group[i],
                    "sex": sex[i],
                    "passage": passage[i],
                    "lane": f"L{j + 1}",
                    **({"site": site[i]} if kind == "unreplicated_site" else {}),
                }
            )
    obs = pd.DataFrame(sheet).set_index("sample").astype("category")
    if replicated:
        obs = obs.drop(columns=["passage"])
    else:
        obs = obs.drop(columns=["lane"])
    return np.asarray(rows, dtype=np.float64), obs, {"n_per_group": n, "donor_sd": sd}


def caveat_raised(counts: np.ndarray, obs: pd.DataFrame) -> tuple[bool, list[str]]:
    """The caveat as ``run_comparability`` computes it (blind VST, informative genes, ``--group group``)."""
    a = ad.AnnData(X=counts, obs=obs)
    normalize(a)
    norm = np.asarray(a.layers["normalized"])
    genes = informative_genes(norm.mean(axis=0))
    found = replicate_columns(np.asarray(a.layers["vst"])[:, genes], obs, group="group")
    return bool(found), [f.column for f in found]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval of k/n."""
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--genes", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results = {"ratio": REPLICATE_RATIO, "runs": args.runs, "genes": args.genes, "kinds": {}}
    for kind in KINDS:
        raised, columns = 0, {}
        by_n: dict[int, list[int]] = {}
        for seed in range(args.runs):
            counts, obs, design = simulate(seed, kind, args.genes)
            hit, cols = caveat_raised(counts, obs)
            raised += hit
            for c in cols:
                columns[c] = columns.get(c, 0) + 1
            by_n.setdefault(design["n_per_group"], [0, 0])
            by_n[design["n_per_group"]][0] += hit
            by_n[design["n_per_group"]][1] += 1
        lo, hi = clopper_pearson(raised, args.runs)
        results["kinds"][kind] = {
            "raised": raised,
            "rate": raised / args.runs,
            "ci95": [lo, hi],
            "columns_named": columns,
            "by_products_per_group": {str(k): v for k, v in sorted(by_n.items())},
        }
        print(
            f"{kind:18s} caveat raised {raised:4d}/{args.runs} = {raised / args.runs:.3f} "
            f"(95 % CI {lo:.3f}–{hi:.3f}); columns named {columns}",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
