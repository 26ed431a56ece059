"""The tiered verdict's first screen (``mscseq.summary/2`` block), for ``overview_tiers.html.j2``.

Verdict first: the set's verdict and its decisive reason, then each comparison's Tier-1 attributes and
Tier-2 fraction (or the single-group split and spread), each product's status, the confounders found,
what would settle an inconclusive answer, the protocol, and the sensitivity analysis, labelled as such.
Every number and threshold is read from the block (:mod:`mscseq.comparability` writes it; fields in
``docs/summary.md``); nothing is computed and no threshold is assumed. Keys a block lacks show as ``–``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mscseq.report.fmt import as_list, as_records, cell, fmt, humanise, pct
from mscseq.report.records import products_status

#: Headline and one-sentence meaning of each set verdict.
VERDICTS = {
    "comparable": (
        "Comparable",
        "Every tier of the protocol passed for every comparison and no product deviates from its peers.",
    ),
    "not_comparable": (
        "Not comparable",
        "At least one tier failed, or a product deviates from its peers: the products are not shown to share "
        "a profile.",
    ),
    "inconclusive": (
        "Inconclusive",
        "Nothing failed, but the data cannot show equivalence within the protocol's margins; see what would "
        "settle it.",
    ),
}
#: CSS class of each result word (tier, attribute, product, verdict).
RESULT_CLASS = {
    "pass": "good", "equivalent": "good", "conforming": "good", "comparable": "good",
    "fail": "bad", "different": "bad", "deviating": "bad", "not_comparable": "bad",
    "inconclusive": "warn", "not_estimable": "warn", "not_assessable": "muted", "not_assessed": "muted",
}  # fmt: skip


def result_cell(word: Any) -> dict[str, Any]:
    """A table cell for a result word, coloured by :data:`RESULT_CLASS`."""
    if word is None:
        return cell(None)
    w = str(word)
    return cell(w, text=humanise(w), cls=f"result result-{RESULT_CLASS.get(w, 'muted')}")


def protocol_settings(comp: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resolved protocol dict of the block (empty when not recorded)."""
    record = comp.get("protocol")
    protocol = record.get("protocol") if isinstance(record, Mapping) else None
    return protocol if isinstance(protocol, Mapping) else {}


def ci_label(comp: Mapping[str, Any]) -> str:
    """``90 % CI`` from the protocol's one-sided α (``CI`` when the block does not record α)."""
    alpha = protocol_settings(comp).get("alpha")
    if isinstance(alpha, int | float) and not isinstance(alpha, bool) and 0 < alpha < 0.5:
        return f"{100 * (1 - 2 * alpha):g} % CI"
    return "CI"


def _interval(low: Any, high: Any) -> str:
    return "–" if low is None and high is None else f"{fmt(low)} to {fmt(high)}"


def _tier1(t1: Mapping[str, Any], ci: str) -> dict[str, Any]:
    header = ["attribute", "genes", "estimate (log2)", ci, "margin (±log2)", "result", "n per group for 80 % power"]  # fmt: skip
    rows = []
    for a in as_records(t1.get("attributes")):
        rows.append([cell(humanise(str(a.get("panel", "")))), cell(a.get("n_genes")), cell(a.get("estimate")),
                     cell(a.get("ci_low"), text=_interval(a.get("ci_low"), a.get("ci_high"))),
                     cell(a.get("margin")), result_cell(a.get("result")), cell(a.get("n_needed"))])  # fmt: skip
    return {
        "result": t1.get("result"),
        "header": header,
        "rows": rows,
        "n_needed": t1.get("n_needed"),
    }


def _tier2(t2: Mapping[str, Any]) -> dict[str, Any]:
    margin = fmt(t2.get("margin"))
    header = ["genes (label-free set)", f"fraction beyond ±{margin} log2", "bounds", "f₀",
              "result", "genes shown beyond", "n per group for 80 % power"]  # fmt: skip
    row = [cell(t2.get("n_genes")), cell(t2.get("estimate"), text=pct(t2.get("estimate"), 2)),
           cell(t2.get("upper"), text=f"{pct(t2.get('lower'), 2)} to {pct(t2.get('upper'), 2)}"),
           cell(t2.get("f0"), text=pct(t2.get("f0"), 2)), result_cell(t2.get("result")),
           cell(t2.get("n_shown_beyond")), cell(t2.get("n_needed"))]  # fmt: skip
    return {"result": t2.get("result"), "header": header, "rows": [row], "method": t2.get("method")}


def comparisons(comp: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each comparison with its verdict, reasons and both tiers as tables."""
    ci = ci_label(comp)
    out = []
    for c in as_records(comp.get("comparisons")):
        out.append(
            {
                "title": f"{c.get('target')} vs {c.get('reference')}",
                "verdict": c.get("verdict"),
                "reasons": [str(r) for r in as_list(c.get("reasons"))],
                "tier1": _tier1(c.get("tier1") or {}, ci),
                "tier2": _tier2(c.get("tier2") or {}),
                "n_needed": c.get("n_needed"),
            }
        )
    return out


def single_group(comp: Mapping[str, Any]) -> dict[str, Any] | None:
    """The single-group answer: the best split and the between-product spread, as key–value rows."""
    sg = comp.get("single_group")
    if not isinstance(sg, Mapping):
        return None
    split, spread = sg.get("split") or {}, sg.get("spread") or {}
    sizes = " and ".join(fmt(x) for x in as_list(split.get("sizes"))) or "–"
    split_rows = [("result", humanise(str(split.get("result", "–")))), ("sizes of the two sets", sizes),
                  ("p-value (calibrated for a split chosen from the data)", fmt(split.get("p_value"))),
                  ("significant", fmt(split.get("significant"))), ("material", fmt(split.get("material")))]  # fmt: skip
    if split.get("fraction_beyond") is not None:
        split_rows.append(
            ("fraction of genes beyond their margin", pct(split["fraction_beyond"], 2))
        )
    members = [", ".join(map(str, as_list(m))) for m in as_list(split.get("members"))]
    spread_rows = [("result", humanise(str(spread.get("result", "–")))),
                   ("between-product spread (log2)", fmt(spread.get("estimate"))),
                   ("bounds", _interval(spread.get("lower"), spread.get("upper"))),
                   ("tolerance τ (log2)", fmt(spread.get("tau"))), ("genes", fmt(spread.get("n_genes")))]  # fmt: skip
    return {
        "result": sg.get("result"),
        "split": split_rows,
        "members": members,
        "spread": spread_rows,
        "scores": _single_scores(split, sg),
    }


def _single_scores(split: Mapping[str, Any], sg: Mapping[str, Any]) -> dict[str, Any] | None:
    """One row per panel score: its own best split and its between-product spread."""
    splits = {str(r.get("panel")): r for r in as_records(split.get("score_splits"))}
    spreads = {str(r.get("panel")): r for r in as_records(sg.get("score_spread"))}
    panels = list(dict.fromkeys([*splits, *spreads]))
    if not panels:
        return None
    header = ["attribute", "own best split", "split p (level)", "difference (log2)", "interval",
              "margin (±log2)", "split fails", "biological SD (log2)", "95 % bounds", "tolerance (log2)",
              "spread"]  # fmt: skip
    rows = []
    for panel in panels:
        a, b = splits.get(panel, {}), spreads.get(panel, {})
        sizes = " / ".join(fmt(x) for x in as_list(a.get("sizes"))) or "–"
        level = f"{fmt(a.get('p_value'))} ({fmt(a.get('alpha'))})" if a else "–"
        rows.append([cell(humanise(panel)), cell(sizes), cell(a.get("p_value"), text=level),
                     cell(a.get("estimate")), cell(a.get("ci_low"), text=_interval(a.get("ci_low"), a.get("ci_high"))),
                     cell(a.get("margin")), result_cell("fail" if a.get("fail") else "pass" if a else None),
                     cell(b.get("estimate")), cell(b.get("lower"), text=_interval(b.get("lower"), b.get("upper"))),
                     cell(b.get("tau")), result_cell(b.get("result"))])  # fmt: skip
    return {"header": header, "rows": rows}


def score_tolerance(score_spread: Any) -> str | None:
    """The panel scores' spread tolerance as text: one value, or each panel's when the protocol sets its own."""
    rows = [r for r in as_records(score_spread) if r.get("tau") is not None]
    if not rows:
        return None
    taus = {fmt(r["tau"]) for r in rows}
    if len(taus) == 1:
        return taus.pop()
    return ", ".join(f"{humanise(str(r.get('panel')))} {fmt(r['tau'])}" for r in rows)


def products(comp: Mapping[str, Any]) -> dict[str, Any]:
    """Each product's status with its p-values and drivers; deviating products first."""
    status = products_status(comp)
    order = {"deviating": 0, "outlier": 0, "not_assessable": 2}
    names = sorted(status, key=lambda s: order.get(status[s]["status"], 1))
    flags = {str(p.get("product", p.get("sample"))): as_list(p.get("flags")) for p in as_records(comp.get("products"))}  # fmt: skip
    rows = []
    for s in names:
        v = status[s]
        rows.append([cell(s), cell(v["group"] or "–"), result_cell(v["status"]), cell(v["p_value"]),
                     cell(v["p_adjusted"]), cell(v["n_peers"]), cell(", ".join(v["drivers"]) or "–"),
                     cell(", ".join(map(humanise, v["panel_drivers"])) or "–"), cell(v["sex"] or "–"),
                     cell("; ".join(map(str, flags.get(s, []))) or "–")])  # fmt: skip
    counts: dict[str, int] = {}
    for v in status.values():
        counts[v["status"]] = counts.get(v["status"], 0) + 1
    header = ["product", "group", "status", "p-value", "Holm-adjusted p", "peers", "driver genes",
              "driver panels", "sex", "flags"]  # fmt: skip
    return {"header": header, "rows": rows, "counts": counts, "n": len(status)}


def _levels(counts: Any) -> str:
    if not isinstance(counts, Mapping):
        return fmt(counts)
    parts = []
    for level, c in counts.items():
        if isinstance(c, Mapping):
            c = ", ".join(f"{fmt(n)} {k}" for k, n in c.items() if n)
        parts.append(f"{level}: {fmt(c) if not isinstance(c, str) else c}")
    return "; ".join(parts)


def _millions(value: Any) -> str:
    """A count in millions (``21.3 M``), ``–`` when missing."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return fmt(value)
    return f"{fmt(value / 1e6)} M"


def confounders(comp: Mapping[str, Any]) -> list[dict[str, str]]:
    """The confounders checked, each with what was found and whether it is a concern."""
    conf = comp.get("confounders")
    if not isinstance(conf, Mapping):
        return []
    out = []
    batch = conf.get("batch")
    if isinstance(batch, Mapping):
        st = str(batch.get("status", ""))
        text = {
            "aliased": "aliased with the group: no batch holds both levels, so the group difference cannot be "
            "told from the batch; no comparable answer without bridging samples",
            "bridged": "bridged: some batch holds both levels, so the comparisons are adjusted for batch",
            "none": "not confounded with the group",
        }.get(st, humanise(st))
        out.append({"name": f"sequencing batch ({batch.get('column', '–')})", "text": text,
                    "cls": "bad" if st == "aliased" else "good"})  # fmt: skip
    else:
        out.append(
            {"name": "sequencing batch", "text": "not given (--batch): not checked", "cls": "muted"}
        )
    depth = conf.get("depth")
    if isinstance(depth, Mapping):
        medians = depth.get("median")
        med = (
            "; ".join(f"{k}: {_millions(v)}" for k, v in medians.items())
            if isinstance(medians, Mapping)
            else "–"
        )
        flagged = bool(depth.get("flag"))
        out.append({"name": "depth between groups",
                    "text": f"ratio of median counts {fmt(depth.get('ratio'))} ({med})" + (" — unequal" if flagged else ""),
                    "cls": "warn" if flagged else "good"})  # fmt: skip
    sex = conf.get("sex")
    if isinstance(sex, Mapping):
        imbalanced = bool(sex.get("imbalanced"))
        out.append({"name": "donor sex (inferred from XIST and chrY genes)",
                    "text": _levels(sex.get("counts")) + (" — imbalanced between groups" if imbalanced else ""),
                    "cls": "warn" if imbalanced else "good"})  # fmt: skip
    pair = conf.get("pair")
    if isinstance(pair, Mapping):
        unpaired = as_list(pair.get("unpaired"))
        text = (
            f"paired by {pair.get('column', '–')}: {fmt(pair.get('n_pairs'))} pairs in both levels"
        )
        if unpaired:
            text += f"; unpaired: {', '.join(map(str, unpaired))}"
        out.append({"name": "pairing", "text": text, "cls": "good"})
    else:
        out.append({"name": "pairing", "text": "unpaired design (no --pair)", "cls": "muted"})
    return out


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, Mapping):
        out: list[tuple[str, str]] = []
        for k, v in obj.items():
            out += _flatten(v, f"{prefix}{k}.")
        return out
    return [(prefix.rstrip("."), fmt(obj) if not isinstance(obj, str) else obj)]


def protocol(comp: Mapping[str, Any]) -> dict[str, Any] | None:
    """The protocol echoed: source, checksum, the margins used, and every resolved setting."""
    record = comp.get("protocol")
    if not isinstance(record, Mapping):
        return None
    margins: list[str] = []
    seen: set[str] = set()
    for c in as_records(comp.get("comparisons")):
        for a in as_records((c.get("tier1") or {}).get("attributes")):
            key = str(a.get("panel"))
            if key not in seen:
                seen.add(key)
                margins.append(f"{humanise(key)} ±{fmt(a.get('margin'))} log2")
        t2 = c.get("tier2") or {}
        if "tier2" not in seen and t2.get("margin") is not None:
            seen.add("tier2")
            margins.append(f"genes ±{fmt(t2.get('margin'))} log2 with f₀ {pct(t2.get('f0'), 2)}")
    single = comp.get("single_group") if isinstance(comp.get("single_group"), Mapping) else {}
    spread = single.get("spread") or {}
    if spread.get("tau") is not None:
        margins.append(f"between-product spread τ {fmt(spread['tau'])} log2")
    tolerance = score_tolerance(single.get("score_spread"))
    if tolerance:
        margins.append(f"panel score spread {tolerance} log2")
    return {
        "source": str(record.get("source", "–")),
        "sha256": str(record.get("sha256", "–")),
        "margins": margins,
        "settings": _flatten(protocol_settings(comp)),
    }


def sensitivity(comp: Mapping[str, Any]) -> dict[str, Any] | None:
    """The sensitivity analysis (deviating products set aside), when the block has one."""
    sens = comp.get("sensitivity")
    if not isinstance(sens, Mapping):
        return None
    rows = []
    for c in as_records(sens.get("comparisons")):
        t2 = c.get("tier2") or {}
        rows.append([cell(f"{c.get('target')} vs {c.get('reference')}"), result_cell(c.get("verdict")),
                     result_cell((c.get("tier1") or {}).get("result")), result_cell(t2.get("result")),
                     cell(t2.get("upper"), text=f"{pct(t2.get('lower'), 2)} to {pct(t2.get('upper'), 2)}")])  # fmt: skip
    return {
        "label": str(sens.get("label") or "Sensitivity analysis — not the verdict"),
        "excluded": [str(x) for x in as_list(sens.get("excluded"))],
        "verdict": sens.get("verdict"),
        "reasons": [str(r) for r in as_list(sens.get("reasons"))],
        "header": ["comparison", "verdict", "Tier 1", "Tier 2", "Tier 2 bounds"],
        "rows": rows,
    }


def section(comp: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the tiered first screen shows, in its order."""
    verdict = str(comp.get("verdict", "inconclusive"))
    headline, sentence = VERDICTS.get(verdict, (humanise(verdict).capitalize(), ""))
    reasons = [str(r) for r in as_list(comp.get("reasons"))]
    return {
        "verdict": verdict,
        "headline": headline,
        "sentence": sentence,
        "question": comp.get("question"),
        "decisive": reasons[0] if reasons else "",
        "more_reasons": reasons[1:],
        "comparisons": comparisons(comp),
        "single_group": single_group(comp),
        "products": products(comp),
        "confounders": confounders(comp),
        "settle": [str(x) for x in as_list(comp.get("settle"))],
        "protocol": protocol(comp),
        "sensitivity": sensitivity(comp),
    }
