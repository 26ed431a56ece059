"""Tier 2 (comparability v2): the fraction of genes beyond the margin, with its bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from mscseq.comparability import tier2 as t2
from mscseq.normalize import size_factors, vst

KEYS = {
    "result",
    "n_genes",
    "margin",
    "f0",
    "estimate",
    "lower",
    "upper",
    "n_beyond",
    "n_shown_beyond",
    "n_needed",
    "method",
}


def simulate(seed, n, *, n_genes=1000, sd=0.35, frac=0.0, shift=0.0, equiv=0.25, rho=0.0):
    """Normal VST-like data: ``n`` products per group, genes within ``equiv`` except ``frac`` at ``shift``."""
    rng = np.random.default_rng(seed)
    beta = rng.uniform(-equiv, equiv, n_genes)
    k = round(frac * n_genes)
    beta[:k] = shift * rng.choice([-1.0, 1.0], k)
    sds = sd * np.exp(rng.normal(0.0, 0.2, n_genes))
    e = rng.normal(0.0, 1.0, (2 * n, n_genes))
    if rho > 0:  # co-regulated programs of 50 genes
        program = np.arange(n_genes) // 50
        f = rng.normal(0.0, 1.0, (2 * n, program.max() + 1))[:, program]
        e = np.sqrt(rho) * f + np.sqrt(1.0 - rho) * e
    y = rng.normal(6.0, 2.0, n_genes) + e * sds
    y[n:] += beta
    return y, np.array(["A"] * n + ["B"] * n)


def run(y, labels, target="B", reference="A", seed=0, **kw):
    kw = {"margin": 1.0, "f0": 0.01, "alpha": 0.05, **kw}
    return t2.tier2(y, labels, target, reference, seed=seed, **kw)


# --- empirical Bayes: equal to limma 3.54 (lmFit + eBayes) -------------------------------------------


def _golden_data():
    i = np.arange(9)[:, None]
    j = np.arange(30)[None, :]
    y = np.sin(1.7 * i * (j + 1) + 0.3 * j) * (0.2 + 0.8 * ((j * 7) % 11) / 10) + 0.1 * j
    y[:, 0] = 0.5  # a gene without variance (limma offsets it in the prior fit only)
    return y, np.array(list("AAAABBBBB")), np.array(list("xyxyxyxxy"))


@pytest.mark.parametrize(
    ("with_batch", "d0", "s0_2", "se", "coef"),
    [
        (
            False,
            0.970333544887,
            0.0269125416259,
            [0.0383977599077, 0.429479214725, 0.211582515505, 0.244203086196],
            [0.0, 0.190793765506, 0.121188838161, -1.40583871302],
        ),
        (
            True,
            0.960403032613,
            0.0270704559887,
            [0.0412046294416, 0.395100741292, 0.227220574811, 0.260553435582],
            [0.0, 0.127675333591, 0.124352422648, -1.41451748993],
        ),
    ],
)
def test_moderation_equals_limma(with_batch, d0, s0_2, se, coef):
    # R: fit <- eBayes(lmFit(t(y), model.matrix(~g [+ b]))); fit$df.prior, fit$s2.prior,
    #    sqrt(fit$s2.post) * fit$stdev.unscaled[, 2], fit$coef[, 2]
    y, g, b = _golden_data()
    fit = t2.fit_genes(y, g, "B", "A", batch=b if with_batch else None)
    assert fit.d0 == pytest.approx(d0, rel=1e-9)
    assert fit.s0_2 == pytest.approx(s0_2, rel=1e-9)
    np.testing.assert_allclose(fit.se[:4], se, rtol=1e-9)
    np.testing.assert_allclose(fit.estimate[:4], coef, atol=1e-10)
    assert fit.df == (6 if with_batch else 7)


def test_trigamma_inverse_round_trip():
    y = np.array([1e-8, 1e-3, 0.3, 1.0, 7.0, 1e3, 1e8])
    x = t2.trigamma_inverse(y)
    np.testing.assert_allclose(special.polygamma(1, x), y, rtol=1e-6)


def test_prior_infinite_when_variances_agree_with_sampling():
    rng = np.random.default_rng(3)
    s2 = rng.chisquare(10, 5000) / 10 * 0.2  # pure sampling spread around 0.2
    d0, s0_2 = t2.fit_prior(s2, 10)
    assert d0 > 200
    assert s0_2 == pytest.approx(0.2, rel=0.03)


# --- pieces of the decision --------------------------------------------------------------------


def test_binomial_upper_is_the_exact_inversion():
    assert t2.binomial_upper(0, 1000, 0.05) == 4  # 0.5**4 >= 0.05 > 0.5**5
    for n_beyond in (0, 3, 17, 60):
        k = t2.binomial_upper(n_beyond, 1000, 0.05)
        assert stats.binom.cdf(n_beyond, k, 0.5) >= 0.05 > stats.binom.cdf(n_beyond, k + 1, 0.5)
    assert t2.binomial_upper(1000, 1000, 0.05) == 1000


def test_max_count_passing_agrees_with_the_bound():
    for n_genes in (500, 2000, 10000):
        c = t2.max_count_passing(n_genes, 0.01, 0.05)
        assert t2.binomial_upper(c, n_genes, 0.05) <= 0.01 * n_genes
        assert t2.binomial_upper(c + 1, n_genes, 0.05) > 0.01 * n_genes
    assert t2.max_count_passing(100, 0.01, 0.05) == -1  # 1 gene allowed: never provable


def test_holm_step_down():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    # sorted 0.005 <= .05/5, 0.01 <= .05/4, 0.03 > .05/3: stop
    np.testing.assert_array_equal(t2.holm(p, 0.05), [True, False, False, True, False])
    assert not t2.holm(np.array([0.2, 0.3]), 0.05).any()
    assert t2.holm(np.array([0.001, 0.002]), 0.05).all()


def test_p_beyond_is_exact_at_the_margin():
    # at |beta| = m with a known se the test has level alpha exactly (normal, df = inf)
    rng = np.random.default_rng(5)
    se = 0.5
    d = 1.0 + se * rng.standard_normal(200_000)
    p = t2.p_beyond(d, np.full(d.size, se), np.inf, 1.0)
    assert abs(np.mean(p <= 0.05) - 0.05) < 0.003
    # and below the level at beta = 0 even with a large se (a one-sided t alone gives ~0.09 here)
    d0 = se * rng.standard_normal(200_000) * 2.0
    p0 = t2.p_beyond(d0, np.full(d0.size, 2 * se), np.inf, 1.0)
    assert np.mean(p0 <= 0.05) <= 0.05


def test_overdispersion_is_one_for_independent_genes_and_larger_for_programs():
    indep = [t2.fit_genes(*simulate(s, 6, n_genes=2000), "B", "A") for s in range(5)]
    prog = [t2.fit_genes(*simulate(s, 6, n_genes=2000, rho=0.6), "B", "A") for s in range(5)]
    phi_indep = [t2.residual_overdispersion(f, 0.6) for f in indep]
    phi_prog = [t2.residual_overdispersion(f, 0.6) for f in prog]
    assert max(phi_indep) < 1.15
    assert min(phi_prog) > 1.2
    assert t2.residual_overdispersion(indep[0], 1.0, indep[0].estimate) >= 1.0


def test_overdispersion_matches_the_variance_of_the_count():
    # many replicate studies of one correlated truth (no difference): the count's variance over the
    # independent-genes variance is close to the design effect computed in each study (the second-order
    # expansion underestimates it for correlations near 0.7 in the far tail: 7.4 for 12.9)
    rng = np.random.default_rng(21)
    n_genes, n, sd, margin = 600, 8, 0.45, 0.45
    program = np.arange(n_genes) // 60
    p = 2 * stats.norm.sf(margin / (sd * np.sqrt(2 / n)))
    counts, phis = [], []
    for _ in range(400):
        f = rng.normal(0.0, 1.0, (2 * n, program.max() + 1))[:, program]
        y = sd * (np.sqrt(0.3) * f + np.sqrt(0.7) * rng.normal(0.0, 1.0, (2 * n, n_genes)))
        counts.append(np.sum(np.abs(y[n:].mean(0) - y[:n].mean(0)) > margin))
        fit = t2.fit_genes(y, np.array(["A"] * n + ["B"] * n), "B", "A")
        phis.append(t2.residual_overdispersion(fit, margin))
    true_phi = np.var(counts) / (n_genes * p * (1 - p))
    assert true_phi > 3.0
    assert np.median(phis) == pytest.approx(true_phi, rel=0.25)


def test_inflated_upper():
    assert t2.inflated_upper(7, 2000, 0.05, 1.0) == t2.binomial_upper(7, 2000, 0.05)
    assert abs(t2.inflated_upper(7, 2000, 0.05, 1.0001) - t2.binomial_upper(7, 2000, 0.05)) <= 1
    bounds = [t2.inflated_upper(7, 2000, 0.05, phi) for phi in (1.0, 1.5, 2.0, 4.0)]
    assert bounds == sorted(bounds)
    assert bounds[-1] > bounds[0] + 10
    assert t2.inflated_upper(1900, 2000, 0.05, 3.0) == 2000
    for phi in (1.5, 3.0):
        c = t2.max_count_passing(5000, 0.01, 0.05, phi)
        assert (
            t2.inflated_upper(c, 5000, 0.05, phi) <= 50 < t2.inflated_upper(c + 1, 5000, 0.05, phi)
        )


# --- tier2(): contract, models, symmetry ------------------------------------------------------------


def test_contract_keys_and_json_types():
    y, labels = simulate(1, 5)
    out = run(y, labels)
    assert set(out) == KEYS
    assert out["result"] in {"pass", "fail", "inconclusive"}
    for key in ("estimate", "lower", "upper", "margin", "f0"):
        assert isinstance(out[key], float)
    for key in ("n_genes", "n_beyond", "n_shown_beyond"):
        assert isinstance(out[key], int)
    assert out["lower"] <= out["estimate"] <= out["upper"]


@pytest.mark.parametrize("design", ["two-sample", "paired", "batch"])
def test_swapping_target_and_reference_gives_the_same_answer(design):
    y, labels = simulate(2, 6, frac=0.02, shift=1.2)
    pair = np.array([f"d{i}" for i in range(6)] * 2) if design == "paired" else None
    batch = np.array(list("xxxyyy" + "xyyyyy")) if design == "batch" else None
    a = run(y, labels, "B", "A", pair=pair, batch=batch, seed=9)
    b = run(y, labels, "A", "B", pair=pair, batch=batch, seed=9)
    assert a == b
    ta = t2.gene_table(y, labels, "B", "A", margin=1.0, alpha=0.05, pair=pair, batch=batch)
    tb = t2.gene_table(y, labels, "A", "B", margin=1.0, alpha=0.05, pair=pair, batch=batch)
    np.testing.assert_allclose(ta["estimate"], -tb["estimate"], atol=1e-12)
    np.testing.assert_array_equal(ta["shown_beyond"], tb["shown_beyond"])


def test_deterministic():
    y, labels = simulate(4, 6, rho=0.5)
    assert run(y, labels, seed=3) == run(y, labels, seed=4)


def test_not_estimable():
    y, labels = simulate(5, 4)
    aliased = np.where(labels == "A", "run1", "run2")
    out = run(y, labels, batch=aliased)
    assert out["result"] == "not_estimable"
    assert "aliased" in out["method"]
    assert out["upper"] is None
    assert set(out) == KEYS
    one_each = run(y[[0, 4]], labels[[0, 4]])
    assert one_each["result"] == "not_estimable"
    disjoint = np.array([f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)])
    assert run(y, labels, pair=disjoint)["result"] == "not_estimable"
    assert run(y, labels, target="C")["result"] == "not_estimable"
    table = t2.gene_table(y, labels, "B", "A", margin=1.0, alpha=0.05, batch=aliased)
    assert table.empty
    assert list(table.columns) == ["estimate", "se", "df", "beyond", "p_beyond", "shown_beyond"]


def test_other_levels_are_left_out():
    y, labels = simulate(6, 5)
    extra = np.vstack([y, y[:3] + 5.0])
    labels3 = np.concatenate([labels, ["C"] * 3])
    assert run(extra, labels3, seed=1) == run(y, labels, seed=1)


def test_pairing_removes_donor_effects():
    # 4 donors through both processes, donor effects large next to the process effect
    rng = np.random.default_rng(7)
    n_genes = 2000
    donor = rng.normal(0.0, 1.0, (4, n_genes))
    y = np.vstack([donor, donor]) + rng.normal(0.0, 0.1, (8, n_genes)) + rng.normal(6, 2, n_genes)
    labels = np.array(["A"] * 4 + ["B"] * 4)
    pair = np.array(["d1", "d2", "d3", "d4"] * 2)
    paired = run(y, labels, pair=pair)
    assert paired["result"] == "pass"
    assert "paired" in paired["method"]
    assert run(y, labels)["result"] != "pass"


def test_products_without_a_pair_are_left_out_of_the_paired_test():
    y, labels = simulate(14, 6)
    pair = np.array([f"d{i}" for i in range(6)] * 2, dtype=object)
    partial = pair.copy()
    partial[[0, 7]] = None  # d0 loses its A product, d1 its B product
    assert "paired" in run(y, labels, pair=partial)["method"]
    table = t2.gene_table(y, labels, "B", "A", margin=1.0, alpha=0.05, pair=partial)
    keep = np.isin(pair, ["d2", "d3", "d4", "d5"])
    expected = t2.gene_table(
        y[keep], labels[keep], "B", "A", margin=1.0, alpha=0.05, pair=pair[keep]
    )
    pd.testing.assert_frame_equal(table, expected)


def test_paired_with_batch_differences_within_pairs():
    # 8 donors; for 3 of them the two processes were sequenced in different runs (+1.5 on every gene)
    rng = np.random.default_rng(17)
    n_genes = 1000
    donor = rng.normal(0.0, 0.8, (8, n_genes))
    y = np.vstack([donor, donor]) + rng.normal(0.0, 0.2, (16, n_genes)) + rng.normal(6, 2, n_genes)
    labels = np.array(["A"] * 8 + ["B"] * 8)
    pair = np.array([f"d{i}" for i in range(8)] * 2)
    batch = np.array(["r1"] * 8 + ["r1"] * 5 + ["r2"] * 3)
    y = y + np.where(batch == "r2", 1.5, 0.0)[:, None]
    adjusted = run(y, labels, pair=pair, batch=batch)
    assert adjusted["result"] == "pass"
    assert "batch differences" in adjusted["method"]
    assert run(y, labels, pair=pair)["result"] != "pass"
    aliased = np.array(["r1"] * 8 + ["r2"] * 8)
    out = run(y, labels, pair=pair, batch=aliased)
    assert out["result"] == "not_estimable"
    assert "aliased" in out["method"]


def test_bridged_batch_is_adjusted():
    # a strong batch effect on every gene, bridged by products of both levels in both runs
    y, labels = simulate(8, 10)
    batch = np.array(list("xxxxxyyyyy" + "xxyyyyyyyy"))
    y = y + np.where(batch == "y", 1.5, 0.0)[:, None]
    out = run(y, labels, batch=batch)
    assert out["result"] == "pass"
    assert "batch" in out["method"]
    assert run(y, labels)["result"] != "pass"


def test_gene_table_matches_tier2():
    y, labels = simulate(9, 8, frac=0.05, shift=2.5)
    ids = np.array([f"ENSG{i:05d}" for i in range(y.shape[1])])
    names = np.array([f"G{i}" for i in range(y.shape[1])])
    table = t2.gene_table(
        y, labels, "B", "A", margin=1.0, alpha=0.05, gene_ids=ids, gene_names=names
    )
    assert list(table.columns) == [
        "gene_name",
        "estimate",
        "se",
        "df",
        "beyond",
        "p_beyond",
        "shown_beyond",
    ]
    assert table.index.name == "gene_id"
    assert table["gene_name"].iloc[3] == "G3"
    out = run(y, labels)
    assert isinstance(table, pd.DataFrame)
    assert list(table.index[:2]) == ["ENSG00000", "ENSG00001"]
    assert int(table["beyond"].sum()) == out["n_beyond"]
    assert int(table["shown_beyond"].sum()) == out["n_shown_beyond"]
    assert out["result"] == "fail"
    assert out["lower"] > 0.01
    assert (table["p_beyond"].between(0, 1)).all()
    assert table["shown_beyond"][:40].mean() > 0.9


def test_n_needed_only_when_inconclusive_and_grows_with_the_spread():
    small = run(*simulate(10, 3, sd=0.35))
    large = run(*simulate(10, 3, sd=0.6))
    assert small["result"] == large["result"] == "inconclusive"
    assert 3 < small["n_needed"] < large["n_needed"] <= 20
    assert run(*simulate(10, 3, sd=5.0))["n_needed"] is None  # more than 200
    passing = run(*simulate(10, 10))
    assert passing["result"] == "pass"
    assert passing["n_needed"] is None


def test_n_needed_is_about_right():
    # predicted from studies of 3 per group; the pass rate at that n is at least ~the power
    predicted = [run(*simulate(s, 3, sd=0.4))["n_needed"] for s in range(10)]
    n = int(np.median(predicted))
    rate = rates(60, n, sd=0.4)["pass"]
    assert rate >= 0.7
    assert rates(60, n - 2, sd=0.4)["pass"] < 0.8


def test_few_genes():
    y, labels = simulate(12, 5, n_genes=3)
    assert run(y, labels)["result"] == "inconclusive"  # 1 % of 3 genes cannot be shown
    assert run(y[:, :0], labels)["result"] == "not_estimable"


# --- operating characteristics (normal data; the simulation study covers NB counts) ----------------


def rates(n_seeds, n, **kw):
    results = [run(*simulate(seed, n, **kw), seed=seed)["result"] for seed in range(n_seeds)]
    return {r: results.count(r) / n_seeds for r in ("pass", "fail", "inconclusive")}


def test_equivalent_truth_passes_at_10_per_group():
    assert rates(200, 10)["pass"] >= 0.8


def test_equivalent_truth_passes_at_6_per_group():
    assert rates(100, 6)["pass"] >= 0.5


def test_gray_zone_rarely_passes():
    # 1 % of genes at 1.1 × the margin with f0 = 1 %, also inside co-regulated programs
    for n in (4, 10):
        assert rates(200, n, frac=0.01, shift=1.1)["pass"] <= 0.05
    assert rates(200, 10, frac=0.01, shift=1.1, rho=0.6)["pass"] <= 0.05


def test_at_the_margin_passes_at_most_alpha():
    for n in (6, 10):
        assert rates(200, n, frac=0.01, shift=1.0, rho=0.6)["pass"] <= 0.05


def test_clearly_different_never_passes():
    for n in (3, 6, 10, 20):
        assert rates(50, n, frac=0.02, shift=1.5)["pass"] == 0.0
    assert rates(50, 10, frac=0.05, shift=2.0)["fail"] >= 0.9


def test_simes_true_discoveries():
    # 3 tiny p-values among 100: 1 - u + #{p <= u·0.05/100} is 3 at u = 1
    p = np.concatenate([[1e-6, 2e-6, 3e-6], np.linspace(0.2, 1.0, 97)])
    assert t2.simes_true_discoveries(p, 0.05) == 3
    # many moderate p-values: far above Holm's count
    p = np.concatenate([np.full(300, 2e-4), np.linspace(0.05, 1.0, 700)])
    assert t2.holm(p, 0.05).sum() == 0
    assert t2.simes_true_discoveries(p, 0.05) >= 290
    # all null (uniform): a positive bound in at most about alpha of the draws
    rng = np.random.default_rng(2)
    hits = [t2.simes_true_discoveries(rng.uniform(size=500), 0.05) > 0 for _ in range(2000)]
    assert np.mean(hits) <= 0.06
    assert t2.simes_true_discoveries(np.array([]), 0.05) == 0


def test_simes_lower_bound_fails_many_moderate_shifts():
    kw = {"frac": 0.10, "shift": 1.5, "n_genes": 2000}
    simes = [run(*simulate(s, 10, **kw), lower_bound="simes")["result"] for s in range(30)]
    holm_only = [run(*simulate(s, 10, **kw))["result"] for s in range(30)]
    assert simes.count("fail") >= 27
    assert holm_only.count("fail") < simes.count("fail")


@pytest.mark.slow
def test_simes_lower_bound_does_not_fail_below_f0():
    # 0.9 % of genes at 3 log2 and 0.9 % exactly at the margin, in co-regulated programs: truly beyond
    # is 0.9 % < f0, so "fail" is an error
    def data(seed, n=20, n_genes=5000):
        rng = np.random.default_rng(seed)
        beta = rng.uniform(-0.25, 0.25, n_genes)
        beta[:45] = 3.0
        beta[45:90] = rng.choice([-1.0, 1.0], 45)
        program = np.arange(n_genes) // 50
        f = rng.normal(size=(2 * n, program.max() + 1))[:, program]
        e = np.sqrt(0.6) * f + np.sqrt(0.4) * rng.normal(size=(2 * n, n_genes))
        y = rng.normal(6, 2, n_genes) + 0.35 * e
        y[n:] += beta
        return y, np.array(["A"] * n + ["B"] * n)

    results = [run(*data(s), lower_bound="simes")["result"] for s in range(60)]
    assert results.count("fail") <= 3


def test_counting_true_discoveries():
    # 40 tiny p-values among 2000: c·(1 + 2000·1e-6) ≈ 2.17, so 40 - 2 = 38
    p = np.concatenate([np.full(40, 1e-6), np.linspace(0.01, 1.0, 1960)])
    assert t2.counting_true_discoveries(p, 0.05) == 38
    assert t2.counting_true_discoveries(p, 0.05, phi=4.0) < 38
    # 300 moderate p-values (2e-4): Holm shows none, counting keeps most
    p = np.concatenate([np.full(300, 2e-4), np.linspace(0.05, 1.0, 700)])
    assert t2.counting_true_discoveries(p, 0.05) >= 290
    # all null: a positive bound in at most alpha of the draws (independent p-values)
    rng = np.random.default_rng(8)
    hits = [t2.counting_true_discoveries(rng.uniform(size=2000), 0.05) > 0 for _ in range(1000)]
    assert np.mean(hits) <= 0.05
    assert t2.counting_true_discoveries(np.array([]), 0.05) == 0


def test_counting_lower_bound_fails_moderate_shifts_at_few_products():
    kw = {"frac": 0.10, "shift": 1.5, "n_genes": 2000}
    results = [run(*simulate(s, 6, **kw), lower_bound="counting")["result"] for s in range(30)]
    assert results.count("fail") >= 27
    assert "Katsevich" in run(*simulate(0, 6, **kw), lower_bound="counting")["method"]
    with pytest.raises(ValueError, match="lower_bound"):
        run(*simulate(0, 3), lower_bound="bonferroni")


# --- real data: six MSC tissue sources (Kuchur-Lobov), undifferentiated, 3 donors per tissue -------


@pytest.fixture(scope="module")
def six_tissues(shared_data):
    d = shared_data / "msc_six_sources_osteogenic_kuchur_lobov"
    sheet = pd.read_csv(d / "samples_derived_from_column_names.tsv", sep="\t")
    sheet = sheet[sheet["condition"] == "48h.undif"].copy()
    sheet["tissue"] = sheet["file"].str.replace("_transcriptomes_total.csv.gz", "", regex=False)
    counts = pd.concat(
        [pd.read_csv(d / f, index_col=0)[list(g["sample"])] for f, g in sheet.groupby("file")],
        axis=1,
    ).T
    return sheet.set_index("sample").loc[counts.index], counts


def _vst_expressed(counts: np.ndarray, min_mean: float = 10.0) -> np.ndarray:
    sf = size_factors(counts)
    keep = (counts / sf[:, None]).mean(axis=0) >= min_mean  # pooled over all products, no labels
    return vst(counts, sf)[0][:, keep]


@pytest.mark.shared
def test_real_adipose_vs_wharton_jelly_fails_with_the_counting_bound(six_tissues):
    sheet, counts = six_tissues
    products = counts.groupby(
        sheet["collapse_group"].to_numpy()
    ).sum()  # libraries summed per product
    tissue = sheet.groupby("collapse_group")["tissue"].first().loc[products.index].to_numpy()
    y = _vst_expressed(products.to_numpy(float))
    counting = run(y, tissue, "pk", "fat", lower_bound="counting")
    assert counting["result"] == "fail"
    assert counting["estimate"] > 0.1
    assert run(y, tissue, "pk", "fat")["result"] != "pass"
    assert run(y, tissue, "fat", "pk", lower_bound="counting") == counting


@pytest.mark.shared
def test_real_technical_replicate_halves_pass(six_tissues):
    sheet, counts = six_tissues
    both = sheet.groupby("collapse_group")["tech_replicate"].transform("nunique") == 2
    sheet = sheet[both]
    y = _vst_expressed(counts.loc[sheet.index].to_numpy(float))
    half = np.where(sheet["tech_replicate"].to_numpy() == 1, "half1", "half2")
    pair = sheet["collapse_group"].to_numpy()
    for lower_bound in ("holm", "counting"):
        out = run(y, half, "half2", "half1", pair=pair, lower_bound=lower_bound)
        assert out["result"] == "pass"
