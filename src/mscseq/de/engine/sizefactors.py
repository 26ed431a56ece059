"""DESeq2's median-of-ratios size factors (R's ``estimateSizeFactorsForMatrix``).

The one implementation in mscseq: :func:`mscseq.normalize.size_factors` (samples × genes, for the
AnnData) and :func:`mscseq.de.engine.fit_deseq2` (genes × samples) both call it.
"""

from __future__ import annotations

import numpy as np

from mscseq.errors import MscseqError


def size_factors_median_ratio(counts_gn: np.ndarray) -> np.ndarray:
    """DESeq2 median-of-ratios size factors (``estimateSizeFactorsForMatrix``).

    Genes with a zero count in some sample have a geometric mean of 0 and are left out; each
    sample's factor is the median, over the other genes, of its count divided by the gene's
    geometric mean. The factors are not rescaled (as R).

    Parameters
    ----------
    counts_gn
        ``(n_genes, n_samples)`` counts (any memory layout; a transposed samples × genes array
        works without a copy).

    Returns
    -------
    numpy.ndarray
        ``(n_samples,)`` size factors.

    Raises
    ------
    MscseqError
        When no gene has a positive count in every sample.

    """
    # numpy sums the log counts in memory order, so a transposed samples × genes array and a
    # genes × samples one can differ in the last bit of a mean; each caller keeps its layout
    with np.errstate(divide="ignore"):
        log_counts = np.log(counts_gn)
    log_geo_mean = log_counts.mean(axis=1)
    use = np.isfinite(log_geo_mean)
    if not use.any():
        msg = (
            "every gene has a zero count in at least one sample, so median-of-ratios size factors "
            "cannot be computed; remove empty or failed libraries (samples with few detected "
            "genes) from the sample sheet, and check that the counts are raw read counts"
        )
        raise MscseqError(msg)
    log_ratios = log_counts[use] - log_geo_mean[use, None]
    return np.exp(np.median(log_ratios, axis=0))
