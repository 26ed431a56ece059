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


def load_rule(spec: str):
    """``module:function`` → the callable (``current`` → :func:`current_rule`)."""
    if spec in {"current", ""}:
        return current_rule
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "rule")
