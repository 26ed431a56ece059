"""Can the data support an analysis at all? Checks run before any heavy computation.

:func:`check_analysable` is called by :func:`mscseq.pipeline.validate_design` once the counts and the
sheet are joined. It refuses, with one line naming the counts file (:class:`~mscseq.errors.MscseqError`,
exit 2), the inputs on which nothing can be computed:

* fewer than :data:`MIN_SAMPLES` samples (no correlation, distance or dispersion exists for one sample);
* fewer than :data:`MIN_GENES` genes (a sample's profile over one gene has no correlation with another);
* no gene whose normalised count differs between samples (constant counts: every statistic is 0/0).

(The number of permutations, a comparability option, is checked just before by ``validate_design``,
which ``mscseq de`` calls without the comparability options.)

Data that can be computed on but are too thin for a verdict (fewer than
:data:`mscseq.comparability.MIN_TIER2_GENES` genes in the fixed Tier-2 gene set) run to the end with
the verdict ``inconclusive``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from mscseq.errors import MscseqError

#: Fewest samples an analysis accepts.
MIN_SAMPLES = 2
#: Fewest genes an analysis accepts.
MIN_GENES = 2
#: Relative difference below which two normalised counts of a gene are the same (rounding of size factors).
SAME = 1e-9


def varying_genes_mask(norm: np.ndarray) -> np.ndarray:
    """Genes whose normalised count is not the same in every sample (samples × genes input).

    The blind VST applies one strictly increasing function to each gene's normalised counts, so these are
    exactly the genes with a non-zero VST variance.
    """
    norm = np.asarray(norm, dtype=np.float64)
    if norm.shape[0] == 0:
        return np.zeros(norm.shape[1], dtype=bool)
    hi = norm.max(axis=0)
    lo = norm.min(axis=0)
    return (hi - lo) > SAME * np.abs(hi)


def informative_genes_mask(norm: np.ndarray, *, min_base_mean: float | None = None) -> np.ndarray:
    """Informative genes: mean normalised count ≥ ``min_base_mean`` and not the same in every sample.

    Parameters
    ----------
    norm
        Normalised counts, samples × genes.
    min_base_mean
        Threshold of the mean normalised count (default
        :data:`~mscseq.comparability.similarity.MIN_BASE_MEAN`, the genes used for similarity).

    Returns
    -------
    numpy.ndarray
        Boolean mask over genes.

    """
    from mscseq.comparability.similarity import MIN_BASE_MEAN

    floor = MIN_BASE_MEAN if min_base_mean is None else min_base_mean
    norm = np.asarray(norm, dtype=np.float64)
    return (norm.mean(axis=0) >= floor) & varying_genes_mask(norm)


def _source(params: Any) -> str:
    counts = [str(p) for p in getattr(params, "counts", []) or []]
    if counts:
        return ", ".join(counts)
    return f"{params.samples} (path column)"


@contextmanager
def naming_counts(params: Any) -> Iterator[None]:
    """Put the counts file in front of a statistics step's refusal of the data.

    The DESeq2 engine refuses data it cannot fit (for example
    :class:`~mscseq.de.engine.trend.DispersionTrendError`, raised without knowing the file); inside this
    block such an :class:`~mscseq.errors.MscseqError` is raised again as ``"<counts>: <message>"``.

    Parameters
    ----------
    params
        The run's :class:`~mscseq.pipeline.CompareParams` (``counts``, ``samples``).

    """
    from mscseq.de.engine.trend import DispersionTrendError

    try:
        yield
    except DispersionTrendError as exc:
        msg = f"{_source(params)}: {exc}"
        raise MscseqError(msg) from None


def check_analysable(adata, params: Any) -> None:
    """Refuse data and options on which nothing can be computed (see the module docstring).

    Parameters
    ----------
    adata
        The loaded AnnData (raw counts in ``X``, samples × genes).
    params
        The run's :class:`~mscseq.pipeline.CompareParams` (``counts``, ``samples``, ``size_factors``).

    Raises
    ------
    MscseqError
        Naming the counts file and the problem.

    """
    from mscseq.normalize import size_factors

    src = _source(params)
    n, g = adata.n_obs, adata.n_vars
    if n < MIN_SAMPLES:
        names = ", ".join(str(s) for s in adata.obs_names[:3])
        msg = (
            f"{src}: only {n} sample{'' if n == 1 else 's'} ({names or 'none'}) in the counts and the sheet; "
            f"a comparison needs at least {MIN_SAMPLES}"
        )
        raise MscseqError(msg)
    if g < MIN_GENES:
        names = ", ".join(str(s) for s in adata.var_names[:3])
        msg = (
            f"{src}: only {g} gene{'' if g == 1 else 's'} ({names or 'none'}); sample correlations and the PCA "
            f"need at least {MIN_GENES} (a whole-transcriptome count matrix is expected)"
        )
        raise MscseqError(msg)
    counts = np.asarray(adata.X, dtype=np.float64)
    try:
        # poscounts stands in for iterate here (same data accepted, a fraction of the time)
        ratio = getattr(params, "size_factors", "ratio") == "ratio"
        sf = size_factors(counts, "ratio" if ratio else "poscounts")
    except MscseqError as exc:
        hint = (
            "; for sparse data (low-input, targeted panels) use --size-factors poscounts"
            if ratio
            else ""
        )
        msg = f"{src}: {exc}{hint}"
        raise MscseqError(msg) from None
    if not varying_genes_mask(counts / sf[:, None]).any():
        msg = (
            f"{src}: every gene has the same normalised count in every sample (constant counts), so nothing "
            "distinguishes the samples"
        )
        raise MscseqError(msg)
