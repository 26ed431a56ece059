"""The single-group question (no --group): best split and between-product spread (issue 13, item 7)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from mscseq.comparability import single as sg

N_GENES = 2000
SCORE_GENES = {"potency": np.arange(1500, 1510), "identity": np.arange(1510, 1520)}
MARGINS = {"potency": 0.5, "identity": 0.5}


def simulate(
    seed: int,
    *,
    n: int = 20,
    sd: float = 0.35,
    cohort: int = 0,
    frac: float = 0.05,
    delta: float = 2.0,
    genes: int = N_GENES,
) -> np.ndarray:
    """Normal VST: gene means 6–12, product SD ``sd``; the first ``cohort`` products shifted."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(6, 12, genes) + rng.normal(0, sd, (n, genes))
    if cohort:
        x[:cohort, : int(frac * genes)] += delta
    return x


def run(x: np.ndarray, seed: int, **kw) -> dict:
    scores = pd.DataFrame({k: x[:, v].mean(axis=1) for k, v in SCORE_GENES.items()})
    args = {
        "split_genes": np.arange(x.shape[1]),
        "spread_genes": np.arange(500, 1500),
        "norm": 2.0**x,
        "scores": scores,
        "margins": MARGINS,
        "gene_margin": 1.0,
        "f0": 0.01,
        "tau": 0.5,
        "alpha": 0.05,
        "seed": seed,
        "score_genes": SCORE_GENES,
    }
    args.update(kw)
    return sg.single_group(x, **args)


# ------------------------------------------------------------------------------------------
# building blocks
# ------------------------------------------------------------------------------------------


def brute_force_ci(gram: np.ndarray, min_size: int = 2) -> float:
    n = gram.shape[0]
    best = np.inf
    tss = np.trace(gram)
    for r in range(min_size, n // 2 + 1):
        for members in itertools.combinations(range(n), r):
            c = np.zeros(n)
            c[list(members)] = 1
            best = min(best, 1 - n / (r * (n - r)) * (c @ gram @ c) / tss)
    return best


def test_two_means_finds_the_best_split_of_small_sets():
    rng = np.random.default_rng(3)
    hits = 0
    for k in range(20):
        x = rng.normal(size=(10, 30))
        x[: 2 + k % 4] += rng.normal(0, 1.5, 30)  # some structure, clusters of 2–5
        ci, members = sg.two_means(sg.centred_gram(x), np.random.default_rng(k))
        exact = brute_force_ci(sg.centred_gram(x))
        assert ci >= exact - 1e-12
        assert 2 <= members.sum() <= 8
        hits += bool(np.isclose(ci, exact))
    assert hits >= 18


def test_two_means_stack_matches_one_by_one_and_respects_min_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 12, 50))
    x[:, 0] += 8.0  # a single outlier: a singleton cluster is not allowed
    grams = np.stack([sg.centred_gram(v) for v in x])
    ci, members = sg.two_means(grams, np.random.default_rng(1))
    assert ci.shape == (5,) and members.shape == (5, 12)
    sizes = members.sum(axis=1)
    assert np.all((sizes >= 2) & (sizes <= 10))
    for i in range(5):
        assert ci[i] >= brute_force_ci(grams[i]) - 1e-12


def test_null_spectrum_matches_unequal_gene_variances():
    # independent genes with unequal variances: no spikes, effective dimension (Σσ²)² / Σσ⁴
    rng = np.random.default_rng(5)
    var = np.exp(rng.normal(0, 1, 5000)) * 0.1
    x = rng.normal(size=(30, 5000)) * np.sqrt(var)
    spikes, sigma2, m = sg.null_spectrum(x)
    m_true = var.sum() ** 2 / (var**2).sum()
    assert len(spikes) <= 3
    assert m == pytest.approx(m_true, rel=0.2)
    assert sigma2 * m == pytest.approx(var.sum(), rel=0.1)
    with pytest.raises(ValueError, match="threshold"):
        sg.null_spectrum(x, threshold="median")


def test_null_spectrum_finds_a_strong_program():
    rng = np.random.default_rng(6)
    x = rng.normal(0, 0.35, (20, 3000))
    x[:, :300] += rng.normal(0, 0.5, (20, 1))  # one co-regulated program
    spikes, _, _ = sg.null_spectrum(x)
    assert len(spikes) >= 1
    assert spikes[0] == pytest.approx(300 * 0.25, rel=0.6)


def test_rotation_null_keeps_the_eigenvalues_and_the_centring():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(12, 300))
    x[:, :40] += rng.normal(0, 1, (12, 1))
    gram = sg.centred_gram(x)
    null = sg.rotation_grams(gram, 7, rng)
    assert null.shape == (7, 12, 12)
    assert np.allclose(null.sum(axis=2), 0, atol=1e-9)
    want = np.linalg.eigvalsh(gram)
    for k in null:
        assert np.allclose(np.linalg.eigvalsh(k), want, atol=1e-8)
    assert not np.allclose(null[0], gram)


def test_plug_in_nulls_run():
    x = simulate(3, genes=600)
    for null in ("moments", "soft", "hard"):
        out = sg.split_test(x, seed=1, n_sim=20, null=null)
        assert out["null"] == null and 1 / 21 <= out["p_value"] <= 1


def test_gene_halves_are_disjoint_seeded_and_keep_score_genes_in_b():
    genes = np.arange(0, 2000, 2)
    a, b = sg.gene_halves(genes, 7, to_b=np.array([10, 12, 5000]))
    assert len(np.intersect1d(a, b)) == 0
    assert np.array_equal(np.union1d(a, b), genes)
    assert {10, 12} <= set(b.tolist())
    assert abs(len(a) - len(b)) <= 2
    a2, _ = sg.gene_halves(genes, 7, to_b=np.array([10, 12, 5000]))
    a3, _ = sg.gene_halves(genes, 8, to_b=np.array([10, 12, 5000]))
    assert np.array_equal(a, a2) and not np.array_equal(a, a3)


def test_spread_removes_poisson_noise_from_counts():
    # NB-like counts at low depth: bio SD 0.35 log2, technical Poisson noise on top
    from mscseq.normalize import size_factors, vst

    rng = np.random.default_rng(11)
    n, g = 20, 3000
    mu = np.exp(rng.uniform(np.log(30), np.log(300), g))
    depth = rng.uniform(0.7, 1.4, n)
    lam = mu * 2.0 ** rng.normal(0, 0.35, (n, g)) * depth[:, None]
    counts = rng.poisson(lam).astype(np.float64)
    sf = size_factors(counts)
    y, _ = vst(counts, sf)
    norm = counts / sf[:, None]
    naive = float(np.sqrt(np.median(y.var(axis=0, ddof=1))))
    out = sg.biological_spread(y, norm, tau=0.5, size_factors=sf, seed=1)
    assert out["result"] == "pass"
    assert naive > 0.36  # the raw SD includes the technical part
    assert out["estimate"] == pytest.approx(0.35, abs=0.03)
    assert out["lower"] <= out["estimate"] <= out["upper"]


def test_spread_not_estimable_below_three_products():
    out = sg.biological_spread(np.ones((2, 5)), np.ones((2, 5)), tau=0.5)
    assert out["result"] == "not_estimable" and out["estimate"] is None


# ------------------------------------------------------------------------------------------
# single_group
# ------------------------------------------------------------------------------------------


def test_result_structure_and_reproducible():
    x = simulate(1)
    samples = [f"P{i:02d}" for i in range(20)]
    r = run(x, 4, samples=samples)
    assert r == run(x, 4, samples=samples)
    assert r["result"] in {"pass", "fail", "inconclusive"}
    split = r["split"]
    for key in ("p_value", "sizes", "members", "significant", "material", "result", "ci"):
        assert key in split
    assert sum(split["sizes"]) == 20 and split["sizes"][0] >= split["sizes"][1] >= 2
    assert sorted(split["members"][0] + split["members"][1]) == samples
    assert {s["panel"] for s in split["materiality"]["scores"]} == set(MARGINS)
    for key in ("estimate", "lower", "upper", "tau", "result", "n_genes"):
        assert key in r["spread"]
    assert r["spread"]["n_genes"] == 1000
    assert split["n_genes_split"] + split["n_genes_material"] == N_GENES
    assert r["reasons"]


def test_fewer_than_six_products_split_not_assessable():
    r = run(simulate(2, n=5), 0)
    assert r["split"]["result"] == "not_estimable"
    assert r["result"] == "inconclusive"
    r = run(simulate(2, n=5, sd=0.9), 0)
    assert r["result"] == "fail"  # the spread alone can fail


def test_homogeneous_products_pass():
    results = [run(simulate(s), s) for s in range(100)]
    assert sum(r["result"] == "pass" for r in results) >= 90
    assert sum(any(v["fail"] for v in r["split"]["score_splits"]) for r in results) <= 5


@pytest.mark.parametrize("cohort", [10, 5])
def test_hidden_cohorts_fail(cohort):
    results = [run(simulate(s, cohort=cohort), s) for s in range(50)]
    assert sum(r["result"] == "fail" for r in results) >= 45
    found = sum(r["split"]["sizes"][1] == min(cohort, 20 - cohort) for r in results)
    assert found >= 45


def test_a_hidden_cohort_in_one_score_is_material():
    # the cohort differs in the potency score genes only (1 log2) plus a few other genes
    fails = 0
    for s in range(20):
        x = simulate(s, cohort=10, frac=0.03, delta=1.0)
        x[:10, SCORE_GENES["potency"]] += 1.0
        r = run(x, s)
        panel = {d["panel"]: d for d in r["split"]["materiality"]["scores"]}
        fails += panel["potency"]["result"] == "different" and r["result"] == "fail"
    assert fails >= 18


def test_wide_spread_fails():
    results = [run(simulate(s, sd=0.7), s) for s in range(20)]
    assert all(r["spread"]["result"] == "fail" and r["result"] == "fail" for r in results)


def programs(seed: int, n: int = 20, genes: int = 1000) -> np.ndarray:
    """One population with 5 co-regulated programs of 100 genes (within-program correlation 0.45)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.35, (n, genes))
    for k in range(5):
        f = rng.normal(0, 1, (n, 1))
        x[:, k * 100 : (k + 1) * 100] = 0.35 * (
            np.sqrt(0.45) * f + np.sqrt(0.55) * rng.normal(0, 1, (n, 100))
        )
    return x


@pytest.mark.parametrize("kind", ["independent", "programs"])
def test_split_p_values_roughly_uniform_under_one_population(kind):
    def data(s):
        return simulate(s, genes=1000) if kind == "independent" else programs(s)

    p = np.array([sg.split_test(data(s), seed=s)["p_value"] for s in range(300)])
    assert np.mean(p < 0.05) <= 0.09  # exact in theory; 300 runs: 0.05 ± 0.025
    assert np.mean(p < 0.05) >= 0.02
    assert 0.4 <= np.mean(p < 0.5) <= 0.6


@pytest.mark.parametrize("cohort", [10, 5])
def test_a_cohort_in_one_score_only_fails(cohort):
    # only the potency genes differ (1 log2): invisible to the transcriptome-wide split
    results = []
    for s in range(30):
        x = simulate(s)
        x[:cohort, SCORE_GENES["potency"]] += 1.0
        results.append(run(x, s))
    assert sum(r["result"] == "fail" for r in results) >= 27
    r = results[0]
    row = next(v for v in r["split"]["score_splits"] if v["panel"] == "potency")
    assert row["fail"] and sorted(row["sizes"]) == sorted([cohort, 20 - cohort])
    assert "potency score splits" in r["reasons"][0]


def test_best_cut_1d_is_exact():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(30, 9))
    ci, members = sg.best_cut_1d(y)
    for i in range(30):
        gram = np.outer(y[i] - y[i].mean(), y[i] - y[i].mean())
        assert ci[i] == pytest.approx(brute_force_ci(gram))
        assert 2 <= members[i].sum() <= 7
        assert y[i][members[i]].max() < y[i][~members[i]].min()


def nb_programs(seed: int, sd: float, n: int = 20, genes: int = 2000) -> tuple:
    """Poisson counts around donor effects of SD ``sd`` with 10 co-regulated programs; mscseq's VST."""
    from mscseq.normalize import size_factors, vst

    rng = np.random.default_rng(seed)
    base = rng.lognormal(np.log(0.6), 1.6, genes)
    mu = base / base.sum() * rng.uniform(10e6, 30e6, n)[:, None] * 0.5
    b = rng.normal(0, sd, (n, genes))
    size = genes // 20
    for k in range(10):
        f = rng.normal(0, 1, (n, 1))
        b[:, k * size : (k + 1) * size] = sd * (
            np.sqrt(0.45) * f + np.sqrt(0.55) * rng.normal(0, 1, (n, size))
        )
    counts = rng.poisson(mu * 2.0**b).astype(np.float64)
    counts = counts[:, counts.sum(axis=0) >= 10]
    sf = size_factors(counts)
    y, _ = vst(counts, sf)
    norm = counts / sf[:, None]
    spread_genes = np.sort(np.argsort(-norm.mean(axis=0))[:600])
    return y[:, spread_genes], norm[:, spread_genes], sf


def test_spread_at_tau_rarely_passes_and_below_passes():
    at_tau, below = [], []
    for s in range(40):
        y, norm, sf = nb_programs(s, 0.5)
        at_tau.append(sg.biological_spread(y, norm, tau=0.5, size_factors=sf, seed=s))
        y, norm, sf = nb_programs(s, 0.4)
        below.append(sg.biological_spread(y, norm, tau=0.5, size_factors=sf, seed=s))
    assert sum(r["result"] == "pass" for r in at_tau) <= 5  # α = 5 %: about 2 of 40
    assert np.mean([r["estimate"] for r in at_tau]) == pytest.approx(0.5, abs=0.01)
    assert sum(r["result"] == "pass" for r in below) >= 38


# ------------------------------------------------------------------------------------------
# each panel score's spread against the score tolerance
# ------------------------------------------------------------------------------------------


def test_score_spread_bounds_are_the_chi_square_bounds_minus_the_technical_variance():
    from scipy import stats

    rng = np.random.default_rng(5)
    scores = pd.DataFrame({"potency": rng.normal(0, 0.4, 12), "identity": rng.normal(0, 0.1, 12)})
    rows = sg.score_spread(
        scores, MARGINS, tau=0.35, alpha=0.05, technical_sd={"potency": 0.1, "identity": 0.0}
    )
    assert [r["panel"] for r in rows] == ["potency", "identity"]
    pot = rows[0]
    s2 = scores["potency"].var(ddof=1)
    assert pot["sd"] == pytest.approx(np.sqrt(s2))
    assert pot["estimate"] == pytest.approx(np.sqrt(s2 - 0.01))
    assert pot["lower"] == pytest.approx(np.sqrt(11 * s2 / stats.chi2.ppf(0.95, 11) - 0.01))
    assert pot["upper"] == pytest.approx(np.sqrt(11 * s2 / stats.chi2.ppf(0.05, 11) - 0.01))
    expected = "fail" if pot["lower"] > 0.35 else "pass" if pot["upper"] <= 0.35 else "inconclusive"
    assert pot["result"] == expected
    assert rows[1]["result"] == "pass"  # SD ~0.1: upper bound well below 0.35
    # a technical SD larger than the spread floors the biological SD at 0
    flat = sg.score_spread(scores, MARGINS, tau=0.35, alpha=0.05, technical_sd={"identity": 1.0})
    assert flat[1]["estimate"] == 0.0 and flat[1]["lower"] == 0.0


def test_score_spread_skips_panels_without_margin_or_with_too_few_products():
    scores = pd.DataFrame({"potency": [0.0, 1.0], "other": [0.0, 1.0]})
    assert sg.score_spread(scores, MARGINS, tau=0.35, alpha=0.05) == []
    scores = pd.DataFrame({"potency": [0.0, 1.0, 2.0], "other": [0.0, 1.0, 2.0]})
    assert [r["panel"] for r in sg.score_spread(scores, MARGINS, tau=0.35, alpha=0.05)] == [
        "potency"
    ]


def test_a_score_spread_beyond_its_tolerance_fails_the_single_group():
    # the potency genes share a donor factor of SD 0.7: the score spreads, nothing splits
    results = []
    for s in range(10):
        x = simulate(s)
        f = np.random.default_rng(100 + s).normal(0, 0.7, (20, 1))
        x[:, SCORE_GENES["potency"]] += f
        results.append(run(x, s, score_tau=0.35))
    assert all(r["result"] == "fail" for r in results)
    r = results[0]
    row = next(v for v in r["score_spread"] if v["panel"] == "potency")
    assert row["result"] == "fail" and row["lower"] > 0.35
    assert any("potency score spreads" in line for line in r["reasons"])
    # without a score tolerance the same data are not failed by the score spread
    assert run(x, 9)["score_spread"] == []


def test_homogeneous_scores_pass_the_score_spread():
    results = [run(simulate(s), s, score_tau=0.35) for s in range(50)]
    assert all(v["result"] != "fail" for r in results for v in r["score_spread"])
    assert sum(r["result"] == "pass" for r in results) >= 45
