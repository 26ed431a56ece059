"""The simulation study's machinery (benchmarks/simstudy): generator, scenarios, tallies."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from simstudy import runner, scenarios
from simstudy.generator import StudySpec, collapse, simulate, to_anndata
from simstudy.profile import POTENCY, default_profile

LN2 = np.log(2.0)


@pytest.fixture(scope="module")
def profile():
    return default_profile(20000)


@pytest.fixture(scope="module")
def big(profile):
    """One large single-group study: 300 products at exactly 20 M reads, rho fixed at 0.45."""
    spec = StudySpec(n_a=300, n_b=0, donor_sd=0.35, rho_range=(0.45, 0.45), depth_a=(20e6, 20e6))
    return spec, simulate(spec, profile, 7)


def test_seeded_and_reproducible(profile):
    spec = StudySpec(n_a=4, n_b=4)
    a, b, c = simulate(spec, profile, 1), simulate(spec, profile, 1), simulate(spec, profile, 2)
    assert a.counts.equals(b.counts)
    assert a.sheet.equals(b.sheet)
    assert not a.counts.equals(c.counts)
    assert a.counts.shape == (20000, 8)
    assert (a.counts.to_numpy() == np.round(a.counts.to_numpy())).all()


def test_donor_sd_matches_request_on_counts(big, profile):
    """Between-product SD of log2 counts of well-expressed genes, minus technical variance, is 0.35."""
    spec, study = big
    x = study.counts.to_numpy()
    depth = x.sum(axis=0)
    well = profile.base * 20e6 >= 2000  # >= 2000 reads: technical variance small and known
    well[[profile.xist, *profile.chry]] = False
    well[[i for i, _ in profile.genotype.values()]] = False
    y = np.log2(x[well] / depth)
    mean = (profile.base[well] * 20e6)[:, None]
    tech = ((1.0 / mean + spec.tech_a0 * np.exp(spec.tech_scatter**2 / 2)) / LN2**2).mean(axis=1)
    biological = np.var(y, axis=1, ddof=1) - tech
    assert np.sqrt(np.mean(biological)) == pytest.approx(0.35, rel=0.05)
    truth = study.truth["donor_effects"]
    assert truth.std() == pytest.approx(0.35, rel=0.02)


def test_within_program_correlation_matches_request(big, profile):
    spec, study = big
    x = study.counts.to_numpy()
    depth = x.sum(axis=0)
    observed, attenuation = [], []
    for name, idx in profile.programs.items():
        if not name.startswith("program"):
            continue
        genes = idx[profile.base[idx] * 20e6 >= 1000]
        if len(genes) < 5:
            continue
        r = np.corrcoef(np.log2(x[genes] / depth))
        observed.append(r[np.triu_indices(len(genes), 1)].mean())
        mean = profile.base[genes] * 20e6
        tech = (1.0 / mean + spec.tech_a0) / LN2**2
        attenuation.append(np.mean(0.35**2 / (0.35**2 + tech)))
    assert len(observed) >= 10
    corrected = np.mean(observed) / np.mean(attenuation)
    assert corrected == pytest.approx(0.45, abs=0.04)
    truth = study.truth["donor_effects"][:, profile.programs["program01"]]
    r = np.corrcoef(truth.T)
    assert r[np.triu_indices(r.shape[0], 1)].mean() == pytest.approx(0.45, abs=0.06)


def test_heavy_tails_only_when_asked(profile):
    def kurtosis(spec):
        b = simulate(spec, profile, 3).truth["donor_effects"].ravel()
        return np.mean(b**4) / np.mean(b**2) ** 2 - 3

    assert kurtosis(StudySpec(n_a=50, n_b=0, df=5.0)) > 2.0
    assert abs(kurtosis(StudySpec(n_a=50, n_b=0, df=None))) < 0.2


def test_depth_is_as_requested(profile):
    """Expected reads are exactly the depth; realised totals vary by the technical noise (~1 %)."""
    spec = StudySpec(n_a=20, n_b=20, depth_a=(10e6, 10e6), depth_b=(30e6, 30e6))
    sums = simulate(spec, profile, 4).counts.sum(axis=0).to_numpy()
    assert sums[:20].mean() == pytest.approx(10e6, rel=0.005)
    assert sums[20:].mean() == pytest.approx(30e6, rel=0.005)
    np.testing.assert_allclose(sums[:20], 10e6, rtol=0.04)
    np.testing.assert_allclose(sums[20:], 30e6, rtol=0.04)
    ranged = simulate(StudySpec(n_a=20, n_b=0), profile, 5).counts.sum(axis=0).to_numpy()
    assert ranged.min() >= 9.9e6 and ranged.max() <= 30.1e6


def test_collapsing_replicate_libraries_sums_to_the_product(profile):
    one = simulate(StudySpec(n_a=3, n_b=3), profile, 6)
    three = simulate(StudySpec(n_a=3, n_b=3, libraries=3), profile, 6)
    assert three.counts.shape[1] == 18
    assert (three.sheet["product"].value_counts() == 3).all()
    summed = collapse(three)
    np.testing.assert_array_equal(summed.to_numpy(), one.counts.to_numpy())
    np.testing.assert_array_equal(summed.to_numpy(), three.truth["product_counts"].T)
    lib = three.counts.sum(axis=0).to_numpy().reshape(6, 3)
    assert (lib.min(axis=1) > 0.05 * lib.sum(axis=1)).all()  # every library has a real share


def test_sex_genotype_and_truths(profile):
    study = simulate(StudySpec(n_a=10, n_b=10, sex="imbalanced"), profile, 8)
    x = study.counts.to_numpy()
    truth = study.truth["products"]
    male = (truth["sex"] == "M").to_numpy()
    assert male[:10].all() and not male[10:].any()
    assert (x[profile.chry][:, ~male] == 0).all() and (
        x[profile.chry][:, male].sum(axis=0) > 0
    ).all()
    assert (x[profile.xist, male] == 0).all() and (x[profile.xist, ~male] > 0).all()
    gstm1, _ = profile.genotype["GSTM1"]
    assert (x[gstm1, ~truth["has_GSTM1"].to_numpy()] == 0).all()
    assert "sex" not in study.sheet.columns and "cohort" not in study.sheet.columns


def test_scenarios_truths_are_absolute(profile):
    potency = scenarios.cell("potency_program_-1.5", 6, 0.35)
    delta = simulate(potency.spec, profile, 9).truth["delta"]
    idx = profile.programs[POTENCY]
    assert np.all(np.abs(delta[idx] + 1.5) <= 0.25)
    equivalent = simulate(scenarios.cell("equivalent", 6, 0.35).spec, profile, 9).truth["delta"]
    assert np.abs(equivalent).max() <= 0.25
    single = scenarios.cell("single_cohorts_quarter", 10, 0.2)
    assert single.spec.n_products == 20 and single.spec.cohort_sizes == (5, 15)
    shifted = simulate(single.spec, profile, 9).truth["cohort_delta"]
    assert np.mean(np.abs(shifted) >= 2.0) == pytest.approx(0.05, abs=0.001)
    assert scenarios.cell("single_homogeneous", 10, 0.35).expected == "comparable"
    assert scenarios.cell("single_homogeneous", 10, 0.5).expected == "gray"
    keys = [c.key for c in scenarios.full_grid()]
    assert len(keys) == len(set(keys)) == len(scenarios.SCENARIOS) * 15


def test_paired_and_heterogeneous_reference(profile):
    spec = StudySpec(n_a=200, n_b=200, paired=True, pair_sd=0.1, reference_sd_factor=1.5)
    study = simulate(spec, profile, 11)
    b = study.truth["donor_effects"]
    assert b[:200].std() == pytest.approx(0.35 * 1.5, rel=0.03)
    assert (b[200:] - b[:200]).std() == pytest.approx(0.1, rel=0.03)
    assert (
        list(study.sheet["donor"][:3])
        == list(study.sheet["donor"][200:203])
        == ["D01", "D02", "D03"]
    )
    with pytest.raises(ValueError, match="paired"):
        simulate(StudySpec(n_a=3, n_b=4, paired=True), profile, 1)


def test_loads_like_compare(profile):
    study = simulate(StudySpec(n_a=3, n_b=3, libraries=2, batch="aliased"), profile, 10)
    adata = to_anndata(study)
    assert adata.shape == (12, 20000)
    assert list(adata.obs.columns) == ["product", "group", "batch"]
    np.testing.assert_array_equal(adata.X, study.counts.to_numpy().T)


def test_clopper_pearson():
    lo, hi = runner.clopper_pearson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 20))
    lo, hi = runner.clopper_pearson(10, 20)
    assert lo == pytest.approx(0.2720, abs=1e-4) and hi == pytest.approx(0.7280, abs=1e-4)


def fake_rule(adata, cell, seed):
    """Calls the last product deviating and the study comparable exactly when it is grouped."""
    products = sorted(set(adata.obs["product"].astype(str)))
    status = {p: "conforming" for p in products} | {products[-1]: "deviating"}
    verdict = "comparable" if cell.spec.grouped else "inconclusive"
    return {"verdict": verdict, "products": status, "replicate_caveat": False}


def test_runner_tallies_with_a_pluggable_rule():
    cells = [
        replace(scenarios.cell("equivalent", 3, 0.35)),
        scenarios.cell("single_contaminated", 3, 0.35),
    ]
    runs = runner.run_cells(cells, 3, jobs=1, rule=fake_rule, n_genes=3000)
    assert len(runs) == 6 and (runs["error"] == "").all()
    assert len(set(runs["seed"])) == 6
    table = runner.tally(runs).set_index("scenario")
    assert table.loc["equivalent", "p_comparable"] == 1.0
    assert table.loc["single_contaminated", "p_inconclusive"] == 1.0
    assert table.loc["single_contaminated", "contaminant_flagged"] == 1.0
    assert table.loc["equivalent", "false_deviating"] == pytest.approx(1 / 6)
    assert table.loc["equivalent", "not_assessable"] == 0.0
    cost = runner.estimate_cpu_seconds(runs, cells, cells, 100)
    assert 0 < cost == pytest.approx(100 * runs["cpu_seconds"].sum() / 3, rel=0.5)
    text = runner.markdown(runner.tally(runs))
    assert text.count("\n") == 3 and "| equivalent | 3 | 0.35 | comparable | 3 |" in text
