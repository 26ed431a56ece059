import numpy as np

from mscseq.explore import cluster_order, correlations, pca, top_variable_genes


def test_top_variable_genes_order():
    v = np.array([[0, 0, 0], [1, 5, 2], [2, 10, 4]], dtype=float)
    assert list(top_variable_genes(v, 2)) == [1, 2]


def test_pca_matches_svd_of_centred_top_genes():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(10, 800))
    v[:5, :50] += 3
    res = pca(v, n_top=500)
    sub = v[:, top_variable_genes(v, 500)]
    sub = sub - sub.mean(axis=0)
    u, s, _ = np.linalg.svd(sub, full_matrices=False)
    np.testing.assert_allclose(np.abs(res["coords"][:, 0]), np.abs(u[:, 0] * s[0]), rtol=1e-6)
    np.testing.assert_allclose(res["variance_ratio"][:3], (s**2 / (s**2).sum())[:3], rtol=1e-6)
    # the planted group separates on PC1
    pc1 = res["coords"][:, 0]
    assert np.sign(pc1[:5]).tolist().count(np.sign(pc1[0])) == 5
    assert (np.sign(pc1[5:]) != np.sign(pc1[0])).all()


def test_pca_is_deterministic_in_sign():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(6, 600))
    a = pca(v)["coords"]
    b = pca(v.copy())["coords"]
    np.testing.assert_array_equal(a, b)


def test_correlations_and_clustering():
    rng = np.random.default_rng(2)
    base = rng.normal(size=300)
    v = np.vstack(
        [base + rng.normal(0, 0.1, 300) for _ in range(3)]
        + [-base + rng.normal(0, 0.1, 300) for _ in range(3)]
    )
    pearson, spearman = correlations(v)
    assert pearson.shape == (6, 6)
    np.testing.assert_allclose(np.diag(pearson), 1)
    assert spearman[0, 1] > 0.9 and spearman[0, 4] < -0.9
    z, order = cluster_order(pearson)
    assert z.shape == (5, 4)
    groups = [set(order[:3].tolist()), set(order[3:].tolist())]
    assert {0, 1, 2} in groups and {3, 4, 5} in groups
