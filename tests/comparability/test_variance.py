import warnings

import numpy as np
import pandas as pd
import pytest

from mscseq.comparability.variance import find_donor_column, reml_one_random, variance_partition


def _sim(seed=0, g=4):
    rng = np.random.default_rng(seed)
    donors = np.repeat([f"D{i}" for i in range(6)], 4)
    cond = np.tile(["c", "c", "t", "t"], 6)
    obs = pd.DataFrame({"donor": donors, "condition": cond}, index=[f"s{i}" for i in range(24)])
    d_eff = rng.normal(0, 1.0, (6, g))
    y = (
        np.repeat(d_eff, 4, axis=0)
        + (cond == "t")[:, None] * np.linspace(0, 2, g)
        + rng.normal(0, 0.7, (24, g))
    )
    # an unbalanced sample removed to test the general case
    keep = np.arange(24) != 5
    return obs[keep], y[keep]


def test_reml_matches_statsmodels():
    import statsmodels.formula.api as smf

    obs, y = _sim()
    x = np.column_stack([np.ones(len(obs)), (obs["condition"] == "t").to_numpy(float)])
    z = (obs["donor"].to_numpy()[:, None] == np.array(sorted(set(obs["donor"])))[None, :]).astype(
        float
    )
    fit = reml_one_random(y, x, z)
    for j in range(y.shape[1]):
        df = obs.assign(y=y[:, j])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = smf.mixedlm("y ~ condition", df, groups=df["donor"]).fit(reml=True)
        assert fit["sigma2_resid"][j] == pytest.approx(m.scale, rel=1e-3)
        assert fit["sigma2_random"][j] == pytest.approx(
            float(m.cov_re.iloc[0, 0]), rel=1e-3, abs=1e-6
        )
        assert fit["beta"][j, 1] == pytest.approx(m.fe_params.iloc[1], rel=1e-3, abs=1e-6)


def test_fractions_sum_to_one_and_rank():
    obs, y = _sim(g=5)
    frac = variance_partition(y, obs, donor="donor", fixed=["condition"])
    parts = frac[["condition", "donor", "residual"]]
    assert np.allclose(parts.sum(axis=1), 1.0)
    assert frac["condition"].iloc[-1] > frac["condition"].iloc[0]


def test_no_donor_variance_gives_zero():
    rng = np.random.default_rng(4)
    obs = pd.DataFrame({"donor": np.repeat(["a", "b", "c", "d"], 3)})
    y = rng.normal(size=(12, 50))
    frac = variance_partition(y, obs, donor="donor", fixed=[])
    assert frac["donor"].median() < 0.2


def test_find_donor_column():
    assert find_donor_column(["sample", "Donor", "x"]) == "Donor"
    assert find_donor_column(["sample", "patient_id"]) == "patient_id"
    assert find_donor_column(["sample", "lot"]) is None
