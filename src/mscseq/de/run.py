"""Run DESeq2 for every contrast and summarise the results."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mscseq.de.design import Contrast, build_design, contrast_vector, formula_variables
from mscseq.errors import MscseqError

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


def check_test_options(
    *,
    engine: str = "mscseq",
    test: str = "wald",
    reduced: str | None = None,
    lfc_threshold: float = 0.0,
    alt_hypothesis: str | None = "greaterAbs",
) -> None:
    """Check the combination of test options before any work (R ``results()``'s rules).

    Parameters
    ----------
    engine, test, reduced, lfc_threshold, alt_hypothesis
        As for :func:`differential_expression`.

    Raises
    ------
    MscseqError
        Unknown engine, test or alternative; LRT without ``--reduced`` or with the PyDESeq2 engine or
        with a threshold test; ``lessAbs`` without a positive threshold; a negative threshold.

    """
    alt = alt_hypothesis or "greaterAbs"
    if engine not in ENGINES:
        msg = f"--engine {engine!r}: expected one of {', '.join(ENGINES)}"
        raise MscseqError(msg)
    if test not in TESTS:
        msg = f"--test {test!r}: expected one of {', '.join(TESTS)}"
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
        if engine == "pydeseq2":
            msg = "--test lrt: PyDESeq2 has no likelihood-ratio test; use --engine mscseq (the default)"
            raise MscseqError(msg)
        if not reduced:
            msg = "--test lrt needs --reduced, the nested design without the tested terms (e.g. --reduced '~ donor')"
            raise MscseqError(msg)
        if lfc_threshold != 0 or alt != "greaterAbs":
            msg = (
                "--test lrt: --lfc-threshold/--alt-hypothesis are Wald tests of a contrast "
                "(R's results() refuses them for the LRT); drop them or use --test wald"
            )
            raise MscseqError(msg)
        try:
            formula_variables(reduced)
        except MscseqError as exc:
            msg = str(exc).replace("--design", "--reduced", 1)
            raise MscseqError(msg) from None
    elif reduced:
        msg = "--reduced is only used by the likelihood-ratio test; add --test lrt"
        raise MscseqError(msg)


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


def _fit_pydeseq2(
    counts: pd.DataFrame,
    obs: pd.DataFrame,
    design: pd.DataFrame,
    vectors: dict[str, np.ndarray],
    *,
    alpha: float,
    threads: int,
    lfc_threshold: float,
    alt_hypothesis: str | None,
) -> dict[str, pd.DataFrame]:
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    dds = DeseqDataSet(
        counts=counts.T.astype(np.int64),
        metadata=obs,
        design=design,
        refit_cooks=True,
        n_cpus=threads,
        quiet=True,
    )
    dds.deseq2()
    out = {}
    for name, vec in vectors.items():
        stats = DeseqStats(
            dds,
            contrast=vec,
            alpha=alpha,
            cooks_filter=True,
            independent_filter=True,
            lfc_null=lfc_threshold,
            alt_hypothesis=alt_hypothesis if lfc_threshold > 0 else None,
            quiet=True,
            n_cpus=threads,
        )
        stats.summary()
        res = stats.results_df[
            ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]
        ].copy()
        res["dispersion"] = np.asarray(dds.var["dispersions"], dtype=np.float64)
        out[name] = res
    return out


def _fit_mscseq(
    counts: pd.DataFrame,
    design: pd.DataFrame,
    vectors: dict[str, np.ndarray],
    *,
    alpha: float,
    threads: int,
    lfc_threshold: float,
    alt_hypothesis: str | None,
    reduced: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    from mscseq.de.engine import fit_deseq2, lrt_results, results

    fit = fit_deseq2(counts.to_numpy(dtype=np.float64).T, design, threads=threads)
    lrt = lrt_results(fit, reduced, alpha=alpha) if reduced is not None else None
    res_all = {
        name: results(
            fit,
            vec,
            alpha=alpha,
            lfc_threshold=lfc_threshold,
            alt_hypothesis=alt_hypothesis or "greaterAbs",
        )
        for name, vec in vectors.items()
    }
    out = {}
    for name, res in res_all.items():
        if lrt is not None:
            # R's results(dds_lrt, contrast=...): the contrast's log2FoldChange/lfcSE, the LRT's
            # statistic (deviance difference), p-values and adjusted p-values
            res = lrt.assign(
                log2FoldChange=res["log2FoldChange"].to_numpy(), lfcSE=res["lfcSE"].to_numpy()
            )
        res.index = counts.index
        out[name] = res
    return out


def differential_expression(
    counts: pd.DataFrame,
    obs: pd.DataFrame,
    *,
    design: str,
    contrasts: Sequence[Contrast],
    alpha: float = 0.1,
    engine: str = "mscseq",
    threads: int = 1,
    lfc_threshold: float = 0.0,
    alt_hypothesis: str | None = "greaterAbs",
    test: str = "wald",
    reduced: str | None = None,
    gene_names: pd.Series | None = None,
) -> dict[str, pd.DataFrame]:
    """DESeq2 results for each contrast.

    Parameters
    ----------
    counts
        Raw counts, genes × samples (columns in the order of ``obs``).
    obs
        Sample sheet indexed by sample.
    design
        Design formula.
    contrasts
        Comparisons to test.
    alpha
        FDR level for independent filtering.
    engine
        ``"mscseq"`` (vectorised, R-faithful engine; default) or ``"pydeseq2"``.
    threads
        Worker threads.
    lfc_threshold
        Log2 fold-change threshold of the test on each contrast (R's ``lfcThreshold``).
    alt_hypothesis
        ``greaterAbs``, ``lessAbs``, ``greater`` or ``less`` (R's ``altHypothesis``; None = greaterAbs).
    test
        ``"wald"`` or ``"lrt"`` (likelihood-ratio test against ``reduced``; mscseq engine only).
    reduced
        Reduced design formula of the LRT, nested in ``design``.
    gene_names
        Symbols indexed by gene ID, added as ``gene_name``.

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
    check_test_options(
        engine=engine,
        test=test,
        reduced=reduced,
        lfc_threshold=lfc_threshold,
        alt_hypothesis=alt_hypothesis,
    )
    dm = build_design(design, obs)
    vectors = {c.name: contrast_vector(dm, obs, c) for c in contrasts}
    kwargs = {
        "alpha": alpha,
        "threads": threads,
        "lfc_threshold": lfc_threshold,
        "alt_hypothesis": alt_hypothesis,
    }
    if engine == "pydeseq2":
        if lfc_threshold > 0:
            log.warning(
                "--engine pydeseq2 applies --lfc-threshold per coefficient, not on the contrast (PyDESeq2 "
                "PR #468): p-values are wrong for contrasts that are not a single coefficient or are written "
                "in reverse; the default engine (mscseq) tests the contrast as R does"
            )
        raw = _fit_pydeseq2(counts, obs, dm, vectors, **kwargs)
    else:
        xr = build_reduced_design(reduced, dm, obs) if test == "lrt" and reduced else None
        raw = _fit_mscseq(counts, dm, vectors, reduced=xr, **kwargs)
    out = {}
    for name, res in raw.items():
        res = res.copy()
        res.index = pd.Index(counts.index.astype(str), name="gene_id")
        names = gene_names.reindex(res.index).fillna("") if gene_names is not None else ""
        res.insert(0, "gene_name", names)
        out[name] = sort_results(res[DE_COLUMNS])
    return out


def summarize(
    res: pd.DataFrame,
    contrast: Contrast,
    *,
    alpha: float,
    test: str = "wald",
    lfc_threshold: float = 0.0,
    alt_hypothesis: str | None = "greaterAbs",
    reduced: str | None = None,
) -> dict[str, object]:
    """Numbers of genes tested, up and down at ``alpha`` for one results table, with the test used."""
    sig = res["padj"] < alpha
    out: dict[str, object] = {
        "variable": contrast.variable,
        "target": contrast.target,
        "reference": contrast.reference,
        "alpha": alpha,
        "test": test,
        "lfc_threshold": float(lfc_threshold),
        "alt_hypothesis": alt_hypothesis or "greaterAbs",
        "n_genes": len(res),
        "n_tested": int(res["pvalue"].notna().sum()),
        "n_up": int((sig & (res["log2FoldChange"] > 0)).sum()),
        "n_down": int((sig & (res["log2FoldChange"] < 0)).sum()),
    }
    if reduced:
        out["reduced"] = reduced
    return out


def run_de(
    adata,
    *,
    design: str,
    contrasts: Sequence[Contrast],
    alpha: float = 0.1,
    engine: str = "mscseq",
    threads: int = 1,
    lfc_threshold: float = 0.0,
    alt_hypothesis: str | None = "greaterAbs",
    test: str = "wald",
    reduced: str | None = None,
) -> None:
    """Differential expression on an AnnData, results written to ``uns["de"]`` and ``uns["de_summary"]``.

    Parameters
    ----------
    adata
        AnnData with raw counts in ``X`` and the sheet in ``obs``.
    design
        Design formula.
    contrasts
        Comparisons to test.
    alpha
        FDR level.
    engine
        DESeq2 engine.
    threads
        Worker threads.
    lfc_threshold, alt_hypothesis, test, reduced
        As for :func:`differential_expression` (applied to every contrast).

    """
    counts = pd.DataFrame(np.asarray(adata.X).T, index=adata.var_names, columns=adata.obs_names)
    gene_names = adata.var["gene_name"] if "gene_name" in adata.var else None
    tables = differential_expression(
        counts,
        adata.obs,
        design=design,
        contrasts=contrasts,
        alpha=alpha,
        engine=engine,
        threads=threads,
        lfc_threshold=lfc_threshold,
        alt_hypothesis=alt_hypothesis,
        test=test,
        reduced=reduced,
        gene_names=gene_names,
    )
    adata.uns["de"] = tables
    opts = {
        "test": test,
        "lfc_threshold": lfc_threshold,
        "alt_hypothesis": alt_hypothesis,
        "reduced": reduced,
    }
    adata.uns["de_summary"] = {
        c.name: summarize(tables[c.name], c, alpha=alpha, **opts) for c in contrasts
    }
