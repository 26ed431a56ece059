"""Technical replicate libraries give the single-group spread its noise floor (issue 13)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mscseq.comparability.single import biological_spread
from mscseq.products import collapse_products, technical_dispersion


def _replicated(rng, *, n_products=12, libraries=3, genes=3000, bio_sd=0.3, alpha=0.1, depth=2e7):
    """Products with a known biological SD (log2), each sequenced as ``libraries`` NB libraries."""
    base = rng.lognormal(np.log(200.0), 1.0, genes)
    base /= base.sum()
    donor = rng.normal(0.0, bio_sd, (n_products, genes))
    comp = base * 2.0**donor
    comp /= comp.sum(axis=1, keepdims=True)
    codes = np.repeat(np.arange(n_products), libraries)
    size = rng.uniform(0.5, 1.5, len(codes)) * depth / libraries
    mean = comp[codes] * size[:, None]
    counts = rng.poisson(rng.gamma(1.0 / alpha, mean * alpha))
    return counts.astype(np.float64), codes


def _summed(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    out = np.zeros((codes.max() + 1, x.shape[1]))
    np.add.at(out, codes, x)
    return out


def test_technical_dispersion_recovers_the_library_dispersion():
    rng = np.random.default_rng(3)
    x, codes = _replicated(rng, alpha=0.08)
    tech = technical_dispersion(x, codes, _summed(x, codes))
    assert tech["df"] == 12 * 2 and tech["n_replicated"] == 12
    well = x.mean(axis=0) > 200  # counting noise is small beside α there
    assert np.median(tech["alpha"][well]) == pytest.approx(0.08, rel=0.15)
    # three libraries of unequal size: the weight Σ L² / (ΣL)² lies between 1/3 and 1
    assert np.all((tech["weights"] > 1 / 3 - 1e-12) & (tech["weights"] < 1))


def test_no_replicates_no_technical_dispersion():
    x = np.ones((4, 5))
    assert technical_dispersion(x, np.arange(4), x) is None


def test_collapse_products_records_the_technical_dispersion():
    rng = np.random.default_rng(5)
    x, codes = _replicated(rng, n_products=4, libraries=2, genes=200)
    obs = pd.DataFrame(
        {"product": [f"P{c}" for c in codes]}, index=[f"L{i}" for i in range(len(codes))]
    )
    out = collapse_products(ad.AnnData(X=x, obs=obs), "product")
    tech = out.uns["products"]["technical"]
    assert tech["alpha"].shape == (200,) and tech["weights"].shape == (4,) and tech["df"] == 4


def test_spread_removes_the_replicate_noise_floor():
    """Summed replicate libraries carry technical noise beyond counting; with the replicates' dispersion
    removed the spread estimates the biological SD, with counting noise alone it is biased up."""
    rng = np.random.default_rng(11)
    x, codes = _replicated(rng, n_products=16, libraries=2, bio_sd=0.3, alpha=0.05, genes=4000)
    summed = _summed(x, codes)
    sf = summed.sum(axis=1) / np.exp(np.mean(np.log(summed.sum(axis=1))))
    norm = summed / sf[:, None]
    keep = norm.min(axis=0) > 100
    y = np.log2(norm[:, keep] + 1.0)
    tech = technical_dispersion(x, codes, summed)
    plain = biological_spread(y, norm[:, keep], tau=0.5, size_factors=sf)
    floor = biological_spread(
        y,
        norm[:, keep],
        tau=0.5,
        size_factors=sf,
        technical_alpha=tech["alpha"][keep],
        technical_weights=tech["weights"],
        technical_df=tech["df"],
    )
    assert floor["estimate"] == pytest.approx(0.3, abs=0.02)
    assert plain["estimate"] > floor["estimate"] + 0.03
    assert "replicate libraries" in floor["technical_source"]
    assert "no technical replicate" in plain["technical_source"]
