import numpy as np
import pytest

from mscseq.comparability.permanova import (
    distinct_labelings,
    euclidean_sq,
    permanova,
    permdisp,
    pseudo_f_batch,
)


def test_pseudo_f_by_hand():
    # 1-D points: group a at 0, 1; group b at 4, 6.
    x = np.array([[0.0], [1.0], [4.0], [6.0]])
    d2 = euclidean_sq(x)
    # SS_T = sum of squared pair distances / N = (1 + 16 + 36 + 9 + 25 + 4) / 4 = 91 / 4
    # SS_W = 1/2 + 4/2 = 2.5 ; SS_A = 22.75 - 2.5 = 20.25 ; F = 20.25 / (2.5 / 2) = 16.2
    f, r2 = pseudo_f_batch(d2, np.array([0, 0, 1, 1]), 2)
    assert f == pytest.approx(16.2)
    assert r2 == pytest.approx(20.25 / 22.75)


def test_matches_skbio():
    from skbio import DistanceMatrix
    from skbio.stats.distance import permanova as sk_permanova

    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 30))
    x[:4] += 0.8
    labels = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    ours = permanova(x, labels, permutations=999, seed=1)
    dm = DistanceMatrix(np.sqrt(euclidean_sq(x)), [f"s{i}" for i in range(12)])
    ref = sk_permanova(dm, labels, permutations=999, seed=1)
    assert ours["pseudo_f"] == pytest.approx(float(ref["test statistic"]), rel=1e-10)
    # different permutation streams: the two p-values estimate the same quantity
    assert abs(ours["p_value"] - float(ref["p-value"])) < 0.03


def test_seeded_and_null_uniformish():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 20))
    labels = ["a"] * 5 + ["b"] * 5
    a = permanova(x, labels, permutations=199, seed=7)
    b = permanova(x, labels, permutations=199, seed=7)
    assert a == b
    assert 0 < a["p_value"] <= 1
    assert a["min_p_value"] == pytest.approx(1 / 200)


def test_strata_schemes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 5))
    # group varies within each donor: within-block permutations
    res = permanova(
        x,
        ["c", "t"] * 4,
        permutations=99,
        seed=1,
        strata=["d1", "d1", "d2", "d2", "d3", "d3", "d4", "d4"],
    )
    assert res["scheme"] == "within_blocks"
    assert res["distinct_labelings"] == 2**4
    # group constant within donors: whole donors are permuted
    res = permanova(
        x,
        ["a"] * 4 + ["b"] * 4,
        permutations=99,
        seed=1,
        strata=["d1", "d1", "d2", "d2", "d3", "d3", "d4", "d4"],
    )
    assert res["scheme"] == "between_blocks"
    assert res["distinct_labelings"] == 6
    assert distinct_labelings(np.array([0, 0, 1, 1]), None, "free") == 6


def test_permdisp_detects_dispersion():
    rng = np.random.default_rng(2)
    x = np.vstack([rng.normal(scale=0.2, size=(8, 10)), rng.normal(scale=3.0, size=(8, 10))])
    res = permdisp(x, ["a"] * 8 + ["b"] * 8, permutations=199, seed=3)
    assert res["p_value"] < 0.05
    assert res["mean_distance"]["b"] > res["mean_distance"]["a"]


def _brute_force_p(x, labels, strata=None):
    """Exact p over every permutation of the samples the scheme allows (each labeling equally often)."""
    import itertools

    from mscseq.comparability.permanova import _codes, permutation_scheme

    codes, a = _codes(labels)
    st = None if strata is None else _codes(strata)[0]
    scheme, blocks = permutation_scheme(codes, st)
    d2 = euclidean_sq(x)
    f_obs, _ = pseudo_f_batch(d2, codes, a)
    if scheme == "within_blocks":
        per_block = [list(itertools.permutations(b)) for b in blocks]
        rows = []
        for choice in itertools.product(*per_block):
            perm = codes.copy()
            for b, order in zip(blocks, choice, strict=True):
                perm[b] = codes[list(order)]
            rows.append(perm)
    elif scheme == "between_blocks":
        block_codes = [codes[b[0]] for b in blocks]
        rows = []
        for order in itertools.permutations(block_codes):
            perm = codes.copy()
            for b, c in zip(blocks, order, strict=True):
                perm[b] = c
            rows.append(perm)
    else:
        rows = [codes[list(p)] for p in itertools.permutations(range(len(codes)))]
    f, _ = pseudo_f_batch(d2, np.array(rows), a)
    return float(np.mean(f >= f_obs - 1e-10 * max(1.0, abs(f_obs)))), scheme


@pytest.mark.parametrize(
    ("labels", "strata"),
    [
        (["a", "a", "a", "b", "b", "b", "b"], None),
        (["a", "a", "b", "b", "c", "c"], None),
        (["c", "t"] * 4, ["d1", "d1", "d2", "d2", "d3", "d3", "d4", "d4"]),
        (["a"] * 4 + ["b"] * 4, ["d1", "d1", "d2", "d2", "d3", "d3", "d4", "d4"]),
    ],
)
def test_exact_enumeration_matches_brute_force(labels, strata):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(len(labels), 6))
    x[: len(labels) // 2] += 0.7
    res = permanova(x, labels, permutations=999, seed=1, strata=strata)
    p, scheme = _brute_force_p(x, labels, strata)
    assert res["exact"] is True and res["scheme"] == scheme
    assert res["permutations"] == res["distinct_labelings"]
    assert res["p_value"] == pytest.approx(p, rel=1e-12)
    assert res["min_p_value"] == pytest.approx(1 / res["distinct_labelings"])


def test_exact_labelings_are_distinct_and_complete():
    from mscseq.comparability.permanova import exact_labelings, permutation_scheme

    codes = np.array([0, 0, 1, 1, 1, 2, 2, 0, 1])
    scheme, blocks = permutation_scheme(codes, None)
    rows = np.vstack(list(exact_labelings(codes, scheme, blocks, batch=37)))
    assert len(rows) == distinct_labelings(codes, None, scheme) == 1260
    assert len({tuple(r) for r in rows}) == len(rows)
    assert all(sorted(r) == sorted(codes) for r in rows)


def test_batched_random_permutations_continue_one_stream(monkeypatch):
    # scoring in batches must not change the p-value of a seeded run (byte-identical outputs)
    from mscseq.comparability import permanova as pm

    rng = np.random.default_rng(4)
    x = rng.normal(size=(14, 8))
    labels = ["a"] * 7 + ["b"] * 7
    whole = pm.permanova(x, labels, permutations=3000, seed=9)
    monkeypatch.setattr(pm, "BATCH", 128)
    batched = pm.permanova(x, labels, permutations=3000, seed=9)
    assert whole == batched
    assert whole["exact"] is False  # 3432 labelings > 3000 permutations


def test_zero_permutations_no_p_value():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(10, 4))
    res = permanova(x, ["a"] * 5 + ["b"] * 5, permutations=0)
    assert res["p_value"] is None and res["permutations"] == 0 and res["exact"] is False
    assert res["min_p_value"] == pytest.approx(1 / 252)
    assert np.isfinite(res["pseudo_f"])
    assert permdisp(x, ["a"] * 5 + ["b"] * 5, permutations=0)["p_value"] is None


def test_permutation_bounds():
    from mscseq.comparability.permanova import MAX_PERMUTATIONS, check_permutations
    from mscseq.errors import MscseqError

    check_permutations(0)
    check_permutations(MAX_PERMUTATIONS)
    for bad in (-1, MAX_PERMUTATIONS + 1, 10**7):
        with pytest.raises(MscseqError, match="--permutations"):
            check_permutations(bad)
    with pytest.raises(MscseqError, match="at most"):
        permanova(np.eye(4), ["a", "a", "b", "b"], permutations=10**7)


def test_identical_samples_have_no_p_value():
    res = permanova(np.ones((6, 3)), ["a"] * 3 + ["b"] * 3, permutations=99)
    assert res["p_value"] is None and res["permutations"] == 0
