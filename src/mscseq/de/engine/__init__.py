"""mscseq's vectorised DESeq2 engine: R DESeq2 1.38's method, all genes fitted at once.

Public API::

    fit = fit_deseq2(counts, design)            # DESeq()
    res = results(fit, contrast)                # results()
    res = lrt_results(fit, reduced_design)      # DESeq(test="LRT", reduced=...) + results()
    shr = lfc_shrink(fit, coef)                 # lfcShrink(type="normal")-like shrinkage

Only numpy, scipy and pandas are imported here; :mod:`.inference` (the PyDESeq2 adapter)
imports PyDESeq2 and is loaded only on request.
"""

from __future__ import annotations

from .fit import DESeq2Fit, fit_deseq2, size_factors_median_ratio
from .lrt import lrt_results
from .results import results, threshold_test
from .shrink import lfc_shrink

__all__ = [
    "DESeq2Fit",
    "fit_deseq2",
    "lfc_shrink",
    "lrt_results",
    "results",
    "size_factors_median_ratio",
    "threshold_test",
]
