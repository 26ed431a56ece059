"""Verdict functions: how a simulated study is judged.

A rule is any callable ``rule(adata, cell, seed) -> Outcome-like dict`` with keys ``verdict``
(``comparable``, ``not_comparable`` or ``inconclusive``), ``products`` (product → ``conforming``,
``deviating`` or ``not assessable``) and ``replicate_caveat`` (bool). The runner takes it as a
parameter (``--rule module:function``) so the tiered rule of issue 13 drops in unchanged.

The AnnData's ``obs`` has ``product`` (always), ``group`` (two groups), ``batch`` (batch scenarios) and
``donor`` (paired scenarios); ``cell.spec`` says which apply, so a rule chooses its options (``--product``
when ``cell.spec.libraries > 1``, ``--batch``, ``--pair``) as a user of that study would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simstudy.scenarios import Cell

DEVIATING = {"outlier", "deviating"}
#: Per-product statuses, worst last (a product with several libraries takes its worst library's).
STATUS_ORDER = ("conforming", "not_assessable", "deviating")
#: What the v2 rule records per run beside the verdict (columns of the runs table), so that failures
#: can be diagnosed: the tiers' results and bounds, the single-group split and spread, the products.
DIAGNOSTICS = (
    "tier1",
    "tier1_not_equivalent",
    "potency_estimate",
    "potency_ci_low",
    "potency_ci_high",
    "potency_result",
    "tier2",
    "tier2_n_genes",
    "tier2_estimate",
    "tier2_lower",
    "tier2_upper",
    "n_needed",
    "single",
    "split",
    "split_p",
    "split_material",
    "spread",
    "spread_estimate",
    "spread_lower",
    "spread_upper",
    "n_deviating",
    "n_not_assessable",
    "batch_status",
    "reason",
    "settle",
)
POTENCY_PANEL = "licensing_potency"


def current_rule(adata, cell: Cell, seed: int, *, permutations: int = 99) -> dict[str, Any]:
    """The verdict of today's ``mscseq compare`` (``--group group --reference A`` with two groups).

    The same library calls as the CLI: :func:`mscseq.pipeline.validate_design` then
    :func:`mscseq.pipeline.analyse` (QC, normalisation, exploration, DE, comparability). PERMANOVA is
    not in the rule, so its permutations are cut to ``permutations`` for speed.
    """
    from mscseq.pipeline import CompareParams, analyse, validate_design

    grouped = cell.spec.grouped
    params = CompareParams(
        counts=[Path("simulated_counts.tsv")],
        samples=Path("simulated_samples.tsv"),
        group="group" if grouped else None,
        reference="A" if grouped else None,
        permutations=permutations,
        seed=seed,
        report=False,
    )
    validate_design(adata, params)
    analyse(adata, params)
    block = adata.uns["comparability"]
    product_of = adata.obs["product"].astype(str).to_dict()
    statuses: dict[str, str] = {}
    for p in block["products"]:
        status = "deviating" if p["status"] in DEVIATING else "conforming"
        product = product_of.get(str(p["sample"]), str(p["sample"]))
        if statuses.get(product) != "deviating":
            statuses[product] = status
    caveat = any("--product" in c for c in block.get("caveats", []))
    return {"verdict": block["verdict"], "products": statuses, "replicate_caveat": caveat}


def v2_options(cell: Cell, seed: int) -> dict[str, Any]:
    """The options a user of ``cell``'s study gives the v2 comparability (``--group group
    --reference A`` with two groups, ``--batch batch`` with a batch, ``--pair donor`` when paired);
    the descriptive Tier 3 (PCA, similarity, PERMANOVA, variance partition) is skipped: it is never
    in the rule, and it would cost more than the rule itself."""
    spec = cell.spec
    group = "group" if spec.grouped else None
    return {
        "group": group,
        "reference": "A" if group else None,
        "batch": "batch" if spec.batch != "none" else None,
        "pair": "donor" if spec.paired else None,
        "permutations": 0,
        "descriptive": False,
        "seed": int(seed) % 2**31,
    }


def product_column(cell: Cell) -> str | None:
    """``"product"`` when the study's products have several libraries and its user names the
    product column (``--product product``), else ``None``."""
    return "product" if cell.spec.libraries > 1 and cell.use_product else None


def v2_rule(adata, cell: Cell, seed: int, *, compare=None) -> dict[str, Any]:
    """The v2 verdict as a user of the study gets it, without the DE step.

    As ``mscseq compare`` does: the libraries of each product summed (:func:`mscseq.products.
    collapse_products`, when :func:`product_column` names the column), QC, normalisation and VST
    (:func:`mscseq.normalize.normalize`), then :func:`mscseq.comparability.run_comparability` with
    :func:`v2_options` (no PERMANOVA permutations: Tier 3 is descriptive, never in the rule).

    Parameters
    ----------
    adata
        The study as loaded (:func:`simstudy.generator.to_anndata`); changed in place.
    cell
        The study's cell (its spec says which options apply).
    seed
        The run's seed (passed on as ``seed``).
    compare
        The comparability function (default :func:`mscseq.comparability.run_comparability`; tests
        pass a stub returning the contract's block).

    Returns
    -------
    dict
        :func:`v2_outcome` of the block.

    """
    from mscseq.normalize import normalize
    from mscseq.qc import compute_qc

    options = v2_options(cell, seed)
    product = product_column(cell)
    if product:
        from mscseq.products import collapse_products

        keep = [options[k] for k in ("group", "batch", "pair") if options[k]]
        adata = collapse_products(adata, product, keep_constant=keep)
    if compare is None:
        from mscseq.comparability import run_comparability as compare

        options = _known_options(options | {"product": product})
    compute_qc(adata)
    normalize(adata)
    block = compare(adata, **options)
    return v2_outcome(block, adata.obs)


#: Options passed on only when :class:`mscseq.options.ComparabilityOptions` has them: the collapse
#: is done here either way, and skipping Tier 3 only saves time.
OPTIONAL = ("product", "descriptive")


def _known_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without the :data:`OPTIONAL` ones that :class:`mscseq.options.
    ComparabilityOptions` lacks; every other option is passed on, so a missing ``batch`` or ``pair``
    is an error, never silently ignored."""
    from dataclasses import fields

    from mscseq.options import ComparabilityOptions

    names = {f.name for f in fields(ComparabilityOptions)}
    return {k: v for k, v in options.items() if k in names or k not in OPTIONAL}


def _worst(a: str | None, b: str) -> str:
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    return b if a is None or rank.get(b, 0) > rank.get(a, 0) else a


def v2_outcome(block: dict[str, Any], obs) -> dict[str, Any]:
    """The runner's outcome of a v2 comparability block (see the contract).

    Parameters
    ----------
    block
        The ``comparability`` block (``mscseq.summary/2``).
    obs
        The analysed table's ``obs``; its ``product`` column maps libraries to products (without
        ``--product`` a product's libraries are judged one by one: the product takes the worst).

    Returns
    -------
    dict
        ``verdict``; ``products`` (product → ``conforming``, ``deviating`` or ``not_assessable``);
        ``replicate_caveat`` (a caveat names ``--product``); ``diagnostics`` (:data:`DIAGNOSTICS`).

    """
    product_of = obs["product"].astype(str).to_dict() if "product" in obs.columns else {}
    statuses: dict[str, str] = {}
    for p in block.get("products") or []:
        name = str(p.get("product", p.get("sample")))
        status = "deviating" if p["status"] in DEVIATING else str(p["status"]).replace(" ", "_")
        product = product_of.get(name, name)
        statuses[product] = _worst(statuses.get(product), status)
    caveat = any("--product" in str(c) for c in block.get("caveats") or [])
    return {
        "verdict": block["verdict"],
        "products": statuses,
        "replicate_caveat": caveat,
        "diagnostics": diagnostics(block, statuses),
    }


def diagnostics(block: dict[str, Any], statuses: dict[str, str]) -> dict[str, Any]:
    """The :data:`DIAGNOSTICS` of a block (missing parts stay ``None``)."""
    out: dict[str, Any] = dict.fromkeys(DIAGNOSTICS)
    comparisons = block.get("comparisons") or []
    if comparisons:
        c = comparisons[0]
        t1 = c.get("tier1") or {}
        out["tier1"] = t1.get("result")
        attrs = t1.get("attributes") or []
        out["tier1_not_equivalent"] = ",".join(
            f"{a.get('panel')}:{a.get('result')}" for a in attrs if a.get("result") != "equivalent"
        )
        for a in attrs:
            if a.get("panel") == POTENCY_PANEL:
                out["potency_estimate"] = a.get("estimate")
                out["potency_ci_low"] = a.get("ci_low")
                out["potency_ci_high"] = a.get("ci_high")
                out["potency_result"] = a.get("result")
        t2 = c.get("tier2") or {}
        out["tier2"] = t2.get("result")
        out["tier2_n_genes"] = t2.get("n_genes")
        out["tier2_estimate"] = t2.get("estimate")
        out["tier2_lower"] = t2.get("lower")
        out["tier2_upper"] = t2.get("upper")
        out["n_needed"] = c.get("n_needed")
    single = block.get("single_group") or {}
    if single:
        split = single.get("split") or {}
        spread = single.get("spread") or {}
        out["single"] = single.get("result")
        out["split"] = split.get("result")
        out["split_p"] = split.get("p_value")
        out["split_material"] = split.get("material")
        out["spread"] = spread.get("result")
        out["spread_estimate"] = spread.get("estimate")
        out["spread_lower"] = spread.get("lower")
        out["spread_upper"] = spread.get("upper")
    out["n_deviating"] = sum(s == "deviating" for s in statuses.values())
    out["n_not_assessable"] = sum(s == "not_assessable" for s in statuses.values())
    batch = (block.get("confounders") or {}).get("batch") or {}
    out["batch_status"] = batch.get("status")
    reasons = block.get("reasons") or []
    out["reason"] = str(reasons[0])[:160] if reasons else None
    settle = block.get("settle") or []
    out["settle"] = " / ".join(map(str, settle))[:240] if settle else None
    if out["n_needed"] is None and single:
        out["n_needed"] = (single.get("spread") or {}).get("n_needed")
    return out


def load_rule(spec: str):
    """``module:function`` → the callable (``current`` → :func:`current_rule`, ``v2`` →
    :func:`v2_rule`)."""
    if spec in {"current", ""}:
        return current_rule
    if spec == "v2":
        return v2_rule
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "rule")
