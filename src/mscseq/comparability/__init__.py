"""Comparability: do the products share a transcriptomic profile, and where do they differ?

:func:`run_comparability` runs every step on an analysed AnnData (after ``normalize`` and ``explore``),
writes the ``summary.json`` block to ``adata.uns["comparability"]`` (plain JSON) and the tables to
``adata.uns["comparability_tables"]``. The block's structure is documented in ``docs/comparability.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mscseq.checks import informative_genes_mask
from mscseq.comparability import equivalence, panels
from mscseq.comparability import permanova as permutation_tests
from mscseq.comparability.equivalence import GroupSpec
from mscseq.comparability.similarity import (
    MAD_Z,
    MIN_PRODUCTS,
    MIN_RATIO,
    informative_genes,
    product_similarity,
    two_clusters,
)
from mscseq.comparability.variance import (
    find_donor_column,
    summarize_partition,
    variance_partition,
)
from mscseq.comparability.verdict import Thresholds, decide, rule_text
from mscseq.de.engine.trend import DispersionTrendError
from mscseq.de.run import counts_frame
from mscseq.errors import MscseqError
from mscseq.options import ComparabilityOptions, with_changes

if TYPE_CHECKING:
    from mscseq.de.model import Fit

log = logging.getLogger(__name__)

#: Default seed of the permutation tests (:attr:`ComparabilityOptions.seed`).
DEFAULT_SEED = ComparabilityOptions.seed
#: Libraries below this median size are called "low depth" in the caveats.
LOW_DEPTH = 1_000_000

CAVEAT_RNA = (
    "RNA cannot reproduce flow-cytometry release criteria (ISCT: ≥ 95 % of cells CD73+/CD90+/CD105+, ≤ 2 % "
    "CD45/CD34/CD14 or CD11b/CD79a or CD19/HLA-DR); the marker panels are transcript levels of the whole "
    "product, hints to follow up, not release results"
)
CAVEAT_PERMANOVA = (
    "a non-significant PERMANOVA is never evidence of sameness: it is not part of the rule, which needs genes "
    "shown equivalent"
)
CAVEAT_ONE_PER_DONOR = (
    "one product per donor: donor-to-donor variation and technical noise cannot be separated; similarity "
    "measures both together"
)

__all__ = ["DEFAULT_SEED", "ComparabilityOptions", "Thresholds", "run_comparability"]


def _check_options(options: ComparabilityOptions) -> None:
    from mscseq.de.run import ENGINES

    margin, alpha, permutations = options.margin, options.alpha, options.permutations
    if not np.isfinite(margin) or margin <= 0:
        msg = f"--margin {margin}: the equivalence margin is a positive log2 fold change, e.g. 1.0 (two-fold)"
        raise MscseqError(msg)
    if not 0 < alpha < 1:
        msg = f"--alpha {alpha}: the FDR level must be between 0 and 1"
        raise MscseqError(msg)
    if permutations < 0:
        msg = f"--permutations {permutations}: must be 0 or more"
        raise MscseqError(msg)
    if options.engine not in ENGINES:
        msg = f"--engine {options.engine!r}: expected one of {', '.join(ENGINES)}"
        raise MscseqError(msg)


def _ensure_analysed(adata) -> None:
    if "vst" not in adata.layers:
        from mscseq.normalize import normalize

        normalize(adata)
    linkage = np.asarray(adata.uns.get("clustering", {}).get("linkage", np.zeros((0, 4))))
    stale = len(linkage) != max(adata.n_obs - 1, 0) or "pearson" not in adata.obsp
    if adata.n_obs >= 2 and ("X_pca" not in adata.obsm or stale):
        from mscseq.explore import explore

        explore(adata)


@dataclass
class _Products:
    """What the steps read: the products' data, their groups and donors, and what the steps collect."""

    samples: list[str]
    obs: pd.DataFrame
    vst: np.ndarray
    norm: np.ndarray
    base_mean: np.ndarray
    informative: np.ndarray  # indices of the informative genes (similarity.informative_genes)
    n_informative: int  # genes the verdict's floor counts (checks.informative_genes_mask)
    spec: GroupSpec | None
    labels: list[str] | None
    donor_col: str | None
    caveats: list[str] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)


def run_comparability(
    adata, options: ComparabilityOptions | None = None, *, fit: Fit | None = None, **changes: Any
) -> dict[str, Any]:
    """Run every comparability step and decide the verdict.

    Parameters
    ----------
    adata
        AnnData with raw counts in ``X`` and the sheet in ``obs`` (normalised and explored here if needed).
    options
        Group, reference, margin, panels, permutations, seed, engine, design, thresholds
        (:class:`~mscseq.options.ComparabilityOptions`; default: its defaults).
    fit
        The differential expression step's fit (return value of :func:`mscseq.de.run.run_de`); the
        equivalence tests reuse it when their model is the same, else they fit their own.
    **changes
        Fields of :class:`~mscseq.options.ComparabilityOptions` to change, e.g.
        ``run_comparability(adata, group="cohort", design="~ cohort")``.

    Returns
    -------
    dict
        The ``comparability`` block (plain JSON), also stored in ``adata.uns["comparability"]``.

    """
    from mscseq.outputs import to_jsonable

    options = with_changes(options, ComparabilityOptions, changes)
    _check_options(options)
    _ensure_analysed(adata)
    data = _products(adata, options)
    similarity, clusters = _similarity(adata, data, options)
    panels_block, quality_range = _panels(adata, data, options)
    equivalence, eq_design = _equivalence(adata, data, options, fit)
    permanova_block, permdisp_block = _permutation_tests(data, options)
    variance_block = _variance_partition(adata, data, options)
    metrics = _metrics(data, similarity, equivalence, options)
    verdict, reasons = decide(metrics, options.thresholds)
    _replicate_caveat(adata, data, options)
    _depth_and_rna_caveats(adata, data)
    data.tables["products"] = _products_table(data, similarity, panels_block["flags"])
    block = {
        "verdict": verdict,
        "rule": rule_text(
            options.thresholds,
            margin=options.margin,
            alpha=options.alpha,
            mad_z=MAD_Z,
            min_ratio=MIN_RATIO,
        ),
        "reasons": reasons,
        "metrics": metrics,
        "products": _products_list(data, similarity, panels_block["flags"]),
        "caveats": data.caveats,
        "similarity": _similarity_block(data, similarity, clusters),
        "equivalence": equivalence,
        "permanova": permanova_block,
        "permdisp": permdisp_block,
        "variance_partition": variance_block,
        "quality_range": quality_range,
        "panels": panels_block,
        "settings": _settings(data, options, eq_design),
    }
    block = to_jsonable(block)
    adata.uns["comparability"] = block
    adata.uns["comparability_tables"] = data.tables
    log.info("comparability verdict: %s", verdict)
    return block


def _products(adata, options: ComparabilityOptions) -> _Products:
    """The products' data, the validated group and the donor column."""
    obs = adata.obs
    norm = np.asarray(adata.layers["normalized"], dtype=np.float64)
    base_mean = norm.mean(axis=0)
    spec = equivalence.group_spec(obs, options.group, options.reference) if options.group else None
    donor_col = options.donor if options.donor else find_donor_column(obs.columns)
    if options.donor and options.donor not in obs.columns:
        msg = f"donor column {options.donor!r}: not in the sample sheet"
        raise MscseqError(msg)
    return _Products(
        samples=[str(s) for s in adata.obs_names],
        obs=obs,
        vst=np.asarray(adata.layers["vst"], dtype=np.float64),
        norm=norm,
        base_mean=base_mean,
        informative=informative_genes(base_mean),
        n_informative=int(informative_genes_mask(norm).sum()),
        spec=spec,
        labels=obs[options.group].astype(str).tolist() if spec else None,
        donor_col=donor_col,
    )


def _similarity(adata, data: _Products, options: ComparabilityOptions) -> tuple[pd.DataFrame, Any]:
    """Step 1: product similarity and outliers, and the two-cluster split."""
    n = len(data.samples)
    similarity = product_similarity(
        data.vst,
        np.asarray(adata.obsm["X_pca"]) if "X_pca" in adata.obsm else np.zeros((n, 1)),
        data.base_mean,
        data.samples,
        groups=data.labels,
        margin=options.margin,
        threshold=MAD_Z,
    )
    clustering = adata.uns.get("clustering", {})
    pearson = np.asarray(adata.obsp["pearson"]) if "pearson" in adata.obsp else np.ones((n, n))
    clusters = two_clusters(
        np.asarray(clustering.get("linkage", np.zeros((0, 4)))), 1.0 - pearson, data.labels
    )
    if n < MIN_PRODUCTS:
        data.caveats.append(
            f"only {n} products: MAD-based outlier screening needs at least {MIN_PRODUCTS}"
        )
    return similarity, clusters


def _panels(
    adata, data: _Products, options: ComparabilityOptions
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Step 2: panel scores, marker and score flags (the ``panels`` block); the reference group's quality range."""
    panel_df = panels.load_panels(options.panels)
    gene_names = (
        adata.var["gene_name"].astype(str).tolist()
        if "gene_name" in adata.var
        else [""] * adata.n_vars
    )
    matched = panels.match_genes(panel_df, [str(g) for g in adata.var_names], gene_names)
    scores = panels.panel_scores(data.vst, matched)
    flags: dict[str, list[str]] = {}
    for found in (
        panels.marker_flags(data.norm, matched, data.samples),
        panels.score_flags(scores, data.samples),
    ):
        for s, msgs in found.items():
            flags.setdefault(s, []).extend(msgs)
    quality = None
    if data.spec is not None:
        is_reference = np.asarray(data.labels) == data.spec.reference
        quality = panels.quality_range(data.vst, matched, is_reference, data.samples)
    data.tables["panel_scores"] = scores.set_axis(pd.Index(data.samples, name="sample"), axis=0)
    block = {
        "panels": [
            {
                "panel": name,
                "n_genes": len(rows),
                "n_found": int((rows["index"] >= 0).sum()),
                "missing": [
                    s or g
                    for s, g, i in zip(rows["symbol"], rows["gene_id"], rows["index"], strict=True)
                    if i < 0
                ],
            }
            for name, rows in matched.groupby("panel", sort=False)
        ],
        "scores": {
            s: {k: float(scores.at[i, k]) for k in scores.columns}
            for i, s in enumerate(data.samples)
        },
        "flags": flags,
        "potency_variability": _panel_variability(data.vst, matched, "licensing_potency"),
        "user_panels": [str(p) for p in options.panels],
    }
    return block, quality


def _equivalence(
    adata, data: _Products, options: ComparabilityOptions, fit: Fit | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Step 3a: equivalence and beyond-margin tests of each group against the reference."""
    spec = data.spec
    if spec is None:
        return [], None
    design = equivalence.equivalence_design(options.design or "~ 1", spec.variable)
    skip = equivalence.equivalence_skip_reason(data.obs, spec, design)
    floor = options.thresholds.min_informative_genes
    if skip is None and data.n_informative < floor:
        skip = f"only {data.n_informative} informative genes (at least {floor} needed)"
    if skip is None:
        try:
            tables = equivalence.equivalence_tests(
                counts_frame(adata),
                data.obs,
                spec,
                options,
                gene_names=adata.var["gene_name"] if "gene_name" in adata.var else None,
                fit=fit,
            )
        except DispersionTrendError as exc:  # data DESeq2 cannot fit (Poisson-like counts)
            skip = str(exc)
    if skip is not None:
        block = [
            {
                "name": equivalence.contrast_name(spec, t),
                "target": t,
                "reference": spec.reference,
                "skipped": skip,
            }
            for t in spec.targets
        ]
    else:
        data.tables["equivalence"] = equivalence.as_frame_order(tables)
        block = []
        for t in spec.targets:
            name = equivalence.contrast_name(spec, t)
            summary = equivalence.summarize_equivalence(
                tables[name], spec, t, margin=options.margin, alpha=options.alpha
            )
            block.append({"name": name, **summary})
    if options.engine == "pydeseq2":
        data.caveats.append(
            "equivalence tests ran on PyDESeq2, which applies the margin per design coefficient; mscseq codes the "
            "reference level first so each group contrast is one coefficient, where this is exact"
        )
    return block, design


def _permutation_tests(
    data: _Products, options: ComparabilityOptions
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Step 3b: PERMANOVA and PERMDISP of the groups on the informative genes' VST."""
    spec = data.spec
    if spec is None:
        return None, None
    permanova_block = permdisp_block = None
    x = data.vst[:, data.informative]
    donor_col = data.donor_col
    strata = (
        data.obs[donor_col].astype(str).tolist()
        if donor_col and donor_col != spec.variable
        else None
    )
    if len(data.samples) > len(spec.sizes):
        permanova_block = permutation_tests.permanova(
            x, data.labels, permutations=options.permutations, seed=options.seed, strata=strata
        )
        if permanova_block["min_p_value"] > 0.05:
            data.caveats.append(
                f"too few products for a permutation test to reach p < 0.05 (smallest attainable p = "
                f"{permanova_block['min_p_value']:.3g})"
            )
        if min(spec.sizes.values()) >= 2:
            permdisp_block = permutation_tests.permdisp(
                x, data.labels, permutations=options.permutations, seed=options.seed
            )
    data.caveats.append(CAVEAT_PERMANOVA)
    return permanova_block, permdisp_block


def _variance_partition(adata, data: _Products, options: ComparabilityOptions) -> dict | None:
    """Step 4: donor/other-variable variance partition when donors have replicate products."""
    donor_col = data.donor_col
    replicated = False
    if donor_col is not None:
        per_donor = data.obs[donor_col].astype(str).value_counts()
        replicated = bool((per_donor >= 2).any()) and len(per_donor) >= 2
    if not replicated:
        data.caveats.append(CAVEAT_ONE_PER_DONOR)
        return None
    fixed = _fixed_variables(data.obs, options.design, data.spec, donor_col)
    genes = data.informative
    try:
        fractions = variance_partition(data.vst[:, genes], data.obs, donor=donor_col, fixed=fixed)
    except MscseqError as exc:
        return {"skipped": str(exc)}
    fractions.index = pd.Index(adata.var_names[genes].astype(str), name="gene_id")
    if "gene_name" in adata.var:
        fractions.insert(0, "gene_name", adata.var["gene_name"].iloc[genes].astype(str).to_numpy())
    data.tables["variance_partition"] = fractions
    return {
        "donor": donor_col,
        "fixed": fixed,
        "n_genes": len(genes),
        "method": "per-gene REML linear mixed model on VST: donor random intercept, other variables fixed",
        "fractions": summarize_partition(fractions.drop(columns=["gene_name"], errors="ignore")),
    }


#: Fields of each equivalence contrast the verdict reads.
_CONTRAST_METRICS = (
    "name",
    "n_tested",
    "n_equivalent",
    "fraction_equivalent",
    "n_tested_beyond",
    "n_beyond_margin",
    "fraction_beyond_margin",
    "skipped",
)


def _metrics(
    data: _Products,
    similarity: pd.DataFrame,
    equivalence_block: list[dict[str, Any]],
    options: ComparabilityOptions,
) -> dict[str, Any]:
    """Step 5: the numbers the decision rule reads."""
    outliers = [s for s in data.samples if bool(similarity.at[s, "outlier"])]
    concordance = similarity["concordance"].dropna()
    return {
        "n_products": len(data.samples),
        "n_informative_genes": data.n_informative,
        "n_outliers": len(outliers),
        "outliers": outliers,
        "group": data.spec.variable if data.spec else None,
        "margin": options.margin,
        "alpha": options.alpha,
        "contrasts": [
            {k: c.get(k) for k in _CONTRAST_METRICS if k in c} for c in equivalence_block
        ],
        "min_concordance": float(concordance.min()) if len(concordance) else None,
        "mad_z_threshold": MAD_Z,
        "outlier_min_ratio": MIN_RATIO,
        "thresholds": options.thresholds.to_dict(),
    }


def _replicate_caveat(adata, data: _Products, options: ComparabilityOptions) -> None:
    """Without ``--product``: say so when libraries sharing a sheet value look like one product's replicates."""
    if "products" in adata.uns:
        return
    from mscseq.de.design import formula_variables
    from mscseq.products import replicate_caveat, replicate_columns

    try:
        constant = formula_variables(options.design) if options.design else []
    except MscseqError:
        constant = []
    findings = replicate_columns(
        data.vst[:, data.informative],
        data.obs,
        group=data.spec.variable if data.spec else None,
        constant=constant,
    )
    caveat = replicate_caveat(findings)
    if caveat:
        data.caveats.append(caveat)


def _depth_and_rna_caveats(adata, data: _Products) -> None:
    library_sizes = np.asarray(adata.X).sum(axis=1)
    if np.median(library_sizes) < LOW_DEPTH:
        data.caveats.append(
            f"low sequencing depth (median {np.median(library_sizes):,.0f} counts per library): few genes are "
            "testable and equivalence is hard to show"
        )
    data.caveats.append(CAVEAT_RNA)


def _products_list(
    data: _Products, similarity: pd.DataFrame, flags: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """The ``products`` list of the block: status, reasons, flags (and group) of each product."""
    out = []
    for s in data.samples:
        row = similarity.loc[s]
        out.append(
            {
                "sample": s,
                "status": "outlier" if row["outlier"] else "consistent",
                "reasons": list(row["reasons"]),
                "flags": flags.get(s, []),
                **({"group": str(data.obs.at[s, data.spec.variable])} if data.spec else {}),
            }
        )
    return out


def _products_table(
    data: _Products, similarity: pd.DataFrame, flags: dict[str, list[str]]
) -> pd.DataFrame:
    """``tables/products.tsv``: status, reasons, flags, similarity scores and panel scores per product."""
    table = similarity.drop(columns=["reasons", "outlier"]).copy()
    table.insert(0, "status", ["outlier" if o else "consistent" for o in similarity["outlier"]])
    table.insert(1, "reasons", ["; ".join(r) for r in similarity["reasons"]])
    table.insert(2, "flags", ["; ".join(flags.get(s, [])) for s in data.samples])
    if data.spec:
        table.insert(0, "group", [str(v) for v in data.labels or []])
    return table.join(data.tables["panel_scores"].add_prefix("score_"))


def _similarity_block(data: _Products, similarity: pd.DataFrame, clusters: Any) -> dict[str, Any]:
    samples = data.samples
    return {
        "genes_used": len(data.informative),
        "median_correlation": {s: float(similarity.at[s, "median_correlation"]) for s in samples},
        "centroid_distance": {s: float(similarity.at[s, "centroid_distance"]) for s in samples},
        "z_correlation": {s: _num(similarity.at[s, "z_correlation"]) for s in samples},
        "z_distance": {s: _num(similarity.at[s, "z_distance"]) for s in samples},
        "concordance": {s: _num(similarity.at[s, "concordance"]) for s in samples},
        "clusters": clusters,
    }


def _settings(
    data: _Products, options: ComparabilityOptions, eq_design: str | None
) -> dict[str, Any]:
    spec = data.spec
    return {
        "group": spec.variable if spec else None,
        "reference": spec.reference if spec else None,
        "levels": spec.sizes if spec else None,
        "margin": options.margin,
        "alpha": options.alpha,
        "permutations": options.permutations,
        "seed": options.seed,
        "engine": options.engine,
        "design": eq_design,
        "donor_column": data.donor_col,
        "panels": [str(p) for p in options.panels],
    }


def _num(v: object) -> float | None:
    f = float(v)  # type: ignore[arg-type]
    return f if np.isfinite(f) else None


def _fixed_variables(obs: pd.DataFrame, design: str | None, spec, donor_col: str) -> list[str]:
    """Design variables other than the donor (plus the group), as fixed effects of the variance partition."""
    from mscseq.de.design import formula_variables

    out: list[str] = []
    if design:
        try:
            out = [v for v in formula_variables(design) if v in obs.columns]
        except MscseqError:
            out = []
    if spec is not None and spec.variable not in out:
        out.append(spec.variable)
    return [v for v in out if v != donor_col and obs[v].astype(str).nunique() > 1]


def _panel_variability(vst: np.ndarray, matched: pd.DataFrame, panel: str) -> list[dict[str, Any]]:
    """Spread of each panel gene across products: SD and range of VST (log2)."""
    rows = matched[(matched["panel"] == panel) & (matched["index"] >= 0)]
    out = []
    for _, r in rows.iterrows():
        v = vst[:, int(r["index"])]
        out.append(
            {
                "gene_id": r["gene_id"],
                "symbol": r["symbol"],
                "sd_log2": float(v.std(ddof=1)) if len(v) > 1 else None,
                "range_log2": float(v.max() - v.min()),
            }
        )
    return out
