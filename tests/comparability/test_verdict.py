from mscseq.comparability.verdict import DEFAULT_THRESHOLDS, decide, rule_text


def _m(**kw):
    base = {
        "n_products": 12,
        "outliers": [],
        "group": None,
        "contrasts": [],
        "min_concordance": 0.97,
        "margin": 1.0,
    }
    base.update(kw)
    return base


def _c(feq=0.97, nb=0, nt=2000):
    return {
        "name": "g_B_vs_A",
        "n_tested": nt,
        "fraction_equivalent": feq,
        "n_tested_beyond": nt,
        "n_beyond_margin": nb,
    }


def test_small_is_inconclusive():
    v, why = decide(_m(n_products=2))
    assert v == "inconclusive" and "only 2" in why[0]


def test_outlier_not_comparable():
    assert decide(_m(outliers=["P09"]))[0] == "not_comparable"


def test_group_rules():
    assert decide(_m(group="g", contrasts=[_c()]))[0] == "comparable"
    assert decide(_m(group="g", contrasts=[_c(nb=10)]))[0] == "not_comparable"
    assert decide(_m(group="g", contrasts=[_c(nb=9)]))[0] == "comparable"
    # the beyond-margin limit scales with the testable genes
    assert decide(_m(group="g", contrasts=[_c(nb=20, nt=10000)]))[0] == "comparable"
    assert decide(_m(group="g", contrasts=[_c(nb=50, nt=10000)]))[0] == "not_comparable"
    assert decide(_m(group="g", contrasts=[_c(feq=0.5)]))[0] == "inconclusive"
    assert decide(_m(group="g", n_products=4, contrasts=[_c()]))[0] == "inconclusive"
    skipped = {"name": "g_B_vs_A", "skipped": "one product"}
    assert decide(_m(group="g", contrasts=[skipped]))[0] == "inconclusive"


def test_no_group_concordance():
    assert decide(_m())[0] == "comparable"
    assert decide(_m(min_concordance=0.5))[0] == "inconclusive"
    assert decide(_m(n_products=4))[0] == "inconclusive"


def test_rule_text_states_thresholds():
    text = rule_text(DEFAULT_THRESHOLDS, margin=1.0, alpha=0.1, mad_z=3.5)
    assert "3.5" in text and "90%" in text and "lessAbs" in text and "greaterAbs" in text


def test_too_few_informative_genes_is_inconclusive():
    floor = DEFAULT_THRESHOLDS.min_informative_genes
    v, why = decide(_m(n_informative_genes=floor - 1))
    assert v == "inconclusive" and f"only {floor - 1} informative gene(s)" in why[0]
    # before the outlier rule: a handful of genes cannot show an outlier either
    assert decide(_m(n_informative_genes=5, outliers=["P09"]))[0] == "inconclusive"
    assert decide(_m(n_informative_genes=floor))[0] == "comparable"
    assert decide(_m())[0] == "comparable"  # absent: not checked
    assert f"fewer than {floor} informative genes" in rule_text(
        DEFAULT_THRESHOLDS, margin=1.0, alpha=0.1, mad_z=3.5
    )
