"""Power of the single-group score checks for cohorts that differ in one score only.

Numbers quoted in docs/comparability.md ("Hidden cohorts that differ in one score only"), on the
generator's score model (gene SD 0.35, program correlation 0.3–0.6, t5 donor effects, 7 or 15 genes per
score; the simulation study's model, without counting noise):

* the exact split test alone (the best two-way split of one score against one Gaussian population), at
  α 0.0125 (Bonferroni over four panels, the rule before) and 0.05, for 20 values 3–5 SDs apart (normal
  and t5 noise): the limit of any test that does not know the score's usual spread;
* the checks of :mod:`mscseq.comparability.single` per score: a split that is significant at 0.05 and
  material (its clusters' 90 % Welch interval beyond the 0.5 margin), a lower 95 % χ² bound of the score's
  SD above ``single_group.score_tau`` (0.35), and either; for a homogeneous group of 20 and hidden cohorts
  10/10 and 5/15 with the score 1 log2 apart.

Usage::

    PYTHONPATH=src python benchmarks/score_split_power.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mscseq.comparability.protocol import Protocol
from mscseq.comparability.single import best_cut_1d, score_splits, score_spread

N = 20
RUNS = 2000


def unit_t(rng: np.random.Generator, df: float | None, size) -> np.ndarray:
    """Unit-variance draws: normal (``df`` None) or Student t."""
    if df is None:
        return rng.standard_normal(size)
    return rng.standard_t(df, size) / np.sqrt(df / (df - 2.0))


def split_power(rng: np.random.Generator) -> None:
    """The exact split test alone, at two levels."""
    null, _ = best_cut_1d(rng.standard_normal((20_000, N)))
    print("| noise | cohorts | SDs apart | power at 0.0125 | power at 0.05 |")
    print("|---|---|---|---|---|")
    for df in (None, 5):
        for d in (3.0, 4.0, 5.0):
            for first in (10, 5):
                y = unit_t(rng, df, (4000, N))
                y[:, :first] += d
                ci, _ = best_cut_1d(y)
                p1, p5 = (np.mean(ci <= np.quantile(null, a)) for a in (0.0125, 0.05))
                noise = "normal" if df is None else "t5"
                print(f"| {noise} | {first}/{N - first} | {d:g} | {p1:.3f} | {p5:.3f} |")


def score_checks(rng: np.random.Generator) -> None:
    """The rule's two score checks on the generator's score model."""
    protocol = Protocol()
    sg, margin = protocol.single_group, protocol.tier1.default_margin
    print(
        f"\n| genes | truth | split (p < {sg.split_alpha:g}, material) | SD lower bound > "
        f"{sg.score_tau:g} | either |"
    )
    print("|---|---|---|---|---|")
    for m in (7, 15):
        for label, first in (
            ("homogeneous", 0),
            ("cohorts 10/10, 1 log2", 10),
            ("cohorts 5/15, 1 log2", 5),
        ):
            split = spread = either = 0
            for run in range(RUNS):
                rho = rng.uniform(0.3, 0.6)
                y = 0.35 * (
                    np.sqrt(rho) * unit_t(rng, 5, N)
                    + np.sqrt(1 - rho) * unit_t(rng, 5, (N, m)).mean(axis=1)
                )
                y[:first] += 1.0
                scores = pd.DataFrame({"potency": y})
                a = score_splits(
                    scores,
                    {"potency": margin},
                    alpha=protocol.alpha,
                    split_alpha=sg.split_alpha,
                    seed=run,
                )[0]["fail"]
                b = (
                    score_spread(
                        scores, {"potency": margin}, tau=sg.score_tau, alpha=protocol.alpha
                    )[0]["result"]
                    == "fail"
                )
                split, spread, either = split + a, spread + b, either + (a or b)
            print(
                f"| {m} | {label} | {split / RUNS:.3f} | {spread / RUNS:.3f} | {either / RUNS:.3f} |"
            )


def main() -> None:
    rng = np.random.default_rng(1)
    split_power(rng)
    score_checks(rng)


if __name__ == "__main__":
    main()
