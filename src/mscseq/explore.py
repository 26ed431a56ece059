"""Exploration on the VST: PCA, sample–sample correlations and hierarchical clustering."""

from __future__ import annotations

import numpy as np

#: Number of most variable genes for the PCA (R's ``plotPCA(ntop = 500)``).
N_TOP = 500


def top_variable_genes(vst: np.ndarray, n_top: int = N_TOP) -> np.ndarray:
    """Indices of the ``n_top`` genes with the highest VST variance, most variable first."""
    var = vst.var(axis=0, ddof=1) if vst.shape[0] > 1 else np.zeros(vst.shape[1])
    order = np.argsort(-var, kind="stable")
    return order[: min(n_top, vst.shape[1])]


def pca(vst: np.ndarray, *, n_top: int = N_TOP) -> dict[str, np.ndarray]:
    """PCA of the top variable genes, centred and not scaled, as R's ``plotPCA``.

    The numbers are those of scanpy's ``sc.pp.pca(zero_center=True, svd_solver="full")`` (scikit-learn's
    full SVD of the centred matrix, components signed so that each one's largest loading is positive,
    coordinates rounded to scanpy's default ``float32``), computed here without importing scanpy.

    Parameters
    ----------
    vst
        VST matrix, samples × genes.
    n_top
        Number of most variable genes used.

    Returns
    -------
    dict
        ``coords`` (samples × PCs), ``loadings`` (genes used × PCs), ``variance`` and ``variance_ratio``
        per PC, ``genes`` (indices used). Signs are fixed so that each PC's largest loading is positive
        (deterministic output).

    """
    genes = top_variable_genes(vst, n_top)
    if vst.shape[0] < 2:
        return {
            "coords": np.zeros((vst.shape[0], 1)),
            "loadings": np.zeros((len(genes), 1)),
            "variance": np.zeros(1),
            "variance_ratio": np.zeros(1),
            "genes": genes,
        }
    from scipy.linalg import svd

    n_comps = max(1, min(vst.shape[0] - 1, len(genes)))
    x = np.ascontiguousarray(vst[:, genes], dtype=np.float64)
    u, s, vt = svd(x - x.mean(axis=0), full_matrices=False)
    rows = np.arange(vt.shape[0])
    signs = np.sign(vt[rows, np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1
    u, vt = u * signs, vt * signs[:, None]
    coords = (u[:, :n_comps] * s[:n_comps]).astype(np.float32).astype(np.float64)
    variance = s[:n_comps] ** 2 / (x.shape[0] - 1)
    total = np.var(x, axis=0, ddof=1).sum()
    ratio = variance / total if total > 0 else np.zeros_like(variance)
    return {
        "coords": coords,
        "loadings": np.ascontiguousarray(vt[:n_comps].T),
        "variance": variance,
        "variance_ratio": ratio,
        "genes": genes,
    }


def correlations(vst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson and Spearman correlation between samples on the VST (samples × genes).

    A sample whose profile is flat has no correlation with any other: ``NaN`` (no warning).
    BLAS runs on one thread here: the products are small (samples × samples), and a second BLAS
    thread waiting for a busy core made them take seconds instead of ~0.1 s (same values either way).
    The ranks are pandas' average ranks, the numbers of ``scipy.stats.rankdata`` (tested), without
    importing ``scipy.stats`` (~0.3 s of CPU) for them.
    """
    import pandas as pd
    from threadpoolctl import threadpool_limits

    ranks = pd.DataFrame(np.atleast_2d(vst)).rank(axis=1, method="average").to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"), threadpool_limits(1, user_api="blas"):
        pearson = np.atleast_2d(np.corrcoef(vst))
        spearman = np.atleast_2d(np.corrcoef(ranks))
    return pearson, spearman


def cluster_order(pearson: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average-linkage clustering of samples on ``1 - Pearson``; returns (linkage, leaf order).

    An undefined correlation (``NaN``: a flat profile) counts as no correlation, distance 1.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    n = pearson.shape[0]
    if n < 2:
        return np.zeros((0, 4)), np.arange(n)
    dist = np.clip(1.0 - np.nan_to_num(pearson, nan=0.0), 0.0, None)
    np.fill_diagonal(dist, 0.0)
    z = linkage(
        squareform((dist + dist.T) / 2, checks=False), method="average", optimal_ordering=True
    )
    return z, leaves_list(z)


def explore(adata, *, n_top: int = N_TOP) -> None:
    """PCA, correlations and clustering on ``layers["vst"]``, written into ``adata``.

    Parameters
    ----------
    adata
        AnnData after :func:`mscseq.normalize.normalize`.
    n_top
        Number of most variable genes for the PCA.

    Notes
    -----
    Writes ``obsm["X_pca"]``, ``varm["PCs"]`` (loadings, zero for genes not used), ``uns["pca"]`` (as
    scanpy's ``sc.pp.pca`` writes them, so scanpy's plots read them), ``var["highly_variable_pca"]``, ``obsp["pearson"]``,
    ``obsp["spearman"]`` and ``uns["clustering"]``.

    """
    v = np.asarray(adata.layers["vst"])
    res = pca(v, n_top=n_top)
    adata.obsm["X_pca"] = res["coords"]
    pcs = np.zeros((adata.n_vars, res["loadings"].shape[1]))
    pcs[res["genes"]] = res["loadings"]
    adata.varm["PCs"] = pcs
    adata.uns["pca"] = {
        "variance": res["variance"],
        "variance_ratio": res["variance_ratio"],
        "n_top": len(res["genes"]),
        "params": {
            "zero_center": True,
            "use_highly_variable": True,
            "mask_var": "highly_variable_pca",
        },
    }
    hv = np.zeros(adata.n_vars, dtype=bool)
    hv[res["genes"]] = True
    adata.var["highly_variable_pca"] = hv
    pearson, spearman = correlations(v)
    adata.obsp["pearson"] = pearson
    adata.obsp["spearman"] = spearman
    z, order = cluster_order(pearson)
    adata.uns["clustering"] = {
        "order": [str(adata.obs_names[i]) for i in order],
        "linkage": z,
        "method": "average",
        "metric": "1 - pearson",
    }
