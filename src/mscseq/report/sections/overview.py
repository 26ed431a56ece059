"""The first screen (``overview.html.j2``): verdict, key numbers, rule, products at a glance, flags, caveats.

A tiered block (``mscseq.summary/2``) is shown verdict first by :mod:`mscseq.report.tiers`
(template ``overview_tiers.html.j2``, included by ``overview.html.j2``); a block of the previous rule (``mscseq.summary/1``, e.g. ``mscseq report``
on an older folder) as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mscseq.report import tiers
from mscseq.report.fmt import as_list, as_records, fmt, humanise
from mscseq.report.records import is_tiered, outliers, panel_flag_list, products_status

VERDICTS = {
    "comparable": (
        "Comparable",
        "The products share a transcriptomic profile: every criterion of the decision rule was met.",
    ),
    "not_comparable": (
        "Not comparable",
        "The products do not share a transcriptomic profile: at least one criterion of the decision rule failed.",
    ),
    "inconclusive": (
        "Inconclusive",
        "The data cannot establish whether the products are comparable (for example too few products, "
        "or too much variation to demonstrate equivalence within the margin).",
    ),
}


def _contrast_tiles(c: Mapping[str, Any], band: str) -> list[dict[str, str]]:
    name = str(c.get("name", ""))
    if c.get("skipped"):
        return [{"value": "–", "label": f"{name}: equivalence not tested"}]
    tiles = []
    if c.get("fraction_equivalent") is not None:
        tiles.append({"value": f"{100 * float(c['fraction_equivalent']):.1f} %",
                      "label": f"of {fmt(c.get('n_tested'))} testable genes shown equivalent within {band} ({name})"})  # fmt: skip
    if c.get("n_beyond_margin") is not None:
        tiles.append(
            {
                "value": fmt(c["n_beyond_margin"]),
                "label": f"genes shown to differ by more than {band} ({name})",
            }
        )
    return tiles


def key_numbers(comp: Mapping[str, Any]) -> list[dict[str, str]]:
    """The verdict's key numbers as tiles (value and plain-words label), read from ``metrics``."""
    m = comp.get("metrics") or {}
    margin = m.get("margin")
    band = f"±{fmt(margin)} log2" if margin is not None else "the margin"
    tiles = []
    if m.get("n_products") is not None:
        tiles.append({"value": fmt(m["n_products"]), "label": "products compared"})
    if m.get("n_outliers") is not None:
        z = m.get("mad_z_threshold")
        tiles.append({"value": fmt(m["n_outliers"]), "label": "outlier products" + (f" (robust z > {fmt(z)})" if z is not None else ""),
                      "cls": "bad" if m["n_outliers"] else ""})  # fmt: skip
    for c in as_records(m.get("contrasts")):
        tiles += _contrast_tiles(c, band)
    if m.get("min_concordance") is not None and not as_records(m.get("contrasts")):
        tiles.append({"value": f"{100 * float(m['min_concordance']):.1f} %",
                      "label": f"of genes within {band} of the other products, in the least concordant product"})  # fmt: skip
    return tiles


def rule_clauses(rule: Any) -> list[str]:
    """The decision rule split into its clauses (the rule text separates them with ``; ``)."""
    if not rule:
        return []
    if isinstance(rule, list | tuple):
        return [str(r) for r in rule]
    return [c.strip() for c in str(rule).split("; ") if c.strip()]


def _verdict(comp: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict part of the first screen."""
    verdict = str(comp.get("verdict", "inconclusive"))
    headline, sentence = VERDICTS.get(verdict, (humanise(verdict).capitalize(), ""))
    status = products_status(comp)
    flags = panel_flag_list(comp)
    flagged = {f["sample"] for f in flags}
    settings = comp.get("settings") or {}
    return {
        "verdict": verdict,
        "headline": headline,
        "sentence": sentence,
        "reasons": [str(r) for r in as_list(comp.get("reasons"))],
        "rule": rule_clauses(comp.get("rule")),
        "metrics": key_numbers(comp),
        "products": [{"sample": s, **v, "flagged": s in flagged} for s, v in status.items()],
        "n_products": len(status),
        "outliers": outliers(comp),
        "caveats": [str(c) for c in as_list(comp.get("caveats"))],
        "panel_flags": flags,
        "group": settings.get("group") or (comp.get("metrics") or {}).get("group"),
        "reference": settings.get("reference"),
    }


def section(adata, summary: Mapping[str, Any], comp: Mapping[str, Any] | None) -> dict[str, Any]:
    """The first screen: the run's size and DE counts, and the verdict when comparability ran."""
    dims = summary.get("dimensions", {})
    ov: dict[str, Any] = {
        "n_samples": dims.get("n_samples", adata.n_obs),
        "n_genes": dims.get("n_genes", adata.n_vars),
        "n_expressed": dims.get("n_genes_expressed"),
        "design": summary.get("design"),
        "de": [
            {"name": d.get("name"), "n_up": d.get("n_up"), "n_down": d.get("n_down"), "target": d.get("target"),
             "reference": d.get("reference"), "alpha": d.get("alpha")}
            for d in summary.get("de", [])
        ],
        "computed": comp is not None,
    }  # fmt: skip
    if comp is not None:
        ov.update(_verdict(comp))
        ov["tiered"] = tiers.section(comp) if is_tiered(comp) else None
        if ov["tiered"] is not None:
            ov["headline"] = ov["tiered"]["headline"]
    return ov
