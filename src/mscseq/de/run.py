"""Run DESeq2 for every contrast and summarise the results."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mscseq.de.design import Contrast, build_design, contrast_vector

log = logging.getLogger(__name__)

#: Columns of every DE table, in order (after the ``gene_id`` index).
DE_COLUMNS = ["gene_name", "baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj", "dispersion"]

#: Engines ``--engine`` accepts.
ENGINES = ("mscseq", "pydeseq2")


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
            alt_hypothesis=alt_hypothesis if lfc_threshold > 0 or alt_hypothesis else None,
            quiet=True,
            n_cpus=threads,
        )
        stats.summary()
        res = stats.results_df[["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]].copy()
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
) -> dict[str, pd.DataFrame]:
    from mscseq.de.engine import fit_deseq2, results

    fit = fit_deseq2(counts.to_numpy(dtype=np.float64).T, design, threads=threads)
    out = {}
    for name, vec in vectors.items():
        res = results(
            fit,
            vec,
            alpha=alpha,
            lfc_threshold=lfc_threshold,
            alt_hypothesis=alt_hypothesis or "greaterAbs",
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
    engine: str = "pydeseq2",
    threads: int = 1,
    lfc_threshold: float = 0.0,
    alt_hypothesis: str | None = None,
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
        ``"mscseq"`` (vectorised engine) or ``"pydeseq2"``.
    threads
        Worker threads.
    lfc_threshold
        Log2 fold-change threshold of the test (R's ``lfcThreshold``).
    alt_hypothesis
        ``greaterAbs``, ``lessAbs``, ``greater`` or ``less`` (R's ``altHypothesis``).
    gene_names
        Symbols indexed by gene ID, added as ``gene_name``.

    Returns
    -------
    dict
        Contrast name → table indexed by ``gene_id`` with :data:`DE_COLUMNS`, sorted by padj.

    """
    dm = build_design(design, obs)
    vectors = {c.name: contrast_vector(dm, obs, c) for c in contrasts}
    kwargs = {"alpha": alpha, "threads": threads, "lfc_threshold": lfc_threshold, "alt_hypothesis": alt_hypothesis}
    if engine == "pydeseq2":
        raw = _fit_pydeseq2(counts, obs, dm, vectors, **kwargs)
    else:
        raw = _fit_mscseq(counts, dm, vectors, **kwargs)
    out = {}
    for name, res in raw.items():
        res = res.copy()
        res.index = pd.Index(counts.index.astype(str), name="gene_id")
        names = gene_names.reindex(res.index).fillna("") if gene_names is not None else ""
        res.insert(0, "gene_name", names)
        out[name] = sort_results(res[DE_COLUMNS])
    return out


def summarize(res: pd.DataFrame, contrast: Contrast, *, alpha: float) -> dict[str, object]:
    """Numbers of genes tested, up and down at ``alpha`` for one results table."""
    sig = res["padj"] < alpha
    return {
        "variable": contrast.variable,
        "target": contrast.target,
        "reference": contrast.reference,
        "alpha": alpha,
        "n_genes": len(res),
        "n_tested": int(res["pvalue"].notna().sum()),
        "n_up": int((sig & (res["log2FoldChange"] > 0)).sum()),
        "n_down": int((sig & (res["log2FoldChange"] < 0)).sum()),
    }


def run_de(
    adata,
    *,
    design: str,
    contrasts: Sequence[Contrast],
    alpha: float = 0.1,
    engine: str = "pydeseq2",
    threads: int = 1,
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
        gene_names=gene_names,
    )
    adata.uns["de"] = tables
    adata.uns["de_summary"] = {c.name: summarize(tables[c.name], c, alpha=alpha) for c in contrasts}
