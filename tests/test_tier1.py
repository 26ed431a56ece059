"""Tier 1 (critical quality attributes): panel-score genes, the per-attribute TOST and the intersection–union."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from mscseq.comparability import tier1 as t1

ALPHA = 0.05


def _matched(at_rest: bool = True) -> pd.DataFrame:
    rows = [
        # panel, direction, index, at_rest
        ("pot", "positive", 0, "yes"),
        ("pot", "positive", 1, "yes"),
        ("pot", "positive", 2, "no"),  # silent at rest: dilutes the score
        ("pot", "positive", 3, "yes"),
        ("pot", "positive", 4, ""),  # blank counts as at rest
        ("pot", "negative", 5, "yes"),  # negative genes never enter the score
        ("pot", "positive", -1, "yes"),  # not in the data
        ("pot", "positive", 1, "yes"),  # duplicate of gene 1
        ("few", "positive", 0, "yes"),
        ("few", "positive", 1, "yes"),
        ("low", "positive", 6, "yes"),
        ("low", "positive", 7, "yes"),
        ("low", "positive", 8, "yes"),
    ]
    df = pd.DataFrame(rows, columns=["panel", "direction", "index", "at_rest"])
    df["gene_id"], df["symbol"], df["note"] = "", "", ""
    return df if at_rest else df.drop(columns="at_rest")


def _norm() -> np.ndarray:
    norm = np.full((6, 9), 100.0)
    norm[:, 3] = [0, 0, 0, 60, 60, 60]  # pooled mean 30: kept at min_mean 10 (labels never used)
    norm[:, 6:] = 5.0  # the "low" panel is not expressed
    return norm


def test_score_genes_uses_positive_at_rest_expressed_genes():
    genes = t1.score_genes(_matched(), _norm(), min_mean=10.0)
    assert set(genes) == {"pot"}  # "few" has 2 genes, "low" none expressed
    assert genes["pot"].tolist() == [0, 1, 3, 4]
    # without an at_rest column every gene counts as at rest
    assert t1.score_genes(_matched(False), _norm(), min_mean=10.0)["pot"].tolist() == [
        0,
        1,
        2,
        3,
        4,
    ]
    # the pooled mean threshold: gene 3 (mean 30) drops at 40, leaving 3 genes
    assert t1.score_genes(_matched(), _norm(), min_mean=40.0)["pot"].tolist() == [0, 1, 4]
    assert t1.score_genes(_matched(), _norm(), min_mean=200.0) == {}


def test_scores_mean_vst_and_gene_counts():
    rng = np.random.default_rng(0)
    vst = rng.normal(size=(5, 9))
    df = t1.scores(vst, {"pot": np.array([0, 1, 3]), "b": np.array([4, 5, 6, 7])})
    assert list(df.columns) == ["pot", "b"] and df.shape == (5, 2)
    np.testing.assert_allclose(df["pot"], vst[:, [0, 1, 3]].mean(axis=1))
    assert df.attrs["n_genes"] == {"pot": 3, "b": 4}


def _two_groups(
    seed: int, n_t: int, n_r: int, shift: float = 0.0, sd_t: float = 0.3, sd_r: float = 0.2
):
    rng = np.random.default_rng(seed)
    y = np.r_[rng.normal(shift, sd_t, n_t), rng.normal(0.0, sd_r, n_r)]
    labels = np.array(["B"] * n_t + ["A"] * n_r)
    return y, labels


def test_welch_matches_scipy():
    y, labels = _two_groups(1, 5, 7, shift=0.1)
    m = 0.5
    r = t1.attribute_test(y, labels, "B", "A", margin=m, alpha=ALPHA)
    yt, yr = y[labels == "B"], y[labels == "A"]
    ref = stats.ttest_ind(yt, yr, equal_var=False)
    assert r["df"] == pytest.approx(ref.df, rel=1e-12)
    assert r["estimate"] == pytest.approx(yt.mean() - yr.mean())
    assert r["se"] == pytest.approx(r["estimate"] / ref.statistic, rel=1e-12)
    half = stats.t.ppf(1 - ALPHA, ref.df) * r["se"]
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(
        (r["estimate"] - half, r["estimate"] + half)
    )
    p_low = stats.ttest_ind(yt + m, yr, equal_var=False, alternative="greater").pvalue
    p_up = stats.ttest_ind(yt - m, yr, equal_var=False, alternative="less").pvalue
    assert r["p_equivalence"] == pytest.approx(max(p_low, p_up), rel=1e-9)
    assert r["method"].startswith("Welch")
    # the decision agrees with the p-value
    assert (r["result"] == "equivalent") == (r["p_equivalence"] < ALPHA)


def test_paired_matches_scipy_and_drops_incomplete_pairs():
    rng = np.random.default_rng(2)
    donor = rng.normal(0, 1.0, 5)  # large donor effects cancel in the differences
    yt, yr = donor + rng.normal(0.05, 0.1, 5), donor + rng.normal(0, 0.1, 5)
    y = np.r_[yt, yr, 3.0, 9.0, 9.5]
    labels = np.array(["B"] * 5 + ["A"] * 5 + ["B", "A", "A"])
    pair = np.array([f"d{i}" for i in range(5)] * 2 + ["solo", "twice", "twice"], dtype=object)
    r = t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA, pair=pair)
    ref = stats.ttest_rel(yt, yr)
    assert r["df"] == 4 and r["estimate"] == pytest.approx((yt - yr).mean())
    assert r["se"] == pytest.approx(r["estimate"] / ref.statistic)
    assert "5 pairs" in r["method"] and "3 products" in r["method"]
    assert r["result"] == "equivalent"  # Welch could not see through the donor effects
    assert (
        t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA)["result"] == "inconclusive"
    )
    one = t1.attribute_test(
        y[[0, 5]], labels[[0, 5]], "B", "A", margin=0.5, alpha=ALPHA, pair=pair[[0, 5]]
    )
    assert one["result"] == "not_estimable" and "fewer than 2 pairs" in one["method"]
    assert one["estimate"] is None and one["n_needed"] is None


def test_bridged_batch_matches_ols():
    rng = np.random.default_rng(3)
    labels = np.array(["B"] * 6 + ["A"] * 6)
    batch = np.array(["r1", "r1", "r2", "r2", "r2", "r2", "r1", "r1", "r1", "r1", "r3", "r3"])
    effect = {"r1": 0.0, "r2": 1.0, "r3": -0.7}
    y = np.array([effect[b] for b in batch]) + rng.normal(0, 0.1, 12) + 0.05 * (labels == "B")
    r = t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA, batch=batch)
    x = np.column_stack([(labels == "B").astype(float), pd.get_dummies(batch).to_numpy(float)])
    fit = sm.OLS(y, x).fit()
    assert r["estimate"] == pytest.approx(fit.params[0]) and r["se"] == pytest.approx(fit.bse[0])
    assert r["df"] == fit.df_resid == 8
    assert r["method"].startswith("OLS") and r["result"] == "equivalent"


def test_not_estimable_designs():
    y, labels = _two_groups(4, 4, 4)
    aliased = np.array(["r1"] * 4 + ["r2"] * 4)
    r = t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA, batch=aliased)
    assert r["result"] == "not_estimable" and "aliased" in r["method"]
    # aliasing refuses a paired test too: each difference carries the batch effect
    pair = np.array([f"d{i}" for i in range(4)] * 2)
    assert (
        t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA, pair=pair, batch=aliased)[
            "result"
        ]
        == "not_estimable"
    )
    # bridged batch with pairs: the paired test, and the pairs split across batches are named
    split = np.array(["r1", "r1", "r2", "r2", "r1", "r2", "r2", "r2"])
    r = t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA, pair=pair, batch=split)
    assert r["method"].startswith("paired") and "1 pair(s) split across batches" in r["method"]
    r = t1.attribute_test(y[3:], labels[3:], "B", "A", margin=0.5, alpha=ALPHA)
    assert r["result"] == "not_estimable" and "fewer than 2 products in B" in r["method"]
    # a single batch is no adjustment: Welch
    same = np.array(["r1"] * 8)
    assert t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA, batch=same)[
        "method"
    ].startswith("Welch")


def test_result_words():
    labels = np.array(["B"] * 4 + ["A"] * 4)
    base = np.array([0.0, 0.01, -0.01, 0.02])
    eq = t1.attribute_test(np.r_[base, base], labels, "B", "A", margin=0.5, alpha=ALPHA)
    diff = t1.attribute_test(np.r_[base - 1.5, base], labels, "B", "A", margin=0.5, alpha=ALPHA)
    # estimate beyond the margin but its interval still reaches inside: not shown different
    wide = np.array([0.0, 1.0, -1.0, 0.5])
    inc = t1.attribute_test(np.r_[wide - 0.6, wide], labels, "B", "A", margin=0.5, alpha=ALPHA)
    assert (eq["result"], diff["result"], inc["result"]) == (
        "equivalent",
        "different",
        "inconclusive",
    )
    assert diff["ci_high"] < -0.5 and inc["estimate"] < -0.5 < inc["ci_high"]
    assert eq["n_needed"] is None and diff["n_needed"] is None and inc["n_needed"] > 4
    # other levels are ignored
    y3, l3 = np.r_[base - 1.5, base, 50.0, -50.0], np.concatenate([labels, ["C", "C"]])
    assert t1.attribute_test(y3, l3, "B", "A", margin=0.5, alpha=ALPHA) == diff


@pytest.mark.parametrize("design", ["welch", "paired", "ols"])
def test_symmetry_swap_target_and_reference(design):
    y, labels = _two_groups(5, 6, 6, shift=0.3, sd_t=0.4, sd_r=0.25)
    kw = {}
    if design == "paired":
        kw["pair"] = np.array([f"d{i}" for i in range(6)] * 2)
    if design == "ols":
        kw["batch"] = np.array(["r1", "r2"] * 6)
    ab = t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA, **kw)
    ba = t1.attribute_test(y, labels, "A", "B", margin=0.5, alpha=ALPHA, **kw)
    assert ab["result"] == ba["result"] == "inconclusive"
    assert ba["estimate"] == pytest.approx(-ab["estimate"], abs=1e-12)
    assert (ba["ci_low"], ba["ci_high"]) == pytest.approx(
        (-ab["ci_high"], -ab["ci_low"]), abs=1e-12
    )
    for key in ("se", "df", "p_equivalence"):
        assert ba[key] == pytest.approx(ab[key], rel=1e-10)
    assert ba["n_needed"] == ab["n_needed"]


def test_tost_power_matches_monte_carlo():
    rng = np.random.default_rng(6)
    for se, df in [(0.15, 2.0), (0.15, 8.0), (0.2, 3.5), (0.12, 4.0)]:
        z = rng.normal(0, se, 400_000)
        s = se * np.sqrt(rng.chisquare(df, 400_000) / df)
        mc = np.mean(np.abs(z) + stats.t.ppf(1 - ALPHA, df) * s < 0.5)
        assert t1.tost_power(se, df, 0.5, ALPHA) == pytest.approx(mc, abs=0.004)
    assert t1.tost_power(0.0, 5.0, 0.5, ALPHA) == 1.0
    assert t1.tost_power(0.1, 0.5, 0.5, ALPHA) == 0.0  # no usable degrees of freedom


def test_n_needed_is_the_smallest_n_with_the_power():
    y, labels = _two_groups(7, 4, 4, shift=0.3, sd_t=0.3, sd_r=0.3)
    r = t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA)
    assert r["result"] == "inconclusive"
    n = r["n_needed"]
    vt, vr = y[labels == "B"].var(ddof=1), y[labels == "A"].var(ddof=1)

    def power(k):
        df = (k - 1) * (vt + vr) ** 2 / (vt**2 + vr**2)
        return t1.tost_power(np.sqrt((vt + vr) / k), df, 0.5, ALPHA)

    assert power(n) >= 0.8 > power(n - 1)
    # paired: pairs, df = n − 1
    pair = np.array([f"d{i}" for i in range(4)] * 2)
    rp = t1.attribute_test(y, labels, "B", "A", margin=0.5, alpha=ALPHA, pair=pair)
    sd = (y[:4] - y[4:]).std(ddof=1)
    k = rp["n_needed"]
    assert t1.tost_power(sd / np.sqrt(k), k - 1, 0.5, ALPHA) >= 0.8
    assert t1.tost_power(sd / np.sqrt(k - 1), k - 2, 0.5, ALPHA) < 0.8
    # hopeless: more than 200 per group → None
    noisy = np.r_[y[:4] * 20, y[4:] * 20]
    assert t1.attribute_test(noisy, labels, "B", "A", margin=0.5, alpha=ALPHA)["n_needed"] is None


def _scores(
    seed: int, n: int, shifts: dict[str, float], sd: float = 0.25
) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.array(["B"] * n + ["A"] * n)
    df = pd.DataFrame(
        {p: rng.normal(0, sd, 2 * n) + s * (labels == "B") for p, s in shifts.items()}
    )
    df.attrs["n_genes"] = {p: 10 for p in shifts}
    return df, labels


def test_tier1_intersection_union():
    margins = {"potency": 0.5, "identity": 0.5, "senescence": 0.5}
    sc, labels = _scores(8, 20, {"potency": 0.0, "identity": 0.0, "senescence": 0.0}, sd=0.1)
    out = t1.tier1(sc, labels, "B", "A", margins=margins, alpha=ALPHA)
    assert out["result"] == "pass" and out["n_needed"] is None
    assert [a["panel"] for a in out["attributes"]] == list(margins)
    assert all(a["n_genes"] == 10 and a["margin"] == 0.5 for a in out["attributes"])
    # one attribute different → fail, whatever the others
    sc2, _ = _scores(8, 20, {"potency": -1.5, "identity": 0.0, "senescence": 0.0}, sd=0.1)
    assert t1.tier1(sc2, labels, "B", "A", margins=margins, alpha=ALPHA)["result"] == "fail"
    # one inconclusive → inconclusive, with its n_needed
    sc3, labels3 = _scores(9, 4, {"potency": 0.0, "identity": 0.0, "senescence": 0.0}, sd=0.1)
    sc3["senescence"] = _scores(10, 4, {"senescence": 0.0}, sd=0.5)[0]["senescence"]
    out3 = t1.tier1(sc3, labels3, "B", "A", margins=margins, alpha=ALPHA)
    words = {a["panel"]: a["result"] for a in out3["attributes"]}
    assert words == {
        "potency": "equivalent",
        "identity": "equivalent",
        "senescence": "inconclusive",
    }
    assert out3["result"] == "inconclusive"
    assert out3["n_needed"] == out3["attributes"][2]["n_needed"] > 4
    # a panel that was not scored: reported, fatal only when required
    no_sen = sc.drop(columns="senescence")
    out4 = t1.tier1(no_sen, labels, "B", "A", margins=margins, alpha=ALPHA)
    assert out4["result"] == "pass"
    assert out4["attributes"][2]["result"] == "not_estimable"
    assert "not assessable" in out4["attributes"][2]["method"]
    out5 = t1.tier1(no_sen, labels, "B", "A", margins=margins, alpha=ALPHA, required=["senescence"])
    assert out5["result"] == "inconclusive"
    out6 = t1.tier1(sc2.drop(columns="senescence"), labels, "B", "A", margins=margins, alpha=ALPHA,
                    required=["senescence"])  # fmt: skip
    assert out6["result"] == "fail"
    # no panel, or a design that allows no test
    assert (
        t1.tier1(sc[[]], labels, "B", "A", margins=margins, alpha=ALPHA)["result"]
        == "not_estimable"
    )
    aliased = np.where(labels == "B", "r1", "r2")
    out7 = t1.tier1(sc, labels, "B", "A", margins=margins, alpha=ALPHA, batch=aliased)
    assert out7["result"] == "not_estimable"
    with pytest.raises(ValueError, match="without a margin"):
        t1.tier1(sc, labels, "B", "A", margins=margins, alpha=ALPHA, required=["other"])


def test_tier1_symmetry():
    sc, labels = _scores(11, 6, {"potency": 0.2, "identity": -0.1})
    margins = {"potency": 0.5, "identity": 0.5}
    ab = t1.tier1(sc, labels, "B", "A", margins=margins, alpha=ALPHA)
    ba = t1.tier1(sc, labels, "A", "B", margins=margins, alpha=ALPHA)
    assert ab["result"] == ba["result"] and ab["n_needed"] == ba["n_needed"]
    for x, y in zip(ab["attributes"], ba["attributes"], strict=True):
        assert x["result"] == y["result"] and y["estimate"] == pytest.approx(-x["estimate"])


@pytest.mark.parametrize("n", [3, 6, 20])
def test_potency_program_lower_never_passes(n):
    """A whole potency program 1.5 log2 lower can never pass, at any size or noise level."""
    margins = {"potency": 0.5, "identity": 0.5}
    results = set()
    for seed in range(300):
        sd = (0.1, 0.25, 0.5, 1.0)[seed % 4]
        sc, labels = _scores(seed, n, {"potency": -1.5, "identity": 0.0}, sd=sd)
        out = t1.tier1(sc, labels, "B", "A", margins=margins, alpha=ALPHA)
        assert out["attributes"][0]["result"] != "equivalent"
        results.add(out["result"])
    assert "pass" not in results
    if n >= 6:
        assert "fail" in results
