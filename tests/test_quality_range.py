"""Quality ranges: two-sided normal tolerance intervals from the reference lots (issue 13 item 6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mscseq.comparability import panels as pnl


def test_tolerance_factor_howe():
    # Howe's k for 99 % coverage at 95 % confidence (published tables: 4.433 exact, Howe 4.445 at n = 10)
    assert pnl.tolerance_factor(10) == pytest.approx(4.445, abs=1e-3)
    ks = [pnl.tolerance_factor(n) for n in (3, 4, 6, 10, 20, 100)]
    assert ks == sorted(ks, reverse=True) and ks[0] == pytest.approx(13.13, abs=0.01)
    # tends to z_0.995 as n grows
    assert pnl.tolerance_factor(100_000) == pytest.approx(stats.norm.ppf(0.995), abs=0.01)
    # the formula written out with scipy.stats
    n = 7
    k = stats.norm.ppf(0.995) * np.sqrt((n - 1) * (1 + 1 / n) / stats.chi2.ppf(0.05, n - 1))
    assert pnl.tolerance_factor(n) == pytest.approx(k, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        pnl.tolerance_factor(1)


def _matched(g: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gene_id": [f"G{i}" for i in range(g)],
            "symbol": [f"S{i}" for i in range(g)],
            "panel": "p",
            "direction": "positive",
            "note": "",
            "index": np.arange(g),
        }
    )


@pytest.mark.parametrize("n_ref", [3, 6])
def test_identical_lot_falls_outside_on_at_most_one_percent_of_genes(n_ref):
    rng = np.random.default_rng(13)
    g, reps = 2000, 10
    matched = _matched(g)
    outside_new, outside_old = [], []
    for _ in range(reps):
        mu = rng.normal(8, 2, g)
        sd = rng.uniform(0.1, 0.6, g)
        vst = mu + sd * rng.standard_normal((n_ref + 1, g))  # the last lot: same distribution
        is_ref = np.r_[np.ones(n_ref, bool), False]
        qr = pnl.quality_range(vst, matched, is_ref, [f"L{i}" for i in range(n_ref + 1)])
        outside_new.append(1 - qr["fraction_in_range"])
        ref = vst[:n_ref]
        old = np.abs(vst[-1] - ref.mean(0)) > 3 * ref.std(0, ddof=1)  # the former mean ± 3 SD
        outside_old.append(old.mean())
    assert np.mean(outside_new) <= 0.01
    if n_ref == 3:
        assert np.mean(outside_old) > 0.08  # the rule it replaces (about 12 % at n = 3)


def test_quality_range_block():
    rng = np.random.default_rng(1)
    g = 40
    vst = rng.normal(8, 0.3, (8, g))
    vst[7, :4] += 20.0  # a lot far outside on 4 genes
    is_ref = np.array([True] * 4 + [False] * 4)
    qr = pnl.quality_range(vst, _matched(g), is_ref, [f"s{i}" for i in range(8)])
    assert qr["n_reference"] == 4 and qr["n_genes"] == g and len(qr["products"]) == 4
    assert qr["k"] == pytest.approx(pnl.tolerance_factor(4))
    assert qr["coverage"] == 0.99 and qr["confidence"] == 0.95
    assert qr["products"][3]["outside"][:4] == ["S0", "S1", "S2", "S3"]
    assert "wide" in qr["note"] and "4 reference" in qr["note"]
    big = pnl.quality_range(
        vst, _matched(g), np.array([True] * 6 + [False] * 2), [f"s{i}" for i in range(8)]
    )
    assert "wide" not in big["note"] and big["k"] == pytest.approx(5.81, abs=0.01)
    assert (
        pnl.quality_range(vst, _matched(g), np.array([True] * 2 + [False] * 6), list("abcdefgh"))
        is None
    )
