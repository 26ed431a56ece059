"""Comparability: do the products share a transcriptomic profile, and where do they differ?

:func:`run_comparability` runs every step on an analysed AnnData (after ``normalize`` and ``explore``),
writes the ``summary.json`` block to ``adata.uns["comparability"]`` (plain JSON) and the tables to
``adata.uns["comparability_tables"]``. The block's structure is documented in ``docs/comparability.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscseq.comparability.verdict import DEFAULT_THRESHOLDS, Thresholds, decide, rule_text
from mscseq.errors import MscseqError

log = logging.getLogger(__name__)

#: Default seed of the permutation tests.
DEFAULT_SEED = 20240601
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

__all__ = ["DEFAULT_SEED", "Thresholds", "run_comparability"]


def _check_options(margin: float, alpha: float, permutations: int) -> None:
    if not np.isfinite(margin) or margin <= 0:
        msg = f"--margin {margin}: the equivalence margin is a positive log2 fold change, e.g. 1.0 (two-fold)"
        raise MscseqError(msg)
    if not 0 < alpha < 1:
        msg = f"--alpha {alpha}: the FDR level must be between 0 and 1"
        raise MscseqError(msg)
    if permutations < 0:
        msg = f"--permutations {permutations}: must be 0 or more"
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


def run_comparability(
    adata,
    *,
    group: str | None = None,
    reference: str | None = None,
    margin: float = 1.0,
    alpha: float = 0.1,
    panels: Sequence[str | Path] = (),
    permutations: int = 999,
    seed: int = DEFAULT_SEED,
    engine: str = "pydeseq2",
    threads: int = 1,
    design: str | None = None,
    donor: str | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """Run every comparability step and decide the verdict.

    Parameters
    ----------
    adata
        AnnData with raw counts in ``X`` and the sheet in ``obs`` (normalised and explored here if needed).
    group
        Sheet column whose levels are compared (``--group``); ``None`` compares products only.
    reference
        Reference level of ``group`` (default: the largest level).
    margin
        Equivalence margin, |log2 fold change|.
    alpha
        FDR level of the equivalence and beyond-margin tests.
    panels
        Extra panel TSV files (``--panel``).
    permutations
        Permutations of PERMANOVA and PERMDISP.
    seed
        Seed of the permutations.
    engine
        DESeq2 engine for the equivalence tests.
    threads
        Worker threads.
    design
        The run's design; used for the equivalence tests when it contains ``group``.
    donor
        Donor column (default: found by name, see :data:`~mscseq.comparability.variance.DONOR_COLUMNS`).
    thresholds
        Thresholds of the decision rule.

    Returns
    -------
    dict
        The ``comparability`` block (plain JSON), also stored in ``adata.uns["comparability"]``.

    """
    from mscseq.checks import informative_genes_mask
    from mscseq.comparability import equivalence as eqv
    from mscseq.comparability import panels as pnl
    from mscseq.comparability.permanova import permanova, permdisp
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
    from mscseq.outputs import to_jsonable

    _check_options(margin, alpha, permutations)
    _ensure_analysed(adata)
    samples = [str(s) for s in adata.obs_names]
    n = len(samples)
    obs = adata.obs
    vst = np.asarray(adata.layers["vst"], dtype=np.float64)
    norm = np.asarray(adata.layers["normalized"], dtype=np.float64)
    base_mean = norm.mean(axis=0)
    n_informative = int(informative_genes_mask(norm).sum())
    spec = eqv.group_spec(obs, group, reference) if group else None
    labels = obs[group].astype(str).tolist() if spec else None
    donor_col = donor if donor else find_donor_column(obs.columns)
    if donor and donor not in obs.columns:
        msg = f"donor column {donor!r}: not in the sample sheet"
        raise MscseqError(msg)
    caveats: list[str] = []
    tables: dict[str, Any] = {}

    # 1. product similarity and outliers
    sim = product_similarity(
        vst,
        np.asarray(adata.obsm["X_pca"]) if "X_pca" in adata.obsm else np.zeros((n, 1)),
        base_mean,
        samples,
        groups=labels,
        margin=margin,
        threshold=MAD_Z,
    )
    clus = adata.uns.get("clustering", {})
    pearson = np.asarray(adata.obsp["pearson"]) if "pearson" in adata.obsp else np.ones((n, n))
    clusters = two_clusters(
        np.asarray(clus.get("linkage", np.zeros((0, 4)))), 1.0 - pearson, labels
    )
    if n < MIN_PRODUCTS:
        caveats.append(
            f"only {n} products: MAD-based outlier screening needs at least {MIN_PRODUCTS}"
        )

    # 2. panels
    panel_df = pnl.load_panels(panels)
    gene_names = (
        adata.var["gene_name"].astype(str).tolist()
        if "gene_name" in adata.var
        else [""] * adata.n_vars
    )
    matched = pnl.match_genes(panel_df, [str(g) for g in adata.var_names], gene_names)
    scores = pnl.panel_scores(vst, matched)
    flags: dict[str, list[str]] = {}
    for src in (pnl.marker_flags(norm, matched, samples), pnl.score_flags(scores, samples)):
        for s, msgs in src.items():
            flags.setdefault(s, []).extend(msgs)
    qrange = None
    if spec is not None:
        qrange = pnl.quality_range(vst, matched, np.asarray(labels) == spec.reference, samples)
    potency = _panel_variability(vst, matched, "licensing_potency")
    panels_block = {
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
            s: {k: float(scores.at[i, k]) for k in scores.columns} for i, s in enumerate(samples)
        },
        "flags": flags,
        "potency_variability": potency,
        "user_panels": [str(p) for p in panels],
    }
    tables["panel_scores"] = scores.set_axis(pd.Index(samples, name="sample"), axis=0)

    # 3. group equivalence, PERMANOVA, PERMDISP
    eq_block: list[dict[str, Any]] = []
    perm_block = None
    disp_block = None
    eq_design = None
    if spec is not None:
        eq_design = eqv.equivalence_design(design or "~ 1", spec.variable)
        skip = eqv.equivalence_skip_reason(obs, spec, eq_design)
        if skip is None and n_informative < thresholds.min_informative_genes:
            skip = f"only {n_informative} informative genes (at least {thresholds.min_informative_genes} needed)"
        if skip is None:
            counts = pd.DataFrame(
                np.asarray(adata.X).T, index=adata.var_names.astype(str), columns=adata.obs_names
            )
            gn = adata.var["gene_name"] if "gene_name" in adata.var else None
            eq_tables = eqv.equivalence_tests(
                counts,
                obs,
                spec,
                design=eq_design,
                margin=margin,
                alpha=alpha,
                engine=engine,
                threads=threads,
                gene_names=gn,
            )
            tables["equivalence"] = eqv.as_frame_order(eq_tables)
            for t in spec.targets:
                name = eqv.contrast_name(spec, t)
                eq_block.append(
                    {
                        "name": name,
                        **eqv.summarize_equivalence(
                            eq_tables[name], spec, t, margin=margin, alpha=alpha
                        ),
                    }
                )
        else:
            eq_block = [
                {
                    "name": eqv.contrast_name(spec, t),
                    "target": t,
                    "reference": spec.reference,
                    "skipped": skip,
                }
                for t in spec.targets
            ]
        if engine == "pydeseq2":
            caveats.append(
                "equivalence tests ran on PyDESeq2, which applies the margin per design coefficient; mscseq codes the "
                "reference level first so each group contrast is one coefficient, where this is exact"
            )
        x_inf = vst[:, informative_genes(base_mean)]
        strata = (
            obs[donor_col].astype(str).tolist()
            if donor_col and donor_col != spec.variable
            else None
        )
        if n > len(spec.sizes):
            perm_block = permanova(
                x_inf, labels, permutations=permutations, seed=seed, strata=strata
            )
            if perm_block["min_p_value"] > 0.05:
                caveats.append(
                    f"too few products for a permutation test to reach p < 0.05 (smallest attainable p = "
                    f"{perm_block['min_p_value']:.3g})"
                )
            if min(spec.sizes.values()) >= 2:
                disp_block = permdisp(x_inf, labels, permutations=permutations, seed=seed)
        caveats.append(CAVEAT_PERMANOVA)

    # 4. variance partition
    vp_block = None
    replicated = False
    if donor_col is not None:
        counts_per_donor = obs[donor_col].astype(str).value_counts()
        replicated = bool((counts_per_donor >= 2).any()) and len(counts_per_donor) >= 2
    if replicated:
        fixed = _fixed_variables(obs, design, spec, donor_col)
        genes = informative_genes(base_mean)
        try:
            frac = variance_partition(vst[:, genes], obs, donor=donor_col, fixed=fixed)
        except MscseqError as exc:
            vp_block = {"skipped": str(exc)}
        else:
            frac.index = pd.Index(adata.var_names[genes].astype(str), name="gene_id")
            if "gene_name" in adata.var:
                frac.insert(
                    0, "gene_name", adata.var["gene_name"].iloc[genes].astype(str).to_numpy()
                )
            tables["variance_partition"] = frac
            vp_block = {
                "donor": donor_col,
                "fixed": fixed,
                "n_genes": len(genes),
                "method": "per-gene REML linear mixed model on VST: donor random intercept, other variables fixed",
                "fractions": summarize_partition(frac.drop(columns=["gene_name"], errors="ignore")),
            }
    else:
        caveats.append(CAVEAT_ONE_PER_DONOR)

    # 5. verdict
    outliers = [s for s in samples if bool(sim.at[s, "outlier"])]
    conc = sim["concordance"].dropna()
    metrics: dict[str, Any] = {
        "n_products": n,
        "n_informative_genes": n_informative,
        "n_outliers": len(outliers),
        "outliers": outliers,
        "group": spec.variable if spec else None,
        "margin": margin,
        "alpha": alpha,
        "contrasts": [
            {
                k: c.get(k)
                for k in (
                    "name",
                    "n_tested",
                    "n_equivalent",
                    "fraction_equivalent",
                    "n_tested_beyond",
                    "n_beyond_margin",
                    "fraction_beyond_margin",
                    "skipped",
                )
                if k in c
            }
            for c in eq_block
        ],
        "min_concordance": float(conc.min()) if len(conc) else None,
        "mad_z_threshold": MAD_Z,
        "outlier_min_ratio": MIN_RATIO,
        "thresholds": thresholds.to_dict(),
    }
    verdict, reasons = decide(metrics, thresholds)
    lib = np.asarray(adata.X).sum(axis=1)
    if np.median(lib) < LOW_DEPTH:
        caveats.append(
            f"low sequencing depth (median {np.median(lib):,.0f} counts per library): few genes are testable and "
            "equivalence is hard to show"
        )
    caveats.append(CAVEAT_RNA)

    products = []
    for s in samples:
        row = sim.loc[s]
        products.append(
            {
                "sample": s,
                "status": "outlier" if row["outlier"] else "consistent",
                "reasons": list(row["reasons"]),
                "flags": flags.get(s, []),
                **({"group": str(obs.at[s, spec.variable])} if spec else {}),
            }
        )
    prod_table = sim.drop(columns=["reasons", "outlier"]).copy()
    prod_table.insert(0, "status", ["outlier" if o else "consistent" for o in sim["outlier"]])
    prod_table.insert(1, "reasons", ["; ".join(r) for r in sim["reasons"]])
    prod_table.insert(2, "flags", ["; ".join(flags.get(s, [])) for s in samples])
    if spec:
        prod_table.insert(0, "group", [str(v) for v in labels])
    prod_table = prod_table.join(tables["panel_scores"].add_prefix("score_"))
    tables["products"] = prod_table

    block = {
        "verdict": verdict,
        "rule": rule_text(thresholds, margin=margin, alpha=alpha, mad_z=MAD_Z, min_ratio=MIN_RATIO),
        "reasons": reasons,
        "metrics": metrics,
        "products": products,
        "caveats": caveats,
        "similarity": {
            "genes_used": len(informative_genes(base_mean)),
            "median_correlation": {s: float(sim.at[s, "median_correlation"]) for s in samples},
            "centroid_distance": {s: float(sim.at[s, "centroid_distance"]) for s in samples},
            "z_correlation": {s: _num(sim.at[s, "z_correlation"]) for s in samples},
            "z_distance": {s: _num(sim.at[s, "z_distance"]) for s in samples},
            "concordance": {s: _num(sim.at[s, "concordance"]) for s in samples},
            "clusters": clusters,
        },
        "equivalence": eq_block,
        "permanova": perm_block,
        "permdisp": disp_block,
        "variance_partition": vp_block,
        "quality_range": qrange,
        "panels": panels_block,
        "settings": {
            "group": spec.variable if spec else None,
            "reference": spec.reference if spec else None,
            "levels": spec.sizes if spec else None,
            "margin": margin,
            "alpha": alpha,
            "permutations": permutations,
            "seed": seed,
            "engine": engine,
            "design": eq_design,
            "donor_column": donor_col,
            "panels": [str(p) for p in panels],
        },
    }
    block = to_jsonable(block)
    adata.uns["comparability"] = block
    adata.uns["comparability_tables"] = tables
    log.info("comparability verdict: %s", verdict)
    return block


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
