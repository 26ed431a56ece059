"""Power of the single-group score split (and of a score-spread bound) for cohorts in one score only.

Numbers quoted in docs/comparability.md ("Hidden cohorts that differ in one score only"):

* the exact split test of :func:`mscseq.comparability.single.score_splits` on one score of 20 products
  whose two cohorts (10/10 or 5/15) are ``d`` score SDs apart, normal or t5 noise, at α 0.0125 (the
  Bonferroni level over four panels) and 0.05; and
* how often a homogeneous group of 20 would pass a bound "upper 95 % χ² bound of a score's SD ≤ τ = 0.5"
  with the generator's score model (gene SD 0.35, program correlation 0.3–0.6, t5, 7–15 genes).

Usage::

    PYTHONPATH=src python benchmarks/score_split_power.py
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from mscseq.comparability.single import best_cut_1d

N = 20


def unit_t(rng: np.random.Generator, df: float | None, size) -> np.ndarray:
    """Unit-variance draws: normal (``df`` None) or Student t."""
    if df is None:
        return rng.standard_normal(size)
    return rng.standard_t(df, size) / np.sqrt(df / (df - 2.0))


def main() -> None:
    rng = np.random.default_rng(1)
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
    chi = np.sqrt((N - 1) / stats.chi2.ppf(0.05, N - 1))
    print("\nhomogeneous group of 20: P(upper 95 % bound of a score's SD <= 0.5)")
    for m in (7, 10, 15):
        rho = rng.uniform(0.3, 0.6, (20_000, 1))
        genes = unit_t(rng, 5, (20_000, N, m)).mean(axis=2)
        score = 0.35 * (np.sqrt(rho) * unit_t(rng, 5, (20_000, N)) + np.sqrt(1 - rho) * genes)
        ok = np.mean(score.std(axis=1, ddof=1) * chi <= 0.5)
        print(f"  {m} genes: one score {ok:.3f}, four independent scores {ok**4:.3f}")


if __name__ == "__main__":
    main()
