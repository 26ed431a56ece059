"""Group equivalence: per-gene DESeq2 threshold tests of each group against the reference group.

For each level ``T`` of ``--group`` other than the reference ``R`` two Wald tests at the margin ``m``
(log2 fold change) are run on one DESeq2 fit (:mod:`mscseq.de.model`; the DE step's fit when the design is
the same):

* ``lessAbs`` (R DESeq2's ``altHypothesis="lessAbs"``, two one-sided tests): a gene is *shown equivalent*
  when its adjusted p-value is below ``alpha`` — evidence that |log2 FC| < m;
* ``greaterAbs``: a gene is *different beyond the margin* when its adjusted p-value is below ``alpha`` —
  evidence that |log2 FC| > m.

Testable genes are those the DESeq2 results give an adjusted p-value (not removed by independent
filtering, Cook's distance or an all-zero count). The reference level is coded first so that the contrast
is a single coefficient (PyDESeq2 0.5 applies the threshold per coefficient, which is only right then).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mscseq.de.design import Contrast, build_design, contrast_vector, formula_variables
from mscseq.de.formula import quote_name
from mscseq.errors import MscseqError, first_names

if TYPE_CHECKING:
    from mscseq.de.model import Fit
    from mscseq.options import ComparabilityOptions

log = logging.getLogger(__name__)

#: Genes listed in ``summary.json`` per contrast (the full lists are in the tables).
TOP_GENES = 25


@dataclass(frozen=True)
class GroupSpec:
    """The group variable, its reference level and the levels compared with it."""

    variable: str
    reference: str
    targets: tuple[str, ...]
    sizes: dict[str, int]


def group_spec(obs: pd.DataFrame, group: str, reference: str | None) -> GroupSpec:
    """Check ``--group``/``--reference`` against the sheet.

    Parameters
    ----------
    obs
        Sample sheet (indexed by sample).
    group
        Column of the sheet.
    reference
        Reference level; default: the level with the most products, ties broken alphabetically.

    Returns
    -------
    GroupSpec
        The validated choice.

    Raises
    ------
    MscseqError
        Unknown column, missing values, a single level or an unknown reference level.

    """
    if group not in obs.columns:
        msg = f"--group {group!r}: not a column of the sample sheet (columns: {first_names(obs.columns, 8)})"
        raise MscseqError(msg)
    values = obs[group]
    if values.isna().any():
        missing = [str(s) for s in obs.index[values.isna().to_numpy()]]
        msg = f"--group {group!r}: no value for sample(s) {first_names(missing)}; fill the column in the sample sheet"
        raise MscseqError(msg)
    labels = values.astype(str)
    sizes = labels.value_counts()
    levels = sorted(sizes.index)
    if len(levels) < 2:
        msg = f"--group {group!r}: the column has a single level ({levels[0]!r}); there is nothing to compare"
        raise MscseqError(msg)
    if reference is None:
        reference = sorted(levels, key=lambda lv: (-int(sizes[lv]), lv))[0]
    elif reference not in levels:
        msg = f"--reference {reference!r}: not a level of column {group!r} (levels: {first_names(levels, 8)})"
        raise MscseqError(msg)
    targets = tuple(lv for lv in levels if lv != reference)
    return GroupSpec(group, reference, targets, {lv: int(sizes[lv]) for lv in levels})


def contrast_name(spec: GroupSpec, target: str) -> str:
    """File-safe name ``<group>_<target>_vs_<reference>`` (as DE contrast names)."""
    return Contrast(spec.variable, target, spec.reference).name


def equivalence_design(design: str, group: str) -> str:
    """The user's design if it contains the group variable, else ``~ <group>``."""
    try:
        if group in formula_variables(design):
            return design
        return f"~ {quote_name(group)}"
    except MscseqError:
        return f"~ {group}"  # not a valid formula: reported as the reason the tests were skipped


def _coded(obs: pd.DataFrame, spec: GroupSpec) -> tuple[pd.DataFrame, dict[str, str]]:
    """Copy of ``obs`` with the group levels renamed so that the reference sorts first."""
    order = [spec.reference, *spec.targets]
    code = {lv: f"L{i:04d}" for i, lv in enumerate(order)}
    out = obs.copy()
    out[spec.variable] = pd.Categorical(
        obs[spec.variable].astype(str).map(code), categories=[code[lv] for lv in order]
    )
    return out, code


def equivalence_tests(
    counts: pd.DataFrame,
    obs: pd.DataFrame,
    spec: GroupSpec,
    options: ComparabilityOptions,
    *,
    gene_names: pd.Series | None = None,
    fit: Fit | None = None,
) -> dict[str, pd.DataFrame]:
    """Equivalence (``lessAbs``) and beyond-margin (``greaterAbs``) tests for every target level.

    Both tests of every target are run on one DESeq2 fit of :func:`equivalence_design`: ``fit`` when it is
    a fit of the same model matrix to the same counts (the DE step's fit, see :func:`same_model`), else a
    new one.

    Parameters
    ----------
    counts
        Raw counts, genes × samples.
    obs
        Sample sheet indexed by sample.
    spec
        Output of :func:`group_spec`.
    options
        Margin, alpha, engine, threads and the run's design.
    gene_names
        Symbols indexed by gene ID.
    fit
        A fit to reuse when its model is the same (else ignored).

    Returns
    -------
    dict
        Contrast name → table indexed by ``gene_id`` with ``gene_name, baseMean, log2FoldChange, lfcSE,
        pvalue_equivalence, padj_equivalence, pvalue_beyond, padj_beyond, equivalent, beyond_margin``,
        sorted by gene order of ``counts``.

    """
    from mscseq.de.model import contrast_test, fit_model
    from mscseq.de.run import results_table, warn_pydeseq2_threshold

    coded_obs, code = _coded(obs, spec)
    dm = build_design(equivalence_design(options.design or "~ 1", spec.variable), coded_obs)
    genes = counts.index.astype(str)
    if fit is None or fit.engine != options.engine or not same_model(fit, dm, genes, code, spec):
        fit = fit_model(
            counts,
            coded_obs,
            dm,
            engine=options.engine,
            threads=options.threads,
            size_factors=options.size_factors,
            fit_type=options.fit_type,
        )
    else:
        log.debug("equivalence tests reuse the differential expression fit (same design)")
    if options.engine == "pydeseq2":
        warn_pydeseq2_threshold()
    alpha, margin = options.alpha, options.margin
    out = {}
    for target in spec.targets:
        vec = contrast_vector(
            dm, coded_obs, Contrast(spec.variable, code[target], code[spec.reference])
        )
        eq, gt = (
            results_table(
                contrast_test(fit, vec, alpha=alpha, alternative=alt, threshold=margin), gene_names
            ).reindex(genes)
            for alt in ("lessAbs", "greaterAbs")
        )
        table = eq[["gene_name", "baseMean", "log2FoldChange", "lfcSE"]].copy()
        table["pvalue_equivalence"] = eq["pvalue"]
        table["padj_equivalence"] = eq["padj"]
        table["pvalue_beyond"] = gt["pvalue"]
        table["padj_beyond"] = gt["padj"]
        table["equivalent"] = (eq["padj"] < alpha).fillna(False).astype(bool)
        table["beyond_margin"] = (gt["padj"] < alpha).fillna(False).astype(bool)
        table.index.name = "gene_id"
        out[contrast_name(spec, target)] = table
    return out


def same_model(
    fit: Fit, coded_design: pd.DataFrame, genes: pd.Index, code: dict[str, str], spec: GroupSpec
) -> bool:
    """Whether ``fit`` fitted exactly the equivalence model: same genes, samples and model matrix.

    The equivalence design is built on levels renamed so that the reference sorts first
    (:func:`_coded`); it is the same model as the DE step's when the matrices are equal and the column
    names equal once the levels are named back. Otherwise the parametrisation differs and the fit is not
    reused (its numbers would differ in the last digits).
    """
    design = fit.design
    if not (fit.genes.equals(genes) and design.index.equals(coded_design.index)):
        return False
    if design.shape != coded_design.shape:
        return False
    names = [str(c) for c in coded_design.columns]
    for level, coded in code.items():
        names = [
            n.replace(f"{spec.variable}[T.{coded}]", f"{spec.variable}[T.{level}]") for n in names
        ]
    if names != [str(c) for c in design.columns]:
        return False
    return bool(np.array_equal(design.to_numpy(dtype=float), coded_design.to_numpy(dtype=float)))


def summarize_equivalence(
    table: pd.DataFrame, spec: GroupSpec, target: str, *, margin: float, alpha: float
) -> dict:
    """Numbers the verdict uses for one contrast, plus the top genes of each kind.

    Returns
    -------
    dict
        ``target``, ``reference``, ``n_target``, ``n_reference``, ``n_tested`` (genes with an equivalence
        padj), ``n_equivalent``, ``fraction_equivalent``, ``n_tested_beyond``, ``n_beyond_margin``,
        ``fraction_beyond_margin``, ``margin``, ``alpha`` and ``top_beyond_margin`` (gene, symbol, log2FC).

    """
    n_tested = int(table["padj_equivalence"].notna().sum())
    n_eq = int(table["equivalent"].sum())
    n_tested_gt = int(table["padj_beyond"].notna().sum())
    n_gt = int(table["beyond_margin"].sum())
    beyond = table[table["beyond_margin"]].sort_values(
        ["padj_beyond", "log2FoldChange"], kind="mergesort"
    )
    top = [
        {
            "gene_id": str(g),
            "gene_name": str(r["gene_name"]),
            "log2FoldChange": float(r["log2FoldChange"]),
            "padj": float(r["padj_beyond"]),
        }
        for g, r in beyond.head(TOP_GENES).iterrows()
    ]
    return {
        "target": target,
        "reference": spec.reference,
        "n_target": spec.sizes[target],
        "n_reference": spec.sizes[spec.reference],
        "margin": margin,
        "alpha": alpha,
        "n_tested": n_tested,
        "n_equivalent": n_eq,
        "fraction_equivalent": n_eq / n_tested if n_tested else 0.0,
        "n_tested_beyond": n_tested_gt,
        "n_beyond_margin": n_gt,
        "fraction_beyond_margin": n_gt / n_tested_gt if n_tested_gt else 0.0,
        "top_beyond_margin": top,
    }


def equivalence_skip_reason(obs: pd.DataFrame, spec: GroupSpec, design: str) -> str | None:
    """Why the equivalence tests cannot run on these products (``None`` when they can)."""
    small = [lv for lv, k in spec.sizes.items() if k < 2]
    if small:
        return f"group level(s) {first_names(small)} have a single product; equivalence needs at least 2 per group"
    try:
        build_design(design, obs)
    except MscseqError as exc:
        return str(exc)
    return None


def as_frame_order(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Tables sorted for writing: equivalence padj, then gene ID (stable)."""
    out = {}
    for name, t in tables.items():
        key = t.assign(_g=t.index.astype(str))
        key = key.sort_values(["padj_equivalence", "_g"], na_position="last", kind="mergesort")
        out[name] = t.loc[key.index]
    return out
