"""Differential expression: fit the design once, test every contrast, summarise the results.

:func:`run_de` (AnnData) and :func:`differential_expression` (count table) take a
:class:`~mscseq.options.DEOptions`; the fit and the tests are :mod:`mscseq.de.model`'s.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd

from mscseq.de.design import Contrast, build_design, contrast_vector, formula_variables
from mscseq.de.model import Fit, add_shrunken, contrast_test, fit_model, lrt_test
from mscseq.errors import MscseqError
from mscseq.options import DEOptions, with_changes

log = logging.getLogger(__name__)

#: Columns of every DE table, in order (after the ``gene_id`` index).
DE_COLUMNS = [
    "gene_name",
    "baseMean",
    "log2FoldChange",
    "lfcSE",
    "stat",
    "pvalue",
    "padj",
    "dispersion",
]

#: Engines ``--engine`` accepts.
ENGINES = ("mscseq", "pydeseq2")

#: Alternative hypotheses of R's ``results(altHypothesis=)``.
ALT_HYPOTHESES = ("greaterAbs", "lessAbs", "greater", "less")

#: Tests ``--test`` accepts.
TESTS = ("wald", "lrt")

#: Size-factor types ``--size-factors`` accepts (R's ``estimateSizeFactors(type=)``).
SIZE_FACTOR_TYPES = ("ratio", "poscounts", "iterate")

#: Dispersion trends ``--fit-type`` accepts (R's ``fitType``).
FIT_TYPES = ("parametric", "local", "mean")

#: Shrinkage estimators ``--shrink`` accepts (R's ``lfcShrink(type=)``).
SHRINK_TYPES = ("normal", "apeglm")

#: Columns the shrinkage adds after :data:`DE_COLUMNS` (the unshrunken columns stay).
SHRINK_COLUMNS = ["log2FoldChange_shrunk", "lfcSE_shrunk"]


def check_test_options(options: DEOptions) -> None:
    """Check the combination of test options before any work (R ``results()``'s rules).

    Parameters
    ----------
    options
        The DE options (engine, test, reduced, lfc_threshold, alt_hypothesis are checked).

    Raises
    ------
    MscseqError
        Unknown engine, test or alternative; LRT without ``--reduced`` or with the PyDESeq2 engine or
        with a threshold test; ``lessAbs`` without a positive threshold; a negative threshold.

    """
    engine, test, reduced = options.engine, options.test, options.reduced
    lfc_threshold, alt = options.lfc_threshold, options.alt_hypothesis
    if engine not in ENGINES:
        msg = f"--engine {engine!r}: expected one of {', '.join(ENGINES)}"
        raise MscseqError(msg)
    if test not in TESTS:
        msg = f"--test {test!r}: expected one of {', '.join(TESTS)}"
        raise MscseqError(msg)
    _check_choice("--size-factors", options.size_factors, SIZE_FACTOR_TYPES)
    _check_choice("--fit-type", options.fit_type, FIT_TYPES)
    if options.shrink is not None:
        _check_choice("--shrink", options.shrink, SHRINK_TYPES)
        if engine != "mscseq":
            msg = "--shrink: only the mscseq engine shrinks fold changes; use --engine mscseq (the default)"
            raise MscseqError(msg)
        if test == "lrt":
            msg = (
                "--shrink: shrinks the Wald fold changes of a contrast; drop it or use --test wald"
            )
            raise MscseqError(msg)
    if engine == "pydeseq2" and options.fit_type == "local":
        msg = "--fit-type local: PyDESeq2 has no local trend; use --engine mscseq (the default)"
        raise MscseqError(msg)
    if alt not in ALT_HYPOTHESES:
        msg = f"--alt-hypothesis {alt!r}: expected one of {', '.join(ALT_HYPOTHESES)}"
        raise MscseqError(msg)
    if not np.isfinite(lfc_threshold) or lfc_threshold < 0:
        msg = f"--lfc-threshold {lfc_threshold}: must be a non-negative number (|log2 fold change|)"
        raise MscseqError(msg)
    if alt == "lessAbs" and lfc_threshold == 0:
        msg = "--alt-hypothesis lessAbs tests |log2 fold change| < threshold: give a positive --lfc-threshold"
        raise MscseqError(msg)
    if test == "lrt":
        _check_lrt_options(options)
    elif reduced:
        msg = "--reduced is only used by the likelihood-ratio test; add --test lrt"
        raise MscseqError(msg)


def _check_choice(option: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        msg = f"{option} {value!r}: expected one of {', '.join(choices)}"
        raise MscseqError(msg)


def _check_lrt_options(options: DEOptions) -> None:
    if options.engine == "pydeseq2":
        msg = "--test lrt: PyDESeq2 has no likelihood-ratio test; use --engine mscseq (the default)"
        raise MscseqError(msg)
    if not options.reduced:
        msg = "--test lrt needs --reduced, the nested design without the tested terms (e.g. --reduced '~ donor')"
        raise MscseqError(msg)
    if options.lfc_threshold != 0 or options.alt_hypothesis != "greaterAbs":
        msg = (
            "--test lrt: --lfc-threshold/--alt-hypothesis are Wald tests of a contrast "
            "(R's results() refuses them for the LRT); drop them or use --test wald"
        )
        raise MscseqError(msg)
    try:
        formula_variables(options.reduced)
    except MscseqError as exc:
        msg = str(exc).replace("--design", "--reduced", 1)
        raise MscseqError(msg) from None


def build_reduced_design(
    reduced: str, full: pd.DataFrame, obs: pd.DataFrame, *, source: str = "sample sheet"
) -> pd.DataFrame:
    """Model matrix of the LRT's reduced formula, checked to be nested in the full design.

    Parameters
    ----------
    reduced
        Reduced formula, e.g. ``"~ donor"`` (``"~ 1"`` for the intercept only).
    full
        Full model matrix (output of :func:`~mscseq.de.design.build_design`).
    obs
        Sample sheet.
    source
        Name of the sheet for messages.

    Returns
    -------
    pandas.DataFrame
        Samples × reduced coefficients.

    Raises
    ------
    MscseqError
        Invalid formula, or a reduced design that is not nested in the full one or has as many
        coefficients.

    """
    try:
        xr = build_design(reduced, obs, source=source)
    except MscseqError as exc:
        msg = str(exc).replace("--design", "--reduced", 1)
        raise MscseqError(msg) from None
    x = full.to_numpy(dtype=float)
    xrn = xr.to_numpy(dtype=float)
    full_formula = full.attrs.get("formula", "the design")
    if xrn.shape[1] == 0:
        msg = (
            f"--reduced {reduced!r}: the reduced model has no coefficient (a count model needs at least "
            "its intercept); use --reduced '~ 1' to test every term of the design"
        )
        raise MscseqError(msg)
    if xrn.shape[1] >= x.shape[1]:
        msg = (
            f"--reduced {reduced!r}: has {xrn.shape[1]} coefficients, the design {full_formula!r} {x.shape[1]}; "
            "the reduced model must drop the tested terms"
        )
        raise MscseqError(msg)
    proj = x @ np.linalg.lstsq(x, xrn, rcond=None)[0]
    if not np.allclose(proj, xrn, atol=1e-8):
        msg = (
            f"--reduced {reduced!r}: not nested in the design {full_formula!r}; "
            "the reduced formula must use a subset of the design's terms"
        )
        raise MscseqError(msg)
    return xr


def sort_results(df: pd.DataFrame) -> pd.DataFrame:
    """Sort a results table by padj, then p-value, then gene ID (missing values last; stable)."""
    key = df.assign(_gid=df.index.astype(str))
    key = key.sort_values(["padj", "pvalue", "_gid"], na_position="last", kind="mergesort")
    return df.loc[key.index]


def counts_frame(adata) -> pd.DataFrame:
    """Raw counts of an AnnData as genes × samples (index: gene IDs as text)."""
    return pd.DataFrame(
        np.asarray(adata.X).T, index=adata.var_names.astype(str), columns=adata.obs_names
    )


def results_table(res: pd.DataFrame, gene_names: pd.Series | None) -> pd.DataFrame:
    """A test's table as written: index ``gene_id``, ``gene_name`` first, then the test's columns.

    Parameters
    ----------
    res
        Output of :func:`~mscseq.de.model.contrast_test` or :func:`~mscseq.de.model.lrt_test`.
    gene_names
        Symbols indexed by gene ID (``""`` where unknown or ``None``).

    Returns
    -------
    pandas.DataFrame
        :data:`DE_COLUMNS` (then :data:`SHRINK_COLUMNS` when ``res`` has them) indexed by
        ``gene_id``, in the order of ``res``.

    """
    res = res.copy()
    res.index = pd.Index(res.index.astype(str), name="gene_id")
    names = gene_names.reindex(res.index).fillna("") if gene_names is not None else ""
    res.insert(0, "gene_name", names)
    return res[DE_COLUMNS + [c for c in SHRINK_COLUMNS if c in res.columns]]


def warn_pydeseq2_threshold() -> None:
    """Log that PyDESeq2 applies the threshold per coefficient, not on the contrast."""
    log.warning(
        "--engine pydeseq2 applies --lfc-threshold per coefficient, not on the contrast (PyDESeq2 "
        "PR #468): p-values are wrong for contrasts that are not a single coefficient or are written "
        "in reverse; the default engine (mscseq) tests the contrast as R does"
    )


def split_by_design(options: DEOptions) -> list[DEOptions]:
    """The options once per distinct design: contrasts with their own design (nf-core sheets) apart.

    Parameters
    ----------
    options
        The DE options; a contrast's ``design`` (if set) replaces ``options.design`` for it.

    Returns
    -------
    list of DEOptions
        One per design, in order of first use, each with its contrasts (``[options]`` without
        contrasts).

    """
    groups: dict[str, list[Contrast]] = {}
    for c in options.contrasts:
        groups.setdefault(c.design or options.design, []).append(c)
    if not groups:
        return [options]
    return [
        dataclasses.replace(options, design=design, contrasts=tuple(cs))
        for design, cs in groups.items()
    ]


def fit_design(counts: pd.DataFrame, obs: pd.DataFrame, options: DEOptions) -> Fit:
    """Build the design of ``options`` and fit it (R's ``DESeq()``), once for every test.

    Parameters
    ----------
    counts
        Raw counts, genes × samples (columns in the order of ``obs``).
    obs
        Sample sheet indexed by sample.
    options
        The design, engine and threads.

    Returns
    -------
    Fit
        The fitted model (:mod:`mscseq.de.model`).

    """
    dm = build_design(options.design, obs)
    for c in options.contrasts:  # a bad contrast or reduced design fails before the fit
        contrast_vector(dm, obs, c)
    if options.test == "lrt" and options.reduced:
        build_reduced_design(options.reduced, dm, obs)
    return fit_model(
        counts,
        obs,
        dm,
        engine=options.engine,
        threads=options.threads,
        size_factors=options.size_factors,
        fit_type=options.fit_type,
    )


def contrast_tables(
    fit: Fit,
    obs: pd.DataFrame,
    options: DEOptions,
    *,
    gene_names: pd.Series | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables of every contrast of ``options`` on one fit (Wald, threshold or LRT test).

    Parameters
    ----------
    fit
        Output of :func:`fit_design` for the same ``options.design``.
    obs
        Sample sheet indexed by sample.
    options
        Contrasts and the test: alpha, lfc_threshold, alt_hypothesis, test, reduced.
    gene_names
        Symbols indexed by gene ID, added as ``gene_name``.

    Returns
    -------
    dict
        Contrast name → table (see :func:`differential_expression`).

    """
    if fit.engine == "pydeseq2" and options.lfc_threshold > 0:
        warn_pydeseq2_threshold()
    lrt = None
    if options.test == "lrt" and options.reduced:
        xr = build_reduced_design(options.reduced, fit.design, obs)
        lrt = lrt_test(fit, xr, alpha=options.alpha)
    out = {}
    for c in options.contrasts:
        res = contrast_test(
            fit,
            contrast_vector(fit.design, obs, c),
            alpha=options.alpha,
            alternative=options.alt_hypothesis,
            threshold=options.lfc_threshold,
        )
        if lrt is not None:
            # R's results(dds_lrt, contrast=...): the contrast's log2FoldChange/lfcSE, the LRT's
            # statistic (deviance difference), p-values and adjusted p-values
            res = lrt.assign(
                log2FoldChange=res["log2FoldChange"].to_numpy(), lfcSE=res["lfcSE"].to_numpy()
            )
        elif options.shrink:
            res = add_shrunken(res, fit, contrast_vector(fit.design, obs, c), options.shrink, c)
        out[c.name] = sort_results(results_table(res, gene_names))
    return out


def differential_expression(
    counts: pd.DataFrame,
    obs: pd.DataFrame,
    options: DEOptions | None = None,
    *,
    gene_names: pd.Series | None = None,
    **changes: Any,
) -> dict[str, pd.DataFrame]:
    """DESeq2 results for each contrast: one fit, one test per contrast.

    Parameters
    ----------
    counts
        Raw counts, genes × samples (columns in the order of ``obs``).
    obs
        Sample sheet indexed by sample.
    options
        Design, contrasts, engine and test (:class:`~mscseq.options.DEOptions`; default: its defaults).
    gene_names
        Symbols indexed by gene ID, added as ``gene_name``.
    **changes
        Fields of :class:`~mscseq.options.DEOptions` to change, e.g. ``design="~ cohort"``.

    Returns
    -------
    dict
        Contrast name → table indexed by ``gene_id`` with :data:`DE_COLUMNS`, sorted by padj. For the LRT
        ``stat`` is the deviance difference and ``pvalue``/``padj`` the LRT's (the same for every
        contrast), ``log2FoldChange``/``lfcSE`` those of the contrast, as R's ``results()`` reports them.

    Raises
    ------
    MscseqError
        Invalid option combinations (see :func:`check_test_options`), designs or contrasts.

    """
    options = with_changes(options, DEOptions, changes)
    check_test_options(options)
    out: dict[str, pd.DataFrame] = {}
    for part in split_by_design(options):
        fit = fit_design(counts, obs, part)
        out.update(contrast_tables(fit, obs, part, gene_names=gene_names))
    return {c.name: out[c.name] for c in options.contrasts}


def summarize(res: pd.DataFrame, contrast: Contrast, options: DEOptions) -> dict[str, object]:
    """Numbers of genes tested, up and down at ``options.alpha`` for one results table, with the test used."""
    alpha = options.alpha
    sig = res["padj"] < alpha
    out: dict[str, object] = {
        "variable": contrast.variable,
        "target": contrast.target,
        "reference": contrast.reference,
        "alpha": alpha,
        "test": options.test,
        "lfc_threshold": float(options.lfc_threshold),
        "alt_hypothesis": options.alt_hypothesis,
        "n_genes": len(res),
        "n_tested": int(res["pvalue"].notna().sum()),
        "n_up": int((sig & (res["log2FoldChange"] > 0)).sum()),
        "n_down": int((sig & (res["log2FoldChange"] < 0)).sum()),
    }
    if options.reduced:
        out["reduced"] = options.reduced
    if contrast.design and contrast.design != options.design:
        out["design"] = contrast.design
    # recorded when not the default, so that default runs write the summary they always did
    if options.size_factors != DEOptions.size_factors:
        out["size_factors"] = options.size_factors
    if options.fit_type != DEOptions.fit_type:
        out["fit_type"] = options.fit_type
    if options.shrink:
        out["shrink"] = options.shrink
    return out


def run_de(adata, options: DEOptions | None = None, **changes: Any) -> Fit:
    """Differential expression on an AnnData, results written to ``uns["de"]`` and ``uns["de_summary"]``.

    Parameters
    ----------
    adata
        AnnData with raw counts in ``X`` and the sheet in ``obs``.
    options
        Design, contrasts, engine and test (:class:`~mscseq.options.DEOptions`).
    **changes
        Fields of :class:`~mscseq.options.DEOptions` to change, e.g.
        ``run_de(adata, design="~ cohort", contrasts=[Contrast.parse("cohort,B,A")])``.

    Returns
    -------
    Fit
        The fitted model, for further tests (:func:`mscseq.de.model.contrast_test`) or for the
        equivalence step (``run_comparability(..., fit=...)``).

    """
    options = with_changes(options, DEOptions, changes)
    check_test_options(options)
    gene_names = adata.var["gene_name"] if "gene_name" in adata.var else None
    counts = counts_frame(adata)
    tables: dict[str, pd.DataFrame] = {}
    fit = None
    for part in split_by_design(options):
        part_fit = fit_design(counts, adata.obs, part)
        if fit is None or part.design == options.design:
            fit = part_fit
        tables.update(contrast_tables(part_fit, adata.obs, part, gene_names=gene_names))
    adata.uns["de"] = {c.name: tables[c.name] for c in options.contrasts}
    adata.uns["de_summary"] = {
        c.name: summarize(tables[c.name], c, options) for c in options.contrasts
    }
    return fit
