"""Fit a DESeq2 model once, then test it many ways.

:func:`fit_model` runs R's ``DESeq()`` (the mscseq engine's :func:`~mscseq.de.engine.fit_deseq2`, or
PyDESeq2's ``DeseqDataSet.deseq2()``); :func:`contrast_test` is R's ``results(dds, contrast, lfcThreshold,
altHypothesis)`` on that fit and :func:`lrt_test` its likelihood-ratio test. A new test of a fitted model
(another threshold, alternative or contrast) is one more call on the same :class:`Fit`: the differential
expression step tests every contrast on one fit, the equivalence step both margins (``lessAbs`` and
``greaterAbs``) on one fit, which is the DE step's fit when the design is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError

#: Columns of a test's table (indexed by gene ID, genes in the order of the fitted counts).
TEST_COLUMNS = ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj", "dispersion"]


@dataclass(frozen=True)
class Fit:
    """A fitted DESeq2 model.

    Attributes
    ----------
    engine
        ``"mscseq"`` or ``"pydeseq2"``.
    design
        The model matrix (samples × coefficients) that was fitted.
    genes
        Gene IDs, in the order of the fitted counts.
    model
        The engine's fit: :class:`mscseq.de.engine.DESeq2Fit`, or PyDESeq2's ``DeseqDataSet``.
    threads
        Worker threads of the tests.

    """

    engine: str
    design: pd.DataFrame
    genes: pd.Index
    model: object
    threads: int = 1


def fit_model(
    counts: pd.DataFrame,
    obs: pd.DataFrame,
    design: pd.DataFrame,
    *,
    engine: str,
    threads: int = 1,
    size_factors: str = "ratio",
    fit_type: str = "parametric",
) -> Fit:
    """Fit DESeq2's model to every gene (R's ``DESeq()`` with default settings).

    Parameters
    ----------
    counts
        Raw counts, genes × samples (columns in the order of ``obs``).
    obs
        Sample sheet indexed by sample (PyDESeq2 keeps it beside the counts).
    design
        Model matrix, samples × coefficients (:func:`mscseq.de.design.build_design`).
    engine
        ``"mscseq"`` or ``"pydeseq2"``.
    threads
        Worker threads.
    size_factors
        ``ratio``, ``poscounts`` or ``iterate`` (R's ``estimateSizeFactors(type=)``).
    fit_type
        ``parametric``, ``local`` or ``mean`` (R's ``fitType``).

    Returns
    -------
    Fit
        The fitted model, ready for :func:`contrast_test` and :func:`lrt_test`.

    """
    if engine == "pydeseq2":
        from pydeseq2.dds import DeseqDataSet

        if fit_type == "local":
            msg = "--fit-type local: PyDESeq2 has no local trend; use --engine mscseq (the default)"
            raise MscseqError(msg)
        kwargs: dict = {} if fit_type == "parametric" else {"fit_type": fit_type}
        if size_factors != "ratio":
            kwargs["size_factors_fit_type"] = {"iterate": "iterative"}.get(
                size_factors, size_factors
            )
        model: object = DeseqDataSet(
            counts=counts.T.astype(np.int64),
            metadata=obs,
            design=design,
            refit_cooks=True,
            n_cpus=threads,
            quiet=True,
            **kwargs,
        )
        model.deseq2()  # type: ignore[attr-defined]
    else:
        from mscseq.de.engine import fit_deseq2

        y = counts.to_numpy(dtype=np.float64)
        sf = None
        if size_factors != "ratio":
            from mscseq.de.engine.sizefactors import estimate_size_factors

            sf = estimate_size_factors(y, size_factors)
        model = fit_deseq2(y.T, design, threads=threads, size_factors=sf, fit_type=fit_type)
    return Fit(engine, design, pd.Index(counts.index), model, threads)


def contrast_test(
    fit: Fit,
    contrast: np.ndarray,
    *,
    alpha: float,
    alternative: str = "greaterAbs",
    threshold: float = 0.0,
) -> pd.DataFrame:
    """Wald test of one contrast of a fitted model (R's ``results()``).

    Parameters
    ----------
    fit
        Output of :func:`fit_model`.
    contrast
        Numeric contrast vector over the design's columns (:func:`mscseq.de.design.contrast_vector`).
    alpha
        FDR level of independent filtering.
    alternative
        ``greaterAbs``, ``lessAbs``, ``greater`` or ``less`` (R's ``altHypothesis``).
    threshold
        Non-negative log2 fold-change threshold (R's ``lfcThreshold``).

    Returns
    -------
    pandas.DataFrame
        :data:`TEST_COLUMNS`, indexed by ``fit.genes`` in fitted order.

    """
    if fit.engine == "pydeseq2":
        return _pydeseq2_test(
            fit, contrast, alpha=alpha, alternative=alternative, threshold=threshold
        )
    from mscseq.de.engine import results

    res = results(
        fit.model, contrast, alpha=alpha, lfc_threshold=threshold, alt_hypothesis=alternative
    )
    res.index = fit.genes
    return res


def lrt_test(fit: Fit, reduced: pd.DataFrame, *, alpha: float) -> pd.DataFrame:
    """Likelihood-ratio test of the fitted design against a nested one (R's ``nbinomLRT`` + ``results()``).

    Parameters
    ----------
    fit
        Output of :func:`fit_model` (mscseq engine).
    reduced
        Reduced model matrix, nested in ``fit.design``.
    alpha
        FDR level of independent filtering.

    Returns
    -------
    pandas.DataFrame
        :data:`TEST_COLUMNS` (``stat`` = deviance difference), indexed by ``fit.genes``.

    Raises
    ------
    MscseqError
        With the PyDESeq2 engine, which has no likelihood-ratio test.

    """
    if fit.engine != "mscseq":
        msg = "--test lrt: PyDESeq2 has no likelihood-ratio test; use --engine mscseq (the default)"
        raise MscseqError(msg)
    from mscseq.de.engine import lrt_results

    res = lrt_results(fit.model, reduced, alpha=alpha)
    res.index = fit.genes
    return res


def _pydeseq2_test(
    fit: Fit, contrast: np.ndarray, *, alpha: float, alternative: str, threshold: float
) -> pd.DataFrame:
    from pydeseq2.ds import DeseqStats

    dds = fit.model
    stats = DeseqStats(
        dds,
        contrast=contrast,
        alpha=alpha,
        cooks_filter=True,
        independent_filter=True,
        lfc_null=threshold,
        alt_hypothesis=alternative if threshold > 0 else None,
        quiet=True,
        n_cpus=fit.threads,
    )
    stats.summary()
    res = stats.results_df[TEST_COLUMNS[:-1]].copy()
    res["dispersion"] = np.asarray(dds.var["dispersions"], dtype=np.float64)  # type: ignore[attr-defined]
    res.index = fit.genes
    return res


def add_shrunken(
    res: pd.DataFrame, fit: Fit, contrast: np.ndarray, kind: str, what: object = None
) -> pd.DataFrame:
    """``res`` with shrunken log2 fold changes added as ``log2FoldChange_shrunk``, ``lfcSE_shrunk``.

    Parameters
    ----------
    res
        Output of :func:`contrast_test` on ``fit`` for ``contrast`` (its columns are kept).
    fit
        The fitted model (mscseq engine).
    contrast
        The contrast vector; ``apeglm`` shrinks one coefficient, so the contrast must be one
        design column (or its negative).
    kind
        ``"apeglm"`` (the engine's apeGLM MAP, :func:`mscseq.de.engine.lfc_shrink`) or ``"normal"``
        (R's ``lfcShrink(type = "normal")``, :func:`mscseq.de.engine.shrink.lfc_shrink_normal`).
    what
        The contrast, for messages.

    Returns
    -------
    pandas.DataFrame
        A copy of ``res`` with the two columns.

    Raises
    ------
    MscseqError
        With the PyDESeq2 engine, or ``apeglm`` on a contrast that is not one coefficient.

    """
    if fit.engine != "mscseq":
        msg = "--shrink: only the mscseq engine shrinks fold changes; use --engine mscseq (the default)"
        raise MscseqError(msg)
    text = getattr(what, "text", what)
    if kind == "apeglm":
        nonzero = np.flatnonzero(contrast)
        j = int(nonzero[0]) if nonzero.size == 1 else -1
        if j <= 0 or abs(contrast[j]) != 1.0 or str(fit.design.columns[j]) == "Intercept":
            msg = (
                f"--shrink apeglm --contrast {text}: apeglm shrinks one coefficient of the design (R's "
                "lfcShrink(coef=)), and this contrast is not one; make its reference the variable's first "
                "level (sorted) or use --shrink normal"
            )
            raise MscseqError(msg)
        from mscseq.de.engine import lfc_shrink

        shr = lfc_shrink(fit.model, j)
        sign = float(contrast[j])
        lfc, se = sign * shr["log2FoldChange"].to_numpy(), shr["lfcSE"].to_numpy()
    else:
        from mscseq.de.engine.shrink import lfc_shrink_normal

        factors = getattr(fit.design.attrs.get("model_spec"), "factors", None)
        if factors is None or not np.any(contrast):
            msg = (
                f"--shrink normal --contrast {text}: R's normal prior is implemented for designs that add "
                "text factors (e.g. '~ donor + condition') and a contrast of two levels; use --shrink apeglm"
            )
            raise MscseqError(msg)
        shr = lfc_shrink_normal(fit.model, contrast, list(factors))
        lfc, se = shr["log2FoldChange"].to_numpy(), shr["lfcSE"].to_numpy()
    return res.assign(log2FoldChange_shrunk=lfc, lfcSE_shrunk=se)
