import numpy as np
import pytest

from mscseq.comparability.similarity import MAD_Z, product_similarity, robust_z


def test_robust_z_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    # median 3, |dev| = 2,1,0,1,97 -> MAD 1 -> scale 1.4826
    z = robust_z(x)
    assert z[4] == pytest.approx(97 / 1.4826)
    assert z[2] == 0


def test_robust_z_zero_mad_falls_back_to_mean_deviation():
    x = np.array([5.0, 5.0, 5.0, 5.0, 9.0])
    z = robust_z(x)
    assert z[4] == pytest.approx(4 / (1.2533 * 0.8))
    assert np.all(robust_z(np.ones(4)) == 0)


def _data(n=10, g=400, seed=0, outlier=None):
    rng = np.random.default_rng(seed)
    base = rng.uniform(4, 12, g)
    vst = base + rng.normal(0, 0.3, (n, g))
    if outlier is not None:
        vst[outlier, : g // 5] += rng.normal(0, 2.0, g // 5)
    coords = vst - vst.mean(axis=0)
    return vst, coords, 2.0**base


def test_planted_outlier_flagged_only():
    vst, coords, bm = _data(outlier=3)
    res = product_similarity(vst, coords, bm, [f"s{i}" for i in range(10)])
    assert res["outlier"].tolist() == [i == 3 for i in range(10)]
    assert res.loc["s3", "z_correlation"] > MAD_Z
    assert "median correlation" in res.loc["s3", "reasons"][0]


def test_homogeneous_products_not_flagged():
    vst, coords, bm = _data(seed=5)
    res = product_similarity(vst, coords, bm, [f"s{i}" for i in range(10)])
    assert not res["outlier"].any()
    assert (res["concordance"] > 0.99).all()


def test_too_few_products_no_scores():
    vst, coords, bm = _data(n=3)
    res = product_similarity(vst, coords, bm, ["a", "b", "c"])
    assert res["z_correlation"].isna().all()
    assert not res["outlier"].any()


@pytest.mark.parametrize("seed", range(6))
def test_silhouette_and_ari_equal_scikit_learn_to_the_bit(seed):
    """Own silhouette and ARI (no sklearn import on the run's path) give sklearn's floats exactly."""
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    from mscseq.comparability.similarity import adjusted_rand_index, silhouette

    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    x = rng.normal(size=(n, 5))
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    labels = rng.integers(1, 3 + seed % 3, n)
    labels[:2] = [1, 2]  # at least two clusters
    if seed == 0:
        labels[:] = 1
        labels[0] = 2  # a cluster of one: its silhouette is 0
    assert silhouette(d, labels) == silhouette_score(d, labels, metric="precomputed")
    groups = [f"g{v}" for v in rng.integers(0, 1 + seed % 4, n)]
    assert adjusted_rand_index(groups, labels) == adjusted_rand_score(groups, labels)
    assert adjusted_rand_index(labels, labels) == 1.0
    same = ["a"] * n
    assert adjusted_rand_index(same, same) == adjusted_rand_score(same, same) == 1.0
