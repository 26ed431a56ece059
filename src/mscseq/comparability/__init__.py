"""Comparability: do the products share a transcriptomic profile, and where do they differ?

:func:`run_comparability` runs every step on an AnnData of products (after ``normalize``), writes the
``summary.json`` block to ``adata.uns["comparability"]`` (plain JSON) and the tables to
``adata.uns["comparability_tables"]``. The steps, each in its own module:

- the protocol (:mod:`~mscseq.comparability.protocol`): margins, tiers, thresholds, written in advance;
- the fixed gene sets (:mod:`~mscseq.comparability.genesets`): chosen without group labels;
- Tier 1 (:mod:`~mscseq.comparability.tier1`): equivalence tests of the critical quality attributes;
- Tier 2 (:mod:`~mscseq.comparability.tier2`): the fraction of genes beyond the gene margin;
- each product against its peers (:mod:`~mscseq.comparability.deviation`);
- the single-group question (:mod:`~mscseq.comparability.single`);
- confounders (:mod:`~mscseq.comparability.confounders`, :mod:`~mscseq.comparability.sex`);
- the rule (:mod:`~mscseq.comparability.rule`);
- descriptive Tier 3, never in the rule: similarity, PERMANOVA/PERMDISP, variance partition.

The block's structure is documented in ``docs/comparability.md``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mscseq.checks import informative_genes_mask
from mscseq.comparability import panels, rule
from mscseq.comparability import permanova as permutation_tests
from mscseq.comparability.groups import GroupSpec, group_spec, sheet_column
from mscseq.comparability.similarity import (
    MAD_Z,
    informative_genes,
    product_similarity,
    two_clusters,
)
from mscseq.comparability.variance import (
    find_donor_column,
    summarize_partition,
    variance_partition,
)
from mscseq.errors import MscseqError
from mscseq.options import ComparabilityOptions, with_changes

log = logging.getLogger(__name__)

#: Default seed of the permutation tests and bootstraps (:attr:`ComparabilityOptions.seed`).
DEFAULT_SEED = ComparabilityOptions.seed
#: Libraries below this median size are called "low depth" in the caveats.
LOW_DEPTH = 1_000_000
#: Tier 2 needs at least this many genes in its fixed set (fractions of fewer genes are too coarse).
MIN_TIER2_GENES = 100

CAVEAT_RNA = (
    "RNA cannot reproduce flow-cytometry release criteria (ISCT: ≥ 95 % of cells CD73+/CD90+/CD105+, ≤ 2 % "
    "CD45/CD34/CD14 or CD11b/CD79a or CD19/HLA-DR); the marker panels are transcript levels of the whole "
    "product, hints to follow up, not release results"
)
CAVEAT_PERMANOVA = (
    "PERMANOVA and PERMDISP are descriptive: a non-significant PERMANOVA is never evidence of sameness, and "
    "neither enters the verdict"
)
CAVEAT_ONE_PER_DONOR = (
    "one product per donor: donor-to-donor variation and technical noise cannot be separated; similarity "
    "measures both together"
)

__all__ = ["DEFAULT_SEED", "ComparabilityOptions", "run_comparability"]


def _check_options(options: ComparabilityOptions) -> None:
    margin, permutations = options.margin, options.permutations
    if margin is not None and (not np.isfinite(margin) or margin <= 0):
        msg = f"--margin {margin}: the gene margin is a positive log2 fold change, e.g. 1.0 (two-fold)"
        raise MscseqError(msg)
    if permutations < 0:
        msg = f"--permutations {permutations}: must be 0 or more"
        raise MscseqError(msg)


def _ensure_analysed(adata, *, explore: bool = True) -> None:
    if "vst" not in adata.layers:
        from mscseq.normalize import normalize

        normalize(adata)
    if not explore:
        return
    linkage = np.asarray(adata.uns.get("clustering", {}).get("linkage", np.zeros((0, 4))))
    stale = len(linkage) != max(adata.n_obs - 1, 0) or "pearson" not in adata.obsp
    if adata.n_obs >= 2 and ("X_pca" not in adata.obsm or stale):
        from mscseq.explore import explore as run_explore

        run_explore(adata)


@dataclass
class _Products:
    """What the steps read: the products' data, labels, gene sets, and what the steps collect."""

    samples: list[str]
    obs: pd.DataFrame
    counts: np.ndarray
    vst: np.ndarray
    norm: np.ndarray
    base_mean: np.ndarray
    informative: (
        np.ndarray
    )  # indices of the descriptive steps' genes (similarity.informative_genes)
    n_informative: int  # checks.informative_genes_mask
    spec: GroupSpec | None
    labels: np.ndarray | None
    donor_col: str | None
    gene_ids: list[str]
    gene_names: list[str]
    batch: np.ndarray | None
    pair: np.ndarray | None
    tier2_genes: np.ndarray
    spread_genes: np.ndarray
    reference_declared: bool
    pair_column: str | None = None
    batch_column: str | None = None
    margins_from_reference: dict[str, float] | None = None
    score_genes: dict[str, int] = field(default_factory=dict)
    score_gene_idx: dict[str, np.ndarray] = field(default_factory=dict)
    size_factors: np.ndarray | None = None
    # products.technical_dispersion of the replicate libraries (with --product)
    technical: dict[str, Any] | None = None
    # without --product: the column whose shared values look like one product's replicate libraries
    replicate_column: str | None = None
    deviation: pd.DataFrame | None = None
    matched: pd.DataFrame | None = None
    marker_flags: dict[str, list[str]] = field(default_factory=dict)
    flags: dict[str, list[str]] = field(default_factory=dict)
    sex: pd.DataFrame | None = None
    caveats: list[str] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)


def run_comparability(
    adata, options: ComparabilityOptions | None = None, **changes: Any
) -> dict[str, Any]:
    """Run every comparability step and decide the verdicts (per product and for the set).

    Parameters
    ----------
    adata
        AnnData of *products* (libraries already summed by ``--product``) with raw counts in ``X`` and the
        sheet in ``obs`` (normalised here if needed).
    options
        Group, reference, batch, pair, protocol, panels, permutations, seed
        (:class:`~mscseq.options.ComparabilityOptions`; default: its defaults).
    **changes
        Fields of :class:`~mscseq.options.ComparabilityOptions` to change, e.g.
        ``run_comparability(adata, group="cohort", protocol="protocol.yaml")``.

    Returns
    -------
    dict
        The ``comparability`` block (plain JSON), also stored in ``adata.uns["comparability"]``; its
        structure is documented in ``docs/comparability.md``.

    """
    from mscseq.outputs import to_jsonable

    options = with_changes(options, ComparabilityOptions, changes)
    _check_options(options)
    protocol, record = _protocol(options)
    _ensure_analysed(adata, explore=options.descriptive)
    data = _products(adata, options, protocol)
    _replicate_caveat(adata, data, options)
    scores = _tier1_scores(adata, data, protocol, options)
    products = _product_statuses(data, scores, protocol)
    confounders = _confounders(data)
    if data.labels is not None:
        comparisons = _comparisons(data, scores, protocol, products, options)
        outcome = rule.set_verdict([(c["verdict"], c["reasons"]) for c in comparisons], products)
        single = None
    else:
        comparisons = []
        single = _single_group(data, scores, protocol, options)
        outcome = rule.single_group_verdict(single, products)
    verdict, reasons = outcome
    sensitivity = _sensitivity(data, scores, protocol, products, options)
    block: dict[str, Any] = {
        "verdict": verdict,
        "question": "groups" if data.labels is not None else "single_group",
        "reasons": reasons,
        "rule": rule.rule_text(protocol),
        "protocol": record,
        "comparisons": comparisons,
        "single_group": single,
        "products": products,
        "sensitivity": sensitivity,
        "confounders": confounders,
        "settle": _settle(comparisons, single, products, protocol, data),
    }
    descriptive = _descriptive(adata, data, options) if options.descriptive else {}
    panels_block, quality_range = _panels(adata, data, options)
    _depth_and_rna_caveats(adata, data)
    for p in products:
        p["flags"] = data.flags.get(p["product"], [])
        if data.sex is not None:
            p["sex"] = str(data.sex.at[p["product"], "sex"])
    data.tables["products"] = _products_table(data, products, descriptive.get("similarity_frame"))
    block.update(
        {
            "caveats": data.caveats,
            "descriptive": {k: v for k, v in descriptive.items() if k != "similarity_frame"},
            "panels": panels_block,
            "quality_range": quality_range,
            "settings": _settings(data, options, protocol),
        }
    )
    block = to_jsonable(block)
    adata.uns["comparability"] = block
    adata.uns["comparability_tables"] = data.tables
    log.info("comparability verdict: %s", verdict)
    return block


def _protocol(options: ComparabilityOptions) -> tuple[Any, dict[str, Any]]:
    """The protocol (file or defaults) with the command line's overrides applied, and its record."""
    from mscseq.comparability.protocol import load_protocol

    protocol, record = load_protocol(options.protocol)
    overrides: dict[str, Any] = {}
    if options.margin is not None:
        protocol = dataclasses.replace(
            protocol, tier2=dataclasses.replace(protocol.tier2, gene_margin=float(options.margin))
        )
        overrides["tier2.gene_margin"] = float(options.margin)
    if options.reference is not None:
        protocol = dataclasses.replace(protocol, reference=options.reference)
        overrides["reference"] = options.reference
    record = {**record, "protocol": protocol.to_dict(), "overrides": overrides}
    return protocol, record


def _products(adata, options: ComparabilityOptions, protocol: Any) -> _Products:
    """The products' data, the validated group, batch and pair columns, and the fixed gene sets."""
    from mscseq.comparability import genesets

    obs = adata.obs
    norm = np.asarray(adata.layers["normalized"], dtype=np.float64)
    base_mean = norm.mean(axis=0)
    reference = options.reference if options.reference is not None else protocol.reference
    spec = group_spec(obs, options.group, reference) if options.group else None
    donor_col = options.donor if options.donor else find_donor_column(obs.columns)
    if options.donor and options.donor not in obs.columns:
        msg = f"donor column {options.donor!r}: not in the sample sheet"
        raise MscseqError(msg)
    gene_ids = [str(g) for g in adata.var_names]
    gene_names = (
        adata.var["gene_name"].astype(str).tolist()
        if "gene_name" in adata.var
        else [""] * adata.n_vars
    )
    t2 = protocol.tier2
    tier2_idx = genesets.tier2_genes(
        norm,
        gene_ids,
        gene_names,
        min_mean=t2.min_mean,
        gene_list=genesets.read_gene_list(t2.gene_list) if t2.gene_list else None,
        exclude=t2.exclude,
    )
    spread_idx = genesets.spread_genes(
        norm, gene_ids, gene_names, min_mean=protocol.single_group.spread_min_mean
    )
    return _Products(
        samples=[str(s) for s in adata.obs_names],
        obs=obs,
        counts=np.asarray(adata.X, dtype=np.float64),
        vst=np.asarray(adata.layers["vst"], dtype=np.float64),
        norm=norm,
        base_mean=base_mean,
        informative=informative_genes(base_mean),
        n_informative=int(informative_genes_mask(norm).sum()),
        spec=spec,
        labels=obs[options.group].astype(str).to_numpy() if spec else None,
        donor_col=donor_col,
        gene_ids=gene_ids,
        gene_names=gene_names,
        batch=_column(obs, options.batch, "--batch"),
        pair=_column(obs, options.pair, "--pair"),
        pair_column=options.pair,
        batch_column=options.batch,
        tier2_genes=tier2_idx,
        spread_genes=spread_idx,
        reference_declared=reference is not None,
        size_factors=np.asarray(obs["size_factor"], dtype=np.float64)
        if "size_factor" in obs
        else None,
        technical=(adata.uns.get("products") or {}).get("technical"),
    )


def _column(obs: pd.DataFrame, column: str | None, option: str) -> np.ndarray | None:
    return None if column is None else sheet_column(obs, column, option).to_numpy()


def _tier1_scores(
    adata, data: _Products, protocol: Any, options: ComparabilityOptions
) -> pd.DataFrame:
    """Tier-1 panel scores of every product (panel genes expressed at rest, fixed without labels)."""
    from mscseq.comparability import tier1

    panel_df = panels.load_panels(options.panels)
    matched = panels.match_genes(panel_df, data.gene_ids, data.gene_names)
    data.matched = matched
    data.marker_flags = panels.marker_flags(data.norm, matched, data.samples)
    genes = tier1.score_genes(matched, data.norm, min_mean=protocol.tier1.min_mean)
    scores = tier1.scores(data.vst, genes)
    scores.index = pd.Index(data.samples, name="sample")
    data.score_genes = {k: len(v) for k, v in genes.items()}
    data.score_gene_idx = dict(genes)
    data.tables["panel_scores"] = scores
    return scores


def _product_statuses(data: _Products, scores: pd.DataFrame, protocol: Any) -> list[dict[str, Any]]:
    """Each product's status: conforming, deviating or not_assessable.

    With ``data.replicate_column`` (a sheet column whose shared values look like replicate libraries of
    one product, no ``--product`` given) every product is ``not_assessable``: the screen's peers would
    hold a library's own sibling libraries, and its limits assume independent products (in the simulation
    study clean products were then called deviating in 2 % of cases at 20 products per group). The
    statistics are still given, with a note naming ``--product``.

    Deviating = the leave-one-out PCA screen (T² and Q against its peers, Holm-adjusted) is significant
    **and** the deviation is material at the protocol's margins: more than f₀ of the Tier-2 genes beyond
    the gene margin from the peers' mean (over the peers' own typical fraction), or a Tier-1 score beyond
    its margin from the peers' mean. A significant but immaterial deviation (an unusual donor within the
    margins) stays ``conforming`` and is noted.
    """
    from mscseq.comparability.deviation import _peer_sets, product_deviation

    idx = data.tier2_genes
    y = data.vst[:, idx]
    groups = None if data.labels is None else list(data.labels)
    frame = product_deviation(
        y,
        data.samples,
        groups=groups,
        min_peers=protocol.products.min_peers,
        alpha=protocol.products.alpha,
        gene_names=[data.gene_names[i] or data.gene_ids[i] for i in idx],
        scores=scores,
    )
    data.deviation = frame
    peer_sets, _ = _peer_sets(
        len(data.samples),
        None if groups is None else np.asarray(groups),
        protocol.products.min_peers,
    )
    margins = _margins(data, protocol)
    replicates = data.replicate_column
    out = []
    for i, s in enumerate(data.samples):
        row = frame.loc[s]
        record = {
            "product": s,
            **({"group": str(data.obs.at[s, data.spec.variable])} if data.spec else {}),
            "status": str(row["status"]),
            "n_peers": int(row["n_peers"]),
            "peers": row.get("peers"),
            "p_value": _num(row.get("p_value")),
            "p_adjusted": _num(row.get("p_adjusted")),
            "t2": _num(row.get("t2")),
            "q": _num(row.get("q")),
            "drivers": _split_list(row.get("drivers"), ","),
            "panel_drivers": _split_list(row.get("panel_drivers"), ";"),
        }
        if replicates is not None and record["status"] != "not_assessable":
            record["status"] = "not_assessable"
            record["note"] = (
                f"{rule.NOT_SCREENED}libraries sharing a value of {replicates!r} look like replicates of "
                f"one product, so this library's peers include its own; rerun with --product {replicates}"
            )
        elif record["status"] == "deviating" and peer_sets[i] is not None:
            material = _materiality(
                y, scores, i, peer_sets[i], margins, protocol, data.marker_flags.get(s, [])
            )
            record["materiality"] = material
            if not material["material"]:
                record["status"] = "conforming"
                record["note"] = (
                    "significant in the screen but within the margins (not material): "
                    + material["note"]
                )
        out.append(record)
    return out


def _materiality(
    y: np.ndarray,
    scores: pd.DataFrame,
    i: int,
    peers: np.ndarray,
    margins: dict[str, float],
    protocol: Any,
    identity_flags: Sequence[str] = (),
) -> dict[str, Any]:
    """Is product ``i``'s deviation from its peers material at the protocol's margins?

    Material: more than f₀ of the Tier-2 genes beyond the gene margin from the peers' mean (over the
    peers' own typical fraction), a Tier-1 score beyond its margin from the peers' mean, or an identity
    marker flag (a negative ISCT marker expressed: carry-over; a positive marker missing).
    """
    m, f0 = protocol.tier2.gene_margin, protocol.tier2.f0
    centre = y[peers].mean(axis=0)
    fraction = float(np.mean(np.abs(y[i] - centre) > m)) if y.shape[1] else 0.0
    chance = _peer_fraction_beyond(y[peers], m)
    beyond = []
    for panel in scores.columns:
        values = scores[panel].to_numpy(dtype=float)
        diff = values[i] - float(np.mean(values[peers]))
        if np.isfinite(diff) and abs(diff) > margins.get(panel, protocol.tier1.default_margin):
            beyond.append(f"{panel} {diff:+.2f} log2")
    identity = list(identity_flags)
    material = fraction - chance > f0 or bool(beyond) or bool(identity)
    note = (
        f"{100 * fraction:.2g} % of the Tier-2 genes beyond ±{m:g} log2 from the peers' mean (peers "
        f"{100 * chance:.2g} %, f0 {100 * f0:g} %)"
        + (f"; panel scores beyond their margins: {', '.join(beyond)}" if beyond else "")
        + (f"; identity markers: {'; '.join(identity)}" if identity else "")
    )
    return {
        "material": bool(material),
        "fraction_beyond": fraction,
        "peer_fraction_beyond": chance,
        "panels_beyond": beyond,
        "note": note,
    }


def _peer_fraction_beyond(peers: np.ndarray, margin: float) -> float:
    """The median fraction of genes a peer has beyond ``margin`` from the mean of the *other* peers.

    The level a conforming product reaches by chance, measured as the product itself is: each peer against
    a centre it is not part of. Against the mean of all peers, itself included, a peer's distance shrinks
    by a factor 1 - 1/n and the level comes out too low (simulation study, equivalent groups of 10, clean
    products flagged by the screen: median 1.0 % with the self-inclusive centre, 1.7 % with this one).
    """
    n = peers.shape[0]
    if n < 2 or not peers.shape[1]:
        return 0.0
    others = (peers.sum(axis=0) - peers) / (n - 1)  # row j: the mean of the peers other than j
    return float(np.median(np.mean(np.abs(peers - others) > margin, axis=1)))


def _split_list(v: Any, sep: str = ";") -> list[str]:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return []
    if isinstance(v, list | tuple):
        return [str(x) for x in v]
    return [x.strip() for x in str(v).split(sep) if x.strip()]


def _confounders(data: _Products) -> dict[str, Any]:
    """Batch aliasing, depth balance, inferred sex and its balance, pairing."""
    from mscseq.comparability import confounders
    from mscseq.comparability.sex import infer_sex

    sex = infer_sex(data.norm, data.gene_ids, data.gene_names, data.samples)
    data.sex = sex
    out: dict[str, Any] = {
        "batch": confounders.batch_status(data.labels, data.batch, column=data.batch_column)
        if data.labels is not None and data.batch is not None
        else None,
        "depth": confounders.depth_balance(data.counts.sum(axis=1), data.labels)
        if data.labels is not None
        else None,
        "sex": {
            "calls": {s: str(sex.at[s, "sex"]) for s in data.samples},
            **(confounders.sex_balance(sex["sex"], data.labels) if data.labels is not None else {}),
            "handled": "sex-linked genes (XIST, chrY genes and their X gametologs) are excluded from Tier 2, "
            "the product screen and the single-group tests",
        },
        "pair": None,
    }
    if data.pair is not None:
        out["pair"] = {"column": data.pair_column, "n_pairs": len(set(data.pair))}
    return out


def _pairs(data: _Products) -> list[tuple[str, str]]:
    """The comparisons: each level against the declared reference, or every pair of levels without one."""
    spec = data.spec
    assert spec is not None
    levels = sorted(spec.sizes)
    if data.reference_declared or len(levels) == 2:
        return [(t, spec.reference) for t in spec.targets]
    return [(b, a) for i, a in enumerate(levels) for b in levels[i + 1 :]]


def _comparisons(
    data: _Products,
    scores: pd.DataFrame,
    protocol: Any,
    products: list[dict[str, Any]],
    options: ComparabilityOptions,
    *,
    keep: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Tier 1 and Tier 2 of every comparison, and its verdict."""
    from mscseq.comparability import tier1, tier2
    from mscseq.comparability.confounders import batch_status

    assert data.labels is not None
    keep = np.ones(len(data.samples), dtype=bool) if keep is None else keep
    margins = _margins(data, protocol)
    out = []
    for target, reference in _pairs(data):
        mask = keep & np.isin(data.labels, [target, reference])
        labels = data.labels[mask]
        pair = data.pair[mask] if data.pair is not None else None
        batch = data.batch[mask] if data.batch is not None else None
        batch_check = (
            batch_status(
                labels, batch, column=data.batch_column, target=target, reference=reference
            )
            if batch is not None
            else None
        )
        aliased = batch_check is not None and batch_check.get("status") == "aliased"
        t1 = tier1.tier1(
            scores[mask],
            labels,
            target,
            reference,
            margins=margins,
            alpha=protocol.alpha,
            pair=pair,
            batch=batch,
            required=protocol.tier1.required,
            power=protocol.power,
            n_genes=data.score_genes,
        )
        idx = data.tier2_genes
        if len(idx) < MIN_TIER2_GENES:
            t2 = {
                "result": "not_estimable",
                "n_genes": len(idx),
                "margin": protocol.tier2.gene_margin,
                "f0": protocol.tier2.f0,
                "note": f"only {len(idx)} genes pass the expression floor (at least {MIN_TIER2_GENES} needed)",
            }
        else:
            y = data.vst[np.ix_(mask, idx)]
            t2 = tier2.tier2(
                y,
                labels,
                target,
                reference,
                margin=protocol.tier2.gene_margin,
                f0=protocol.tier2.f0,
                alpha=protocol.alpha,
                pair=pair,
                batch=batch,
                seed=options.seed,
                power=protocol.power,
                lower_bound=protocol.tier2.lower_bound,
            )
            if keep.all() and not aliased:
                table = tier2.gene_table(
                    y,
                    labels,
                    target,
                    reference,
                    margin=protocol.tier2.gene_margin,
                    alpha=protocol.alpha,
                    pair=pair,
                    batch=batch,
                    gene_ids=np.asarray([data.gene_ids[i] for i in idx], dtype=object),
                    gene_names=np.asarray([data.gene_names[i] for i in idx], dtype=object),
                )
                if len(table):  # empty when the group difference is not estimable (1 vs 1)
                    data.tables.setdefault("tier2_genes", {})[f"{target}_vs_{reference}"] = table
        members = set(np.asarray(data.samples)[mask])
        verdict, reasons = rule.comparison_verdict(
            t1, t2, [p for p in products if p["product"] in members], batch=batch_check
        )
        # products per group for both tiers to pass: unknown (None) when an open tier needs more than 200
        open_tiers = [
            tier for tier in (t1, t2) if tier.get("result") in {"inconclusive", "not_estimable"}
        ]
        needed = [tier.get("n_needed") for tier in open_tiers]
        needed = [] if any(x is None for x in needed) else needed
        out.append(
            {
                "name": f"{target}_vs_{reference}",
                "target": target,
                "reference": reference,
                "n_target": int((labels == target).sum()),
                "n_reference": int((labels == reference).sum()),
                "verdict": verdict,
                "reasons": reasons,
                "tier1": t1,
                "tier2": t2,
                "batch": batch_check,
                "n_needed": max(needed) if needed and verdict == "inconclusive" else None,
            }
        )
    if keep.all():
        data.tables["tier1"] = _plain_frame(
            [
                {"comparison": c["name"], **{k: v for k, v in a.items() if k != "method"}}
                for c in out
                for a in c["tier1"].get("attributes", [])
            ]
        )
    return out


def _plain_frame(rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """A table whose columns are numbers (``None`` → NaN) or strings (``None`` → ""), as h5ad stores them."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    for col in frame.columns:
        values = [v for v in frame[col] if v is not None]
        numeric = all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values
        )
        if numeric:
            frame[col] = pd.to_numeric(frame[col].astype(object).where(frame[col].notna(), np.nan))
        elif frame[col].dtype == object:
            frame[col] = ["" if v is None else str(v) for v in frame[col]]
    return frame


def _margins(data: _Products, protocol: Any) -> dict[str, float]:
    """Panel → Tier-1 margin (log2) of every panel loaded, scored or not.

    The protocol's margins; with ``variability_margins.enabled``, ``k·σ_R`` from the reference products'
    scores, clamped to the protocol's floor and cap; σ_R is biological: the score's technical SD
    (:func:`_score_technical_sd`: counting noise, and the replicate libraries' dispersion when products
    have several) is removed first.
    """
    from mscseq.comparability.protocol import variability_margin

    assert data.matched is not None
    margins = {str(p): protocol.margin_for(str(p)) for p in data.matched["panel"].drop_duplicates()}
    vm = protocol.variability_margins
    if not vm.enabled:
        return margins
    if data.labels is None or data.spec is None:
        msg = "protocol variability_margins.enabled needs --group and a reference level"
        raise MscseqError(msg)
    scores = data.tables["panel_scores"]
    is_ref = data.labels == data.spec.reference
    for panel in margins:
        if panel in scores.columns:
            values = scores[panel].to_numpy()[is_ref]
            margins[panel] = variability_margin(
                float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"),
                _score_technical_sd(data, panel, is_ref),
                int(is_ref.sum()),
                k=vm.k,
                floor=vm.floor,
                cap=vm.cap,
                min_reference=vm.min_reference,
            )
    data.margins_from_reference = {p: margins[p] for p in margins if p in scores.columns}
    return margins


def _score_technical_sd(data: _Products, panel: str, rows: np.ndarray) -> float:
    """Technical SD (log2) of a panel score over the products ``rows``.

    A score is the mean of m genes' log2 expression; technical noise is independent between genes, so its
    variance is ``(1/m²) Σ_g mean_i (1 / (μ_g s_i) + α_g w_i) / ln²2``: counting noise of gene g's mean
    normalised count μ_g at size factor s_i, plus the library-to-library dispersion α_g of technical
    replicate libraries with the product's weight w_i (:func:`mscseq.products.technical_dispersion`;
    0 without replicates). On the log2 scale, which the VST approaches at the scored counts (≥ 50).
    """
    idx = np.asarray(data.score_gene_idx.get(panel, ()), dtype=np.int64)
    if not len(idx) or not rows.any():
        return 0.0
    mu = data.norm[np.ix_(rows, idx)].mean(axis=0)
    sf = np.ones(int(rows.sum())) if data.size_factors is None else data.size_factors[rows]
    var = np.mean(1.0 / sf) / np.maximum(mu, 1e-12)
    if data.technical:
        var = var + np.asarray(data.technical["alpha"])[idx] * float(
            np.mean(np.asarray(data.technical["weights"])[rows])
        )
    return float(np.sqrt(var.sum() / len(idx) ** 2) / np.log(2.0))


def _single_group(
    data: _Products,
    scores: pd.DataFrame,
    protocol: Any,
    options: ComparabilityOptions,
    *,
    keep: np.ndarray | None = None,
) -> dict[str, Any]:
    """The single-group question: a material two-way split, and the between-product spread against τ."""
    from mscseq.comparability.single import single_group

    keep = np.ones(len(data.samples), dtype=bool) if keep is None else keep
    sg = protocol.single_group
    result = single_group(
        data.vst[keep],
        split_genes=data.tier2_genes,
        spread_genes=data.spread_genes,
        norm=data.norm[keep],
        scores=scores[keep],
        margins={p: m for p, m in _margins(data, protocol).items() if p in scores.columns},
        gene_margin=protocol.tier2.gene_margin,
        f0=protocol.tier2.f0,
        tau=sg.tau,
        alpha=protocol.alpha,
        split_alpha=sg.split_alpha,
        score_tau={p: protocol.score_tau_for(p) for p in scores.columns},
        score_technical_sd={p: _score_technical_sd(data, p, keep) for p in scores.columns},
        seed=options.seed,
        size_factors=None if data.size_factors is None else data.size_factors[keep],
        score_genes=data.score_gene_idx,
        samples=list(np.asarray(data.samples)[keep]),
        technical=_technical(data.technical, keep),
    )
    return result


def _technical(technical: dict[str, Any] | None, keep: np.ndarray) -> dict[str, Any] | None:
    """The replicate libraries' technical dispersion for the kept products (None without replicates)."""
    if not technical:
        return None
    return technical | {"weights": np.asarray(technical["weights"], dtype=np.float64)[keep]}


def _sensitivity(
    data: _Products,
    scores: pd.DataFrame,
    protocol: Any,
    products: list[dict[str, Any]],
    options: ComparabilityOptions,
) -> dict[str, Any] | None:
    """With deviating products set aside: a labelled sensitivity analysis, never the verdict."""
    deviating = [p["product"] for p in products if p["status"] == "deviating"]
    if not deviating:
        return None
    keep = ~np.isin(np.asarray(data.samples), deviating)
    rest = [p for p in products if p["product"] not in deviating]
    note = (
        "sensitivity analysis only: the verdict above uses every product; this repeats the tiers with the "
        "deviating product(s) set aside (their peers' statuses are not re-screened)"
    )
    try:
        if data.labels is not None:
            levels_left = set(data.labels[keep])
            if any(level not in levels_left for level in data.spec.sizes):
                return {
                    "excluded": deviating,
                    "verdict": None,
                    "note": "a level has no product left",
                }
            comps = _comparisons(data, scores, protocol, rest, options, keep=keep)
            verdict, reasons = rule.set_verdict([(c["verdict"], c["reasons"]) for c in comps], rest)
            return {
                "excluded": deviating,
                "verdict": verdict,
                "reasons": reasons,
                "comparisons": comps,
                "note": note,
            }
        single = _single_group(data, scores, protocol, options, keep=keep)
        verdict, reasons = rule.single_group_verdict(single, rest)
        return {
            "excluded": deviating,
            "verdict": verdict,
            "reasons": reasons,
            "single_group": single,
            "note": note,
        }
    except MscseqError as exc:
        return {"excluded": deviating, "verdict": None, "note": str(exc)}


def _not_estimable(comparison: dict[str, Any]) -> list[str]:
    """Why parts of a comparison could not be estimated (Tier-2 note or method, Tier-1 panel methods)."""
    causes = []
    t2 = comparison.get("tier2") or {}
    if t2.get("result") == "not_estimable":
        causes.append(f"Tier 2 ({t2.get('note') or t2.get('method') or 'not estimable'})")
    t1 = comparison.get("tier1") or {}
    if t1.get("result") == "not_estimable":
        by_cause: dict[str, list[str]] = {}
        for a in t1.get("attributes") or []:
            if a.get("result") == "not_estimable":
                by_cause.setdefault(str(a.get("method")), []).append(str(a.get("panel")))
        causes += [f"Tier 1 {', '.join(panels)} ({why})" for why, panels in by_cause.items()]
    return causes


def _settle(
    comparisons: list[dict[str, Any]],
    single: dict[str, Any] | None,
    products: list[dict[str, Any]],
    protocol: Any,
    data: _Products,
) -> list[str]:
    """What would settle an inconclusive answer, from the fitted variability."""
    out = []
    power = f"{100 * protocol.power:g} %"
    for c in comparisons:
        if c["verdict"] != "inconclusive":
            continue
        if c.get("batch") and c["batch"].get("status") == "aliased":
            out.append(f"{c['name']}: sequence bridging products of both levels in the same batch")
        n = c.get("n_needed")
        causes = _not_estimable(c)
        if causes:  # more products of the same kind would not necessarily settle these
            out.append(f"{c['name']}: not estimable here: " + "; ".join(causes))
        if n is not None:
            unit = "pairs" if data.pair is not None else "products per group"
            out.append(
                f"{c['name']}: about {n} {unit} would give {power} power to show comparability at these "
                f"margins if nothing truly differs (from the fitted variability)"
            )
        elif not causes and (
            c.get("tier1", {}).get("result") != "pass" or c.get("tier2", {}).get("result") != "pass"
        ):
            out.append(
                f"{c['name']}: more than 200 products per group, or less variable products, would be needed"
            )
    unassessed = [p for p in products if p["status"] == "not_assessable"]
    if data.replicate_column is not None:
        out.append(f"rerun with --product {data.replicate_column} so that n counts products")
    elif unassessed:
        out.append(
            f"screening each product needs at least {protocol.products.min_peers} peers (at least "
            f"{protocol.products.min_peers + 1} products in a group, or in all)"
        )
    if single is not None:
        spread = single.get("spread") or {}
        if spread.get("result") not in {"pass", "fail"} and spread.get("n_needed"):
            out.append(f"about {spread['n_needed']} products would bound the spread below τ")
    return out


def _descriptive(adata, data: _Products, options: ComparabilityOptions) -> dict[str, Any]:
    """Tier 3, never in the rule: similarity, clusters, PERMANOVA/PERMDISP, variance partition."""
    similarity, clusters = _similarity(adata, data, options)
    permanova_block, permdisp_block = _permutation_tests(data, options)
    return {
        "similarity": _similarity_block(data, similarity, clusters),
        "similarity_frame": similarity,
        "permanova": permanova_block,
        "permdisp": permdisp_block,
        "variance_partition": _variance_partition(adata, data, options),
    }


def _similarity(adata, data: _Products, options: ComparabilityOptions) -> tuple[pd.DataFrame, Any]:
    """Descriptive: product similarity (correlation, distance to the centroid) and the two-cluster split."""
    n = len(data.samples)
    similarity = product_similarity(
        data.vst,
        np.asarray(adata.obsm["X_pca"]) if "X_pca" in adata.obsm else np.zeros((n, 1)),
        data.base_mean,
        data.samples,
        groups=None if data.labels is None else list(data.labels),
        margin=options.margin if options.margin is not None else 1.0,
        threshold=MAD_Z,
    )
    clustering = adata.uns.get("clustering", {})
    pearson = np.asarray(adata.obsp["pearson"]) if "pearson" in adata.obsp else np.ones((n, n))
    clusters = two_clusters(
        np.asarray(clustering.get("linkage", np.zeros((0, 4)))),
        1.0 - pearson,
        None if data.labels is None else list(data.labels),
    )
    return similarity, clusters


def _panels(
    adata, data: _Products, options: ComparabilityOptions
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Panels: genes found and scored, marker and score flags, the reference group's quality range."""
    matched = data.matched
    scores = data.tables["panel_scores"].reset_index(drop=True)
    flags: dict[str, list[str]] = {}
    for found in (data.marker_flags, panels.score_flags(scores, data.samples)):
        for s, msgs in found.items():
            flags.setdefault(s, []).extend(msgs)
    quality = None
    if data.spec is not None:
        is_reference = np.asarray(data.labels) == data.spec.reference
        quality = panels.quality_range(data.vst, matched, is_reference, data.samples)
    data.flags = flags
    block = {
        "panels": [
            {
                "panel": name,
                "n_genes": len(rows),
                "n_found": int((rows["index"] >= 0).sum()),
                "n_scored": data.score_genes.get(name, 0),
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


def _replicate_caveat(adata, data: _Products, options: ComparabilityOptions) -> None:
    """Without ``--product``: say so when libraries sharing a sheet value look like one product's replicates.

    The column they look like replicates by goes to ``data.replicate_column``: the product screen then
    cannot be trusted (a library's peers hold its own sibling libraries) and every product is left
    ``not_assessable`` (:func:`_product_statuses`).
    """
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
        data.replicate_column = findings[0].column


def _depth_and_rna_caveats(adata, data: _Products) -> None:
    library_sizes = np.asarray(adata.X).sum(axis=1)
    if np.median(library_sizes) < LOW_DEPTH:
        data.caveats.append(
            f"low sequencing depth (median {np.median(library_sizes):,.0f} counts per library): few genes are "
            "testable and equivalence is hard to show"
        )
    data.caveats.append(CAVEAT_RNA)


def _products_table(
    data: _Products, products: list[dict[str, Any]], similarity: pd.DataFrame | None
) -> pd.DataFrame:
    """``tables/products.tsv``: status, p-values, drivers, inferred sex, scores (and similarity) per product."""
    table = pd.DataFrame(
        {
            "status": [p["status"] for p in products],
            "n_peers": [p["n_peers"] for p in products],
            "p_value": [p["p_value"] for p in products],
            "p_adjusted": [p["p_adjusted"] for p in products],
            "t2": [p["t2"] for p in products],
            "q": [p["q"] for p in products],
            "drivers": ["; ".join(p["drivers"]) for p in products],
            "panel_drivers": ["; ".join(p["panel_drivers"]) for p in products],
            "flags": ["; ".join(data.flags.get(s, [])) for s in data.samples],
        },
        index=pd.Index(data.samples, name="sample"),
    )
    if data.spec:
        table.insert(0, "group", [str(v) for v in data.labels])
    if data.sex is not None:
        table["sex"] = data.sex["sex"].reindex(table.index).astype(str).to_numpy()
    table = table.join(data.tables["panel_scores"].add_prefix("score_"))
    if similarity is not None:
        keep = [
            c for c in ("median_correlation", "centroid_distance", "concordance") if c in similarity
        ]
        table = table.join(similarity[keep])
    return _plain_frame(table)


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
        "note": "descriptive only (Tier 3): the product screen is the leave-one-out PCA test",
    }


def _settings(data: _Products, options: ComparabilityOptions, protocol: Any) -> dict[str, Any]:
    spec = data.spec
    return {
        "group": spec.variable if spec else None,
        "reference": spec.reference if spec else None,
        "reference_declared": data.reference_declared,
        "levels": spec.sizes if spec else None,
        "batch": options.batch,
        "pair": options.pair,
        "gene_margin": protocol.tier2.gene_margin,
        "alpha": protocol.alpha,
        "permutations": options.permutations,
        "seed": options.seed,
        "donor_column": data.donor_col,
        "panels": [str(p) for p in options.panels],
        "n_tier2_genes": len(data.tier2_genes),
        "n_spread_genes": len(data.spread_genes),
        "n_informative_genes": data.n_informative,
        "margins_from_reference": data.margins_from_reference,
    }


def _num(v: object) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
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
