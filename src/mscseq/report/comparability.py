"""Report sections for the comparability results (``summary.json``'s ``comparability`` block).

The block is read as written by :mod:`mscseq.comparability`; parts this module does not know in detail
are still shown, as key–value lists and tables (:func:`generic_blocks`), so no result is hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mscseq.report.sections import Figures, as_list, cell, fmt, humanise

#: Statistics sections in display order: (key in the block, title, explanation for non-specialists).
STATISTICS = [
    (
        "equivalence",
        "Equivalence",
        "Two one-sided tests (TOST) ask whether the products differ by less than a pre-set margin; "
        "equivalence is shown when both one-sided tests reject.",
    ),
    (
        "permanova",
        "PERMANOVA",
        "Tests whether groups of samples differ in their average expression profile (location), using "
        "permutations of the sample labels.",
    ),
    (
        "permdisp",
        "PERMDISP",
        "Tests whether groups differ in how spread out their samples are (dispersion); a difference in "
        "spread can also make PERMANOVA significant.",
    ),
    (
        "variance_partition",
        "Variance partition",
        "Share of the expression variance explained by each sheet variable.",
    ),
    ("quality", "Quality ranges", "Per-sample quality metrics against the accepted ranges."),
    (
        "similarity",
        "Similarity to the reference",
        "How close each product is to the reference profile.",
    ),
]


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def generic_blocks(obj: Any, *, title: str = "") -> list[dict[str, Any]]:
    """Display blocks for an arbitrary JSON value.

    Returns
    -------
    list of dict
        Blocks of kind ``"kv"`` (``rows`` of label/value), ``"table"`` (``header``, ``rows`` of cells)
        or ``"text"`` (``items``), each with a ``title``.

    """
    if isinstance(obj, Mapping):
        kv = [{"label": humanise(k), "value": fmt(v)} for k, v in obj.items() if _scalar(v)]
        lists = [
            (k, v) for k, v in obj.items() if isinstance(v, list) and all(_scalar(x) for x in v)
        ]
        kv += [{"label": humanise(k), "value": ", ".join(fmt(x) for x in v)} for k, v in lists]
        blocks = [{"kind": "kv", "title": title, "rows": kv}] if kv else []
        for k, v in obj.items():
            if _scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v)):
                continue
            blocks += generic_blocks(
                v, title=humanise(k) if not title else f"{title} · {humanise(k)}"
            )
        return blocks
    if isinstance(obj, list) and obj and all(isinstance(x, Mapping) for x in obj):
        keys: list[str] = []
        for x in obj:
            keys += [k for k in x if k not in keys]
        rows = [
            [cell(x.get(k)) if _scalar(x.get(k)) else cell(None, text=fmt(x.get(k))) for k in keys]
            for x in obj
        ]
        return [
            {"kind": "table", "title": title, "header": [humanise(k) for k in keys], "rows": rows}
        ]
    if isinstance(obj, list):
        return [{"kind": "text", "title": title, "items": [fmt(x) for x in obj]}]
    return [{"kind": "text", "title": title, "items": [fmt(obj)]}]


def statistics_section(comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """Equivalence, PERMANOVA/PERMDISP, variance partition and quality ranges."""
    if comp is None:
        return {"computed": False, "parts": []}
    parts = []
    for key, title, about in STATISTICS:
        if comp.get(key) is None:
            continue
        parts.append(
            {
                "key": key,
                "title": title,
                "about": about,
                "blocks": generic_blocks(comp[key]),
                "fig": None,
            }
        )
    known = {k for k, *_ in STATISTICS} | {
        "verdict",
        "rule",
        "metrics",
        "products",
        "caveats",
        "panels",
    }
    for key, value in comp.items():
        if key not in known and not _scalar(value):
            parts.append(
                {
                    "key": key,
                    "title": humanise(key).capitalize(),
                    "about": "",
                    "blocks": generic_blocks(value),
                    "fig": None,
                }
            )
    return {"computed": True, "parts": parts}


def panels_section(adata, comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """MSC gene panels: per-product scores and flags with their explanations."""
    panels = (comp or {}).get("panels")
    if panels is None:
        return {"computed": False, "blocks": [], "flags": []}
    flags = []
    for f in as_list(panels.get("flags") if isinstance(panels, Mapping) else None):
        if isinstance(f, Mapping):
            flags.append({k: fmt(v) for k, v in f.items()})
    rest = (
        {k: v for k, v in panels.items() if k != "flags"} if isinstance(panels, Mapping) else panels
    )
    return {"computed": True, "blocks": generic_blocks(rest), "flags": flags}
