"""Per-sample quality control metrics."""

from __future__ import annotations

import numpy as np

#: How many of the most highly counted genes define ``top100_fraction``.
TOP_N = 100


def compute_qc(adata, *, top_n: int = TOP_N) -> None:
    """Add per-sample QC metrics to ``adata.obs``.

    Parameters
    ----------
    adata
        AnnData with raw counts in ``X`` (samples × genes).
    top_n
        Number of top genes for the library-complexity metric.

    Notes
    -----
    Writes ``obs["library_size"]`` (total counts), ``obs["detected_genes"]`` (genes with ≥ 1 count)
    and ``obs["top100_fraction"]`` (fraction of a sample's counts in its ``top_n`` most counted genes:
    high values mean a library dominated by a few transcripts).

    """
    x = np.asarray(adata.X)
    lib = x.sum(axis=1)
    detected = (x > 0).sum(axis=1)
    k = min(top_n, x.shape[1])
    top = -np.partition(-x, k - 1, axis=1)[:, :k].sum(axis=1) if k else np.zeros(len(lib))
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(lib > 0, top / lib, np.nan)
    adata.obs["library_size"] = lib.astype(np.int64)
    adata.obs["detected_genes"] = detected.astype(np.int64)
    adata.obs["top100_fraction"] = frac
